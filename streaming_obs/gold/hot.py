"""The hot path: every cost table kept in the billing-usage query's own batch.

The rows a batch added to silver are priced once and applied additively: aggregated to each cost
table's key and added in one MERGE per table (`merge_add`), cost_daily first (it carries the
freshness promise), and appended to focus_costs (one row per record). Corrections are records of
their own, so adding deltas is exact; a record delivered twice never reaches this point (silver
keeps it once). Columns that do not add up are recomputed for the touched keys only: job_runs (a
distinct count, from focus_costs, which the same batch has just extended) and, on a new row,
the current job or compute name.

A price row inserted or changed invalidates past results: the usage query also reads silver
list_prices' change feed (and account_prices'), and the dates a changed price window covers are
recomputed from silver, so a replay of either step gives the same table. This query is the one
writer of silver usage, so what it adds and what it recomputes never overlap or miss a row:
that is why the cost tables live here and not in the gold query, which reads silver while it
grows.

With budgets configured, the same priced rows then move budget_status_daily (gold/budgets.py).

Every write carries txnAppId/txnVersion of its batch: a replayed batch skips what committed.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from streaming_obs.gold.budgets import BUDGET_TABLE, batch_update, resync
from streaming_obs.gold.compute import FOCUS_TABLE, GoldWriter, release_checkpoint
from streaming_obs.gold.contract import CONTRACT_SOURCE, contract_prices_on
from streaming_obs.gold.reconcile import silver_versions, stream_check
from streaming_obs.logs import get_logger
from streaming_obs.merge import merge_add
from streaming_obs.ops.recorder import tagged_commit_info
from streaming_obs.resilience.idempotency import idempotent_write
from streaming_obs.resilience.operation import sql_operation
from streaming_obs.resilience.retry import retry_delta_conflicts
from streaming_obs.sources.readers import read_cdf_stream

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Row

    from streaming_obs.batch import BatchInfo
    from streaming_obs.context import PipelineContext

__all__ = ["HOT_TABLE", "ADDITIVE", "ADDS", "price_touch_stream", "price_dates", "keep_cost", "reconcile_touched", "resync_budgets", "TOUCH_COL"]

log = get_logger(__name__)

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


#: what each cost table adds up over rows (names and job_runs do not: see `keep_cost`).
#: net_cost is NULL on every row without contract prices, and NULL + NULL stays NULL.
ADDS = {
    HOT_TABLE: ADDITIVE,
    "cost_by_job_daily": ("usage_quantity", "list_cost", "net_cost"),
    "cost_by_tag_daily": ("list_cost", "usage_quantity", "net_cost"),
    "cost_by_compute_daily": ("list_cost", "usage_quantity", "net_cost"),
}
#: silver tables the names of new cost rows come from
NAME_SOURCES = ("jobs", "clusters", "warehouses")


def keep_cost(ctx: PipelineContext, new_rows: DataFrame | None, windows: list, info: BatchInfo,
              dates: list | None = None) -> int:
    """Apply one usage batch to the cost tables, focus_costs and the budgets: add the new rows of
    the dates whose price did not change (cost_daily first), recompute the dates whose price
    changed from silver (which already holds the batch's rows: adding them first would be work
    thrown away). Returns the writes committed.

    `dates`: the batch's usage dates when the caller has them (a superset is fine).
    """
    session = ctx.spark if new_rows is None else new_rows.sparkSession
    retries = ctx.settings.resilience.write_retries

    @contextmanager
    def txn(step: str):
        with idempotent_write(session, info.txn_app(step), info.batch_id):
            yield

    # Names are read at the versions of now; if a rename lands while the batch writes, the
    # batch's own keys are renamed again at the end (`_names_moved`).
    pins = {s: ctx.tables.silver(s).version(session) for s in NAME_SOURCES}
    # A replay after a kill between the cost writes and the rename below would skip the writes
    # (txn) and, with fresh pins, the rename too: rows written with names older than a rename the
    # gold query applied before they committed would keep them. A replay renames its keys always.
    replay = _wrote_before(ctx, session, info)
    writer = GoldWriter(session, ctx.tables, ctx.settings, txn=txn, pins=pins)
    writes = 0
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
                # priced once for every table below
                priced = writer.priced_usage(rows).localCheckpoint(eager=True)
                writes += _add(ctx, writer, HOT_TABLE, priced, added, txn)
        if changed:
            retry_delta_conflicts(lambda: writer.costs(changed), attempts=retries, what="reprice the cost tables")
            writes += len(writer.merged)
        if ctx.settings.budgets:
            # after cost_daily: a budget row exists for each date cost_daily has
            if retry_delta_conflicts(lambda: _keep_budgets(writer, priced, added, changed),
                                     attempts=retries, what=f"keep {BUDGET_TABLE}"):
                writes += 1
        if priced is not None:
            writes += _append_focus(ctx, writer, priced, txn)
            for table in ("cost_by_job_daily", "cost_by_tag_daily", "cost_by_compute_daily"):
                writes += _add(ctx, writer, table, priced, added, txn)
        if (priced is not None or changed) and (replay or _names_moved(ctx, session, pins)):
            _rename_batch_keys(ctx, session, priced, changed)
    finally:
        if priced is not None:
            release_checkpoint(priced)
    return writes


def _prune(dates: list) -> str:
    return "t.usage_date IN ({})".format(", ".join(f"DATE'{d.isoformat()}'" for d in dates))


def _add(ctx: PipelineContext, writer: GoldWriter, table: str, priced: DataFrame, dates: list, txn) -> int:
    """Add a batch's priced rows to one cost table (one MERGE, exactly once)."""
    session, ref = writer.spark, ctx.tables.gold(table)
    delta = writer.cost_frame(table, priced)
    replace: tuple[str, ...] = ()
    if table == "cost_by_job_daily":
        delta, replace = _with_job_runs(writer, delta, dates), ("job_runs",)

    def _do() -> None:
        with sql_operation(f"gold add {table}", target=ref.label, sql=f"sql/gold/{table}.sql"), txn(f"{table}:add"):
            merge_add(session, ref, delta, writer.keys[table], ADDS[table], prune=_prune(dates), replace=replace)

    retry_delta_conflicts(_do, attempts=ctx.settings.resilience.write_retries, what=f"add {ref.label}")
    return 1


