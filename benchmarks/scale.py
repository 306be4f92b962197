"""Grow silver usage to a target size without pushing every row through bronze.

Copies of the silver rows already there are appended with fresh `record_id`s. Two ways to grow:
- `days` (default): each copy is shifted back by the span of days silver covers, so silver gets
  longer (more days at the same daily volume) — how silver grows while a stream runs for months.
- `density`: copies keep their dates, so every day gets more rows — a bigger account.
"""

from __future__ import annotations

import math

__all__ = ["copies_needed", "pad_silver_usage"]


def copies_needed(current: int, target: int) -> int:
    """How many shifted copies of `current` rows reach at least `target` rows in all."""
    if current <= 0:
        raise ValueError("silver is empty: nothing to copy")
    return max(0, math.ceil((target - current) / current))


def pad_silver_usage(spark, tables, target: int, *, mode: str = "days") -> dict:
    """Append copies of silver usage until it holds about `target` rows; returns sizes and time."""
    import time

    from pyspark.sql import functions as F

    from benchmarks.pipeline import described

    if mode not in ("days", "density"):
        raise ValueError("mode must be 'days' or 'density'")
    ref = tables.silver("billing_usage")
    t0 = time.monotonic()
    with described(spark, "bench:padding"):
        df = ref.read(spark)
        current = df.count()
        k = copies_needed(current, target)
        if k == 0:
            return {"rows_before": current, "rows_after": current, "copies": 0, "seconds": 0.0, "mode": mode}
        bounds = df.agg(F.min("usage_date").alias("lo"), F.max("usage_date").alias("hi")).head()
        span = (bounds["hi"] - bounds["lo"]).days + 1
        copies = spark.range(1, k + 1).withColumnRenamed("id", "__copy")
        shift = F.col("__copy") * F.lit(span) if mode == "days" else F.lit(0)
        out = df.crossJoin(copies)
        # the last copy is thinned so the total lands near the target
        keep = (target - current) / (k * current)
        if keep < 1:
            out = out.where(F.rand(11) < F.lit(keep))
        out = (out.withColumn("record_id", F.concat("record_id", F.lit("~p"), F.col("__copy").cast("string")))
               .withColumn("usage_date", F.date_sub("usage_date", shift.cast("int")))
               .withColumn("usage_start_time", F.col("usage_start_time") - F.make_interval(days=shift.cast("int")))
               .withColumn("usage_end_time", F.col("usage_end_time") - F.make_interval(days=shift.cast("int")))
               .withColumn("ingestion_date", F.date_sub("ingestion_date", shift.cast("int")))
               .drop("__copy"))
        out.write.format("delta").mode("append").save(ref.path)
        after = ref.read(spark).count()
    return {"rows_before": current, "rows_after": after, "copies": k, "days_span": span, "mode": mode,
            "seconds": time.monotonic() - t0}
