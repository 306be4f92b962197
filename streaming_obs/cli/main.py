"""`streaming-obs`: every command takes `--env` (local, dev, staging, prod).

Errors that streaming_obs raises on purpose print as one line and exit 2; anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import json
import signal
import sys
import threading
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from streaming_obs import __version__
from streaming_obs.cli.options import DEFAULT_ENV, ConfDirOpt, EnvOpt
from streaming_obs.config import Settings, load_settings
from streaming_obs.deploy.masking import check_pii_salt
from streaming_obs.errors import StreamingObsError
from streaming_obs.logs import configure_logging, new_log_file, notice

__all__ = ["app", "check_rules", "main", "preflight"]

app = typer.Typer(add_completion=True, no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help="Databricks cost and reliability, streamed from the system tables.")

VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show every log line, Spark's too, on the terminal.")]
F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def friendly(fn: F) -> F:
    """Turn StreamingObsError into one red line and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except StreamingObsError as exc:
            _fail(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)

    return wrapper  # type: ignore[return-value]


def settings_for(env: str, config_dir: str | None, *, command: str | None = None, verbose: bool = False,
                 **overrides: Any) -> Settings:
    """Load settings and configure logging from them (the entry point's job).

    A command that starts Spark (`command` given) logs to a file of its own under
    `logging.dir` when that is set, and says where, once.
    """
    settings = load_settings(env, config_dir=config_dir, overrides={k: v for k, v in overrides.items() if v} or None)
    if command in ("run", "demo"):
        # refused before anything is written or said: one line, exit 2 (no log file, no Spark)
        check_pii_salt(settings)
        preflight(settings)
    log_file = new_log_file(settings.logging.dir, command) if command and settings.logging.dir else None
    configure_logging(settings.logging.level, settings.logging.json_format, log_file=log_file, verbose=verbose)
    if log_file:
        notice(f"log: {log_file}")
    return settings


def check_rules(settings: Settings) -> str:
    """Load the quality rules and check them against the shipped table schemas, without Spark.

    Returns:
        What was checked, for the user (``quality rules ok (conf/quality_rules.yaml, 64 rules)``).

    Raises:
        QualityRuleError: one line naming the rules file, table, rule and key.
    """
    if not settings.quality.enabled:
        return "quality rules off"
    from streaming_obs.quality.rules import load_rules

    rules = load_rules(settings.quality.rules_file)
    count = sum(len(t.rules) for t in rules.tables.values())
    return f"quality rules ok ({rules.source}, {count} rules)"


def preflight(settings: Settings) -> None:
    """What `run` and `demo` check before Spark starts: the quality rules and the Prometheus
    endpoint. A bad rule or a taken port must not cost a Spark start and a bootstrap first.

    Raises:
        QualityRuleError: a rule is invalid.
        TelemetryStartError: the Prometheus port is taken or its host cannot be served.
    """
    from streaming_obs.telemetry.preflight import check_prometheus

    check_rules(settings)
    check_prometheus(settings)


def _spark(settings: Settings):
    from streaming_obs.session import get_spark

    return get_spark(settings)


def _stop_spark(spark) -> None:  # noqa: ANN001
    from streaming_obs.session import stop_spark

    stop_spark(spark)


@app.callback(invoke_without_command=True)
def _root(version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit(0)


@app.command("validate-config")
@friendly
def validate_config(env: EnvOpt = DEFAULT_ENV, config_dir: ConfDirOpt = None,
                    show: Annotated[bool, typer.Option(help="Print the effective settings as JSON.")] = False) -> None:
    """Load and check the configuration (and the quality rules) without starting Spark."""
    from streaming_obs.config import config_hash

    settings = settings_for(env, config_dir)
    check_pii_salt(settings)
    rules = check_rules(settings)
    if show:
        typer.echo(json.dumps(settings.model_dump(mode="json", by_alias=True), indent=2))
    typer.echo(f"config ok: env={settings.env} hash={config_hash(settings)} sources={len(settings.sources)}, {rules}")


@app.command()
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
    spark = _spark(settings)
    applied = do_bootstrap(spark, tables)
    write_audit(spark, tables, "bootstrap", {"tables": len(applied)}, applied)
    typer.echo(f"bootstrap ok: {len(applied)} statements applied")


@app.command()
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
        _fail(f"env {env} reads the real system tables (source_kind: {settings.source_kind}); simulate is for local")
    spark = _spark(settings)
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


@app.command()
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
    spark = _spark(settings)
    _on_signals(stop)  # again: pyspark's SparkContext put its own SIGINT handler in place
    try:
        result = do_run(settings, available_now=available_now, duration_s=duration, stop_event=stop, spark=spark)
    finally:
        _stop_spark(spark)  # after the queries ended and the listener was removed
    typer.echo(f"run {result.run_id} done in {result.seconds:.1f}s{' (stopped on request)' if stop.is_set() else ''}; "
               "batches with rows: " + (", ".join(f"{k}={v}" for k, v in sorted(result.batches.items()) if v) or "none"))


@app.command()
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
        _fail(f"demo needs the simulator source; env {env} reads {settings.source_kind}")
    stop = threading.Event()
    _on_signals(stop)
    spark = _spark(settings)
    _on_signals(stop)  # again: pyspark's SparkContext put its own SIGINT handler in place
    try:
        run_demo(settings, duration_s=duration, days=days, rows_per_second=rows_per_second, stop_event=stop,
                 spark=spark, summary_every_s=summary_every)
    finally:
        _stop_spark(spark)


@app.command()
@friendly
def status(env: EnvOpt = DEFAULT_ENV, config_dir: ConfDirOpt = None,
           as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")] = False) -> None:
    """Show each table's version and rows, and the latest batch of each query."""
    from streaming_obs.cli.status import collect_status, print_status

    settings = settings_for(env, config_dir, command="status")
    if as_json:
        typer.echo(json.dumps(collect_status(_spark(settings), settings), indent=2, default=str))
        return
    print_status(_spark(settings), settings)


config_app = typer.Typer(no_args_is_help=True, help="The settings' JSON Schema and reference.")
app.add_typer(config_app, name="config")


@config_app.command("schema")
def config_schema() -> None:
    """Print the JSON Schema of a configuration file (base.yaml, <env>.yaml), for editors and CI."""
    from streaming_obs.config.reference import settings_json_schema

    typer.echo(json.dumps(settings_json_schema(), indent=2))


def _register_optional() -> None:
    """Sub-commands that live with their domain modules."""
    from streaming_obs.cli import extra, finance

    extra.register(app)
    finance.register(app)


_register_optional()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    app(args=argv if argv is not None else sys.argv[1:], prog_name="streaming-obs")


if __name__ == "__main__":  # pragma: no cover
    main()
