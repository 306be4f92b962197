"""What a silver change touches in gold.

The gold query reads the change feeds of the silver tables it depends on, and of cost_daily
(which the usage query keeps: its changes move the anomalies), projected to one small shape
(kind, date, workspace, ids, times) and unioned into one stream. Pre-images are kept: when a
row moves (a statement changes warehouse, a price window closes) the old key must be
recomputed as well as the new one.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from streaming_obs.gold.compute import GoldScope
from streaming_obs.gold.hot import price_dates
from streaming_obs.gold.run_cost import UNATTRIBUTED_CLUSTER_USAGE, pool_cluster_hours, runs_on, task_time
from streaming_obs.sources.readers import read_cdf_stream
from streaming_obs.sqlfiles import table_specs

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from streaming_obs.context import PipelineContext

__all__ = ["touch_stream", "touch_batch", "scope_of", "gold_inputs", "declared_inputs", "input_table", "GOLD_INPUTS",
           "OPTIONAL_INPUTS"]

def _proj(kind: str, d: Column | None = None, ws: Column | None = None, id1: Column | None = None,
          id2: Column | None = None, t1: Column | None = None, t2: Column | None = None,
          ts: str = "_source_commit_ts") -> list[Column]:
    def val(c: Column | None, dtype: str, name: str) -> Column:
        return (F.lit(None).cast(dtype) if c is None else c.cast(dtype)).alias(name)

    return [F.lit(kind).alias("kind"), val(d, "date", "d"), val(ws, "string", "ws"), val(id1, "string", "id1"),
            val(id2, "string", "id2"), val(t1, "timestamp", "t1"), val(t2, "timestamp", "t2"),
            F.col(ts).alias("_source_commit_ts")]


#: silver source -> projection of its change feed rows
GOLD_INPUTS = {
    # gold has no source commit time of its own: its commit time stands in
    "cost_daily": lambda: _proj("cost", F.col("usage_date"), ts="_commit_timestamp"),
    # id2/t1: the cluster-hour of usage no job run carries (its pool is split across the runs on it)
    "billing_usage": lambda: _proj("usage", F.col("usage_date"), F.col("workspace_id"), F.col("usage_metadata.job_run_id"),
                                   F.when(F.expr(UNATTRIBUTED_CLUSTER_USAGE), F.col("usage_metadata.cluster_id")),
                                   F.when(F.expr(UNATTRIBUTED_CLUSTER_USAGE),
                                          F.date_trunc("HOUR", F.col("usage_start_time")))),
    "list_prices": lambda: _proj("price", id1=F.col("sku_name"), id2=F.col("cloud"), t1=F.col("price_start_time"),
                                 t2=F.col("price_end_time")),
    "jobs": lambda: _proj("job", ws=F.col("workspace_id"), id1=F.col("job_id")),
    "job_run_timeline": lambda: _proj("run", ws=F.col("workspace_id"), id1=F.col("job_id"), id2=F.col("run_id")),
    "clusters": lambda: _proj("cluster", ws=F.col("workspace_id"), id1=F.col("cluster_id")),
    "warehouses": lambda: _proj("warehouse", ws=F.col("workspace_id"), id1=F.col("warehouse_id")),
    "node_timeline": lambda: _proj("node", F.to_date(F.col("start_time")), t1=F.date_trunc("HOUR", F.col("start_time"))),
    "query_history": lambda: _proj("query", F.to_date(F.col("start_time"))),
    # a task slice: its job run, its clusters (comma-joined: a projection cannot explode) and span
    "job_task_run_timeline": lambda: _proj("task", ws=F.col("workspace_id"), id1=F.col("job_run_id"),
                                           id2=F.concat_ws(",", F.col("compute_ids")), t1=F.col("period_start_time"),
                                           t2=F.col("period_end_time")),
    # contract prices move net_cost like list prices move list_cost (read only when configured)
    "account_prices": lambda: _proj("price", id1=F.col("sku_name"), id2=F.col("cloud"), t1=F.col("price_start_time"),
                                    t2=F.col("price_end_time")),
}
#: inputs whose source is optional: read only when configured (a stream's inputs are fixed by its
#: checkpoint, so turning one on or off means resetting the gold query's checkpoint)
OPTIONAL_INPUTS = frozenset({"account_prices"})


def declared_inputs() -> set[str]:
    """Every input some gold table declares in tables.yaml (`inputs`)."""
    return {i for spec in table_specs()["gold"].values() for i in spec["inputs"]}


def gold_inputs(settings) -> dict:
    """The inputs of the gold query for these settings: the declared ones (`GOLD_INPUTS` gives
    each its projection), less unconfigured optional ones."""
    declared = declared_inputs()
    return {k: v for k, v in GOLD_INPUTS.items()
            if k in declared and (k not in OPTIONAL_INPUTS or k in settings.sources)}


def input_table(tables, name: str):
    """The table behind a gold input: cost_daily is gold, every other input is silver."""
    return tables.gold(name) if name == "cost_daily" else tables.silver(name)


def touch_stream(ctx: PipelineContext) -> DataFrame:
    """One stream of touches from the change feeds of every table gold depends on.

    No per-trigger caps: a gold batch takes everything new, so a backfill computes gold once.
    """
    stream = None
    for source, projection in gold_inputs(ctx.settings).items():
        cdf = read_cdf_stream(ctx.spark, input_table(ctx.tables, source), starting_version=0, keep_preimage=True)
        part = cdf.select(*projection())
        stream = part if stream is None else stream.unionByName(part)
    return stream


def scope_of(touches: DataFrame, ctx: PipelineContext, *, today: date | None = None) -> GoldScope:
    """Turn one batch of touches (persisted by the caller) into what gold must recompute."""
    today = today or datetime.now(timezone.utc).date()
    small = touches.where(F.col("kind").isin("usage", "query", "node", "price", "cost")).select(
        # usage touches carry a cluster-hour in t1 (job_run_cost's): left out, dates are enough here
        "kind", "d", F.when(F.col("kind").isin("node", "price"), F.col("t1")).alias("t1"),
        F.when(F.col("kind") == "price", F.col("id1")).alias("id1"),
        F.when(F.col("kind") == "price", F.col("id2")).alias("id2"),
        F.when(F.col("kind") == "price", F.col("t2")).alias("t2")).distinct().collect()
    usage_dates = {r["d"] for r in small if r["kind"] == "usage" and r["d"] is not None}
    repriced = price_dates([(r["t1"], r["t2"]) for r in small if r["kind"] == "price"], today)
    cost_dates = {r["d"] for r in small if r["kind"] == "cost" and r["d"] is not None}
    query_dates = {r["d"] for r in small if r["kind"] == "query" and r["d"] is not None}
    hours = {r["t1"] for r in small if r["kind"] == "node" and r["t1"] is not None}
    node_dates = {r["d"] for r in small if r["kind"] == "node" and r["d"] is not None}
    kinds = {r[0] for r in touches.select("kind").distinct().collect()}

    run_refs = None
    parts = []
    if "run" in kinds:
        parts.append(touches.where("kind = 'run'").select(F.col("ws").alias("workspace_id"), F.col("id2").alias("run_id")))
    if "usage" in kinds:
        parts.append(touches.where("kind = 'usage' AND id1 IS NOT NULL").select(
            F.col("ws").alias("workspace_id"), F.col("id1").alias("run_id")))
    if repriced:
        usage = ctx.tables.silver("billing_usage").read(touches.sparkSession)
        parts.append(usage.where(F.col("usage_date").isin(sorted(repriced)))
                     .where(F.col("usage_metadata.job_run_id").isNotNull())
                     .select("workspace_id", F.col("usage_metadata.job_run_id").alias("run_id")))
    if "task" in kinds:
        parts.append(touches.where("kind = 'task' AND id1 IS NOT NULL").select(
            F.col("ws").alias("workspace_id"), F.col("id1").alias("run_id")))
    cluster_hours = _touched_cluster_hours(touches, ctx, kinds, repriced)
    if cluster_hours is not None:
        spark = touches.sparkSession
        parts.append(runs_on(spark, ctx.tables.silver("job_task_run_timeline").read(spark), cluster_hours))
    for p in parts:
        run_refs = p if run_refs is None else run_refs.unionByName(p)

    def ids(kind: str) -> DataFrame | None:
        if kind not in kinds:
            return None
        return touches.where(F.col("kind") == kind).select(F.col("ws").alias("workspace_id"), F.col("id1").alias("id")).distinct()

    return GoldScope(
        usage_dates=usage_dates | repriced, run_refs=run_refs, jobs=ids("job"), clusters=ids("cluster"),
        warehouses=ids("warehouse"), hours=hours, query_dates=query_dates, anomaly_dates=cost_dates,
        idle_dates=node_dates | usage_dates | repriced,
    )


def _touched_cluster_hours(touches: DataFrame, ctx: PipelineContext, kinds: set[str],
                           repriced: set[date]) -> DataFrame | None:
    """(workspace_id, cluster_id, hour) whose all-purpose split may have moved: a pool's usage
    came or was repriced, or a task slice (its pre-image too) added or took task time."""
    parts = []
    if "usage" in kinds:
        parts.append(touches.where("kind = 'usage' AND id2 IS NOT NULL AND t1 IS NOT NULL").select(
            F.col("ws").alias("workspace_id"), F.col("id2").alias("cluster_id"), F.col("t1").alias("hour")))
    if "task" in kinds:
        slices = touches.where("kind = 'task' AND id2 IS NOT NULL AND id2 != ''").select(
            F.col("ws").alias("workspace_id"), F.col("id1").alias("job_run_id"),
            F.split(F.col("id2"), ",").alias("compute_ids"), F.col("t1").alias("period_start_time"),
            F.col("t2").alias("period_end_time"))
        parts.append(task_time(touches.sparkSession, slices).select("workspace_id", "cluster_id", "hour"))
    if repriced:
        usage = ctx.tables.silver("billing_usage").read(touches.sparkSession)
        parts.append(pool_cluster_hours(usage.where(F.col("usage_date").isin(sorted(repriced)))))
    if not parts:
        return None
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out.distinct()


def touch_batch(spark, tables, since: dict[str, int]) -> tuple[DataFrame, dict[str, int]]:
    """Batch twin of `touch_stream`: the touches of input commits after `since` (per input).

    Returns the touches and the new `since`. Used by backfills and by tests that drive gold
    batches by hand; the streaming path never calls it.
    """
    frames, latest = [], dict(since)
    for source, projection in gold_inputs(tables.settings).items():
        ref = input_table(tables, source)
        version = ref.version(spark)
        start = since.get(source, -1) + 1
        latest[source] = version
        if start > version:
            continue
        cdf = (spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", start)
               .option("endingVersion", version).load(ref.path))
        frames.append(cdf.select(*projection()))
    out = frames[0] if frames else None
    for f in frames[1:]:
        out = out.unionByName(f)
    if out is None:
        out = spark.createDataFrame([], "kind STRING, d DATE, ws STRING, id1 STRING, id2 STRING, t1 TIMESTAMP, "
                                        "t2 TIMESTAMP, _source_commit_ts TIMESTAMP")
    return out, latest
