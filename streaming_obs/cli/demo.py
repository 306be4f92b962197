"""`streaming-obs demo`: the simulator writes live, the pipeline streams it, a console shows it.

In a terminal the console is a rich Live screen and owns the terminal: log lines go to the log
file meanwhile. Without a terminal (CI, a pipe) one summary line is printed every N seconds.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.live import Live

from streaming_obs.cli.console import FigureReader, SourceTracker, render, summary_line
from streaming_obs.logs import current_log_file, terminal_muted

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from streaming_obs.config.models import Settings
    from streaming_obs.context import PipelineContext

__all__ = ["run_demo", "Dashboard"]

#: the prices and usage queries run alone until the first cost is in, at most this long (a few
#: seconds on an idle laptop; on a loaded 2-core machine every first batch at once took minutes)
COST_FIRST_S = 120


class Dashboard:
    """Ties the tracker, the gold figures and the output (Live screen or summary lines) together."""

    def __init__(self, ctx: PipelineContext, stop_event: threading.Event | None = None, *,
                 refresh_s: float = 10.0, summary_every_s: float = 10.0) -> None:
        self.ctx = ctx
        self.stop_event = stop_event or threading.Event()
        self.tracker = SourceTracker(ctx.settings.trigger.interval_seconds)
        self.reader = FigureReader(ctx.spark, ctx.tables, refresh_s)
        self.summary_every_s = summary_every_s
        self.t0 = time.monotonic()
        self._last_summary = self.t0
        self.restarts: dict[str, int] = {}

    @property
    def metrics_url(self) -> str | None:
        tel = self.ctx.telemetry
        return getattr(tel, "prometheus_url", None) if tel is not None else None

    def observe(self, supervisor: Any) -> None:
        """Take in the supervisor's queries and restarts (once a second, from the runner)."""
        self.restarts = {name: w.restarts for name, w in supervisor.watched.items()}
        self.tracker.update(supervisor.queries, self.restarts)

    def screen(self):
        """The Live screen."""
        return render(self.tracker, self.reader.figures, elapsed_s=time.monotonic() - self.t0,
                      metrics_url=self.metrics_url, stopping=self.stop_event.is_set(),
                      restarts_total=sum(self.restarts.values()))

    def summary(self) -> str:
        """The one-line summary."""
        return summary_line(self.tracker, self.reader.figures, elapsed_s=time.monotonic() - self.t0,
                            restarts_total=sum(self.restarts.values()))

    def final_figures(self) -> None:
        """Once the queries stopped: one last read, so the last screen shows what they committed."""
        self.reader.stop()
        self.reader.read_once()

    def due_summary(self) -> bool:
        """True once every `summary_every_s` seconds."""
        if time.monotonic() - self._last_summary >= self.summary_every_s:
            self._last_summary = time.monotonic()
            return True
        return False


@contextlib.contextmanager
def _keys_not_echoed() -> Iterator[None]:
    """While the live console redraws, the terminal does not echo keys: the `^C` a terminal
    echoes would move the cursor under the console, and the next redraw would leave a stale line
    above it. Ctrl-C still signals (only echo is off)."""
    try:
        import termios

        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
    except (ImportError, OSError, ValueError):  # not a terminal (or not POSIX): nothing to do
        yield
        return
    quiet = list(saved)
    quiet[3] &= ~(termios.ECHO | getattr(termios, "ECHOCTL", 0))
    termios.tcsetattr(fd, termios.TCSANOW, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)


def run_demo(settings: Settings, *, duration_s: float | None, days: int, rows_per_second: float | None,
             stop_event: threading.Event, spark: SparkSession | None = None, console: Console | None = None,
             summary_every_s: float = 10.0) -> None:
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
        console.print(f"simulating {days} days of history (first run only) ...")
        simulate_history(spark, settings, days=days, end=start)
    if stop_event.is_set():  # Ctrl-C during the history: no query was started, nothing to stop
        console.print("demo stopped before the pipeline started", highlight=False)
        return
    console.print("starting the pipeline: bronze, silver and gold queries ...")
    ctx = build_context(spark, settings)
    # The first step covers the minutes since the history's hour in one flush's worth of rows
    sim = SimulatorStream(spark, settings, rows_per_second=rows_per_second, start=start,
                          catch_up_seconds=settings.simulator.flush_seconds)
    sim_thread = threading.Thread(target=sim.run, kwargs={"stop_event": stop_event}, name="simulator", daemon=True)
    dash = Dashboard(ctx, stop_event, summary_every_s=summary_every_s)
    result = None
    sim_thread.start()
    dash.reader.start()
    try:
        if console.is_terminal:
            with terminal_muted(), _keys_not_echoed(), Live(dash.screen(), console=console, refresh_per_second=2,
                                                            vertical_overflow="visible") as live:
                def tick(sup: Any) -> None:
                    dash.observe(sup)
                    live.update(dash.screen())

                result = run(settings, duration_s=duration_s, spark=spark, stop_event=stop_event, ctx=ctx,
                             on_tick=tick, cost_first_s=COST_FIRST_S)
                dash.final_figures()
                live.update(dash.screen())
        else:
            def tick(sup: Any) -> None:
                dash.observe(sup)
                if dash.due_summary():
                    console.print(dash.summary(), soft_wrap=True, highlight=False)

            result = run(settings, duration_s=duration_s, spark=spark, stop_event=stop_event, ctx=ctx, on_tick=tick,
                         cost_first_s=COST_FIRST_S)
            dash.final_figures()
            console.print(dash.summary(), soft_wrap=True, highlight=False)
    finally:
        stop_event.set()
        dash.reader.stop()
        sim_thread.join(timeout=60)
        if ctx.telemetry is not None:
            ctx.telemetry.shutdown()  # removes the listener before the session stops
    took = result.seconds if result is not None else time.monotonic() - dash.t0
    log = current_log_file()
    n = len(result.cut) if result is not None else 0
    cut = (f" ({n} batch{'es' if n > 1 else ''} still running at the stop's deadline left for the next start)"
           if n else "")
    console.print(f"demo stopped cleanly after {took:.0f}s{cut}; tables under {settings.storage.warehouse}"
                  + (f"; log: {log}" if log else ""), soft_wrap=True, highlight=False)
