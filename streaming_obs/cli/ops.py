"""Running the pipeline's tables: `status`, `maintain` and `reset-checkpoint`."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from streaming_obs.cli.common import DEFAULT_ENV, ConfDirOpt, EnvOpt, friendly, settings_for, spark_for

__all__ = ["maintain", "register", "reset_checkpoint", "status"]


@friendly
def status(env: EnvOpt = DEFAULT_ENV, config_dir: ConfDirOpt = None,
           as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")] = False) -> None:
    """Show each table's version and rows, and the latest batch of each query."""
    from streaming_obs.cli.status import collect_status, print_status

    settings = settings_for(env, config_dir, command="status")
    if as_json:
        typer.echo(json.dumps(collect_status(spark_for(settings), settings), indent=2, default=str))
        return
    print_status(spark_for(settings), settings)


@friendly
def maintain(env: EnvOpt = DEFAULT_ENV, config_dir: ConfDirOpt = None,
             vacuum: Annotated[bool, typer.Option(help="Also VACUUM (retention from config, >= 7 days).")] = True) -> None:
    """OPTIMIZE (Z-order by the configured clustering keys) and VACUUM our own tables."""
    from streaming_obs.ops.maintenance import maintain_tables
    from streaming_obs.tables import Tables

    settings = settings_for(env, config_dir)
    for line in maintain_tables(spark_for(settings), Tables(settings), vacuum=vacuum):
        typer.echo(line)


@friendly
def reset_checkpoint(source: Annotated[str, typer.Argument(help="The source whose bronze flow to reset (e.g. billing_usage).")],
                     env: EnvOpt = DEFAULT_ENV, config_dir: ConfDirOpt = None,
                     yes: Annotated[bool, typer.Option("--yes", help="Do it (without it: say what would happen).")] = False) -> None:
    """Recover bronze_<source> after its source was VACUUMed behind the checkpoint.

    Backfills from the source's current snapshot what bronze lacks, moves the old checkpoint
    aside and starts the stream after that snapshot (docs/troubleshooting.md#vacuumed-source).
    Stop the pipeline first.
    """
    if not yes:
        typer.echo(f"would reset bronze_{source}: backfill from the source snapshot, move its checkpoint "
                   "aside, restart after the snapshot. Stop the pipeline, then run again with --yes.")
        return
    from streaming_obs.resilience.reset import reset_bronze_flow

    settings = settings_for(env, config_dir)
    report = reset_bronze_flow(spark_for(settings), settings, source)
    typer.echo(f"{report.query}: backfilled {report.backfilled_rows} row(s) from source version "
               f"{report.snapshot_version}; old checkpoint kept at {report.old_checkpoint}")


def register(app: typer.Typer) -> None:
    """Attach `status`, `maintain` and `reset-checkpoint` to `app`."""
    app.command()(status)
    app.command("maintain")(maintain)
    app.command("reset-checkpoint")(reset_checkpoint)
