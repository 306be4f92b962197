"""Collects batch-run and lineage records in memory and appends them in one commit per flush.

Writing two extra Delta commits per micro-batch per query would double the commit load of a
laptop-sized pipeline, so records are buffered and flushed by the runner's loop (and on stop).
A record is about a batch that already committed its data, so losing the last unflushed ones in
a crash loses bookkeeping, never data. A batch replayed after a crash reports again what was
flushed before the crash: each flush is an insert-only MERGE on the record's identity (`KEYS`),
so the replay adds nothing.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from streaming_obs.ops.schema import ops_schema

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from streaming_obs.tables import TableRef, Tables

__all__ = ["OpsRecorder", "commit_info", "KEYS"]

#: what makes an ops record the same record again (a replayed batch reporting it twice);
#: batch_runs' query_id is the checkpoint's writer id, new after a checkpoint reset
KEYS = {
    "batch_runs": ["query_id", "query_name", "batch_id", "status"],
    "lineage": ["query_name", "batch_id", "target_table", "target_version"],
}


def commit_info(spark: SparkSession, ref: TableRef) -> tuple[int | None, int | None, str | None]:
    """(version, rows written, operation) of the latest commit of `ref`, from Delta's history.

    `foreachBatch` reports numOutputRows = -1, so rows written come from operationMetrics.
    """
    row = ref.delta(spark).history(1).select("version", "operation", "operationMetrics").head()
    if row is None:
        return None, None, None
    metrics = row["operationMetrics"] or {}
    rows = None
    for key in ("numOutputRows", "numTargetRowsInserted"):
        if key in metrics:
            rows = int(metrics[key])
            break
    if "numTargetRowsUpdated" in metrics:
        rows = (rows or 0) + int(metrics["numTargetRowsUpdated"]) + int(metrics.get("numTargetRowsDeleted", 0))
    return int(row["version"]), rows, row["operation"]


class OpsRecorder:
    """Thread-safe buffer of ops rows, flushed into `plt_ops.batch_runs` and `plt_ops.lineage`."""

    def __init__(self, tables: Tables, run_id: str) -> None:
        self.tables = tables
        self.run_id = run_id
        self._lock = threading.Lock()
        self._rows: dict[str, list[dict[str, Any]]] = {"batch_runs": [], "lineage": []}

    def batch(self, *, query_name: str, batch_id: int, target: str, started: datetime, rows_in: int,
              rows_out: int | None, status: str = "ok", error: BaseException | None = None, query_id: str = "") -> None:
        """Record one batch of one query."""
        ended = datetime.now(timezone.utc)
        self._add("batch_runs", {
            "query_name": query_name, "query_id": query_id, "run_id": self.run_id, "batch_id": batch_id,
            "target_table": target, "started_at": started, "ended_at": ended,
            "duration_ms": int((ended - started).total_seconds() * 1000), "rows_in": rows_in,
            "rows_out": rows_out, "status": status,
            "error_class": type(error).__name__ if error else None,
            "error_message": str(error)[:2000] if error else None,
        })

    def lineage(self, *, query_name: str, batch_id: int, target: str, target_version: int | None, source: str,
                start_version: int | None, end_version: int | None, operation: str | None, rows: int | None) -> None:
        """Record that `target` at `target_version` was written from `source` versions [start, end]."""
        self._add("lineage", {
            "recorded_at": datetime.now(timezone.utc), "query_name": query_name, "batch_id": batch_id,
            "target_table": target, "target_version": target_version, "source_table": source,
            "source_start_version": start_version, "source_end_version": end_version,
            "operation": operation, "rows_written": rows,
        })

    def _add(self, table: str, row: dict[str, Any]) -> None:
        with self._lock:
            self._rows[table].append(row)

    def pending(self) -> int:
        """Rows waiting for the next flush."""
        with self._lock:
            return sum(len(v) for v in self._rows.values())

    def flush(self, spark: SparkSession) -> int:
        """Append everything buffered; returns rows written."""
        with self._lock:
            taken = {k: v for k, v in self._rows.items() if v}
            self._rows = {k: [] for k in self._rows}
        written = 0
        for table, rows in taken.items():
            schema = ops_schema(table)
            ordered = [tuple(r.get(f.name) for f in schema.fields) for r in rows]
            ref = self.tables.ops(table)
            df = spark.createDataFrame(ordered, schema)
            on = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in KEYS[table])
            if table == "batch_runs":
                on += " AND s.status = 'ok'"  # every failed attempt is a record of its own
            ref.delta(spark).alias("t").merge(df.alias("s"), on).whenNotMatchedInsertAll().execute()
            written += len(rows)
        return written
