"""`streaming-obs status`: tables, versions, rows and the latest batch of every query."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from streaming_obs.config.models import SOURCE_NAMES
from streaming_obs.tables import GOLD_TABLES, OPS_TABLES, Tables

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from streaming_obs.config.models import Settings

__all__ = ["collect_status", "print_status"]


def collect_status(spark: SparkSession, settings: Settings) -> dict:
    """Per table: exists, version, rows; per query: its latest recorded batch."""
    from pyspark.sql import functions as F

    tables = Tables(settings)
    refs = ([tables.bronze(s) for s in SOURCE_NAMES] + [tables.silver(s) for s in SOURCE_NAMES]
            + [tables.gold(g) for g in GOLD_TABLES] + [tables.ops(o) for o in OPS_TABLES])
    out = {"tables": [], "queries": []}
    for ref in refs:
        if not ref.exists(spark):
            out["tables"].append({"table": ref.label, "version": None, "rows": None})
            continue
        out["tables"].append({"table": ref.label, "version": ref.version(spark), "rows": ref.read(spark).count()})
    runs = tables.ops("batch_runs")
    if runs.exists(spark):
        latest = (runs.read(spark).groupBy("query_name")
                  .agg(F.max_by(F.struct("batch_id", "ended_at", "status", "rows_in", "rows_out"), "ended_at").alias("b"))
                  .select("query_name", "b.*").orderBy("query_name").collect())
        out["queries"] = [r.asDict() for r in latest]
    return out


def print_status(spark: SparkSession, settings: Settings, console: Console | None = None) -> dict:
    """Print the status as two tables; returns what it printed."""
    console = console or Console()
    status = collect_status(spark, settings)
    t = Table(title=f"streaming_obs tables ({settings.env})")
    for col in ("table", "version", "rows"):
        t.add_column(col)
    for row in status["tables"]:
        t.add_row(row["table"], "-" if row["version"] is None else str(row["version"]),
                  "missing" if row["rows"] is None else str(row["rows"]))
    console.print(t)
    q = Table(title="latest batch per query")
    for col in ("query", "batch", "ended", "status", "rows in", "rows out"):
        q.add_column(col)
    for row in status["queries"]:
        q.add_row(row["query_name"], str(row["batch_id"]), str(row["ended_at"]), row["status"], str(row["rows_in"]),
                  str(row["rows_out"]))
    console.print(q)
    return status
