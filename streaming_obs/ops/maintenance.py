"""OPTIMIZE and VACUUM of our own tables: a long-running stream writes many small files.

Z-order keys per table come from `maintenance.clustering` (default: the gold keys' date column
and workspace). VACUUM never goes below 7 days (`maintenance.vacuum_retention_hours` is
validated >= 168 and set on each table as `delta.deletedFileRetentionDuration`, the only
retention Delta 4's VACUUM obeys), which keeps every version a restarted checkpoint can still need.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from streaming_obs.config.models import SOURCE_NAMES
from streaming_obs.identifiers import validate_identifier
from streaming_obs.logs import get_logger
from streaming_obs.sqlfiles import table_specs
from streaming_obs.tables import GOLD_TABLES, OPS_TABLES

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from streaming_obs.tables import TableRef, Tables

log = get_logger(__name__)

__all__ = ["MaintenanceSchedule", "maintain_tables", "zorder_columns"]

_DEFAULT_ZORDER = {
    "silver.billing_usage": ["workspace_id", "sku_name"],
    "silver.job_run_timeline": ["workspace_id", "job_id"],
    "silver.node_timeline": ["workspace_id", "cluster_id"],
    "silver.query_history": ["workspace_id", "start_time"],
    # account-level gold tables (budget_status_daily) have no workspace_id
    **{f"gold.{g}": ["workspace_id"] for g in GOLD_TABLES
       if "workspace_id " in " ".join(table_specs()["gold"][g]["columns"].split()) + " "},
}


def zorder_columns(tables: Tables, key: str) -> list[str]:
    """Z-order columns of `layer.table` (config first, then the defaults)."""
    cols = tables.settings.maintenance.clustering.get(key, _DEFAULT_ZORDER.get(key, []))
    return [validate_identifier(c) for c in cols]


def _refs(tables: Tables) -> list[tuple[str, TableRef]]:
    out = [(f"bronze.{s}", tables.bronze(s)) for s in SOURCE_NAMES]
    out += [(f"silver.{s}", tables.silver(s)) for s in SOURCE_NAMES]
    out += [(f"gold.{g}", tables.gold(g)) for g in GOLD_TABLES]
    out += [(f"ops.{o}", tables.ops(o)) for o in OPS_TABLES]
    return out


_RETENTION = "delta.deletedFileRetentionDuration"


def _keep_removed_files_for(spark: SparkSession, ref: TableRef, hours: int, properties: dict) -> None:
    """Make VACUUM keep `hours` of removed files. Delta 4 ignores VACUUM's own retention argument
    (anything but 0) and uses this table property, default 7 days; it is set only when it differs,
    so a maintenance run adds no commit once the table carries it."""
    want = f"interval {int(hours)} hours"
    if properties.get(_RETENTION) != want:
        spark.sql(f"ALTER TABLE {ref.ident} SET TBLPROPERTIES ('{_RETENTION}' = '{want}')")


def maintain_tables(spark: SparkSession, tables: Tables, *, vacuum: bool = True,
                    layers: tuple[str, ...] | None = None) -> list[str]:
    """Compact every existing table (and VACUUM it); returns one line per table.

    `layers` limits the work to some of bronze, silver, gold, ops (default: all).
    """
    hours = tables.settings.maintenance.vacuum_retention_hours
    lines = []
    for key, ref in _refs(tables):
        if layers is not None and key.split(".", 1)[0] not in layers:
            continue
        if not ref.exists(spark):
            continue
        delta = ref.delta(spark)
        z = zorder_columns(tables, key)
        detail = delta.detail().select("numFiles", "properties").head()
        before = detail["numFiles"]
        (delta.optimize().executeZOrderBy(*z) if z else delta.optimize().executeCompaction())
        after = delta.detail().select("numFiles").head()[0]
        if vacuum:
            _keep_removed_files_for(spark, ref, hours, detail["properties"] or {})
            delta.vacuum()
        lines.append(f"{ref.label}: files {before} -> {after}" + (f", z-order {','.join(z)}" if z else "")
                     + (f", vacuum {hours}h" if vacuum else ""))
    return lines


class MaintenanceSchedule:
    """OPTIMIZE + VACUUM every `maintenance.schedule_minutes` inside a continuous run.

    It runs on the runner's supervisor thread, between its checks, while the queries keep running: a
    MERGE that conflicts with a compaction is retried by the batch (`retry_delta_conflicts`),
    and VACUUM keeps at least 7 days, so no checkpoint loses files it still needs.
    """

    def __init__(self, minutes: int | None, started: float) -> None:
        self.period = None if minutes is None else minutes * 60.0
        self.due = None if self.period is None else started + self.period
        self.runs = 0

    def maybe_run(self, spark: SparkSession, tables: Tables, now: float | None = None) -> bool:
        """Run maintenance if it is due; returns True when it ran. A failure is logged, not raised:
        maintenance must never stop the pipeline."""
        now = time.monotonic() if now is None else now
        if self.due is None or now < self.due:
            return False
        try:
            for line in maintain_tables(spark, tables, vacuum=True):
                log.info("maintenance", result=line)
        except Exception as exc:  # noqa: BLE001 - logged; the next period tries again
            log.warning("maintenance failed", error=str(exc)[:500])
        self.runs += 1
        self.due = time.monotonic() + self.period  # from the end: a long run does not repeat at once
        return True
