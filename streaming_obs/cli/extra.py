"""Sub-commands of the domain modules: quarantine, govern, deploy, maintain, reset-checkpoint."""

from __future__ import annotations

import json
from typing import Annotated

import typer

__all__ = ["parse_fix", "register"]

quarantine_app = typer.Typer(no_args_is_help=True, help="Inspect quarantined rows and replay fixed ones.")


def _ctx(env: str, config_dir: str | None):
    from streaming_obs.cli.main import _spark, settings_for
    from streaming_obs.tables import Tables

    settings = settings_for(env, config_dir)
    return settings, _spark(settings), Tables(settings)


EnvOpt = Annotated[str, typer.Option("--env", "-e", help="Environment: local, dev, staging, prod.")]
ConfDirOpt = Annotated[str | None, typer.Option("--config-dir", help="Directory with base.yaml and <env>.yaml.")]


def _friendly(fn):
    from streaming_obs.cli.main import friendly

    return friendly(fn)


@quarantine_app.command("list")
def quarantine_list(env: EnvOpt = "local", config_dir: ConfDirOpt = None,
                    source: Annotated[str | None, typer.Option(help="Only this source (e.g. billing_usage).")] = None,
                    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 50,
                    all_rows: Annotated[bool, typer.Option("--all", help="Include rows already replayed.")] = False) -> None:
    """Newest quarantined rows first."""

    @_friendly
    def go() -> None:
        from streaming_obs.quality.quarantine import list_quarantine

        _, spark, tables = _ctx(env, config_dir)
        rows = list_quarantine(spark, tables, source=source, limit=limit, include_replayed=all_rows)
        for r in rows:
            typer.echo(f"{r['quarantine_id']}  {r['quarantined_at']}  {r['source_table']}  batch={r['batch_id']}  "
                       f"rules={','.join(r['failed_rules'] or [])}")
        typer.echo(f"{len(rows)} row(s)")

    go()


@quarantine_app.command("show")
def quarantine_show(quarantine_id: str, env: EnvOpt = "local", config_dir: ConfDirOpt = None) -> None:
    """One quarantined row with its raw row."""

    @_friendly
    def go() -> None:
        from streaming_obs.quality.quarantine import show_quarantine

        _, spark, tables = _ctx(env, config_dir)
        typer.echo(json.dumps(show_quarantine(spark, tables, quarantine_id), indent=2, default=str))

    go()


@quarantine_app.command("replay")
def quarantine_replay(ids: Annotated[list[str] | None, typer.Argument(help="Quarantine ids (default: all of --source).")] = None,
                      env: EnvOpt = "local", config_dir: ConfDirOpt = None,
                      source: Annotated[str | None, typer.Option(help="Replay every open row of this source.")] = None,
                      fix: Annotated[str | None, typer.Option(help='JSON {"<id>": {"column": value}} of fixes.')] = None) -> None:
    """Send quarantined rows (optionally fixed) back through bronze and its rules."""

    @_friendly
    def go() -> None:
        from streaming_obs.quality.quarantine import replay_quarantine

        fixes = parse_fix(fix) if fix else None  # before Spark starts: a typo costs nothing
        settings, spark, tables = _ctx(env, config_dir)
        result = replay_quarantine(spark, tables, settings, ids=ids or None, source=source, fixed_rows=fixes)
        typer.echo(f"replayed {len(result.replayed)}; still failing {len(result.still_failing)}; "
                   f"skipped {len(result.skipped)}")
        for qid, rules in result.still_failing.items():
            typer.echo(f"  {qid}: {', '.join(rules)}")

    go()


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


def govern(env: EnvOpt = "local", config_dir: ConfDirOpt = None,
           dry_run: Annotated[bool, typer.Option("--dry-run/--apply", help="Print the SQL, or apply it.")] = True) -> None:
    """Unity Catalog row filters (workspace isolation) and column masks (emails, statement_text)."""

    @_friendly
    def go() -> None:
        from streaming_obs.cli.main import _spark, settings_for
        from streaming_obs.deploy.governance import govern as do_govern

        settings = settings_for(env, config_dir)
        stmts = do_govern(settings, None if dry_run else _spark(settings), dry_run=dry_run, echo=typer.echo)
        if not dry_run:
            typer.echo(f"applied {len(stmts)} statements")

    go()


def deploy(env: EnvOpt = "staging", config_dir: ConfDirOpt = None,
           dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and check prerequisites.")] = True) -> None:
    """What deploying an environment would change (bundle target, tables, grants) and its checks."""

    @_friendly
    def go() -> None:
        from streaming_obs.cli.main import settings_for
        from streaming_obs.deploy.plan import deploy_plan

        plan = deploy_plan(settings_for(env, config_dir))
        typer.echo(plan.render())
        if not dry_run:
            typer.echo("apply with: databricks bundle deploy -t " + (plan.target or env))
        if not plan.ok:
            raise typer.Exit(1)

    go()


def maintain(env: EnvOpt = "local", config_dir: ConfDirOpt = None,
             vacuum: Annotated[bool, typer.Option(help="Also VACUUM (retention from config, >= 7 days).")] = True) -> None:
    """OPTIMIZE (Z-order by the configured clustering keys) and VACUUM our own tables."""

    @_friendly
    def go() -> None:
        from streaming_obs.ops.maintenance import maintain_tables

        settings, spark, tables = _ctx(env, config_dir)
        for line in maintain_tables(spark, tables, vacuum=vacuum):
            typer.echo(line)

    go()


def reset_checkpoint(source: Annotated[str, typer.Argument(help="The source whose bronze flow to reset (e.g. billing_usage).")],
                     env: EnvOpt = "local", config_dir: ConfDirOpt = None,
                     yes: Annotated[bool, typer.Option("--yes", help="Do it (without it: say what would happen).")] = False) -> None:
    """Recover bronze_<source> after its source was VACUUMed behind the checkpoint.

    Backfills from the source's current snapshot what bronze lacks, moves the old checkpoint
    aside and starts the stream after that snapshot (docs/troubleshooting.md#vacuumed-source).
    Stop the pipeline first.
    """

    @_friendly
    def go() -> None:
        if not yes:
            typer.echo(f"would reset bronze_{source}: backfill from the source snapshot, move its checkpoint "
                       "aside, restart after the snapshot. Stop the pipeline, then run again with --yes.")
            return
        from streaming_obs.resilience.reset import reset_bronze_flow

        settings, spark, _ = _ctx(env, config_dir)
        report = reset_bronze_flow(spark, settings, source)
        typer.echo(f"{report.query}: backfilled {report.backfilled_rows} row(s) from source version "
                   f"{report.snapshot_version}; old checkpoint kept at {report.old_checkpoint}")

    go()


def register(app: typer.Typer) -> None:
    """Attach the domain sub-commands to `app`."""
    app.add_typer(quarantine_app, name="quarantine")
    app.command("govern")(govern)
    app.command("deploy")(deploy)
    app.command("maintain")(maintain)
    app.command("reset-checkpoint")(reset_checkpoint)
