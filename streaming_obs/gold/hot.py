"""The hot path: cost_daily kept in the billing-usage query's own batch.

cost_daily carries the freshness promise. The rows a batch added to silver are priced once,
aggregated to cost_daily's key and added in one MERGE (`GoldWriter.add`): corrections are
records of their own, so adding deltas is exact, and a record delivered twice never reaches this
point (silver keeps it once). Every column of cost_daily adds up; it has no names.

A price row inserted or changed invalidates past results: the usage query also reads silver
list_prices' change feed (and account_prices'), and the dates a changed price window covers are
recomputed from silver, so a replay of either step gives the same table. This query is the one
writer of silver usage, so what it adds and what it recomputes never overlap or miss a row.

With budgets configured, the same priced rows then move budget_status_daily (gold/budgets.py).
The other cost tables and focus_costs follow on the gold query's trigger (gold/follow.py).

Every write carries txnAppId/txnVersion of its batch: a replayed batch skips what committed.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from streaming_obs.gold.budgets import BUDGET_TABLE, batch_update, resync
from streaming_obs.gold.compute import ADDS, GoldWriter, release_checkpoint
from streaming_obs.gold.contract import CONTRACT_SOURCE, contract_prices_on
from streaming_obs.gold.reconcile import stream_check
from streaming_obs.logs import get_logger
from streaming_obs.resilience.idempotency import idempotent_write
from streaming_obs.resilience.retry import retry_delta_conflicts
from streaming_obs.resilience.supervisor import batch_ended_by_stop
from streaming_obs.sources.readers import read_cdf_stream

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Row

    from streaming_obs.batch import BatchInfo
    from streaming_obs.context import PipelineContext

__all__ = ["HOT_TABLE", "ADDITIVE", "ADDS", "price_touch_stream", "price_dates", "keep_cost", "reconcile_touched",
           "resync_budgets", "TOUCH_COL"]

log = get_logger(__name__)

HOT_TABLE = "cost_daily"
#: cost_daily's columns that add up over rows (all of them: names are not part of it). net_cost
#: is NULL on every row without contract prices, and NULL + NULL stays NULL.
ADDITIVE = ADDS[HOT_TABLE]
#: marks the price-change rows that ride along in the usage query's stream
TOUCH_COL = "_price_touch"


def price_touch_stream(ctx: PipelineContext) -> DataFrame:
    """silver list_prices' change feed (pre-images kept: a closed window still covers its old
    dates) projected to the price windows, to be unioned with the usage source stream; with
    contract prices configured, silver account_prices' too (they move net_cost)."""
    sources = ["list_prices"] + ([CONTRACT_SOURCE] if contract_prices_on(ctx.settings) else [])
    out = None
    for source in sources:
        cdf = read_cdf_stream(ctx.spark, ctx.tables.silver(source), starting_version=0, keep_preimage=True)
        windows = cdf.select(F.lit(True).alias(TOUCH_COL), F.col("price_start_time").alias("_price_start"),
                             F.col("price_end_time").alias("_price_end"),
                             F.col("_commit_timestamp").alias("_source_commit_ts"))
        out = windows if out is None else out.unionByName(windows)
    return out


def price_dates(windows: list[Row] | list[tuple], today: date | None = None) -> set[date]:
    """Every date a price window [start, end) covers; an open window up to tomorrow."""
    today = today or datetime.now(timezone.utc).date()
    out: set[date] = set()
    for start_ts, end_ts in windows:
        if start_ts is None:
            continue
        day = start_ts.date()
        end = (end_ts - timedelta(microseconds=1)).date() if end_ts is not None else today + timedelta(days=1)
        while day <= end:
            out.add(day)
            day += timedelta(days=1)
    return out


