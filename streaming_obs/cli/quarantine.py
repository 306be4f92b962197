"""`quarantine list | show | replay`: inspect quarantined rows and send fixed ones back."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from streaming_obs.cli.common import DEFAULT_ENV, ConfDirOpt, EnvOpt, friendly, settings_for, spark_for

if TYPE_CHECKING:
    from collections.abc import Callable

    from pyspark.sql import DataFrame, SparkSession

    from streaming_obs.config import Settings
    from streaming_obs.tables import Tables

__all__ = ["parse_fix", "quarantine_app", "register", "replay_ingest"]

quarantine_app = typer.Typer(no_args_is_help=True, help="Inspect quarantined rows and replay fixed ones.")


def _open(env: str, config_dir: str | None) -> tuple[Settings, SparkSession, Tables]:
    from streaming_obs.tables import Tables

    settings = settings_for(env, config_dir)
    return settings, spark_for(settings), Tables(settings)


@quarantine_app.command("list")
@friendly
def quarantine_list(env: EnvOpt = DEFAULT_ENV, config_dir: ConfDirOpt = None,
                    source: Annotated[str | None, typer.Option(help="Only this source (e.g. billing_usage).")] = None,
                    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 50,
                    all_rows: Annotated[bool, typer.Option("--all", help="Include rows already replayed.")] = False,
                    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array of the rows.")] = False) -> None:
    """Newest quarantined rows first."""
    from streaming_obs.quality.quarantine import list_quarantine

    _, spark, tables = _open(env, config_dir)
    rows = list_quarantine(spark, tables, source=source, limit=limit, include_replayed=all_rows)
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    for r in rows:
        typer.echo(f"{r['quarantine_id']}  {r['quarantined_at']}  {r['source_table']}  batch={r['batch_id']}  "
                   f"rules={','.join(r['failed_rules'] or [])}")
    typer.echo(f"{len(rows)} row(s)")


@quarantine_app.command("show")
@friendly
def quarantine_show(quarantine_id: str, env: EnvOpt = DEFAULT_ENV, config_dir: ConfDirOpt = None) -> None:
    """One quarantined row with its raw row."""
    from streaming_obs.quality.quarantine import show_quarantine

    _, spark, tables = _open(env, config_dir)
    typer.echo(json.dumps(show_quarantine(spark, tables, quarantine_id), indent=2, default=str))


@quarantine_app.command("replay")
@friendly
def quarantine_replay(ids: Annotated[list[str] | None, typer.Argument(help="Quarantine ids (default: all of --source).")] = None,
                      env: EnvOpt = DEFAULT_ENV, config_dir: ConfDirOpt = None,
                      source: Annotated[str | None, typer.Option(help="Replay every open row of this source.")] = None,
                      fix: Annotated[str | None, typer.Option(help='JSON {"<id>": {"column": value}} of fixes.')] = None) -> None:
    """Send quarantined rows (optionally fixed) back through bronze and its rules."""
    from streaming_obs.quality.quarantine import replay_quarantine

    fixes = parse_fix(fix) if fix else None  # before Spark starts: a typo costs nothing
    settings, spark, tables = _open(env, config_dir)
    result = replay_quarantine(spark, tables, settings, ids=ids or None, source=source, fixed_rows=fixes,
                               ingest=replay_ingest(spark, settings))
    typer.echo(f"replayed {len(result.replayed)}; still failing {len(result.still_failing)}; "
               f"skipped {len(result.skipped)}")
    for qid, rules in result.still_failing.items():
        typer.echo(f"  {qid}: {', '.join(rules)}")


def replay_ingest(spark: SparkSession, settings: Settings) -> Callable[[str, DataFrame, str], None]:
    """The ingest function `replay_quarantine` takes: the pipeline's own batch path.

    Replayed rows go through bronze, silver and cost_daily, so they reach gold; rows bronze
    already holds (a replay run twice) are skipped by their hash.
    """
    from datetime import datetime, timezone

    from streaming_obs.build import build_context
    from streaming_obs.flows import BatchInfo, ingest_batch, source_query_name

    ctx = build_context(spark, settings, telemetry=False)

    def ingest(source: str, rows: DataFrame, writer_id: str) -> None:
        info = BatchInfo(source_query_name(source), 0, writer_id, datetime.now(timezone.utc))
        ingest_batch(ctx, source, rows, info, skip_seen=True)
        ctx.ops.flush(spark)

    return ingest


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def parse_fix(text: str) -> dict[str, dict[str, object]]:
    """The `--fix` option of `quarantine replay`: ``{"<quarantine id>": {"<column>": value}}``.

    Raises:
        QuarantineError: ``--fix: ...`` in one line (not JSON, NaN/Infinity, wrong shape).
    """
    from streaming_obs.errors import QuarantineError

    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise QuarantineError(f"--fix: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except ValueError as exc:
        raise QuarantineError(f"--fix: {exc}") from None
    if not isinstance(data, dict):
        raise QuarantineError(f'--fix: must be a JSON object {{"<quarantine id>": {{"<column>": value}}}}, not {type(data).__name__}')
    for qid, fields in data.items():
        if not isinstance(fields, dict):
            raise QuarantineError(f"--fix: {qid}: must be an object of column: value, not {type(fields).__name__}")
    return data


def register(app: typer.Typer) -> None:
    """Attach the `quarantine` group to `app`."""
    app.add_typer(quarantine_app, name="quarantine")
