"""Table maintenance, measured: file counts and a typical gold query before and after.

The query is what a dashboard asks most: last week's cost per workspace and SKU, and the ten
most expensive jobs. It is run `repeats` times and the median is kept (the first run also pays
for reading the Delta log, which is part of what compaction shrinks).
"""

from __future__ import annotations

import time

from benchmarks.stats import percentile

__all__ = ["file_counts", "typical_gold_query", "measure_maintenance"]

LAYERS = ("silver", "gold")


def file_counts(spark, tables) -> dict[str, int]:
    """numFiles of every silver and gold table (DESCRIBE DETAIL)."""
    from streaming_obs.config.models import SOURCE_NAMES
    from streaming_obs.tables import GOLD_TABLES

    refs = [tables.silver(s) for s in SOURCE_NAMES] + [tables.gold(g) for g in GOLD_TABLES]
    return {ref.label: int(ref.delta(spark).detail().select("numFiles").head()[0]) for ref in refs if ref.exists(spark)}


def typical_gold_query(spark, tables, repeats: int = 3) -> dict:
    """Median and all wall times (s) of the dashboard query on cost_daily and cost_by_job_daily."""
    from pyspark.sql import functions as F

    def once() -> float:
        t0 = time.monotonic()
        cost = tables.gold("cost_daily").read(spark)
        hi = cost.agg(F.max("usage_date")).head()[0]
        (cost.where(F.col("usage_date") > F.date_sub(F.lit(hi), 7))
         .groupBy("workspace_id", "sku_name").agg(F.sum("list_cost").alias("list_cost")).collect())
        (tables.gold("cost_by_job_daily").read(spark).where(F.col("usage_date") > F.date_sub(F.lit(hi), 7))
         .groupBy("workspace_id", "job_id", "job_name").agg(F.sum("list_cost").alias("c"))
         .orderBy(F.desc("c")).limit(10).collect())
        return time.monotonic() - t0

    times = [once() for _ in range(repeats)]
    return {"median_s": percentile(times, 50), "runs_s": times}


def measure_maintenance(spark, tables, layers: tuple[str, ...] = LAYERS) -> dict:
    """Files and query time, then `maintain_tables` (OPTIMIZE with Z-order, VACUUM) on `layers`
    (silver and gold by default), then files and query time again."""
    from benchmarks.pipeline import described
    from streaming_obs.ops.maintenance import maintain_tables

    with described(spark, "bench:maintenance"):
        before_files, before_q = file_counts(spark, tables), typical_gold_query(spark, tables)
        t0 = time.monotonic()
        lines = maintain_tables(spark, tables, vacuum=True, layers=tuple(layers))
        seconds = time.monotonic() - t0
        after_files, after_q = file_counts(spark, tables), typical_gold_query(spark, tables)
    gold = [k for k in before_files if k.split(".")[0] == tables.settings.schemas.gold]
    return {
        "layers": list(layers), "files_before": before_files, "files_after": after_files,
        "gold_files_before": sum(v for k, v in before_files.items() if k in gold),
        "gold_files_after": sum(v for k, v in after_files.items() if k in gold),
        "silver_files_before": sum(v for k, v in before_files.items() if k not in gold),
        "silver_files_after": sum(v for k, v in after_files.items() if k not in gold),
        "query_before": before_q, "query_after": after_q, "maintain_seconds": seconds, "log": lines,
    }
