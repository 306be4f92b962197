"""The follow-on cost tables, brought up to silver by the gold query on its own trigger.

cost_daily carries the freshness promise: the usage query keeps it in its own batch
(gold/hot.py). cost_by_job_daily, cost_by_tag_daily, cost_by_compute_daily and focus_costs
follow: each gold batch brings them up to silver as it is at the batch's start, so a usage batch
commits three writes (bronze, silver, cost_daily) instead of seven.

Each of these tables carries its watermark (gold/watermark.py): the silver versions of usage and
prices its figures equal, written in the same commit as the figures. A catch-up pins the
current versions and:
- reads what silver usage gained since the watermark from its change feed (silver keeps a
  record once, by an insert-only MERGE: its feed is the new records), prices it at the pinned
  prices and adds it: one MERGE per cost table (job_runs, a distinct count, adds the runs
  new to their key), one append to focus_costs;
- recomputes from silver at the pins, in that same single commit, the dates a price row changed
  since the watermark (list_prices' or account_prices' feed, pre-images included: a closed
  window still covers its old dates), together with the dates of the new rows, if there is
  any; likewise dates where silver usage changed other than by an insert;
- recomputes the whole table from silver at the pins when it has no watermark (new, or written
  before this release), the inputs changed (contract prices turned on or off), or the change
  feed since the watermark cannot be read (vacuumed).

Exact and crash-safe: figures and watermark move in one commit. A batch killed before a table's
commit leaves its old watermark and the next batch does the work; one killed after is not redone.
Each table has its own watermark, so a kill between two tables leaves each consistent; tables
whose watermarks differ are caught up separately. Pinned reads make it independent of the
usage query writing silver meanwhile.
"""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from streaming_obs.gold.compute import FOCUS_TABLE, GoldScope, GoldWriter, gold_step, release_checkpoint
from streaming_obs.gold.hot import price_dates
from streaming_obs.gold.watermark import FOLLOW_TABLES, WM_MARK, current_watermark, latest_stamp
from streaming_obs.logs import get_logger
from streaming_obs.resilience.supervisor import batch_ended_by_stop

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from streaming_obs.tables import Tables

__all__ = ["FOLLOW_TABLES", "WM_MARK", "follow_costs", "silver_changes"]

log = get_logger(__name__)

#: the columns a change feed adds to a table's own
_CDF_COLS = ("_change_type", "_commit_version", "_commit_timestamp")


def follow_costs(writer: GoldWriter) -> dict[str, set[date] | None]:
    """Bring every follow-on table up to silver as it is now, on `writer`'s session and txn.

    Returns {table: the usage dates it moved (None: all of them)} for the tables written.
    The watermark reached and the dates are also left on `writer.followed` (the in-stream check).
    """
    spark, tables = writer.spark, writer.tables
    target = current_watermark(spark, tables)
    groups: dict[str, list[str]] = {}
    for table in FOLLOW_TABLES:
        wm, writer.stamps[table] = latest_stamp(spark, tables.gold(table))
        if wm == target:
            continue
        groups.setdefault(json.dumps(wm, sort_keys=True), []).append(table)
    moved: dict[str, set[date] | None] = {}
    for key, names in groups.items():
        dates = _catch_up(writer, names, json.loads(key), target)
        moved.update({n: dates for n in names})
    if moved:
        everything = any(d is None for d in moved.values())
        writer.followed = (None if everything else set().union(*moved.values()), target)
    return moved


@gold_step("follow")
def _follow_step(writer: GoldWriter, scope: GoldScope) -> None:
    # only the gold query's writer follows; a recompute from scratch stamps what it computed
    if writer.follow:
        follow_costs(writer)


