"""The hot path: cost_daily (and budget_status_daily) kept in the billing-usage query's own batch.

The rows a batch added to silver are priced, aggregated to cost_daily's key and added to it in
one MERGE (`merge_add`). Corrections are records of their own, so adding deltas is exact; a
record delivered twice never reaches this point (silver keeps it once). A price row inserted or
changed invalidates past results: the usage query also reads silver list_prices' change feed,
and the dates a changed price window covers are recomputed from silver, after the additive
MERGE of the same batch, so a replay of either step gives the same table.

With budgets configured, the same priced rows then move budget_status_daily (gold/budgets.py).

Every write carries txnAppId/txnVersion of its batch: a replayed batch skips what committed.
cost_daily has no other writer while the pipeline runs, so nothing races these MERGEs.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from streaming_obs.gold.budgets import BUDGET_TABLE, batch_update, resync
from streaming_obs.gold.compute import GoldWriter, release_checkpoint
from streaming_obs.gold.contract import CONTRACT_SOURCE, contract_prices_on
from streaming_obs.merge import merge_add
from streaming_obs.resilience.idempotency import idempotent_write
from streaming_obs.resilience.operation import sql_operation
from streaming_obs.resilience.retry import retry_delta_conflicts
from streaming_obs.sources.readers import read_cdf_stream

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Row

    from streaming_obs.batch import BatchInfo
    from streaming_obs.context import PipelineContext

__all__ = ["HOT_TABLE", "ADDITIVE", "price_touch_stream", "price_dates", "keep_cost_daily", "resync_budgets", "TOUCH_COL"]

HOT_TABLE = "cost_daily"
#: cost_daily's columns that add up over rows (all of them: names are not part of it). net_cost
#: is NULL on every row without contract prices, and NULL + NULL stays NULL.
ADDITIVE = ("usage_quantity", "list_cost", "unpriced_quantity", "usage_rows", "net_cost")
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


def keep_cost_daily(ctx: PipelineContext, new_rows: DataFrame | None, windows: list, info: BatchInfo,
                    dates: list | None = None) -> int:
    """Apply one usage batch to cost_daily: add the new rows of the dates whose price did not
    change, then recompute the dates whose price changed (from silver, which already holds the
    batch's rows: adding them first would be work thrown away). Returns the MERGEs committed.

    `dates`: the batch's usage dates when the caller has them (a superset is fine).
    """
    session = ctx.spark if new_rows is None else new_rows.sparkSession
    ref = ctx.tables.gold(HOT_TABLE)

    @contextmanager
    def txn(step: str):
        with idempotent_write(session, info.txn_app(step), info.batch_id):
            yield

    writer = GoldWriter(session, ctx.tables, ctx.settings, txn=txn, cost_tables=(HOT_TABLE,))
    merges = 0
    changed = price_dates(windows)
    priced = None
    try:
        if new_rows is not None:
            if dates is None:
                dates = [r[0] for r in new_rows.select("usage_date").distinct().collect()]
            dates = sorted(set(dates) - changed)
            if dates:
                rows = new_rows.where(~F.col("usage_date").isin(sorted(changed))) if changed else new_rows
                priced = writer.priced_usage(rows)
                if ctx.settings.budgets:
                    # priced once for cost_daily and the budgets
                    priced = priced.localCheckpoint(eager=True)
                delta = writer.cost_frame(HOT_TABLE, priced)
                prune = "t.usage_date IN ({})".format(", ".join(f"DATE'{d.isoformat()}'" for d in dates))

                def _add() -> None:
                    with sql_operation(f"gold add {HOT_TABLE}", target=ref.label, sql="sql/gold/cost_daily.sql"), \
                            txn(f"{HOT_TABLE}:add"):
                        merge_add(session, ref, delta, writer.keys[HOT_TABLE], ADDITIVE, prune=prune)

                retry_delta_conflicts(_add, attempts=ctx.settings.resilience.write_retries, what=f"add {ref.label}")
                merges += 1
        if changed:
            retry_delta_conflicts(lambda: writer.costs(changed), attempts=ctx.settings.resilience.write_retries,
                                  what=f"reprice {ref.label}")
            merges += 1
        if ctx.settings.budgets:
            added = dates if new_rows is not None and dates else ()
            # after cost_daily: a budget row exists for each date cost_daily has
            if retry_delta_conflicts(lambda: _keep_budgets(writer, priced, added, changed),
                                     attempts=ctx.settings.resilience.write_retries, what=f"keep {BUDGET_TABLE}"):
                merges += 1
    finally:
        if priced is not None and ctx.settings.budgets:
            release_checkpoint(priced)
    return merges


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
