"""A usage record delivered twice (same record_id) is kept once in silver and counted once in
gold; a correction is a record of its own and always counts."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

from pyspark.sql import functions as F

from streaming_obs.batch import BATCH_TS
from streaming_obs.build import build_context
from streaming_obs.flows import BatchInfo, ingest_batch
from streaming_obs.sources.schemas import system_schema
from tests.sourcerows import price, usage

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _batch(spark, source, rows, version):
    df = spark.createDataFrame(rows, system_schema(source))
    return (df.withColumn("_source_version", F.lit(version).cast("bigint")).withColumn("_source_commit_ts", F.lit(T0))
            .withColumn("_source_change_type", F.lit("insert")).withColumn(BATCH_TS, F.lit(T0)))


def _cost(spark, ctx):
    return {(r["usage_date"], r["sku_name"]): (r["usage_quantity"], r["list_cost"], r["usage_rows"])
            for r in ctx.tables.gold("cost_daily").read(spark).collect()}


def test_a_redelivered_record_counts_once_and_a_correction_counts(spark, make_settings):
    ctx = build_context(spark, make_settings(quality={"enabled": False}), telemetry=False)
    ingest_batch(ctx, "list_prices", _batch(spark, "list_prices", [price("A", "2026-01-01 00:00", None, "0.50")], 0),
                 BatchInfo("p", 0, "p", T0))
    first = [usage("r1", "w1", "A", "2026-01-02 10:00", "10"), usage("r2", "w1", "A", "2026-01-02 11:00", "4")]
    ingest_batch(ctx, "billing_usage", _batch(spark, "billing_usage", first, 1), BatchInfo("u", 1, "app", T0))
    # r1 again (a replayed share), twice inside the batch too, and a retraction of r2: its own record
    again = [first[0], first[0], usage("r2-x", "w1", "A", "2026-01-02 11:00", "-4", "RETRACTION"),
             usage("r3", "w1", "A", "2026-01-02 12:00", "1")]
    second = _batch(spark, "billing_usage", again, 2)
    ingest_batch(ctx, "billing_usage", second, BatchInfo("u", 2, "app", T0))
    want = {(date(2026, 1, 2), "A"): (Decimal("11"), Decimal("5.5"), 4)}
    silver = ctx.tables.silver("billing_usage").read(spark)
    assert sorted(r["record_id"] for r in silver.collect()) == ["r1", "r2", "r2-x", "r3"]
    assert {k: (q.normalize(), c.normalize(), n) for k, (q, c, n) in _cost(spark, ctx).items()} == \
        {k: (q.normalize(), c.normalize(), n) for k, (q, c, n) in want.items()}
    # a restart replays batch 2: nothing is written twice (txn ids; the batch's own silver rows
    # are not taken for earlier deliveries)
    ingest_batch(ctx, "billing_usage", second, BatchInfo("u", 2, "app", T0))
    assert ctx.tables.silver("billing_usage").read(spark).count() == 4
    assert _cost(spark, ctx)[(date(2026, 1, 2), "A")][2] == 4
    assert ctx.tables.bronze("billing_usage").read(spark).count() == 6  # bronze keeps every delivery
