"""Recover a source flow whose source was VACUUMed (or its log expired) behind the checkpoint.

The checkpoint points at source versions whose files are gone, so the stream cannot go on. The
reset, in this order:

1. reads the source's newest version L (the snapshot everything up to now is taken from);
2. ingests (bronze, silver, cost_daily) every row of the source's snapshot at L that bronze lacks (the same row-hash
   anti-join as snapshot sources: nothing already in bronze is written again);
3. moves the old checkpoint aside (kept as `<checkpoint>.reset-<time>` for forensics) and leaves
   a marker in the new one: the stream starts at version L and skips what L itself holds.

Rows deleted from the source inside the lost versions cannot be recovered from a snapshot: their
delete events are gone. Billing usage is append-only, so for it nothing is lost.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from streaming_obs.build import build_context
from streaming_obs.errors import CheckpointError, SourceError
from streaming_obs.flows import BatchInfo, ingest_batch, source_query_name
from streaming_obs.ops.audit import write_audit
from streaming_obs.resilience.idempotency import checkpoint_app_id
from streaming_obs.resilience.markers import RESET_MARKER, reset_marker
from streaming_obs.resilience.paths import local_path
from streaming_obs.sources.snapshot import snapshot_diff

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from streaming_obs.config.models import Settings

__all__ = ["ResetReport", "reset_bronze_flow", "reset_marker"]


@dataclass(frozen=True)
class ResetReport:
    """What a reset did."""

    query: str
    snapshot_version: int
    backfilled_rows: int
    old_checkpoint: str | None


def reset_bronze_flow(spark: SparkSession, settings: Settings, source: str) -> ResetReport:
    """Reset the checkpoint of `bronze_<source>` after the source lost versions it still needed.

    Raises:
        SourceError: the source is a snapshot source (it has no stream to reset) or does not exist.
        CheckpointError: the checkpoint is on an object store (reset it by hand, see
            docs/troubleshooting.md#vacuumed-source) or cannot be moved.
    """
    cfg = settings.sources.get(source)
    if cfg is None:
        raise SourceError(f"unknown source {source!r}")
    if cfg.mode == "snapshot":
        raise SourceError(f"source {source} is read in snapshot mode: it has no stream checkpoint to reset")
    query = source_query_name(source)
    ctx = build_context(spark, settings, telemetry=False)
    checkpoint = local_path(ctx.tables.checkpoint(query))
    if checkpoint is None:
        raise CheckpointError(
            f"checkpoint of {query} is on an object store: delete it yourself and set "
            f"sources.{source}.starting_version (docs/troubleshooting.md#vacuumed-source)")
    src = ctx.tables.source(source)
    if not src.exists(spark):
        raise SourceError(f"source {source}: no Delta table at {src.path or src.ident}")
    version = src.version(spark)

    old = None
    if os.path.exists(checkpoint):
        old = f"{checkpoint}.reset-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}"
        try:
            os.replace(checkpoint, old)
        except OSError as exc:
            raise CheckpointError(f"cannot move checkpoint {checkpoint} aside: {exc.strerror}") from exc
    # A new checkpoint gets a new writer id, so nothing of the old one's txn history is skipped.
    app_id = checkpoint_app_id(checkpoint, query)
    diff = snapshot_diff(spark, src, ctx.tables.bronze(source), version=version)
    info = BatchInfo(query, int(time.time() * 1000), f"{app_id}:reset", datetime.now(timezone.utc))
    rows = int(ingest_batch(ctx, source, diff, info).get("rows_in", 0))
    ctx.ops.flush(spark)
    with open(os.path.join(checkpoint, RESET_MARKER), "w", encoding="utf-8") as fh:
        fh.write(str(version))
    write_audit(spark, ctx.tables, "reset_checkpoint",
                {"query": query, "snapshot_version": version, "backfilled_rows": rows, "old_checkpoint": old})
    return ResetReport(query, version, rows, old)
