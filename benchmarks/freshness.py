"""Freshness: from a source commit of billing usage to the gold commit that reflects it.

The chain is followed through the data, not guessed from clocks:
source version --(bronze `_source_version`)--> bronze version --(silver `_bronze_version`)-->
silver version --(gold checkpoint offsets)--> gold batch --(cost_daily `txn` of that batch)-->
the commit that made the gold row visible. Every time is a Delta commit time (log file mtime).
"""

from __future__ import annotations

import os

from benchmarks import deltalog

__all__ = ["freshness_chain", "gold_visibility", "measure_freshness"]


def gold_visibility(batches: list[dict], source_index: int, cost_commits: dict[int, float]) -> list[tuple[int, float]]:
    """[(highest silver version covered, visible time)] per gold batch, in batch order.

    A batch's rows are visible at its `cost_daily` MERGE commit (found by the batch id in the
    commit's txn); a batch that did not touch cost_daily falls back to its checkpoint commit.
    """
    out = []
    for b in batches:
        offsets = b["offsets"]
        off = offsets[source_index] if source_index < len(offsets) else None
        out.append((deltalog.covered_version(off), cost_commits.get(b["batch"], b["committed_at"])))
    return out


def freshness_chain(
    source_times: dict[int, float],
    bronze_of_source: dict[int, int],
    silver_of_bronze: dict[int, int],
    bronze_times: dict[int, float],
    silver_times: dict[int, float],
    gold: list[tuple[int, float]],
) -> list[dict]:
    """One record per source version that reached gold: commit times along the chain.

    Source versions whose rows have not reached a later layer are left out (reported as
    `unfinished` by the caller).
    """
    out = []
    for sv, t_src in sorted(source_times.items()):
        bv = bronze_of_source.get(sv)
        if bv is None:
            continue
        lv = silver_of_bronze.get(bv)
        if lv is None:
            continue
        t_gold = next((t for covered, t in gold if covered >= lv), None)
        if t_gold is None:
            continue
        out.append({"source_version": sv, "t_source": t_src, "to_bronze": bronze_times[bv] - t_src,
                    "to_silver": silver_times[lv] - t_src, "to_gold": t_gold - t_src})
    return out


def _version_map(spark, path: str, since: int, key_col: str) -> dict[int, int]:
    """{key_col value: highest change-feed commit version holding a row with it}, from `since`."""
    from pyspark.sql import functions as F

    if deltalog.latest_version(path) < since:
        return {}
    rows = (spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", since).load(path)
            .where(F.col("_change_type") == "insert").groupBy(key_col).agg(F.max("_commit_version").alias("v"))
            .collect())
    return {int(r[0]): int(r["v"]) for r in rows if r[0] is not None}


def measure_freshness(spark, tables, source_since: int, bronze_since: int, silver_since: int) -> dict:
    """Freshness of every billing-usage source commit at or after `source_since`.

    Call it after the pipeline drained; the `*_since` versions are the tables' versions at the
    start of the window (so only this window's commits are read).
    """
    src, brz, slv = (tables.source("billing_usage").path, tables.bronze("billing_usage").path,
                     tables.silver("billing_usage").path)
    gold_ckpt = tables.checkpoint("gold")
    source_times = deltalog.commit_times(src, source_since)
    bronze_of_source = {k: v for k, v in _version_map(spark, brz, bronze_since, "_source_version").items()
                        if k >= source_since}
    silver_of_bronze = _version_map(spark, slv, silver_since, "_bronze_version")
    batches = deltalog.checkpoint_batches(gold_ckpt)
    # The gold query's offsets list its 8 silver sources; billing usage is found by table id.
    usage_id = deltalog.table_id(slv)
    idx = 0
    for b in batches:
        for i, off in enumerate(b["offsets"]):
            if off and off.get("reservoirId") == usage_id:
                idx = i
    cost = tables.gold("cost_daily").path
    cost_commits = {}
    for _v, app, txn_version, t in deltalog.txn_commits(cost):
        if app.endswith(":cost_daily:recompute"):
            cost_commits.setdefault(txn_version, t)
    gold = gold_visibility(batches, idx, cost_commits)
    records = freshness_chain(source_times, bronze_of_source, silver_of_bronze,
                              deltalog.commit_times(brz, bronze_since), deltalog.commit_times(slv, silver_since), gold)
    return {"records": records, "source_commits": len(source_times),
            "unfinished": len(source_times) - len(records), "gold_checkpoint": os.path.basename(gold_ckpt)}
