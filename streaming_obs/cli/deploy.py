"""`deploy` and `govern`: what deploying an environment changes, and Unity Catalog governance.

The bundle check parses each job's parameters against this very CLI: `deploy` hands
`streaming_obs.deploy` a checker built from the running command (`argument_problem`), so the
deploy package never imports the CLI.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from streaming_obs.cli.common import DEFAULT_ENV, ConfDirOpt, EnvOpt, fail, friendly, settings_for, spark_for

if TYPE_CHECKING:
    import click

    from streaming_obs.deploy.plan import Plan

__all__ = ["argument_problem", "deploy", "govern", "register"]


def argument_problem(command: click.Command, args: list[str] | tuple[str, ...]) -> str | None:
    """Check `streaming-obs <args>` against the CLI `command` without running the command.

    The arguments are parsed with ``--help`` appended, in the test runner's isolation (its own
    stdout and stderr): an unknown subcommand or option fails the parse, while the command
    itself never runs. Option *values* are not converted (``--help`` ends the parse first);
    `check_bundle` checks ``--env`` itself.

    Returns:
        None when the subcommand and options exist, else the CLI's message.
    """
    from typer.testing import CliRunner

    if not args or str(args[0]).startswith("-"):
        return "no subcommand"
    with CliRunner().isolation() as (_, _, output):
        try:
            command.main(args=[*args, "--help"], prog_name="streaming-obs")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        text = output.getvalue().decode("utf-8", "replace")
    if code == 0:
        return None
    lines = [ln.strip(" │╭╮╰╯─") for ln in text.splitlines()]
    message = next((ln for ln in reversed(lines) if ln and not ln.startswith("Usage")), "")
    return message or f"exit code {code}"


@friendly
def govern(env: EnvOpt = DEFAULT_ENV, config_dir: ConfDirOpt = None,
           dry_run: Annotated[bool, typer.Option("--dry-run/--apply", help="Print the SQL, or apply it.")] = True) -> None:
    """Unity Catalog row filters (workspace isolation) and column masks (emails, statement_text)."""
    from streaming_obs.deploy.governance import govern as do_govern

    settings = settings_for(env, config_dir)
    stmts = do_govern(settings, None if dry_run else spark_for(settings), dry_run=dry_run, echo=typer.echo)
    if not dry_run:
        typer.echo(f"applied {len(stmts)} statements")


@friendly
def deploy(ctx: typer.Context, env: EnvOpt = DEFAULT_ENV, config_dir: ConfDirOpt = None,
           dry_run: Annotated[bool, typer.Option("--dry-run/--apply", help="Print the plan and check prerequisites, "
                                                 "or also run `databricks bundle deploy` when they hold.")] = True,
           bundle_root: Annotated[str | None, typer.Option("--bundle-root", help="Directory of databricks.yml "
                                                           "(default: found from the current directory).")] = None) -> None:
    """What deploying an environment would change (bundle target, tables, grants) and its checks."""
    from streaming_obs.deploy.bundle import BUNDLE_FILE, find_bundle_root
    from streaming_obs.deploy.plan import DATABRICKS_ENVS, deploy_plan

    settings = settings_for(env, config_dir)
    root = bundle_root or find_bundle_root()
    if env in DATABRICKS_ENVS and (root is None or not (Path(root) / BUNDLE_FILE).is_file()):
        # An installed wheel has no bundle: it is built from a checkout (setup.py, resources/).
        where = bundle_root or f"{Path.cwd()} or above"
        fail(f"deploy --env {env} needs the bundle: no {BUNDLE_FILE} in {where}; run it from a checkout "
             "of the streaming_obs repository or pass --bundle-root DIR")
    # the jobs' parameters are checked against the whole CLI this command belongs to
    cli_check = functools.partial(argument_problem, ctx.find_root().command)
    plan = deploy_plan(settings, bundle_root=root, cli_check=cli_check)
    typer.echo(plan.render())
    if not plan.ok:
        raise typer.Exit(1)
    if not dry_run:
        _apply(plan, root)


def _apply(plan: Plan, root: str | Path | None) -> None:
    """Run the deploy the plan describes: `databricks bundle deploy` for the Databricks targets."""
    import shutil
    import subprocess

    if plan.target is None:
        typer.echo(f"env {plan.env} has no bundle to deploy: run the commands above")
        return
    cli = shutil.which("databricks")
    if cli is None:
        fail("--apply needs the databricks CLI on PATH (https://docs.databricks.com/dev-tools/cli/install.html)")
    cmd = [cli, "bundle", "deploy", "-t", plan.target]
    typer.echo("running: " + " ".join(cmd[1:]))
    code = subprocess.run(cmd, cwd=str(root), check=False).returncode
    if code:
        fail(f"databricks bundle deploy -t {plan.target} exited {code}")
    typer.echo(f"deployed bundle target {plan.target}; next: streaming-obs govern --env {plan.env} --apply")


def register(app: typer.Typer) -> None:
    """Attach `govern` and `deploy` to `app`."""
    app.command("govern")(govern)
    app.command("deploy")(deploy)