def _catch_up(writer: GoldWriter, names: list[str], wm: dict[str, int] | None,
              target: dict[str, int]) -> set[date] | None:
    """Bring `names` (one watermark `wm`) to `target`; the usage dates moved (None: all)."""
    spark, tables = writer.spark, writer.tables
    sub = GoldWriter(spark, tables, writer.settings, txn=writer.txn, tag=writer.tag,
                     cost_tables=tuple(n for n in names if n != FOCUS_TABLE), focus=FOCUS_TABLE in names,
                     pins={**writer.pins, **target})
    sub.watermark = dict(target)
    changes = silver_changes(spark, tables, wm, target) if wm is not None and set(wm) == set(target) else None
    if changes is None:
        log.info("follow-on cost tables recomputed from silver", tables=names, watermark=target,
                 reason="no watermark" if wm is None else "inputs or change feed")
        sub.costs(None)
        _merged_into(writer, sub)
        return None
    inserted, redo = changes
    try:
        new_dates = set() if inserted is None else {r[0] for r in inserted.select("usage_date").distinct().collect()}
        if redo:
            # one commit per table: the repriced dates and the new rows' dates, from silver
            sub.costs(redo | new_dates)
        elif new_dates:
            priced = sub.priced_usage(inserted).localCheckpoint(eager=True)
            try:
                for table in sub.cost_tables:
                    sub.add(table, priced, sorted(new_dates))
                if sub.focus:
                    sub.append_focus(priced)
            finally:
                release_checkpoint(priced)
        # else silver moved without a record or a price (maintenance): nothing to write, and
        # the watermark stays where it is (the next batch reads those commits' empty feed again)
    finally:
        if inserted is not None:
            release_checkpoint(inserted)
    _merged_into(writer, sub)
    return redo | new_dates


def _merged_into(writer: GoldWriter, sub: GoldWriter) -> None:
    for table, n in sub.merged.items():
        writer.merged[table] = writer.merged.get(table, 0) + n


def silver_changes(spark: SparkSession, tables: Tables, wm: dict[str, int],
                   target: dict[str, int]) -> tuple[DataFrame | None, set[date]] | None:
    """What silver gained between `wm` and `target`: (the usage records inserted, materialised,
    or None; the usage dates to recompute). None when that cannot be read from the change
    feeds (a version went backwards, or the feed since `wm` is gone): recompute everything."""
    if any(target[n] < wm[n] for n in target):
        return None
    redo: set[date] = set()
    inserted = None
    try:
        for name in target:
            if name == "billing_usage" or target[name] == wm[name]:
                continue
            windows = (_feed(spark, tables, name, wm[name], target[name])
                       .select("price_start_time", "price_end_time").distinct().collect())
            redo |= price_dates([(w[0], w[1]) for w in windows])
        if target["billing_usage"] > wm["billing_usage"]:
            feed = _feed(spark, tables, "billing_usage", wm["billing_usage"], target["billing_usage"])
            redo |= {r[0] for r in feed.where(F.col("_change_type") != "insert").select("usage_date").distinct().collect()}
            inserted = feed.where(F.col("_change_type") == "insert").drop(*_CDF_COLS).localCheckpoint(eager=True)
    except Exception as exc:  # noqa: BLE001 - a feed that cannot be read: the recompute is exact
        if inserted is not None:
            release_checkpoint(inserted)
        if batch_ended_by_stop(exc):
            raise  # the stop cut this batch: no recompute of everything on the way out
        log.warning("change feed unreadable; recomputing the follow-on cost tables", error_class=type(exc).__name__,
                    error=str(exc)[:300])
        return None
    return inserted, redo


def _feed(spark: SparkSession, tables: Tables, name: str, after: int, upto: int) -> DataFrame:
    """The change feed of silver `name` for the commits after version `after` up to `upto`."""
    ref = tables.silver(name)
    reader = (spark.read.format("delta").option("readChangeFeed", "true")
              .option("startingVersion", str(after + 1)).option("endingVersion", str(upto)))
    return reader.load(ref.path) if ref.path else reader.table(ref.ident)
