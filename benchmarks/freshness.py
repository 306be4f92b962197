"""Freshness: from a source commit of billing usage to the cost_daily commit that reflects it.

The chain is followed through the data, not guessed from clocks: source version --(bronze
`_source_version`, `_batch_id`)--> the usage query's batch --(txnAppId/txnVersion in each
table's commits)--> the bronze append, the silver append and the cost_daily MERGE of that batch.
Every time is a Delta commit time (log file mtime).
"""

from __future__ import annotations

from benchmarks import deltalog

__all__ = ["freshness_chain", "measure_freshness", "batch_commits"]


def batch_commits(path: str, step: str, since: int = 0) -> dict[int, float]:
    """{batch id: commit time} of the commits whose txnAppId ends with `:<step>` (first wins)."""
    out: dict[int, float] = {}
    for _v, app, txn_version, t in deltalog.txn_commits(path, since):
        if app.endswith(f":{step}"):
            out.setdefault(int(txn_version), t)
    return out


def freshness_chain(source_times: dict[int, float], batch_of_source: dict[int, int], bronze: dict[int, float],
                    silver: dict[int, float], gold: dict[int, float]) -> list[dict]:
    """One record per source version that reached gold: commit times along the chain.

    Source versions whose batch has not reached cost_daily are left out (reported as
    `unfinished` by the caller).
    """
    out = []
    for sv, t_src in sorted(source_times.items()):
        b = batch_of_source.get(sv)
        if b is None or b not in gold or b not in bronze or b not in silver:
            continue
        out.append({"source_version": sv, "batch": b, "t_source": t_src, "to_bronze": bronze[b] - t_src,
                    "to_silver": silver[b] - t_src, "to_gold": gold[b] - t_src})
    return out


def measure_freshness(spark, tables, source_since: int, bronze_since: int, silver_since: int) -> dict:
    """Freshness of every billing-usage source commit at or after `source_since`.

    Call it after the pipeline drained; the `*_since` versions are the tables' versions at the
    start of the window (so only this window's commits are read).
    """
    from pyspark.sql import functions as F

    src, brz, slv = (tables.source("billing_usage").path, tables.bronze("billing_usage").path,
                     tables.silver("billing_usage").path)
    cost = tables.gold("cost_daily").path
    source_times = deltalog.commit_times(src, source_since)
    batch_of_source: dict[int, int] = {}
    if deltalog.latest_version(brz) >= bronze_since:
        rows = (spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", bronze_since)
                .load(brz).where(F.col("_change_type") == "insert").groupBy("_source_version")
                .agg(F.max("_batch_id").alias("b")).collect())
        # a source version split over two batches is fresh when its last part is
        batch_of_source = {int(r[0]): int(r["b"]) for r in rows if r[0] is not None and int(r[0]) >= source_since}
    records = freshness_chain(source_times, batch_of_source, batch_commits(brz, "bronze", bronze_since),
                              batch_commits(slv, "silver", silver_since), batch_commits(cost, "cost_daily:add"))
    return {"records": records, "source_commits": len(source_times),
            "unfinished": len(source_times) - len(records), "gold_table": "cost_daily"}
