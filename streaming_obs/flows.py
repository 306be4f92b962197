"""The machinery shared by the bronze, silver and gold flows: start a query, wrap its batches.

A flow is a streaming DataFrame plus a `foreachBatch` function. Wrapping gives every batch the
same habits: the batch is persisted before more than one action runs on it, failures are logged
with query name, batch id, source version range and target, and an ops record is kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from streaming_obs.logs import get_logger
from streaming_obs.resilience.idempotency import checkpoint_app_id
from streaming_obs.resilience.operation import operation_of
from streaming_obs.resilience.supervisor import stop_gate

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.streaming import StreamingQuery

    from streaming_obs.context import PipelineContext

__all__ = ["BatchInfo", "Flow", "start_flow", "freshness_observation"]

log = get_logger(__name__)


@dataclass(frozen=True)
class BatchInfo:
    """What a batch function knows about its batch."""

    query_name: str
    batch_id: int
    app_id: str  # stable per checkpoint; prefix of every txnAppId this query writes
    started: datetime
    #: what the batch function learns as it goes (e.g. the source version range), for error logs
    context: dict = field(default_factory=dict, compare=False)

    def txn_app(self, step: str) -> str:
        """txnAppId for one logical write of this query."""
        return f"{self.app_id}:{step}"


#: batch function: (ctx, batch_df, info) -> (rows_in, rows_out, target label, source range)
BatchFn = Callable[["PipelineContext", "DataFrame", BatchInfo], dict]


@dataclass
class Flow:
    """A streaming query to start: name, layer, the stream and what to do with each batch."""

    name: str
    layer: str
    source_label: str
    target_label: str
    build_stream: Callable[[PipelineContext], DataFrame]
    on_batch: BatchFn


def freshness_observation(df: DataFrame, query_name: str) -> DataFrame:
    """Attach the named observation the telemetry listener reads: newest source commit time and
    row count of each batch, computed in the batch's own pass (no extra action)."""
    return df.observe(
        f"fresh_{query_name}",
        F.max("_source_commit_ts").alias("max_source_commit_ts"),
        F.count(F.lit(1)).alias("rows"),
    )


def _wrap(ctx: PipelineContext, flow: Flow, app_id: str) -> Callable[[DataFrame, int], None]:
    def run(batch_df: DataFrame, batch_id: int) -> None:
        stop_gate(batch_df, flow.name)  # a stop was asked for: this batch is the query's last
        started = datetime.now(timezone.utc)
        t0 = time.monotonic()
        info = BatchInfo(flow.name, batch_id, app_id, started)
        try:
            result = flow.on_batch(ctx, batch_df, info)
        except Exception as exc:
            op = operation_of(exc)
            log.error(
                "batch failed", query=flow.name, batch_id=batch_id, source=flow.source_label,
                target=(op.target if op and op.target else flow.target_label), **info.context,
                **(op.as_log() if op else {}), error_class=type(exc).__name__, error=str(exc)[:500],
            )
            ctx.ops.batch(query_name=flow.name, batch_id=batch_id, target=flow.target_label, started=started,
                          rows_in=0, rows_out=None, status="failed", error=exc)
            raise
        ctx.ops.batch(query_name=flow.name, batch_id=batch_id, target=flow.target_label, started=started,
                      rows_in=int(result.get("rows_in", 0)), rows_out=result.get("rows_out"))
        if ctx.telemetry is not None and result.get("rows_out"):
            # foreachBatch reports numOutputRows = -1: rows written come from the Delta commit.
            ctx.telemetry.record_batch_write(flow.name, flow.target_label, int(result["rows_out"]))
        log.debug("batch done", query=flow.name, batch_id=batch_id, seconds=round(time.monotonic() - t0, 3), **result)

    return run


def start_flow(ctx: PipelineContext, flow: Flow, *, available_now: bool) -> StreamingQuery:
    """Start `flow` as a streaming query with its checkpoint under the configured root."""
    checkpoint = ctx.tables.checkpoint(flow.name)
    app_id = checkpoint_app_id(checkpoint, flow.name)
    stream = flow.build_stream(ctx)
    writer = (
        stream.writeStream.queryName(flow.name)
        .option("checkpointLocation", checkpoint)
        .foreachBatch(_wrap(ctx, flow, app_id))
    )
    if available_now:
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=f"{ctx.settings.trigger.interval_seconds} seconds")
    if ctx.telemetry is not None:
        ctx.telemetry.register_query(flow.name, layer=flow.layer, source=flow.source_label, target=flow.target_label)
    query = writer.start()
    log.info("query started", query=flow.name, id=str(query.id), checkpoint=checkpoint)
    return query
