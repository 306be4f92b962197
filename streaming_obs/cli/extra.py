"""Sub-commands of the domain modules: quarantine, govern, deploy, maintain, reset-checkpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from streaming_obs.cli.options import DEFAULT_ENV, ConfDirOpt, EnvOpt

__all__ = ["parse_fix", "register"]

quarantine_app = typer.Typer(no_args_is_help=True, help="Inspect quarantined rows and replay fixed ones.")


def _ctx(env: str, config_dir: str | None):
    from streaming_obs.cli.main import _spark, settings_for
    from streaming_obs.tables import Tables

    settings = settings_for(env, config_dir)
    return settings, _spark(settings), Tables(settings)


def _friendly(fn):
    from streaming_obs.cli.main import friendly

    return friendly(fn)


@quarantine_app.command("list")
def quarantine_list(env: EnvOpt = DEFAULT_ENV, config_dir: ConfDirOpt = None,
                    source: Annotated[str | None, typer.Option(help="Only this source (e.g. billing_usage).")] = None,
                    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 50,
                    all_rows: Annotated[bool, typer.Option("--all", help="Include rows already replayed.")] = False,
                    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array of the rows.")] = False) -> None:
    """Newest quarantined rows first."""

    @_friendly
    def go() -> None:
        from streaming_obs.quality.quarantine import list_quarantine

        _, spark, tables = _ctx(env, config_dir)
        rows = list_quarantine(spark, tables, source=source, limit=limit, include_replayed=all_rows)
        if as_json:
            typer.echo(json.dumps(rows, indent=2, default=str))
            return
        for r in rows:
            typer.echo(f"{r['quarantine_id']}  {r['quarantined_at']}  {r['source_table']}  batch={r['batch_id']}  "
                       f"rules={','.join(r['failed_rules'] or [])}")
        typer.echo(f"{len(rows)} row(s)")

    go()


@quarantine_app.command("show")
def quarantine_show(quarantine_id: str, env: EnvOpt = DEFAULT_ENV, config_dir: ConfDirOpt = None) -> None:
    """One quarantined row with its raw row."""

    @_friendly
    def go() -> None:
        from streaming_obs.quality.quarantine import show_quarantine

        _, spark, tables = _ctx(env, config_dir)
        typer.echo(json.dumps(show_quarantine(spark, tables, quarantine_id), indent=2, default=str))

    go()


@quarantine_app.command("replay")
def quarantine_replay(ids: Annotated[list[str] | None, typer.Argument(help="Quarantine ids (default: all of --source).")] = None,
                      env: EnvOpt = DEFAULT_ENV, config_dir: ConfDirOpt = None,
                      source: Annotated[str | None, typer.Option(help="Replay every open row of this source.")] = None,
                      fix: Annotated[str | None, typer.Option(help='JSON {"<id>": {"column": value}} of fixes.')] = None) -> None:
    """Send quarantined rows (optionally fixed) back through bronze and its rules."""

    @_friendly
    def go() -> None:
        from streaming_obs.quality.quarantine import replay_quarantine

        fixes = parse_fix(fix) if fix else None  # before Spark starts: a typo costs nothing
        settings, spark, tables = _ctx(env, config_dir)
        result = replay_quarantine(spark, tables, settings, ids=ids or None, source=source, fixed_rows=fixes,
                                   ingest=_replay_ingest(spark, settings))
        typer.echo(f"replayed {len(result.replayed)}; still failing {len(result.still_failing)}; "
                   f"skipped {len(result.skipped)}")
        for qid, rules in result.still_failing.items():
            typer.echo(f"  {qid}: {', '.join(rules)}")

    go()


def _replay_ingest(spark, settings):
    """Replayed rows take the pipeline's own batch path (bronze, silver, cost_daily), so they
    reach gold; rows bronze already holds (a replay run twice) are skipped by their hash."""
    from datetime import datetime, timezone

    from streaming_obs.build import build_context
    from streaming_obs.flows import BatchInfo, ingest_batch, source_query_name

    ctx = build_context(spark, settings, telemetry=False)

    def ingest(source: str, rows, writer_id: str) -> None:
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


def govern(env: EnvOpt = DEFAULT_ENV, config_dir: ConfDirOpt = None,
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


def deploy(env: EnvOpt = DEFAULT_ENV, config_dir: ConfDirOpt = None,
           dry_run: Annotated[bool, typer.Option("--dry-run/--apply", help="Print the plan and check prerequisites, "
                                                 "or also run `databricks bundle deploy` when they hold.")] = True,
           bundle_root: Annotated[str | None, typer.Option("--bundle-root", help="Directory of databricks.yml "
                                                           "(default: found from the current directory).")] = None) -> None:
    """What deploying an environment would change (bundle target, tables, grants) and its checks."""

    @_friendly
    def go() -> None:
        from streaming_obs.cli.main import _fail, settings_for
        from streaming_obs.deploy.bundle import BUNDLE_FILE, find_bundle_root
        from streaming_obs.deploy.plan import DATABRICKS_ENVS, deploy_plan

        settings = settings_for(env, config_dir)
        root = bundle_root or find_bundle_root()
        if env in DATABRICKS_ENVS and (root is None or not (Path(root) / BUNDLE_FILE).is_file()):
            # An installed wheel has no bundle: it is built from a checkout (setup.py, resources/).
            where = bundle_root or f"{Path.cwd()} or above"
            _fail(f"deploy --env {env} needs the bundle: no {BUNDLE_FILE} in {where}; run it from a checkout "
                  "of the streaming_obs repository or pass --bundle-root DIR")
        plan = deploy_plan(settings, bundle_root=root)
        typer.echo(plan.render())
        if not plan.ok:
            raise typer.Exit(1)
        if not dry_run:
            _apply(plan, root)

    go()


def _apply(plan, root) -> None:
    """Run the deploy the plan describes: `databricks bundle deploy` for the Databricks targets."""
    import shutil
    import subprocess

    from streaming_obs.cli.main import _fail

    if plan.target is None:
        typer.echo(f"env {plan.env} has no bundle to deploy: run the commands above")
        return
    cli = shutil.which("databricks")
    if cli is None:
        _fail("--apply needs the databricks CLI on PATH (https://docs.databricks.com/dev-tools/cli/install.html)")
    cmd = [cli, "bundle", "deploy", "-t", plan.target]
    typer.echo("running: " + " ".join(cmd[1:]))
    code = subprocess.run(cmd, cwd=str(root), check=False).returncode
    if code:
        _fail(f"databricks bundle deploy -t {plan.target} exited {code}")
    typer.echo(f"deployed bundle target {plan.target}; next: streaming-obs govern --env {plan.env} --apply")


def maintain(env: EnvOpt = DEFAULT_ENV, config_dir: ConfDirOpt = None,
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
                     env: EnvOpt = DEFAULT_ENV, config_dir: ConfDirOpt = None,
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
