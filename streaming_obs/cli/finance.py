"""Sub-commands for finance: `reconcile` (do the numbers add up) and `export focus` (FOCUS 1.2)."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated

import typer

from streaming_obs.cli.common import DEFAULT_ENV, ConfDirOpt, EnvOpt, friendly, settings_for, spark_for

__all__ = ["export_app", "parse_day", "reconcile", "register", "render_report"]

export_app = typer.Typer(no_args_is_help=True, help="Export gold in open formats.")


def parse_day(text: str | None, option: str) -> date | None:
    """`YYYY-MM-DD` of a `--from`/`--to` option, or None.

    Raises:
        ReconciliationError: not a date.
    """
    from streaming_obs.errors import ReconciliationError

    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ReconciliationError(f"{option} {text!r}: expected a date YYYY-MM-DD") from None


def render_report(report, echo=typer.echo) -> None:
    """Print a reconciliation report as tables (differences, largest difference per table, restated share)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if report.differences:
        t = Table(title=f"differences beyond {report.tolerance:g} (actual - expected; expected = cost_daily)")
        for col in ("check", "usage_date", "workspace_id", "currency", "measure", "expected", "actual", "difference"):
            t.add_column(col)
        for d in report.differences:
            t.add_row(d["check"], d["usage_date"], str(d["workspace_id"]), str(d["currency_code"]), d["measure"],
                      str(d["expected"]), str(d["actual"]), d["difference"])
        console.print(t)
    w = Table(title="largest absolute difference per table")
    for col in ("table", "measure", "max |difference|"):
        w.add_column(col)
    for (table, measure), value in sorted(report.max_difference.items()):
        w.add_row(table, measure, f"{value:.3g}")
    console.print(w)
    if report.restated:
        r = Table(title="restated share: list cost that corrections changed, per usage month")
        for col in ("month", "currency", "original", "retracted", "restated", "share"):
            r.add_column(col)
        for m in report.restated:
            share = "-" if m["restated_share"] is None else f"{m['restated_share']:.4%}"
            r.add_row(m["month"], str(m["currency_code"]), m["original_cost"], m["retracted_cost"], m["restated_cost"], share)
        console.print(r)
    verdict = "reconciled" if report.ok else f"NOT reconciled: {len(report.differences)} difference(s)"
    echo(f"{verdict}; {report.keys_checked} (check, date, workspace, currency) keys checked, "
         f"tolerance {report.tolerance:g}")


@friendly
def reconcile(env: EnvOpt = DEFAULT_ENV, config_dir: ConfDirOpt = None,
              start: Annotated[str | None, typer.Option("--from", help="First usage date (YYYY-MM-DD).")] = None,
              end: Annotated[str | None, typer.Option("--to", help="Last usage date (YYYY-MM-DD).")] = None,
              tolerance: Annotated[float | None, typer.Option(help="Allowed difference (default: cost.reconcile.tolerance).")] = None,
              no_source: Annotated[bool, typer.Option("--no-source", help="Skip the check against the source tables.")] = False,
              as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False) -> None:
    """Check that gold's cost adds up: source = silver = cost_daily = every breakdown. Exit 1 beyond the tolerance."""
    from streaming_obs.gold.reconcile import reconcile as do_reconcile
    from streaming_obs.tables import Tables

    first, last = parse_day(start, "--from"), parse_day(end, "--to")  # before Spark starts
    settings = settings_for(env, config_dir, command="reconcile")
    tol = settings.cost.reconcile.tolerance if tolerance is None else tolerance
    report = do_reconcile(spark_for(settings), Tables(settings), settings, start=first, end=last, tolerance=tol,
                          source=not no_source)
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2, default=str))
    else:
        render_report(report)
    if not report.ok:
        raise typer.Exit(1)


@export_app.command("focus")
@friendly
def export_focus(month: Annotated[str, typer.Option(help="Billing period YYYY-MM (e.g. 2026-11).")],
                 out: Annotated[str, typer.Option(help="Output file: FILE.parquet or FILE.csv.")],
                 env: EnvOpt = DEFAULT_ENV, config_dir: ConfDirOpt = None) -> None:
    """Write one billing month of gold focus_costs as a FOCUS 1.2 CostAndUsage file."""
    from streaming_obs.gold.focus import FOCUS_VERSION, check_out_path, focus_month
    from streaming_obs.gold.focus import export_focus as do_export
    from streaming_obs.tables import Tables

    focus_month(month)  # bad input fails before Spark starts
    check_out_path(out)
    settings = settings_for(env, config_dir, command="export")
    result = do_export(spark_for(settings), Tables(settings), month, out)
    sums = ", ".join(f"{c} {v}" for c, v in sorted(result.billed_cost.items())) or "none"
    typer.echo(f"FOCUS {FOCUS_VERSION}: {result.rows} row(s) of {month} to {result.path}; BilledCost {sums}"
               + (f"; {result.unpriced_rows} unpriced record(s) left out (no currency)" if result.unpriced_rows else ""))


def register(app: typer.Typer) -> None:
    """Attach `reconcile` and `export` to `app`."""
    app.command("reconcile")(reconcile)
    app.add_typer(export_app, name="export")
