"""job_run_cost: the list cost of every finished run, all compute (docs/data-dictionary.md#job_run_cost).

A run on a job cluster or serverless carries its `job_run_id` in billing; a run on an all-purpose
cluster does not (billing names only the cluster). Such a cluster's cost in an hour is split
across the runs with task time on it in that hour, by their share of that task time
(sql/gold/job_run_cost.sql). So a run's row depends on every other run of the cluster-hours it
ran in: the scope of a batch is a set of runs, and the touch side (gold/touches.py) adds to it
every run of a cluster-hour whose cost or task time changed (`runs_on`).

This module reads through the `GoldWriter` it is handed (silver at the batch's pins, pricing,
MERGE with txn ids) and never imports gold/compute.py, which registers its step.
"""

from __future__ import annotations

from datetime import timedelta
from functools import reduce
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from streaming_obs.sqlfiles import load_sql

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["RUN_COST_TABLE", "UNATTRIBUTED_CLUSTER_USAGE", "keep_run_costs", "pool_cluster_hours", "runs_on",
           "task_time", "usage_of_runs"]

RUN_COST_TABLE = "job_run_cost"
#: usage whose cost is a cluster's and no job run's: the pool split across the runs on it
#: (the same predicate as sql/gold/job_run_cost.sql's `pool`)
UNATTRIBUTED_CLUSTER_USAGE = ("usage_metadata.cluster_id IS NOT NULL AND usage_metadata.job_run_id IS NULL "
                              "AND usage_metadata.dlt_pipeline_id IS NULL")
_CH = ["workspace_id", "cluster_id", "hour"]


def task_time(spark: SparkSession, slices: DataFrame) -> DataFrame:
    """(workspace_id, cluster_id, hour, run_id, task_micros) of job_task_run_timeline slices
    (columns workspace_id, job_run_id, compute_ids, period_start_time, period_end_time)."""
    return spark.sql(load_sql("gold/task_time.sql"), slices=slices)


def pool_cluster_hours(usage: DataFrame) -> DataFrame:
    """(workspace_id, cluster_id, hour) of the unattributed cluster usage among `usage` rows."""
    return (usage.where(UNATTRIBUTED_CLUSTER_USAGE)
            .select("workspace_id", F.col("usage_metadata.cluster_id").alias("cluster_id"),
                    F.date_trunc("HOUR", F.col("usage_start_time")).alias("hour")))


def _overlapping(slices: DataFrame, cluster_hours: DataFrame) -> tuple[DataFrame | None, tuple]:
    """The slices that can hold task time in `cluster_hours` (pruned to their time span, so Delta
    skips files by stats) and the span (lo, hi hour); (None, (None, None)) when there are no
    cluster-hours. One small action: the span's bounds."""
    b = cluster_hours.agg(F.min("hour").alias("lo"), F.max("hour").alias("hi")).head()
    if b["lo"] is None:
        return None, (None, None)
    return (slices.where((F.col("period_end_time") > F.lit(b["lo"]))
                         & (F.col("period_start_time") < F.lit(b["hi"] + timedelta(hours=1)))), (b["lo"], b["hi"]))


def runs_on(spark: SparkSession, slices: DataFrame, cluster_hours: DataFrame) -> DataFrame:
    """(workspace_id, run_id) of every job run with task time in `cluster_hours`: their
    allocated cost moves with the pool or the task time of those cluster-hours."""
    window, _ = _overlapping(slices, cluster_hours)
    if window is None:
        return spark.createDataFrame([], "workspace_id STRING, run_id STRING")
    return (task_time(spark, window).join(cluster_hours.distinct(), _CH, "left_semi")
            .select("workspace_id", "run_id").distinct())


