"""The official system-table schemas: the .ddl files and the Spark-free parser."""

from __future__ import annotations

import pytest
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    ByteType,
    DecimalType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructType,
    TimestampType,
)

from streaming_obs.config.models import SOURCE_NAMES
from streaming_obs.sources.schemas import DdlParseError, parse_ddl, system_schema, system_schemas
from streaming_obs.sqlfiles import system_ddl
from streaming_obs.sqlfiles import load_sql


def test_every_source_has_a_ddl_with_a_source_comment():
    for name in SOURCE_NAMES:
        text = load_sql(f"ddl/system/{name}.ddl")
        assert text.splitlines()[0].startswith("-- source: "), name
        assert "databricks" in text.splitlines()[0].lower(), name
    assert set(system_schemas()) == set(SOURCE_NAMES)


@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_parser_agrees_with_spark(spark, source):
    """Our Spark-free parse of each .ddl equals Spark's own parse of the same column list."""
    spark_schema = spark.createDataFrame([], system_ddl(source)).schema
    ours = system_schema(source)
    assert ours == spark_schema
    assert ours.simpleString() == spark_schema.simpleString()


def test_key_columns_have_the_documented_types():
    usage = system_schema("billing_usage")
    assert usage["usage_quantity"].dataType == DecimalType(38, 18)
    assert usage["custom_tags"].dataType == MapType(StringType(), StringType())
    meta = usage["usage_metadata"].dataType
    for f in ("cluster_id", "job_id", "job_run_id", "warehouse_id", "dlt_pipeline_id", "endpoint_name", "endpoint_id"):
        assert meta[f].dataType == StringType()
    assert usage["product_features"].dataType["is_serverless"].dataType == BooleanType()
    assert usage["usage_date"].dataType.simpleString() == "date"
    pricing = system_schema("list_prices")["pricing"].dataType
    assert pricing["default"].dataType == DecimalType(38, 18)
    assert pricing["effective_list"].dataType["default"].dataType == DecimalType(38, 18)
    assert pricing["promotional"].dataType["default"].dataType == DecimalType(38, 18)
    runs = system_schema("job_run_timeline")
    assert runs["compute_ids"].dataType == ArrayType(StringType())
    assert runs["period_end_time"].dataType == TimestampType()
    assert system_schema("warehouses")["min_clusters"].dataType == IntegerType()
    assert system_schema("clusters")["worker_count"].dataType == LongType()
    assert system_schema("query_history")["read_io_cache_percent"].dataType == ByteType()
    assert system_schema("audit")["response"].dataType["status_code"].dataType == IntegerType()
    assert system_schema("node_timeline")["disk_free_bytes_per_mount_point"].dataType == MapType(StringType(), LongType())


def test_parse_ddl_nested_comments_and_quoting():
    schema = parse_ddl(
        """
        -- a comment line
        a STRING,               -- trailing comment
        `select` BIGINT NOT NULL COMMENT 'a -- not a comment',
        s STRUCT<x: INT, `default` DECIMAL(10,2), arr: ARRAY<MAP<STRING, BIGINT>>>,
        d DEC
        """
    )
    assert schema.fieldNames() == ["a", "select", "s", "d"]
    assert schema["select"].nullable is False
    assert schema["select"].metadata == {"comment": "a -- not a comment"}
    inner = schema["s"].dataType
    assert isinstance(inner, StructType)
    assert inner.fieldNames() == ["x", "default", "arr"]
    assert inner["default"].dataType == DecimalType(10, 2)
    assert inner["arr"].dataType == ArrayType(MapType(StringType(), LongType()))
    assert schema["d"].dataType == DecimalType(10, 0)


@pytest.mark.parametrize(
    "bad",
    ["", "a STRING,", "a FOO", "a STRUCT<x INT", "a STRING, A INT", "a MAP<STRING>", "a STRING b"],
)
def test_parse_ddl_rejects_malformed(bad):
    with pytest.raises(DdlParseError):
        parse_ddl(bad)


def test_unknown_source_is_a_key_error():
    with pytest.raises(KeyError):
        system_schema("billing_usage_v2")
