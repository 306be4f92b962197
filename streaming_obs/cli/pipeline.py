"""The commands that run the pipeline or feed it: `bootstrap`, `simulate`, `run`, `demo`.

SIGTERM and SIGINT ask `simulate`, `run` and `demo` to stop between batches; a second one
stops at once.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Annotated

import typer

from streaming_obs.cli.common import (
    DEFAULT_ENV,
    ConfDirOpt,
    EnvOpt,
    VerboseOpt,
    fail,
    friendly,
    settings_for,
    spark_for,
    stop_spark,
)
from streaming_obs.logs import notice

__all__ = ["bootstrap", "demo", "register", "run", "simulate"]


@friendly
def bootstrap(env: EnvOpt = DEFAULT_ENV, config_dir: ConfDirOpt = None,
              dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the DDL only.")] = False) -> None:
    """Create the schemas and every bronze, silver, gold and ops table (idempotent)."""
    from streaming_obs.bootstrap import bootstrap as do_bootstrap
    from streaming_obs.bootstrap import ddl_statements
    from streaming_obs.ops.audit import write_audit
    from streaming_obs.tables import Tables

    settings = settings_for(env, config_dir, command=None if dry_run else "bootstrap")
    tables = Tables(settings)
    if dry_run:
        for stmt in ddl_statements(tables):
            typer.echo(stmt + ";\n")
        return
    spark = spark_for(settings)
    applied = do_bootstrap(spark, tables)
    write_audit(spark, tables, "bootstrap", {"tables": len(applied)}, applied)
    typer.echo(f"bootstrap ok: {len(applied)} statements applied")


@friendly
def simulate(env: EnvOpt = DEFAULT_ENV, config_dir: ConfDirOpt = None,
             days: Annotated[int | None, typer.Option(help="History mode: days of history to write.")] = None,
             usage_rows: Annotated[int | None, typer.Option(help="History mode: target number of usage rows.")] = None,
             rows_per_second: Annotated[float | None, typer.Option(help="Continuous mode: usage rows per second.")] = None,
             duration: Annotated[float | None, typer.Option(help="Continuous mode: stop after N seconds.")] = None,
             seed: Annotated[int | None, typer.Option(help="Random seed (same seed, same data).")] = None) -> None:
    """Write system-table-shaped Delta tables: a history, or a continuous stream of new rows."""
    from streaming_obs.sources.simulator import SimulatorStream, simulate_history

    settings = settings_for(env, config_dir, command="simulate")
    if settings.source_kind != "simulator":
        fail(f"env {env} reads the real system tables (source_kind: {settings.source_kind}); simulate is for local")
    spark = spark_for(settings)
    if rows_per_second is None:
        # History ends now (on the hour) so a live stream started later carries on from it.
        counts = simulate_history(spark, settings, days=days, seed=seed, usage_rows=usage_rows, end=_this_hour())
        typer.echo("simulated history: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
        return
    stop = threading.Event()
    _on_signals(stop)
    SimulatorStream(spark, settings, rows_per_second=rows_per_second, seed=seed).run(duration_s=duration, stop_event=stop)


def _this_hour():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0, tzinfo=None)


def _on_signals(stop: threading.Event) -> None:
    """SIGTERM/SIGINT ask for a graceful stop (between batches); a second one stops at once."""

    def handler(signum, _frame):  # noqa: ANN001
        if stop.is_set():
            _stop_now()
        stop.set()
        notice("stopping between batches (Ctrl-C again to stop at once) ...")

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)


def _stop_now() -> None:
    """The second Ctrl-C: end the JVM and this process now; the next run replays what was in flight."""
    import os

    try:
        from pyspark import SparkContext

        proc = getattr(SparkContext._gateway, "proc", None) if SparkContext._gateway is not None else None
        if proc is not None:
            proc.kill()  # SIGKILL: no shutdown hooks racing with half-done batches, no JVM noise
    except Exception:  # noqa: BLE001 - pyspark absent or the JVM already gone
        pass
    sys.stdout.write("\x1b[?25h")  # a live console hid the cursor; give it back
    sys.stderr.write("\nstopped at once; the next run replays the batches that were in flight (exactly-once)\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)


@friendly
def run(env: EnvOpt = DEFAULT_ENV, config_dir: ConfDirOpt = None,
        available_now: Annotated[bool, typer.Option("--available-now", help="Process what is available, then exit 0.")] = False,
        duration: Annotated[float | None, typer.Option(help="Stop after N seconds (continuous mode).")] = None,
        verbose: VerboseOpt = False) -> None:
    """Run the streaming pipeline: sources → bronze → silver → gold."""
    settings = settings_for(env, config_dir, command="run", verbose=verbose)  # salt and port checked there
    from streaming_obs.runner import run as do_run

    stop = threading.Event()
    _on_signals(stop)
    spark = spark_for(settings)
    _on_signals(stop)  # again: pyspark's SparkContext put its own SIGINT handler in place
    try:
        result = do_run(settings, available_now=available_now, duration_s=duration, stop_event=stop, spark=spark)
    finally:
        stop_spark(spark)  # after the queries ended and the listener was removed
    typer.echo(f"run {result.run_id} done in {result.seconds:.1f}s{' (stopped on request)' if stop.is_set() else ''}; "
               "batches with rows: " + (", ".join(f"{k}={v}" for k, v in sorted(result.batches.items()) if v) or "none"))


@friendly
def demo(env: EnvOpt = DEFAULT_ENV, config_dir: ConfDirOpt = None,
         duration: Annotated[float | None, typer.Option(help="Stop after N seconds (default: until Ctrl-C).")] = None,
         days: Annotated[int, typer.Option(help="Days of history to simulate first.")] = 3,
         rows_per_second: Annotated[float | None, typer.Option(help="Simulated usage rows per second.")] = None,
         summary_every: Annotated[float, typer.Option(help="Without a terminal: one summary line every N seconds.")] = 10,
         verbose: VerboseOpt = False) -> None:
    """Simulate an account live and run the pipeline on it, with a live console."""
    from streaming_obs.cli.demo import run_demo

    settings = settings_for(env, config_dir, command="demo", verbose=verbose)
    if settings.source_kind != "simulator":
        fail(f"demo needs the simulator source; env {env} reads {settings.source_kind}")
    stop = threading.Event()
    _on_signals(stop)
    spark = spark_for(settings)
    _on_signals(stop)  # again: pyspark's SparkContext put its own SIGINT handler in place
    try:
        run_demo(settings, duration_s=duration, days=days, rows_per_second=rows_per_second, stop_event=stop,
                 spark=spark, summary_every_s=summary_every)
    finally:
        stop_spark(spark)


def register(app: typer.Typer) -> None:
    """Attach `bootstrap`, `simulate`, `run` and `demo` to `app`."""
    app.command()(bootstrap)
    app.command()(simulate)
    app.command()(run)
    app.command()(demo)
