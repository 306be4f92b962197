"""Inspect quarantined rows and send (fixed) ones back through the pipeline.

Replay puts a row back where the pipeline's own data enters: the bronze table of its source. The
raw JSON is decoded with the bronze table's schema, fixes are applied, the `bronze.<source>`
rules run on it again (a row still breaking an error-level rule stays in quarantine and is
reported), and the rows that pass are appended to bronze with `_source_change_type = 'replay'`.
From there the silver stream picks them up through its change feed and its own rules, exactly
like freshly ingested rows. The append is idempotent (Delta `txnAppId` per replayed id set) and
the quarantine rows are then stamped `replayed_at`, so running the same replay twice adds
nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from streaming_obs.errors import QuarantineError
from streaming_obs.logs import get_logger
from streaming_obs.quality.compile import DISPOSITION_COL, FAILED_COL
from streaming_obs.sqlfiles import table_specs

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from streaming_obs.config.models import Settings
    from streaming_obs.quality.engine import QualityEngine
    from streaming_obs.tables import Tables

__all__ = ["ReplayResult", "list_quarantine", "replay_quarantine", "show_quarantine"]

log = get_logger(__name__)

_LIST_COLUMNS = ("quarantine_id", "quarantined_at", "source_table", "query_name", "batch_id", "failed_rules", "replayed_at")


@dataclass
class ReplayResult:
    """What a replay did: ids appended to bronze, ids that still break rules, ids skipped."""

    replayed: list[str] = field(default_factory=list)
    still_failing: dict[str, list[str]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    bronze_tables: list[str] = field(default_factory=list)


def _quarantine_df(spark: SparkSession, tables: Tables) -> DataFrame | None:
    ref = tables.ops("quarantine")
    return ref.read(spark) if ref.exists(spark) else None


def _source_filter(source: str) -> Any:
    from pyspark.sql import functions as F

    if "." in source:
        return F.col("source_table") == F.lit(source)
    return F.col("source_table").endswith(F.lit("." + source))


def list_quarantine(
    spark: SparkSession,
    tables: Tables,
    source: str | None = None,
    limit: int = 50,
    include_replayed: bool = False,
) -> list[dict[str, Any]]:
    """Newest quarantined rows first, without the raw row.

    Args:
        source: a source name (``billing_usage``) or rules key (``silver.billing_usage``).
        limit: at most this many rows.
        include_replayed: also list rows already replayed.
    """
    from pyspark.sql import functions as F

    df = _quarantine_df(spark, tables)
    if df is None:
        return []
    if source:
        df = df.where(_source_filter(source))
    if not include_replayed:
        df = df.where(F.col("replayed_at").isNull())
    rows = df.select(*_LIST_COLUMNS).orderBy(F.col("quarantined_at").desc(), "quarantine_id").limit(int(limit))
    return [r.asDict(recursive=True) for r in rows.collect()]


def show_quarantine(spark: SparkSession, tables: Tables, quarantine_id: str) -> dict[str, Any]:
    """One quarantined row with its raw row decoded (`row`) next to the JSON text (`raw_row`).

    Raises:
        QuarantineError: no row has that id.
    """
    from pyspark.sql import functions as F

    df = _quarantine_df(spark, tables)
    hit = [] if df is None else df.where(F.col("quarantine_id") == F.lit(quarantine_id)).limit(1).collect()
    if not hit:
        raise QuarantineError(f"no quarantined row with id {quarantine_id!r}")
    out = hit[0].asDict(recursive=True)
    out["row"] = json.loads(out["raw_row"])
    return out


def _patch(row: dict[str, Any], fix: Mapping[str, Any]) -> dict[str, Any]:
    """`row` with `fix` applied; a dotted key (`usage_metadata.job_id`) sets a nested field."""
    out = json.loads(json.dumps(row))
    for key, value in fix.items():
        cursor = out
        parts = key.split(".")
        for part in parts[:-1]:
            nxt = cursor.get(part)
            if not isinstance(nxt, dict):
                nxt = cursor[part] = {}
            cursor = nxt
        cursor[parts[-1]] = value
    return out


def _bronze_meta() -> list[str]:
    spec = table_specs()["bronze"]["extra"]
    return [part.strip().split()[0] for part in spec.split(",") if part.strip()]


def replay_quarantine(
    spark: SparkSession,
    tables: Tables,
    settings: Settings,
    ids: Iterable[str] | None = None,
    source: str | None = None,
    fixed_rows: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    engine: QualityEngine | None = None,
    lookups: Mapping[str, DataFrame] | None = None,
    now: datetime | None = None,
    ingest: Callable[[str, DataFrame, str], None] | None = None,
) -> ReplayResult:
    """Re-append quarantined rows (optionally fixed) to the bronze table of their source.

    With `ingest` (``ingest(source, rows, writer_id)``; the CLI passes the pipeline's batch
    template) the rows that pass go through bronze, silver and gold like any batch of the source;
    without it they are appended to bronze only.

    Args:
        ids: quarantine ids to replay; or
        source: replay every not-yet-replayed row of this source (``billing_usage``).
        fixed_rows: per quarantine id, fields to overwrite in the raw row (dotted keys for nested
            fields), e.g. ``{"3fa1...": {"usage_quantity": 1.5}}``.
        engine: the rules to re-check with (default: from `settings`).
        lookups: lookup DataFrames for referential bronze rules, if any.
        now: replay time (default: now, UTC).

    Returns:
        Which ids were appended, which still fail (with the rules) and which were skipped.

    Raises:
        QuarantineError: neither ids nor source given, or the bronze table does not exist.
    """
    from pyspark.sql import functions as F

    from streaming_obs.quality.engine import QualityEngine

    if ids is None and not source:
        raise QuarantineError("give quarantine ids or a source to replay")
    engine = engine or QualityEngine.from_settings(settings)
    now = now or datetime.now(timezone.utc)
    fixed_rows = fixed_rows or {}
    result = ReplayResult()
    df = _quarantine_df(spark, tables)
    if df is None:
        raise QuarantineError("the quarantine table does not exist yet")
    wanted = None if ids is None else list(dict.fromkeys(ids))
    if wanted is not None:
        df = df.where(F.col("quarantine_id").isin(wanted))
    if source:
        df = df.where(_source_filter(source))
    rows = df.select("quarantine_id", "source_table", "raw_row", "replayed_at").collect()
    found = {r["quarantine_id"] for r in rows}
    for qid in wanted or []:
        if qid not in found:
            result.skipped[qid] = "not found"
    by_source: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for r in rows:
        qid = r["quarantine_id"]
        if r["replayed_at"] is not None:
            result.skipped[qid] = f"already replayed at {r['replayed_at']}"
            continue
        src = r["source_table"].split(".", 1)[-1]
        raw = _patch(json.loads(r["raw_row"]), fixed_rows.get(qid, {}))
        by_source.setdefault(src, []).append((qid, raw))
    for src, items in sorted(by_source.items()):
        ok, failing = _replay_source(spark, tables, engine, src, items, lookups, now, ingest)
        result.replayed += ok
        result.still_failing.update(failing)
        result.bronze_tables.append(tables.bronze(src).label)
    if result.replayed:
        _mark_replayed(spark, tables, result.replayed, now, settings.resilience.write_retries)
    return result


def _replay_source(
    spark: SparkSession,
    tables: Tables,
    engine: QualityEngine,
    source: str,
    items: list[tuple[str, dict[str, Any]]],
    lookups: Mapping[str, DataFrame] | None,
    now: datetime,
    ingest: Callable[[str, DataFrame, str], None] | None = None,
) -> tuple[list[str], dict[str, list[str]]]:
    from pyspark.sql import functions as F
    from pyspark.sql.types import StructType

    bronze = tables.bronze(source)
    if not bronze.exists(spark):
        raise QuarantineError(f"bronze table {bronze.label} does not exist: run the pipeline first")
    target = bronze.read(spark).schema
    meta = set(_bronze_meta())
    data_schema = StructType([f for f in target.fields if f.name not in meta])
    text = spark.createDataFrame([(qid, json.dumps(raw)) for qid, raw in items], "__qid STRING, __raw STRING")
    parsed = text.select("__qid", F.from_json("__raw", data_schema).alias("__r")).select("__qid", "__r.*")
    fill = {
        "_ingest_time": F.lit(now).cast("timestamp"),
        "_source_change_type": F.lit("replay"),
    }
    cols = []
    for f in target.fields:
        if f.name in meta:
            cols.append(fill.get(f.name, F.lit(None)).cast(f.dataType).alias(f.name))
        else:
            cols.append(F.col(f"`{f.name}`"))
    replay = parsed.select("__qid", *cols)
    if "_row_hash" in meta and "_row_hash" in target.fieldNames():
        # The same hash bronze computes over the source columns, so downstream dedupe sees the
        # fixed row as a new row version and an unfixed replay as the row it was.
        from streaming_obs.sources.snapshot import row_hash

        replay = replay.withColumn("_row_hash", row_hash(replay, data_schema.fieldNames()))
    evaluated = engine.evaluate(replay, f"bronze.{source}", lookups, now).persist()
    try:
        verdict = {r["__qid"]: (r[DISPOSITION_COL], r[FAILED_COL]) for r in evaluated.select("__qid", DISPOSITION_COL, FAILED_COL).collect()}
        failing = {q: list(rules) for q, (disp, rules) in verdict.items() if disp != "keep"}
        ok = sorted(q for q, (disp, _) in verdict.items() if disp == "keep")
        if ok:
            out = evaluated.where(F.col(DISPOSITION_COL) == "keep").select(*[F.col(f"`{f.name}`") for f in target.fields])
            app = "streaming_obs.replay." + hashlib.sha256("\n".join(ok).encode()).hexdigest()[:24]
            if ingest is not None:
                ingest(source, out, app)
            else:
                bronze.append(out, txnAppId=app, txnVersion="0")
    finally:
        evaluated.unpersist()
    for qid, rules in failing.items():
        log.warning("quarantined row still breaks its rules; not replayed", quarantine_id=qid, rules=", ".join(rules))
    return ok, failing


def _mark_replayed(spark: SparkSession, tables: Tables, ids: list[str], now: datetime, retries: int) -> None:
    from delta.exceptions import (
        ConcurrentAppendException,
        ConcurrentDeleteReadException,
        ConcurrentTransactionException,
    )
    from pyspark.sql import functions as F

    # The running streams keep appending to the quarantine table while we stamp rows.
    conflicts = (ConcurrentAppendException, ConcurrentDeleteReadException, ConcurrentTransactionException)
    ref = tables.ops("quarantine")
    for attempt in range(1, retries + 1):
        try:
            ref.delta(spark).update(
                condition=F.col("quarantine_id").isin(ids) & F.col("replayed_at").isNull(),
                set={"replayed_at": F.lit(now).cast("timestamp")},
            )
            return
        except conflicts as exc:
            if attempt == retries:
                raise
            log.info("quarantine update conflicted; retrying", error=type(exc).__name__, attempt=attempt)
