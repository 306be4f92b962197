"""`streaming-obs demo`: the simulator writes live, the pipeline streams it, a console shows it."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from streaming_obs.cli.progress import query_row

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from streaming_obs.config.models import Settings
    from streaming_obs.context import PipelineContext

__all__ = ["run_demo", "Dashboard"]


class Dashboard:
    """Renders queries, quality and today's top costs; refreshes gold figures every few seconds."""

    def __init__(self, ctx: PipelineContext, refresh_s: float = 10.0) -> None:
        self.ctx = ctx
        self.refresh_s = refresh_s
        self._last = 0.0
        self.figures: dict[str, Any] = {"workspaces": [], "jobs": [], "quality": None}

    def refresh_figures(self) -> None:
        """Read today's top costs and the quality pass rate from gold and ops (small reads)."""
        from pyspark.sql import functions as F

        spark, tables = self.ctx.spark, self.ctx.tables
        today = datetime.now(timezone.utc).date()
        try:
            costs = tables.gold("cost_daily").read(spark).where(F.col("usage_date") == F.lit(today))
            self.figures["workspaces"] = costs.groupBy("workspace_id").agg(F.sum("list_cost").alias("c")) \
                .orderBy(F.desc("c")).limit(5).collect()
            jobs = tables.gold("cost_by_job_daily").read(spark).where(F.col("usage_date") == F.lit(today))
            self.figures["jobs"] = jobs.groupBy("workspace_id", "job_id", "job_name").agg(F.sum("list_cost").alias("c")) \
                .orderBy(F.desc("c")).limit(5).collect()
            q = tables.ops("quality_results")
            if q.exists(spark):
                agg = q.read(spark).agg(F.sum("passed").alias("p"), F.sum("failed").alias("f")).head()
                if agg and agg["p"] is not None and (agg["p"] + agg["f"]) > 0:
                    self.figures["quality"] = agg["p"] / (agg["p"] + agg["f"])
        except Exception as exc:  # a table being written right now: keep the last figures
            self.figures["error"] = str(exc)[:80]

    def render(self, queries: list[Any]) -> Group:
        """The whole screen."""
        now = datetime.now(timezone.utc)
        qt = Table(title="streaming queries", expand=True)
        for col in ("query", "state", "batch", "rows/s in", "last batch s", "freshness lag s"):
            qt.add_column(col)
        for q in sorted(queries, key=lambda q: q.name or ""):
            r = query_row(q, now)
            qt.add_row(r["name"], "active" if r["active"] else "stopped", str(r["batch_id"] or "-"),
                       f"{r['input_rate']:.1f}", "-" if r["batch_seconds"] is None else f"{r['batch_seconds']:.2f}",
                       "-" if r["freshness_s"] is None else f"{r['freshness_s']:.1f}")
        wt = Table(title="today's list cost by workspace", expand=True)
        wt.add_column("workspace")
        wt.add_column("list cost", justify="right")
        for r in self.figures["workspaces"]:
            wt.add_row(str(r["workspace_id"]), f"{float(r['c'] or 0):,.2f}")
        jt = Table(title="today's top jobs", expand=True)
        for col in ("workspace", "job", "name", "list cost"):
            jt.add_column(col)
        for r in self.figures["jobs"]:
            jt.add_row(str(r["workspace_id"]), str(r["job_id"]), str(r["job_name"]), f"{float(r['c'] or 0):,.2f}")
        tel = self.ctx.telemetry
        url = getattr(tel, "prometheus_url", None) if tel is not None else None
        quality = self.figures["quality"]
        footer = (f"quality pass rate: {'-' if quality is None else f'{quality:.2%}'}   "
                  f"metrics: {url or 'Prometheus endpoint off'}   Ctrl-C stops cleanly")
        return Group(qt, wt, jt, Panel(footer))

    def tick(self, supervisor: Any, live: Live) -> None:
        """Called by the runner about once a second."""
        if time.monotonic() - self._last >= self.refresh_s:
            self.refresh_figures()
            self._last = time.monotonic()
        live.update(self.render(supervisor.queries))


def run_demo(settings: Settings, *, duration_s: float | None, days: int, rows_per_second: float | None,
             stop_event: threading.Event, spark: SparkSession | None = None, console: Console | None = None) -> None:
    """Simulate history if there is none, then stream simulator → pipeline with a live console."""
    from streaming_obs.runner import build_context, run
    from streaming_obs.session import get_spark
    from streaming_obs.sources.simulator import SimulatorStream, simulate_history
    from streaming_obs.tables import Tables

    console = console or Console()
    spark = spark or get_spark(settings)
    start = None
    if not Tables(settings).source("billing_usage").exists(spark):
        # History up to this hour, then the live stream carries on from exactly there.
        start = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0, tzinfo=None)
        console.print(f"simulating {days} days of history ...")
        simulate_history(spark, settings, days=days, end=start)
    ctx = build_context(spark, settings)
    sim = SimulatorStream(spark, settings, rows_per_second=rows_per_second, start=start)
    sim_thread = threading.Thread(target=sim.run, kwargs={"stop_event": stop_event}, name="simulator", daemon=True)
    sim_thread.start()
    dash = Dashboard(ctx)
    try:
        with Live(dash.render([]), console=console, refresh_per_second=2, transient=False) as live:
            run(settings, duration_s=duration_s, spark=spark, stop_event=stop_event, ctx=ctx,
                on_tick=lambda sup: dash.tick(sup, live))
    finally:
        stop_event.set()
        sim_thread.join(timeout=60)
        if ctx.telemetry is not None:
            ctx.telemetry.shutdown()
    console.print("demo stopped cleanly")
