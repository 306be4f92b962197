"""The test helpers that stand in for slower Spark idioms must still catch what those caught:
tests/compare.py for `exceptAll` both ways, tests/warehouse.py for `CREATE TABLE IF NOT EXISTS`."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pyspark.sql import Row

from streaming_obs.bootstrap import ddl_statements
from streaming_obs.tables import Tables
from tests.compare import assert_same_rows, canonical, row_differences
from tests.warehouse import create_tables


def test_canonical_takes_what_spark_takes_for_equal():
    assert canonical(Row(m={"a": 1, "b": 2}, x=-0.0)) == canonical(Row(m={"b": 2, "a": 1}, x=0.0))
    assert canonical(float("nan")) == canonical(float("nan"))
    assert canonical(Decimal("1.50")) == canonical(Decimal("1.5"))
    assert canonical(Row(m={"a": 1})) != canonical(Row(m={"a": 2}))
    with pytest.raises(TypeError):
        canonical(object())


def test_rows_compare_as_multisets_and_a_failure_names_them(spark):
    schema = "k STRING, v DECIMAL(38,18), tags MAP<STRING, STRING>"
    a = spark.createDataFrame([("x", Decimal("1"), {"t": "1", "u": "2"}), ("x", Decimal("1"), {"u": "2", "t": "1"})], schema)
    once = spark.createDataFrame([("x", Decimal("1"), {"t": "1", "u": "2"})], schema)
    assert_same_rows(a, a.select("tags", "v", "k"))  # column order does not matter
    only_a, only_b = row_differences(a, once)
    assert len(only_a) == 1 and only_b == []  # the second copy is missing: not equal
    with pytest.raises(AssertionError, match="only in the first"):
        assert_same_rows(a, once, "t")
    with pytest.raises(AssertionError, match="both empty"):
        assert_same_rows(a.limit(0), once.limit(0), "t", non_empty=True)
    with pytest.raises(AssertionError, match="columns differ"):
        row_differences(a, once.drop("tags"))


def test_tables_from_the_template_are_new_tables_and_an_existing_one_is_kept(spark, make_settings, tmp_path):
    first, second = make_settings(), make_settings(storage={"warehouse": str(tmp_path / "wh2")})
    t1, t2 = Tables(first), Tables(second)
    create_tables(spark, ddl_statements(t1), first.storage.warehouse)
    spark.sql(f"ALTER TABLE {t1.silver('jobs').ident} SET TBLPROPERTIES ('test.marker' = '1')")  # a commit of its own
    written = t1.silver("jobs").version(spark)
    create_tables(spark, ddl_statements(t1), first.storage.warehouse)  # again: nothing is replaced
    assert t1.silver("jobs").version(spark) == written >= 1
    create_tables(spark, ddl_statements(t2), second.storage.warehouse)  # a second warehouse: its own tables
    assert t2.silver("jobs").version(spark) == 0
    assert t2.gold("cost_daily").read(spark).columns == t1.gold("cost_daily").read(spark).columns
