"""Writes simulated rows to the source Delta tables, with the official schema and CDF on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import Observation
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from streaming_obs.sources.schemas import system_schema
from streaming_obs.tables import Tables

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from streaming_obs.config.models import Settings

__all__ = ["CDF_PROPERTY", "table_path", "ensure_table", "rows_df", "conform", "write_rows", "write_df", "merge_prices"]

CDF_PROPERTY = "delta.enableChangeDataFeed"


def table_path(settings: Settings, source: str) -> str:
    """Delta path of a simulated source table."""
    ref = Tables(settings).source(source)
    if not ref.path:
        raise ValueError(f"source {source!r} is a metastore table ({ref.ident}); the simulator writes paths only")
    return ref.path


def ensure_table(spark: SparkSession, path: str, source: str) -> None:
    """Create the Delta table at `path` (official schema, CDF on) unless it exists."""
    from delta.tables import DeltaTable

    if DeltaTable.isDeltaTable(spark, path):
        return
    (
        DeltaTable.createIfNotExists(spark)
        .location(path)
        .addColumns(system_schema(source))
        .property(CDF_PROPERTY, "true")
        .execute()
    )


def rows_df(spark: SparkSession, rows: list[dict], source: str) -> DataFrame:
    """DataFrame of `rows` (dicts; missing keys are NULL) with the official schema."""
    schema = system_schema(source)
    names = schema.fieldNames()
    # top-level tuples convert about twice as fast as dicts; nested values may stay dicts
    return spark.createDataFrame([tuple(r.get(n) for n in names) for r in rows], schema, verifySchema=False)


def conform(df: DataFrame, schema: StructType) -> DataFrame:
    """Select the schema's columns in order, casting; columns `df` lacks become NULL."""
    have = set(df.columns)
    return df.select(
        *[
            (F.col(f.name) if f.name in have else F.lit(None)).cast(f.dataType).alias(f.name)
            for f in schema.fields
        ]
    )


def write_df(
    spark: SparkSession,
    settings: Settings,
    source: str,
    df: DataFrame,
    *,
    overwrite: bool = False,
    expected: int | None = None,
) -> int:
    """Append (or overwrite) `df`, conformed to the official schema; returns rows written.

    A new table gets the change data feed on. The count is observed during the write (no
    second pass) unless `expected` gives it in advance.
    """
    from delta.tables import DeltaTable

    path = table_path(settings, source)
    out_df = conform(df, system_schema(source))
    observation = None
    if expected is None:
        observation = Observation(f"sim_{source}")
        out_df = out_df.observe(observation, F.count(F.lit(1)).alias("n"))
    out = out_df.write.format("delta").mode("overwrite" if overwrite else "append").option("optimizeWrite", "false")
    if not DeltaTable.isDeltaTable(spark, path):
        out = out.option(CDF_PROPERTY, "true")
    out.save(path)
    if observation is not None:
        return int(observation.get.get("n", 0))
    return int(expected or 0)


def write_rows(spark: SparkSession, settings: Settings, source: str, rows: list[dict], *, overwrite: bool = False) -> int:
    """Write Python rows; nothing (no commit) when there are none, unless overwriting."""
    if not rows and not overwrite:
        return 0
    return write_df(spark, settings, source, rows_df(spark, rows, source), overwrite=overwrite, expected=len(rows))


def merge_prices(spark: SparkSession, settings: Settings, closes: list[dict], new_rows: list[dict]) -> int:
    """One commit that ends current prices (UPDATE of price_end_time) and starts new ones.

    `closes` are rows with the key (sku_name, cloud, usage_unit, price_start_time) of an open price
    and the `price_end_time` to set; the update makes the change data feed emit
    update_preimage/update_postimage pairs. Returns rows updated + inserted.
    """
    from delta.tables import DeltaTable

    if not closes and not new_rows:
        return 0
    path = table_path(settings, "list_prices")
    ensure_table(spark, path, "list_prices")
    src = rows_df(spark, closes + new_rows, "list_prices").withColumn("_close", F.col("price_end_time").isNotNull())
    cond = (
        "t.sku_name = s.sku_name AND t.cloud = s.cloud AND t.usage_unit = s.usage_unit "
        "AND t.price_start_time = s.price_start_time AND t.price_end_time IS NULL AND s._close"
    )
    (
        DeltaTable.forPath(spark, path)
        .alias("t")
        .merge(src.alias("s"), cond)
        .whenMatchedUpdate(set={"price_end_time": "s.price_end_time"})
        .whenNotMatchedInsert(
            condition="NOT s._close",
            values={c: f"s.`{c}`" for c in system_schema("list_prices").fieldNames()},
        )
        .execute()
    )
    metrics = DeltaTable.forPath(spark, path).history(1).select("operationMetrics").head()[0] or {}
    return int(metrics.get("numTargetRowsUpdated", 0)) + int(metrics.get("numTargetRowsInserted", 0))