def keep_cost(ctx: PipelineContext, new_rows: DataFrame | None, windows: list, info: BatchInfo,
              dates: list | None = None) -> int:
    """Apply one usage batch to cost_daily and the budgets: add the new rows of the dates whose
    price did not change, recompute the dates whose price changed from silver (which already
    holds the batch's rows: adding them first would be work thrown away). Returns the writes
    committed.

    `dates`: the batch's usage dates when the caller has them (a superset is fine).
    """
    session = ctx.spark if new_rows is None else new_rows.sparkSession
    retries = ctx.settings.resilience.write_retries

    @contextmanager
    def txn(step: str):
        with idempotent_write(session, info.txn_app(step), info.batch_id):
            yield

    writer = GoldWriter(session, ctx.tables, ctx.settings, txn=txn, cost_tables=(HOT_TABLE,), focus=False)
    changed = price_dates(windows)
    priced = None
    try:
        added: list = []
        if new_rows is not None:
            if dates is None:
                dates = [r[0] for r in new_rows.select("usage_date").distinct().collect()]
            added = sorted(set(dates) - changed)
            if added:
                rows = new_rows.where(~F.col("usage_date").isin(sorted(changed))) if changed else new_rows
                priced = writer.priced_usage(rows)
                if ctx.settings.budgets:  # priced once for both tables
                    priced = priced.localCheckpoint(eager=True)
                retry_delta_conflicts(lambda: writer.add(HOT_TABLE, priced, added), attempts=retries,
                                      what=f"add {ctx.tables.gold(HOT_TABLE).label}")
        if changed:
            retry_delta_conflicts(lambda: writer.costs(changed), attempts=retries, what="reprice cost_daily")
        if ctx.settings.budgets:
            # after cost_daily: a budget row exists for each date cost_daily has
            retry_delta_conflicts(lambda: _keep_budgets(writer, priced, added, changed),
                                  attempts=retries, what=f"keep {BUDGET_TABLE}")
    finally:
        if priced is not None and ctx.settings.budgets:
            release_checkpoint(priced)
    return sum(writer.merged.values())


def reconcile_touched(ctx: PipelineContext, session, dates, last_check: list[float | None] | None, *,
                      follow: dict[str, int] | None = None) -> bool:
    """The reconciliation identities on the dates a batch touched, exported as gauges, when due
    (`cost.reconcile.every_seconds`; `last_check` holds the monotonic time of the last check,
    None checks every time).

    Run by the usage query after its writes (cost_daily against silver: it is the one writer of
    both), and with `follow` (the silver versions a catch-up reached) by the gold query after
    it brought the follow-on cost tables to them (gold/follow.py).

    A failed check is logged and never fails the batch: the gauges keep their last values.
    Returns True when a check ran.
    """
    rec = ctx.settings.cost.reconcile
    if not rec.in_stream or not _due(last_check, rec.every_seconds):
        return False
    try:
        if follow is None:
            report = stream_check(session, ctx.tables, ctx.settings, dates, {}, rec.tolerance, follow=False)
        else:
            report = stream_check(session, ctx.tables, ctx.settings, dates, follow, rec.tolerance, hot=False)
    except Exception as exc:  # noqa: BLE001 - a check must not stop cost
        if batch_ended_by_stop(exc):
            raise  # the stop cut this batch: carrying on would outlive the stop's deadline
        log.warning("reconciliation check failed", error_class=type(exc).__name__, error=str(exc)[:300])
        return True
    if ctx.telemetry is not None:
        ctx.telemetry.record_reconciliation(report.max_difference)
    if not report.ok:
        first = report.differences[0]
        log.warning("reconciliation differences", count=len(report.differences), table=first["table"],
                    check=first["check"], usage_date=first["usage_date"], workspace_id=first["workspace_id"],
                    currency_code=first["currency_code"], measure=first["measure"], difference=first["difference"])
    return True


def _due(last_check: list[float | None] | None, every_seconds: float) -> bool:
    """True when the in-stream check is due (and then marks it done now)."""
    if last_check is None:
        return True
    now = time.monotonic()
    if last_check[0] is not None and now - last_check[0] < every_seconds:
        return False
    last_check[0] = now
    return True


def _keep_budgets(writer: GoldWriter, priced: DataFrame | None, added, changed) -> bool:
    """budget_status_daily for one usage batch (gold/budgets.py); True when it MERGEd."""
    update = batch_update(writer, priced, added, changed)
    if update is None:
        return False
    rows, dates = update
    # Materialised: the rows read the table the MERGE writes.
    rows = rows.localCheckpoint(eager=True)
    try:
        writer.merge(BUDGET_TABLE, rows, F.col("usage_date").isin(sorted(dates)))
    finally:
        release_checkpoint(rows)
    return True


def resync_budgets(ctx: PipelineContext) -> list[str]:
    """Bring budget_status_daily in step with conf/budgets.yaml before the queries start
    (gold/budgets.py `resync`): the names of the budgets recomputed or removed."""
    writer = GoldWriter(ctx.spark, ctx.tables, ctx.settings, cost_tables=())
    found = resync(writer)
    if found is None:
        return []
    rows, names = found
    rows = rows.localCheckpoint(eager=True)
    try:
        retry_delta_conflicts(lambda: writer.merge(BUDGET_TABLE, rows, F.col("budget_name").isin(names)),
                              attempts=ctx.settings.resilience.write_retries, what=f"resync {BUDGET_TABLE}")
    finally:
        release_checkpoint(rows)
    return names
