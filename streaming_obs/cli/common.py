"""What every command group of the CLI shares: the `--env` and `--config-dir` options, the
one-line error report (`friendly`, `fail`), loading settings (`settings_for`) and starting
Spark (`spark_for`).

The command groups (config, pipeline, ops, quarantine, deploy) import this module and nothing of
each other; `cli/main.py` imports the groups. So the CLI's imports run one way.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn, TypeVar

import typer

from streaming_obs.config import Settings, load_settings
from streaming_obs.config.salt import check_pii_salt
from streaming_obs.errors import StreamingObsError
from streaming_obs.logs import configure_logging, new_log_file, notice

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = [
    "DEFAULT_ENV",
    "ConfDirOpt",
    "EnvOpt",
    "VerboseOpt",
    "check_rules",
    "fail",
    "friendly",
    "preflight",
    "settings_for",
    "spark_for",
    "stop_spark",
]

#: The environments the CLI accepts; conf/<env>.yaml exists for each.
EnvName = Literal["local", "dev", "staging", "prod"]
#: One default for every command: local never touches a workspace.
DEFAULT_ENV: EnvName = "local"

EnvOpt = Annotated[
    EnvName,
    typer.Option("--env", "-e", envvar="STREAMING_OBS_ENV", help="Environment (conf/<env>.yaml)."),
]
ConfDirOpt = Annotated[
    str | None,
    typer.Option("--config-dir", help="Directory with base.yaml and <env>.yaml (default: shipped)."),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show every log line, Spark's too, on the terminal.")]

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> NoReturn:
    """Print ``error: <message>`` in red on stderr and exit 2 (a refusal, not a bug)."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def friendly(fn: F) -> F:
    """Turn StreamingObsError into one red line and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except StreamingObsError as exc:
            fail(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)

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
    from streaming_obs.quality.static import load_rules

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


def spark_for(settings: Settings) -> SparkSession:
    """The SparkSession `settings` ask for (started on first use; pyspark imported only here)."""
    from streaming_obs.session import get_spark

    return get_spark(settings)


def stop_spark(spark: SparkSession) -> None:
    """Stop `spark` once the queries ended and the listener was removed."""
    from streaming_obs.session import stop_spark as do_stop

    do_stop(spark)

