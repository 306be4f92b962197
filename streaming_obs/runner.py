"""`streaming-obs run`: bootstrap, then run the source queries and the gold query.

The checkpoints are the bookmarks: there is no high-water-mark table. With `available_now` the
layers run one after another, each processing everything available, and the run exits; that is
the mode for backfills, tests and scheduled jobs. Otherwise all queries run together until the
duration ends or a stop is asked for (SIGTERM/SIGINT through `stop_event`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from streaming_obs.build import build_context
from streaming_obs.flows import USAGE, BatchInfo, ingest_batch, source_flow, source_query_name, start_flow
from streaming_obs.gold.contract import CONTRACT_SOURCE
from streaming_obs.gold.flow import gold_flow
from streaming_obs.gold.hot import resync_budgets
from streaming_obs.logs import get_logger
from streaming_obs.ops.audit import write_audit
from streaming_obs.ops.maintenance import MaintenanceSchedule
from streaming_obs.resilience.idempotency import checkpoint_app_id
from streaming_obs.resilience.supervisor import Supervisor, input_rows
from streaming_obs.sources.snapshot import snapshot_diff

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from streaming_obs.config.models import Settings

__all__ = ["run", "RunResult", "build_context"]

log = get_logger(__name__)


#: the sources whose silver change feed the usage query reads (its price windows)
PRICE_SOURCES = ("list_prices", CONTRACT_SOURCE)


@dataclass
class RunResult:
    """What a run did."""

    run_id: str
    batches: dict[str, int] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    #: queries whose batch was still running at the stop's deadline (replayed on the next start)
    cut: list[str] = field(default_factory=list)


def _poll_snapshots(ctx: PipelineContext, due: dict[str, float], force: bool = False) -> int:
    """Append the new rows of snapshot-mode sources whose interval has passed."""
    written = 0
    now = time.monotonic()
    for source, cfg in ctx.settings.sources.items():
        if cfg.mode != "snapshot" or (not force and now < due.get(source, 0.0)):
            continue
        due[source] = now + cfg.snapshot_interval_seconds
        name = source_query_name(source)
        ckpt = ctx.tables.checkpoint(name)
        app_id = checkpoint_app_id(ckpt, name)
        diff = snapshot_diff(ctx.spark, ctx.tables.source(source), ctx.tables.bronze(source),
                             quarantine=ctx.tables.ops("quarantine"))
        # The diff is idempotent by construction (anti-join on row hash), so the txn version can
        # simply be the wall clock: a repeat after a crash finds nothing new to write.
        info = BatchInfo(name, int(time.time() * 1000), app_id, _utcnow())
        result = ingest_batch(ctx, source, diff, info)
        written += int(result.get("rows_in", 0))
    return written


def _utcnow():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


def _resync_budgets(ctx: PipelineContext) -> None:
    """budget_status_daily follows a changed conf/budgets.yaml (recomputed before any query
    starts); a failure is logged and the run goes on with the table as it was."""
    try:
        names = resync_budgets(ctx)
    except Exception as exc:  # noqa: BLE001 - budgets must not stop the cost pipeline
        log.warning("budgets not resynced", error_class=type(exc).__name__, error=str(exc)[:300])
        return
    if names:
        log.info("budgets recomputed for a changed conf/budgets.yaml", budgets=", ".join(names))


def run(
    settings: Settings,
    *,
    available_now: bool | None = None,
    duration_s: float | None = None,
    spark: SparkSession | None = None,
    stop_event: threading.Event | None = None,
    ctx: PipelineContext | None = None,
    telemetry: bool = True,
    on_tick: Any | None = None,
    cost_first_s: float = 0,
) -> RunResult:
    """Run the pipeline.

    Args:
        settings: the environment's settings.
        available_now: process what is available and exit (default: settings.trigger.available_now).
        duration_s: stop a continuous run after this many seconds.
        spark: session to use (default: the factory's).
        stop_event: set it to stop a continuous run gracefully.
        ctx: a context built before (the demo shares it with its console).
        telemetry: start OpenTelemetry export.
        on_tick: called with the supervisor about once a second (live console).
        cost_first_s: continuous mode: the prices and usage queries run alone until the usage
            query committed a batch with rows, at most this long, before the others start (the
            demo: on a small machine every first batch competes for the same cores, and cost is
            the figure a person waits for).

    Raises:
        PipelineError: a query failed for good.
    """
    from streaming_obs.session import get_spark

    t0 = time.monotonic()
    spark = spark or get_spark(settings)
    available_now = settings.trigger.available_now if available_now is None else available_now
    own_ctx = ctx is None
    ctx = ctx or build_context(spark, settings, telemetry=telemetry)
    stop_event = stop_event or threading.Event()
    result = RunResult(ctx.ops.run_id)
    write_audit(spark, ctx.tables, "run_start", {"available_now": available_now, "run_id": result.run_id})
    _resync_budgets(ctx)
    streamed = [s for s, c in settings.sources.items() if c.mode != "snapshot"]
    # One query per streamed source (bronze, silver and, for usage, cost_daily in one batch),
    # then the gold query; in available-now mode gold runs once, after every source drained.
    # The usage query reads the price tables' change feeds beside its source, so in
    # available-now mode (end offsets fixed when a query starts) the price queries drain first:
    # a price written in the same run is then always in usage's batch. Nothing else feeds the
    # usage batch, so usage and the other sources drain together (their small jobs share the
    # cores; one after the other they left a core idle for most of a run).
    layers = [[source_flow(ctx, s) for s in streamed if s in PRICE_SOURCES],
              [source_flow(ctx, s) for s in streamed if s not in PRICE_SOURCES], [gold_flow(ctx)]]
    layers = [flows for flows in layers if flows]
    sup = Supervisor(ctx, lambda f: start_flow(ctx, f, available_now=available_now), stop_event=stop_event,
                     before_stop=ctx.telemetry.remove_listener if ctx.telemetry is not None else None)
    due: dict[str, float] = {}
    status = "ok"
    try:
        if available_now:
            _poll_snapshots(ctx, due, force=True)
            for flows in layers:
                sup.watched.clear()
                sup.launch(flows)
                finished = sup.wait_done()  # False: a stop came; the later layers do not start
                _record(result, sup)
                ctx.ops.flush(spark)
                if not finished:
                    break
        else:
            # Starting a query takes seconds and every first batch competes for the same cores:
            # prices and usage first, so cost (written by the usage query) is the first figure
            # a person sees, then the other sources, then gold.
            first = {source_query_name(s) for s in ("list_prices", USAGE)}
            flows = sorted((f for layer in layers for f in layer),
                           key=lambda f: (f.name not in first, f.layer == "gold"))
            until = None if duration_s is None else t0 + duration_s
            sup.launch([f for f in flows if f.name in first], until=until, on_started=on_tick)
            if cost_first_s > 0:
                _until_cost(sup, min(time.monotonic() + cost_first_s, until or float("inf")), stop_event, on_tick)
            sup.launch([f for f in flows if f.name not in first], until=until, on_started=on_tick)
            last_flush = time.monotonic()
            maintenance = MaintenanceSchedule(settings.maintenance.schedule_minutes, t0)
            while not stop_event.is_set():
                if duration_s is not None and time.monotonic() - t0 >= duration_s:
                    break
                sup.check()
                _poll_snapshots(ctx, due)
                if time.monotonic() - last_flush > 10:
                    ctx.ops.flush(spark)
                    last_flush = time.monotonic()
                maintenance.maybe_run(spark, ctx.tables)
                if on_tick is not None:
                    on_tick(sup)
                stop_event.wait(1.0)
            result.cut = sup.stop_all(settings.resilience.stop_timeout_seconds)
            _record(result, sup)
            if on_tick is not None:  # the console's last screen: the batches the stop let finish
                on_tick(sup)
    except BaseException as exc:
        status = f"failed: {type(exc).__name__}"
        sup.stop_all(5)
        raise
    finally:
        try:
            ctx.ops.flush(spark)
            write_audit(spark, ctx.tables, "run_stop", {"run_id": result.run_id, "status": status,
                                                         "batches": result.batches})
        finally:
            if own_ctx and ctx.telemetry is not None:
                ctx.telemetry.shutdown()
        result.seconds = time.monotonic() - t0
    return result


def _until_cost(sup: Supervisor, deadline: float, stop_event: threading.Event, on_tick: Any | None) -> None:
    """Wait until the usage query committed a batch with rows (or the deadline, or a stop)."""
    usage = sup.watched.get(source_query_name(USAGE))
    while usage is not None and usage.query is not None and time.monotonic() < deadline and not stop_event.is_set():
        sup.check()
        if any(input_rows(p) > 0 for p in usage.query.recentProgress):
            return
        if on_tick is not None:
            on_tick(sup)
        stop_event.wait(1.0)


def _record(result: RunResult, sup: Supervisor) -> None:
    """Count the batches that carried rows, per query."""
    for name, w in sup.watched.items():
        progress = w.query.recentProgress if w.query is not None else []
        result.batches[name] = result.batches.get(name, 0) + sum(1 for p in progress if input_rows(p) > 0)
        result.restarts[name] = w.restarts