def _with_job_runs(writer: GoldWriter, delta: DataFrame, dates: list) -> DataFrame:
    """The job_runs of each touched (date, workspace, job, currency): a distinct count does not
    add up, so it is counted again from focus_costs (one row per record, already extended by
    this batch), on the touched dates and jobs only."""
    focus = writer.tables.gold(FOCUS_TABLE).read(writer.spark).where(F.col("usage_date").isin(dates))
    touched = delta.select("usage_date", "workspace_id", "job_id").distinct()
    runs = (focus.where(F.col("x_JobId").isNotNull())
            .select("usage_date", "workspace_id", F.col("x_JobId").alias("job_id"),
                    F.col("BillingCurrency").alias("currency_code"), "x_JobRunId")
            .join(touched, ["usage_date", "workspace_id", "job_id"], "left_semi")
            .groupBy("usage_date", "workspace_id", "job_id", "currency_code")
            .agg(F.countDistinct("x_JobRunId").alias("__runs")))
    keys = ["usage_date", "workspace_id", "job_id", "currency_code"]
    joined = delta.alias("d").join(runs.alias("r"), [delta[k].eqNullSafe(runs[k]) for k in keys], "left")
    return joined.select(*[F.col(f"d.{c}") if c != "job_runs" else
                           F.coalesce(F.col("r.__runs"), F.lit(0)).cast("bigint").alias("job_runs")
                           for c in delta.columns])


def _append_focus(ctx: PipelineContext, writer: GoldWriter, priced: DataFrame, txn) -> int:
    """A batch's new records appended to focus_costs: every value is a function of the record
    and its price, and a record reaches this point once (silver keeps it once; a replay is
    skipped by its txnAppId/txnVersion)."""
    ref = ctx.tables.gold(FOCUS_TABLE)
    rows = writer.focus_frame(priced)

    def _do() -> None:
        with sql_operation(f"gold add {FOCUS_TABLE}", target=ref.label, sql=f"sql/gold/{FOCUS_TABLE}.sql"), \
                txn(f"{FOCUS_TABLE}:add"):
            ref.append(rows)

    retry_delta_conflicts(_do, attempts=ctx.settings.resilience.write_retries, what=f"append {ref.label}")
    return 1


def _wrote_before(ctx: PipelineContext, session, info: BatchInfo) -> bool:
    """True when this batch already committed to cost_daily or focus_costs (a replay): their
    commits carry the batch's tag (`idempotency.commit_tag`)."""
    suffix = f"@{int(info.batch_id)}"
    return any(tagged_commit_info(session, ctx.tables.gold(t), f"{info.app_id}:", suffix)[0] is not None
               for t in (HOT_TABLE, FOCUS_TABLE))


def _names_moved(ctx: PipelineContext, session, pins: dict[str, int]) -> bool:
    """True when a job, cluster or warehouse table moved since the batch read its names."""
    return any(ctx.tables.silver(s).version(session) != v for s, v in pins.items())


def _rename_batch_keys(ctx: PipelineContext, session, priced: DataFrame | None, changed: set) -> None:
    """A rename landed while the batch wrote: its new rows may carry the old name, and the gold
    query's rename step may have run before they committed. Set the current names on the
    batch's jobs and compute again (update-only MERGEs, idempotent)."""
    writer = GoldWriter(session, ctx.tables, ctx.settings)
    usage = priced
    if usage is None:  # a reprice only: the repriced dates' ids
        usage = ctx.tables.silver("billing_usage").read(session).where(F.col("usage_date").isin(sorted(changed)))
    meta = usage.select("workspace_id", "usage_metadata")
    ids = {
        "jobs": meta.select("workspace_id", F.col("usage_metadata.job_id").alias("id")),
        "clusters": meta.select("workspace_id", F.col("usage_metadata.cluster_id").alias("id")),
        "warehouses": meta.select("workspace_id", F.col("usage_metadata.warehouse_id").alias("id")),
    }
    ids = {k: v.where(F.col("id").isNotNull()).distinct() for k, v in ids.items()}
    retry_delta_conflicts(lambda: writer.renames(ids["jobs"], ids["clusters"], ids["warehouses"]),
                          attempts=ctx.settings.resilience.write_retries, what="rename the batch's cost rows")


def reconcile_touched(ctx: PipelineContext, session, dates, last_check: list[float | None] | None) -> bool:
    """The reconciliation identities on the dates a usage batch touched, exported as gauges,
    when due (`cost.reconcile.every_seconds`; `last_check` holds the monotonic time of the last
    check, None checks every time). Run by the usage query after its writes: it is the one
    writer of silver usage and of every cost table, so silver and gold are in step here.

    A failed check is logged and never fails the batch: the gauges keep their last values.
    Returns True when a check ran.
    """
    rec = ctx.settings.cost.reconcile
    if not rec.in_stream or not _due(last_check, rec.every_seconds):
        return False
    try:
        report = stream_check(session, ctx.tables, ctx.settings, dates, silver_versions(session, ctx.tables),
                              rec.tolerance)
    except Exception as exc:  # noqa: BLE001 - a check must not stop cost
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
