"""Snapshot sources: a re-read appends only new rows, and a row quarantined once is not
quarantined again on the next poll."""

from __future__ import annotations

import json

from pyspark.sql import functions as F

from streaming_obs.bootstrap import bootstrap
from streaming_obs.sources.snapshot import snapshot_diff
from streaming_obs.tables import Tables
from tests.sourcerows import price, write_source


def test_the_diff_skips_rows_in_bronze_and_rows_already_quarantined(spark, settings):
    tables = Tables(settings)
    bootstrap(spark, tables)
    write_source(spark, settings, "list_prices", [price("A", "2026-01-01 00:00", None, "1"),
                                                  price("B", "2026-01-01 00:00", None, "2"),
                                                  price("C", "2026-01-01 00:00", None, "-3")])
    src, bronze, quarantine = tables.source("list_prices"), tables.bronze("list_prices"), tables.ops("quarantine")
    first = snapshot_diff(spark, src, bronze, quarantine=quarantine)
    hashes = {r["sku_name"]: r["_row_hash"] for r in first.collect()}
    assert set(hashes) == {"A", "B", "C"}
    # A reached bronze; C was quarantined by a rule (its raw row carries the hash)
    bronze_cols = bronze.read(spark).columns
    a = first.where("sku_name = 'A'").withColumn("_ingest_time", F.current_timestamp()).withColumn(
        "_batch_id", F.lit(0).cast("bigint"))
    a.select(*bronze_cols).write.format("delta").mode("append").save(bronze.path)
    raw = json.dumps({"sku_name": "C", "_row_hash": hashes["C"]})
    q = spark.createDataFrame([("q1", "bronze.list_prices", raw)], "quarantine_id STRING, source_table STRING, raw_row STRING")
    q.select(*[F.col(c) if c in q.columns else F.lit(None).cast(t).alias(c)
               for c, t in quarantine.read(spark).dtypes]).write.format("delta").mode("append").save(quarantine.path)
    assert [r["sku_name"] for r in snapshot_diff(spark, src, bronze, quarantine=quarantine).collect()] == ["B"]
    # without the quarantine the bad row would come back on every poll
    assert sorted(r["sku_name"] for r in snapshot_diff(spark, src, bronze).collect()) == ["B", "C"]
