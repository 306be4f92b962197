"""Every check type and every action on real Spark + Delta."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest

from streaming_obs.errors import QualityFailError, QualityLookupError, QualityViolationError
from streaming_obs.quality import DISPOSITION_COL, FAILED_COL, SUMMARY_RULE, QualityEngine
from streaming_obs.tables import Tables
from tests.quality.conftest import NOW, usage_row


def _rule(name, function, action="warn", filter=None, **arguments):
    r = {"name": name, "check": {"function": function, "arguments": arguments}, "action": action}
    if filter:
        r["filter"] = filter
    return r


def _engine(*rules, table="bronze.billing_usage", key=("workspace_id", "record_id")):
    return QualityEngine.from_dict({"tables": {table: {"key": list(key), "rules": list(rules)}}}, "test.yaml")


def _failed_by_id(df):
    return {r["record_id"]: (sorted(r[FAILED_COL]), r[DISPOSITION_COL]) for r in df.collect()}


def test_every_check_type_flags_exactly_the_bad_rows(spark, make_df):
    engine = _engine(
        _rule("job_id_present", "not_null", column="usage_metadata.job_id"),
        _rule("quantity_small", "in_range", column="usage_quantity", min=0, max=100,
              filter="record_type IS NULL OR record_type <> 'RETRACTION'"),
        _rule("team_known", "in_set", column="custom_tags.team", values=["data", "web"]),
        _rule("sku_shape", "regex", column="sku_name", pattern="^[A-Z_]+$"),
        _rule("record_unique", "unique_in_batch", columns=["record_id", "record_type"]),
        _rule("recent", "freshness", column="usage_start_time", max_age="10 days", max_future="15 minutes"),
        _rule("sku_priced", "referential", columns=["cloud", "sku_name"], lookup="silver.list_prices"),
        _rule("end_after_start", "sql", expression="usage_end_time >= usage_start_time"),
    )
    start = NOW - timedelta(hours=3)
    rows = [
        usage_row(record_id="ok"),
        usage_row(record_id="no_job", usage_metadata={"job_id": None}),
        usage_row(record_id="big", usage_quantity=Decimal("500")),
        usage_row(record_id="retract", record_type="RETRACTION", usage_quantity=Decimal("-500")),  # filtered out
        usage_row(record_id="team", custom_tags={"team": "ops"}),
        usage_row(record_id="no_tags", custom_tags=None),  # NULL passes in_set
        usage_row(record_id="sku", sku_name="premium jobs"),
        usage_row(record_id="dup"), usage_row(record_id="dup"),
        usage_row(record_id="old", usage_start_time=NOW - timedelta(days=11), usage_end_time=NOW - timedelta(days=11)),
        usage_row(record_id="future", usage_start_time=NOW + timedelta(hours=1), usage_end_time=NOW + timedelta(hours=2)),
        usage_row(record_id="unpriced", sku_name="NEW_SKU"),
        usage_row(record_id="backwards", usage_start_time=start, usage_end_time=start - timedelta(minutes=1)),
    ]
    prices = spark.createDataFrame([("AWS", "PREMIUM_JOBS_COMPUTE"), ("AWS", "PREMIUM_SQL")], "cloud STRING, sku_name STRING")
    out = _failed_by_id(engine.evaluate(make_df("bronze.billing_usage", rows), "bronze.billing_usage",
                                        {"silver.list_prices": prices}, now=NOW))
    assert out == {
        "ok": ([], "keep"),
        "no_job": (["job_id_present"], "keep"),
        "big": (["quantity_small"], "keep"),
        "retract": ([], "keep"),
        "team": (["team_known"], "keep"),
        "no_tags": ([], "keep"),
        "sku": (["sku_priced", "sku_shape"], "keep"),
        "dup": (["record_unique"], "keep"),
        "old": (["recent"], "keep"),
        "future": (["recent"], "keep"),
        "unpriced": (["sku_priced"], "keep"),
        "backwards": (["end_after_start"], "keep"),
    }


def test_actions_keep_drop_quarantine_and_write_ops_tables_once(spark, make_df, make_settings):
    settings = make_settings()
    tables = Tables(settings)
    engine = _engine(
        _rule("unit_is_dbu", "in_set", "warn", column="usage_unit", values=["DBU"]),
        _rule("quantity_positive", "in_range", "drop", column="usage_quantity", min=0, inclusive=False),
        _rule("end_after_start", "sql", "quarantine", expression="usage_end_time >= usage_start_time"),
    )
    start = NOW - timedelta(hours=3)
    rows = [
        usage_row(record_id="a"),
        usage_row(record_id="b", usage_unit="GPU_HOUR"),                       # warn: kept
        usage_row(record_id="c", usage_quantity=Decimal("0")),                 # drop
        usage_row(record_id="d", usage_end_time=start - timedelta(hours=1)),   # quarantine
        usage_row(record_id="e", usage_quantity=Decimal("0"), usage_end_time=start - timedelta(hours=1)),  # both: quarantine wins
    ]
    batch = make_df("bronze.billing_usage", rows).persist()
    try:
        outcome = engine.apply(batch, table="bronze.billing_usage", batch_id=7, query_name="bronze_billing_usage", now=NOW)
        assert not outcome.metrics_ready()
        out_path = str(settings.storage.warehouse) + "/kept"
        outcome.kept.write.format("delta").mode("append").save(out_path)
        assert outcome.metrics_ready()  # the write filled the observation, no extra job
        assert outcome.counts == {"rows_in": 5, "rows_kept": 2, "rows_dropped": 1, "rows_quarantined": 2}
        assert outcome.rule_failures == {"unit_is_dbu": 1, "quantity_positive": 2, "end_after_start": 2}
        assert outcome.quality_score == pytest.approx(0.4)
        kept = spark.read.format("delta").load(out_path)
        assert sorted(r["record_id"] for r in kept.collect()) == ["a", "b"]
        assert kept.columns == batch.columns

        engine.write(outcome, spark, tables, txn_version=7)
        engine.write(outcome, spark, tables, txn_version=7)  # a replayed batch writes nothing more
        q = tables.ops("quarantine").read(spark)
        qrows = {json.loads(r["raw_row"])["record_id"]: r for r in q.collect()}
        assert set(qrows) == {"d", "e"}
        assert sorted(qrows["e"]["failed_rules"]) == ["end_after_start", "quantity_positive"]
        assert qrows["d"]["source_table"] == "bronze.billing_usage" and qrows["d"]["batch_id"] == 7
        assert qrows["d"]["query_name"] == "bronze_billing_usage" and qrows["d"]["replayed_at"] is None
        assert len({r["quarantine_id"] for r in qrows.values()}) == 2
        raw = json.loads(qrows["d"]["raw_row"])
        assert raw["usage_metadata"]["job_id"] == "42" and raw["custom_tags"] == {"team": "data"}

        res = {r["rule"]: r for r in tables.ops("quality_results").read(spark).collect()}
        assert set(res) == {"unit_is_dbu", "quantity_positive", "end_after_start", SUMMARY_RULE}
        assert (res["quantity_positive"]["failed"], res["quantity_positive"]["passed"]) == (2, 3)
        assert res["quantity_positive"]["action"] == "drop"
        s = res[SUMMARY_RULE]
        assert (s["rows_in"], s["rows_kept"], s["rows_dropped"], s["rows_quarantined"]) == (5, 2, 1, 2)
        assert s["rows_in"] == s["rows_kept"] + s["rows_dropped"] + s["rows_quarantined"]
        assert s["quality_score"] == pytest.approx(0.4) and s["batch_id"] == 7 and s["table_name"] == "bronze.billing_usage"
    finally:
        batch.unpersist()


def test_fail_raises_naming_rule_and_sample_key(spark, make_df):
    engine = _engine(
        _rule("quantity_present", "not_null", "warn", column="usage_quantity"),
        _rule("record_id_present", "not_null", "fail", column="record_id"),
    )
    batch = make_df("bronze.billing_usage", [usage_row(), usage_row(record_id=None, workspace_id="9009")])
    with pytest.raises(QualityFailError) as exc:
        engine.apply(batch, table="bronze.billing_usage", batch_id=3, now=NOW)
    err = exc.value
    assert isinstance(err, QualityViolationError)
    assert err.rule == "record_id_present" and err.batch_id == 3 and err.table == "bronze.billing_usage"
    assert "record_id_present" in str(err) and '"workspace_id": "9009"' in str(err)
    # a batch without the bad row goes through
    ok = engine.apply(make_df("bronze.billing_usage", [usage_row()]), table="bronze.billing_usage", batch_id=4, now=NOW)
    assert ok.counts["rows_kept"] == 1


def test_missing_lookup_skips_a_warn_rule_and_stops_an_error_rule(spark, make_df):
    warn = _engine(_rule("sku_priced", "referential", "warn", columns=["sku_name"], lookup="silver.list_prices"),
                   _rule("unit_present", "not_null", "warn", column="usage_unit"))
    outcome = warn.apply(make_df("bronze.billing_usage", [usage_row()]), table="bronze.billing_usage", batch_id=1, now=NOW)
    rows = {r["rule"]: r for r in outcome.results.collect()}
    assert rows["sku_priced"]["failed"] is None and rows["sku_priced"]["passed"] is None  # not evaluated
    assert rows["unit_present"]["passed"] == 1
    strict = _engine(_rule("sku_priced", "referential", "quarantine", columns=["sku_name"], lookup="silver.list_prices"))
    with pytest.raises(QualityLookupError, match="sku_priced"):
        strict.apply(make_df("bronze.billing_usage", [usage_row()]), table="bronze.billing_usage", batch_id=1, now=NOW)


def test_counts_are_available_before_any_write_and_empty_batches_count_zero(spark, make_df):
    engine = _engine(_rule("record_id_present", "not_null", "drop", column="record_id"))
    outcome = engine.apply(make_df("bronze.billing_usage", [usage_row(), usage_row(record_id=None)]),
                           table="bronze.billing_usage", batch_id=1, now=NOW)
    assert outcome.counts == {"rows_in": 2, "rows_kept": 1, "rows_dropped": 1, "rows_quarantined": 0}
    empty = engine.apply(make_df("bronze.billing_usage", []), table="bronze.billing_usage", batch_id=2, now=NOW)
    assert empty.counts == {"rows_in": 0, "rows_kept": 0, "rows_dropped": 0, "rows_quarantined": 0}
    assert empty.quality_score is None


def test_numbers_in_a_string_column_are_caught_without_ansi_errors(spark):
    """A drifted schema (quantity as STRING): range checks try_cast instead of failing the batch."""
    engine = _engine(
        _rule("quantity_is_number", "sql", "quarantine",
              expression="usage_quantity IS NULL OR try_cast(usage_quantity AS DECIMAL(38,18)) IS NOT NULL"),
        _rule("quantity_non_negative", "in_range", "warn", column="usage_quantity", min=0),
        _rule("quantity_known", "in_set", "warn", column="usage_quantity", values=[1, 2]),
    )
    df = spark.createDataFrame([("a", "1"), ("b", "abc"), ("c", "-2"), ("d", None)], "record_id STRING, usage_quantity STRING")
    out = _failed_by_id(engine.evaluate(df, "bronze.billing_usage", now=NOW))
    assert out == {
        "a": ([], "keep"),
        "b": (["quantity_is_number", "quantity_known"], "quarantine"),
        "c": (["quantity_known", "quantity_non_negative"], "keep"),
        "d": ([], "keep"),
    }
