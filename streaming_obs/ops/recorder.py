"""Collects batch-run and lineage records and appends them in one commit per flush.

Writing two extra Delta commits per micro-batch per query would double the commit load of a
laptop-sized pipeline, so records are buffered and flushed by the runner's loop (and on stop).
A buffer in memory alone loses, in a crash, the records of every batch that committed since the
last flush, and those batches are never replayed: their records would be gone for good. So when
a batch ends (`batch`), its records are first written to a small journal file under the
checkpoint root (`_ops_journal/`), before the batch returns and Spark commits it; a flush
appends memory and journal, then deletes the files it appended, and the next run's first flush
picks up what a crash left. A batch replayed after a crash reports again what was journaled or
flushed before the crash: each flush is an insert-only MERGE on the record's identity (`KEYS`),
with the same identity kept once within a flush, so the replay adds nothing.

A checkpoint root on an object store (`s3://`, ...) has no journal: there the records stay in
memory until the flush, as before (a crash loses bookkeeping there, never data).
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from streaming_obs.delta_log import last_commits
from streaming_obs.ops.schema import ops_schema
from streaming_obs.resilience.paths import PRIVATE_FILE_MODE, local_path, make_private_dirs

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from streaming_obs.tables import TableRef, Tables

__all__ = ["OpsRecorder", "commit_info", "tagged_commit_info", "KEYS", "JOURNAL_DIR"]

#: directory under the checkpoint root holding the records of batches not flushed yet
JOURNAL_DIR = "_ops_journal"

#: what makes an ops record the same record again (a replayed batch reporting it twice);
#: batch_runs' query_id is the checkpoint's writer id, new after a checkpoint reset
KEYS = {
    "batch_runs": ["query_id", "query_name", "batch_id", "status"],
    "lineage": ["query_name", "batch_id", "target_table", "target_version"],
    # recorded_at is the batch's own time (`_batch_ts`, fixed in the offset log): the same on a
    # replay, new after a checkpoint reset that restarts batch ids
    "quality_results": ["query_name", "batch_id", "table_name", "rule", "recorded_at"],
}
#: a column the flush's MERGE may prune the target on: every identity in the flush has it at or
#: after the flush's smallest value, and these tables are appended in time order, so Delta's
#: file statistics skip the old files (quality_results gains ~20 rows a second)
PRUNE_ON = {"quality_results": "recorded_at"}


def commit_info(spark: SparkSession, ref: TableRef) -> tuple[int | None, int | None, str | None]:
    """(version, rows written, operation) of the latest commit of `ref`, from Delta's history.

    `foreachBatch` reports numOutputRows = -1, so rows written come from operationMetrics.
    """
    rows = last_commits(spark, ref, 1)
    if not rows:
        return None, None, None
    return int(rows[0]["version"]), _rows(rows[0]["operationMetrics"]), rows[0]["operation"]


def tagged_commit_info(spark: SparkSession, ref: TableRef, prefix: str, suffix: str,
                       depth: int = 50) -> tuple[int | None, int | None, str | None]:
    """(latest version, rows written in all, operation of the latest) of the commits to `ref`
    whose `userMetadata` (`idempotency.commit_tag`) starts with `prefix` and ends with `suffix`:
    one batch's own writes, even when another query committed to the table since (the gold
    query renames cost rows). (None, None, None) when the batch wrote nothing there."""
    def mine(meta: str | None) -> bool:
        # a follow-on table's commit has its watermark after the tag (gold/watermark.py)
        return bool(meta) and meta.startswith(prefix) and (meta.endswith(suffix) or f"{suffix} " in meta)

    rows = [r for r in last_commits(spark, ref, depth) if mine(r["userMetadata"])]
    if not rows:
        return None, None, None
    counts = [_rows(r["operationMetrics"]) for r in rows]
    total = None if all(c is None for c in counts) else sum(c or 0 for c in counts)
    return int(rows[0]["version"]), total, rows[0]["operation"]


def _rows(metrics: dict | None) -> int | None:
    metrics = metrics or {}
    rows = None
    for key in ("numOutputRows", "numTargetRowsInserted"):
        if key in metrics:
            rows = int(metrics[key])
            break
    if "numTargetRowsUpdated" in metrics:
        rows = (rows or 0) + int(metrics["numTargetRowsUpdated"]) + int(metrics.get("numTargetRowsDeleted", 0))
    return rows


class OpsRecorder:
    """Thread-safe buffer of ops rows, flushed into `plt_ops.batch_runs` and `plt_ops.lineage`."""

    def __init__(self, tables: Tables, run_id: str) -> None:
        self.tables = tables
        self.run_id = run_id
        self._lock = threading.Lock()
        self._rows: dict[str, list[dict[str, Any]]] = {t: [] for t in KEYS}
        root = local_path(tables.settings.storage.checkpoints)
        #: where batches' records wait for the flush (None: object store, memory only)
        self.journal = os.path.join(root, JOURNAL_DIR) if root else None

    def batch(self, *, query_name: str, batch_id: int, target: str, started: datetime, rows_in: int,
              rows_out: int | None, status: str = "ok", error: BaseException | None = None, query_id: str = "") -> None:
        """Record one batch of one query, the last thing a batch does: with its lineage records,
        the record goes to the journal (when there is one) before the batch returns."""
        ended = datetime.now(timezone.utc)
        self._add("batch_runs", {
            "query_name": query_name, "query_id": query_id, "run_id": self.run_id, "batch_id": batch_id,
            "target_table": target, "started_at": started, "ended_at": ended,
            "duration_ms": int((ended - started).total_seconds() * 1000), "rows_in": rows_in,
            "rows_out": rows_out, "status": status,
            "error_class": type(error).__name__ if error else None,
            "error_message": str(error)[:2000] if error else None,
        })
        if self.journal is not None:
            self._seal(query_name, batch_id)

    def _seal(self, query_name: str, batch_id: int) -> None:
        """Move the buffered records of (query, batch) into a journal file of their own."""
        with self._lock:
            mine = {t: [r for r in rows if r["query_name"] == query_name and r["batch_id"] == batch_id]
                    for t, rows in self._rows.items()}
            self._rows = {t: [r for r in rows if not (r["query_name"] == query_name and r["batch_id"] == batch_id)]
                          for t, rows in self._rows.items()}
        try:
            make_private_dirs(self.journal)
            # unique per call: a failed attempt and the retry that succeeds are two records
            path = os.path.join(self.journal, f"{query_name}.{batch_id}.{uuid.uuid4().hex[:8]}.json")
            tmp = path + ".tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(mine, fh, default=_json_default)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError:
            # bookkeeping must never fail a batch: keep the records in memory instead
            with self._lock:
                for t, rows in mine.items():
                    self._rows[t].extend(rows)

    def lineage(self, *, query_name: str, batch_id: int, target: str, target_version: int | None, source: str,
                start_version: int | None, end_version: int | None, operation: str | None, rows: int | None) -> None:
        """Record that `target` at `target_version` was written from `source` versions [start, end]."""
        self._add("lineage", {
            "recorded_at": datetime.now(timezone.utc), "query_name": query_name, "batch_id": batch_id,
            "target_table": target, "target_version": target_version, "source_table": source,
            "source_start_version": start_version, "source_end_version": end_version,
            "operation": operation, "rows_written": rows,
        })

    def quality(self, rows: list[tuple]) -> None:
        """Record a batch's `quality_results` rows (tuples in the table's column order, as
        `QualityOutcome.result_rows` gives them); they are journaled with the batch's other
        records and flushed with them, instead of a Delta commit of their own per batch."""
        names = ops_schema("quality_results").fieldNames()
        with self._lock:
            self._rows["quality_results"].extend(dict(zip(names, r)) for r in rows)

    def _add(self, table: str, row: dict[str, Any]) -> None:
        with self._lock:
            self._rows[table].append(row)

    def _journal_files(self) -> list[str]:
        if self.journal is None or not os.path.isdir(self.journal):
            return []
        paths = [os.path.join(self.journal, f) for f in os.listdir(self.journal) if f.endswith(".json")]
        return sorted(paths, key=lambda p: (_mtime(p), p))

    def pending(self) -> int:
        """Rows waiting for the next flush (in memory and in the journal)."""
        with self._lock:
            n = sum(len(v) for v in self._rows.values())
        for path in self._journal_files():
            n += sum(len(v) for v in _read_journal(path).values())
        return n

    def flush(self, spark: SparkSession) -> int:
        """Append everything buffered or journaled, then forget it; returns rows written.

        On failure the journal files stay for the next flush; rows taken from memory are put
        back."""
        with self._lock:
            memory = {k: v for k, v in self._rows.items() if v}
            self._rows = {k: [] for k in self._rows}
        files = self._journal_files()
        taken: dict[str, list[dict[str, Any]]] = {}
        for path in files:  # oldest first: the first report of a batch is the one kept
            for table, rows in _read_journal(path).items():
                taken.setdefault(table, []).extend(rows)
        for table, rows in memory.items():
            taken.setdefault(table, []).extend(rows)
        written = 0
        done: set[str] = set()
        try:
            for table, rows in taken.items():
                rows = _unique(table, rows)
                if not rows:
                    continue
                schema = ops_schema(table)
                ordered = [tuple(r.get(f.name) for f in schema.fields) for r in rows]
                ref = self.tables.ops(table)
                df = spark.createDataFrame(ordered, schema)
                on = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in KEYS[table])
                if table in PRUNE_ON and all(r.get(PRUNE_ON[table]) is not None for r in rows):
                    on += f" AND t.`{PRUNE_ON[table]}` >= TIMESTAMP'{_prune_low(rows, PRUNE_ON[table])}'"
                if table == "batch_runs":
                    on += " AND s.status = 'ok'"  # every failed attempt is a record of its own
                ref.delta(spark).alias("t").merge(df.alias("s"), on).whenNotMatchedInsertAll().execute()
                written += len(rows)
                done.add(table)
        except BaseException:
            with self._lock:
                for table, rows in memory.items():
                    if table not in done:
                        self._rows[table][:0] = rows
            raise
        for path in files:
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
        return written


def _prune_low(rows: list[dict[str, Any]], column: str) -> str:
    """The pruning bound of a flush: a day before its oldest value, so that neither a naive
    timestamp read in another time zone nor clock skew can leave a stored identity out."""
    low = min(r[column] for r in rows)
    if low.tzinfo is not None:
        low = low.astimezone(timezone.utc).replace(tzinfo=None)
    return (low - timedelta(days=1)).isoformat(sep=" ")


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return 0


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$ts": value.isoformat()}
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _read_journal(path: str) -> dict[str, list[dict[str, Any]]]:
    """The records of one journal file; a file a crash cut short (never renamed) is not listed."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:  # a concurrent flush took it
        return {}
    return {t: [{k: datetime.fromisoformat(v["$ts"]) if isinstance(v, dict) and "$ts" in v else v
                 for k, v in r.items()} for r in rows] for t, rows in data.items()}


def _unique(table: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per record identity (the first): a batch journaled, then replayed after a crash,
    is in one flush twice. Failed attempts are each a record of their own."""
    seen: set[tuple] = set()
    out = []
    for r in rows:
        if table == "batch_runs" and r.get("status") != "ok":
            out.append(r)
            continue
        key = tuple(r.get(k) for k in KEYS[table])
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out
