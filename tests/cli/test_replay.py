"""A fixed quarantined row goes back through the whole batch path: bronze, silver, cost_daily;
replaying it again writes nothing twice."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pyspark.sql import functions as F

from streaming_obs.batch import BATCH_TS
from streaming_obs.build import build_context
from streaming_obs.cli.quarantine import replay_ingest
from streaming_obs.flows import BatchInfo, ingest_batch
from streaming_obs.quality import list_quarantine, replay_quarantine
from streaming_obs.sources.schemas import system_schema
from tests.sourcerows import price, ts, usage

# Replayed rows are judged at replay time (no batch timestamp): keep the data recent, so the
# freshness rules pass then too.
NOW = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
DAY = (NOW - timedelta(days=1)).strftime("%Y-%m-%d")


def _batch(spark, source, rows):
    df = spark.createDataFrame(rows, system_schema(source))
    return (df.withColumn("_source_version", F.lit(1).cast("bigint")).withColumn("_source_commit_ts", F.lit(NOW))
            .withColumn("_source_change_type", F.lit("insert")).withColumn(BATCH_TS, F.lit(NOW)))


def test_a_fixed_row_reaches_gold_once(spark, make_settings):
    settings = make_settings()
    ctx = build_context(spark, settings, telemetry=False)
    ingest_batch(ctx, "list_prices", _batch(spark, "list_prices", [price("A", f"{DAY} 00:00", None, "2")]),
                 BatchInfo("p", 0, "p", NOW))
    good = usage("g1", "1001", "A", f"{DAY} 10:00", "1")
    backwards = usage("b1", "1001", "A", f"{DAY} 11:00", "3")
    backwards["usage_end_time"] = ts(f"{DAY} 09:00")  # ends before it starts: quarantined
    ingest_batch(ctx, "billing_usage", _batch(spark, "billing_usage", [good, backwards]), BatchInfo("u", 0, "u", NOW))
    quarantined = [r["quarantine_id"] for r in list_quarantine(spark, ctx.tables)]
    assert len(quarantined) == 1
    cost = ctx.tables.gold("cost_daily")
    assert [float(r["usage_quantity"]) for r in cost.read(spark).collect()] == [1.0]

    fixed = {quarantined[0]: {"usage_end_time": ts(f"{DAY} 12:00").strftime("%Y-%m-%dT%H:%M:%S.000Z")}}
    ingest = replay_ingest(spark, settings)
    result = replay_quarantine(spark, ctx.tables, settings, ids=quarantined, fixed_rows=fixed, ingest=ingest)
    assert result.replayed == quarantined
    assert sorted(r["record_id"] for r in ctx.tables.silver("billing_usage").read(spark).collect()) == ["b1", "g1"]
    assert [(float(r["usage_quantity"]), float(r["list_cost"])) for r in cost.read(spark).collect()] == [(4.0, 8.0)]
    # the same rows again, as a second replay run would send them: nothing is written twice
    rows = ctx.tables.bronze("billing_usage").read(spark).where("record_id = 'b1'").drop("_ingest_time", "_batch_id")
    ingest("billing_usage", rows, "another-replay")
    assert ctx.tables.bronze("billing_usage").read(spark).count() == 2
    assert [float(r["usage_quantity"]) for r in cost.read(spark).collect()] == [4.0]