def keep_run_costs(writer, run_refs: DataFrame | None, all_runs: bool) -> None:
    """Recompute and MERGE job_run_cost for the runs in `run_refs` (workspace_id, run_id), or all.

    `writer` is the batch's GoldWriter. Every cluster-hour a run in scope ran in is allocated in
    full (all its runs' task time), so a run's share is the same whatever else is in scope.
    """
    if run_refs is None and not all_runs:
        return
    spark = writer.spark
    slices = writer.silver("job_task_run_timeline")
    timeline = writer.silver("job_run_timeline")
    usage = writer.silver("billing_usage")
    if all_runs:
        refs = None
        tt = task_time(spark, slices)
        pool = usage.where(UNATTRIBUTED_CLUSTER_USAGE)
        run_usage = usage.where(F.col("usage_metadata.job_run_id").isNotNull())
    else:
        refs = run_refs.select("workspace_id", "run_id").distinct().persist()
        timeline = timeline.join(refs, ["workspace_id", "run_id"], "left_semi")
    runs = _sql(spark, "run_summary", slices=timeline).where("result_state IS NOT NULL").persist()
    needed = None
    try:
        if refs is not None:
            own = slices.join(refs.withColumnRenamed("run_id", "job_run_id"), ["workspace_id", "job_run_id"], "left_semi")
            needed = task_time(spark, own).select(*_CH).distinct().persist()
            window, (lo, hi) = _overlapping(slices, needed)
            tt = (task_time(spark, slices.limit(0)) if window is None
                  else task_time(spark, window).join(needed, _CH, "left_semi"))
            pool = (usage.limit(0) if lo is None else
                    usage.where(F.col("usage_date").between(lo.date(), hi.date())).where(UNATTRIBUTED_CLUSTER_USAGE))
            # every usage record of the runs, whatever its date: billing may date a run's usage
            # outside the run's own days, and list_cost is all usage with its job_run_id
            run_usage = usage_of_runs(usage, refs)
        frame = _sql(spark, RUN_COST_TABLE, runs=runs, run_usage=writer.priced_usage(run_usage),
                     pool_usage=writer.priced_usage(pool), task_time=tt)
        writer.merge(RUN_COST_TABLE, frame, F.lit(True) if all_runs else _gone(writer, refs, runs))
    finally:
        runs.unpersist()
        for df in (refs, needed):
            if df is not None:
                df.unpersist()


#: up to this many run ids, `usage_of_runs` also filters on them by value, so Delta skips the files
#: whose run id range (min/max statistics) holds none of them; beyond, the join alone decides
SKIPPING_IDS = 5000


def usage_of_runs(usage: DataFrame, runs: DataFrame) -> DataFrame:
    """The `usage` rows whose usage_metadata.job_run_id is one of `runs` (workspace_id, run_id),
    on any date: a run's list_cost is all of its usage, not that of the run's own days.

    The semi-join on (workspace_id, run_id) is what selects; the run ids are collected (one small
    action) and filtered on as well only so that Delta reads the files that can hold them: run ids
    grow with time, so a file of old usage holds old ids.
    """
    keys = runs.select(F.col("workspace_id").alias("__ws"), F.col("run_id").alias("__rid")).distinct()
    rows = usage.where(F.col("usage_metadata.job_run_id").isNotNull())
    ids = [r[0] for r in keys.select("__rid").distinct().limit(SKIPPING_IDS + 1).collect()]
    if len(ids) <= SKIPPING_IDS:
        rows = rows.where(F.col("usage_metadata.job_run_id").isin(ids)) if ids else rows.limit(0)
    return rows.alias("u").join(
        keys, (F.col("u.workspace_id") == F.col("__ws")) & (F.col("u.usage_metadata.job_run_id") == F.col("__rid")),
        "left_semi")


def _gone(writer, refs: DataFrame, runs: DataFrame):
    """Delete scope of an incremental MERGE: rows of runs in scope that are no longer finished
    runs (a slice redelivered without its result_state). None when there are none (usual)."""
    key = ["workspace_id", "job_id", "run_id"]
    held = writer.tables.gold(RUN_COST_TABLE).read(writer.spark).join(refs, ["workspace_id", "run_id"], "left_semi")
    gone = held.select(*key).join(runs.select(*key), key, "left_anti").collect()
    if not gone:
        return None
    return reduce(lambda a, b: a | b, [F.col("workspace_id").eqNullSafe(r[0]) & F.col("job_id").eqNullSafe(r[1])
                                       & F.col("run_id").eqNullSafe(r[2]) for r in gone])


def _sql(spark: SparkSession, name: str, **frames: DataFrame) -> DataFrame:
    # gold/compute.py's run_gold_sql, without importing the module that registers this step
    return spark.sql(load_sql(f"gold/{name}.sql"), **frames)
