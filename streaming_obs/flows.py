"""The streaming queries and the one batch template every source uses.

One query per streamed source: its `foreachBatch` appends bronze (the raw, append-only history)
and refines silver from the same batch DataFrame, each write exactly-once with
txnAppId/txnVersion; the billing-usage query also keeps cost_daily (gold/hot.py). The gold
query (gold/flow.py) follows on its own trigger with the rest of gold. Wrapping gives every batch the same habits:
failures are logged with query name, batch id, source version range and target, and an ops
record is kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from streaming_obs.batch import (
    BATCH_TS,
    COST_POOL,
    SOURCES_POOL,
    BatchInfo,
    Flow,
    apply_quality,
    batch_now,
    freshness_observation,
    record_lineage,
    with_batch_time,
)
from streaming_obs.bronze.write import append_bronze, prepare_bronze
from streaming_obs.errors import BatchStopped
from streaming_obs.gold.budgets import BUDGET_TABLE
from streaming_obs.gold.compute import release_checkpoint
from streaming_obs.gold.hot import HOT_TABLE, TOUCH_COL, keep_cost, price_touch_stream, reconcile_touched
from streaming_obs.logs import get_logger
from streaming_obs.resilience.idempotency import checkpoint_app_id
from streaming_obs.resilience.operation import operation_of
from streaming_obs.resilience.markers import reset_marker
from streaming_obs.resilience.supervisor import batch_ended_by_stop, stop_gate
from streaming_obs.silver.write import silver_lookups, to_silver_rows, write_silver
from streaming_obs.sources.readers import read_source_stream

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.streaming import StreamingQuery

    from streaming_obs.context import PipelineContext

__all__ = ["BatchInfo", "Flow", "source_flow", "ingest_batch", "start_flow", "freshness_observation",
           "source_query_name", "USAGE"]

log = get_logger(__name__)

USAGE = "billing_usage"
POOL_PROPERTY = "spark.scheduler.pool"


def source_query_name(source: str) -> str:
    """The query that ingests `source` (bronze and silver; cost_daily for usage)."""
    return f"bronze_{source}"


#: the columns price-change rows bring into the usage query's batch
TOUCH_COLS = (TOUCH_COL, "_price_start", "_price_end")


def _split_touches(df: DataFrame) -> DataFrame:
    """The usage rows of a usage batch that also carries the price change feed."""
    if TOUCH_COL not in df.columns:
        return df
    return df.where(F.col(TOUCH_COL).isNull()).drop(*TOUCH_COLS)


def _batch_meta(df: DataFrame, source: str) -> dict:
    """One pass over the batch for what the steps need to know up front: the row count, the
    source version range, the batch time, the usage dates and the price windows that rode along
    (one Spark job where separate `collect`s took four)."""
    touch = F.col(TOUCH_COL).isNotNull() if TOUCH_COL in df.columns else F.lit(False)
    row = F.when(~touch, F.lit(1))
    aggs = [F.count(row).alias("n"), F.min(F.when(~touch, F.col("_source_version"))).alias("lo"),
            F.max(F.when(~touch, F.col("_source_version"))).alias("hi"),
            (F.max(BATCH_TS) if BATCH_TS in df.columns else F.lit(None).cast("timestamp")).alias("ts")]
    if source == USAGE and "usage_date" in df.columns:
        aggs.append(F.collect_set(F.when(~touch, F.col("usage_date"))).alias("dates"))
    if TOUCH_COL in df.columns:
        aggs.append(F.collect_set(F.when(touch, F.struct("_price_start", "_price_end"))).alias("windows"))
    meta = df.agg(*aggs).head().asDict()
    meta["dates"] = sorted(meta.get("dates") or [])
    meta["windows"] = [(w[0], w[1]) for w in meta.get("windows") or []]
    return meta


def ingest_batch(ctx: PipelineContext, source: str, batch_df: DataFrame, info: BatchInfo, *,
                 skip_seen: bool = False) -> dict:
    """One batch of one source: bronze append, silver write, and for usage cost_daily.

    Used by the source's streaming query, by snapshot polls and by checkpoint resets alike.
    Returns counts for the batch-run record.
    """
    # Read once, used by every step (the batch is read by the meta pass, the rules and the writes)
    df = prepare_bronze(ctx, source, batch_df, info, skip_seen=skip_seen, ride_along=TOUCH_COLS)
    if skip_seen:
        # The frame reads bronze (the anti-join): a write to bronze invalidates a cached copy
        # and the rest of the batch would see bronze after the append. Cut the lineage.
        df = df.localCheckpoint(eager=True)
    else:
        df = df.persist()
    try:
        return _ingest(ctx, source, df, info)
    finally:
        if skip_seen:
            release_checkpoint(df)
        else:
            df.unpersist()


def _ingest(ctx: PipelineContext, source: str, batch: DataFrame, info: BatchInfo) -> dict:
    # seconds per step, logged with the batch ("batch done", DEBUG): where a batch's time goes
    steps: dict[str, float] = {}
    t = [time.monotonic()]

    def lap(step: str) -> None:
        now_t = time.monotonic()
        steps[step] = round(now_t - t[0], 3)
        t[0] = now_t

    meta = _batch_meta(batch, source)
    df = _split_touches(batch)
    n, rows_out, new, windows = int(meta["n"]), 0, None, meta["windows"]
    outcomes: list = []
    lap("read")
    if n:
        info.context["source_versions"] = f"{meta['lo']}..{meta['hi']}"
        now = batch_now(meta["ts"])
        src_label = ctx.tables.source(source).label
        kept_b, out_b = apply_quality(ctx, df, f"bronze.{source}", info, now=now)
        bronze_rows = kept_b.drop(BATCH_TS) if BATCH_TS in kept_b.columns else kept_b
        append_bronze(ctx, source, bronze_rows, info)
        bronze_ref = ctx.tables.bronze(source)
        bronze_version, written = record_lineage(ctx, info, bronze_ref, src_label, meta["lo"], meta["hi"])
        lap("bronze")
        silver_rows = to_silver_rows(kept_b, bronze_version, info.txn_app(str(info.batch_id)))
        lookups = silver_lookups(ctx, source, kept_b.sparkSession)
        kept_s, out_s = apply_quality(ctx, silver_rows, f"silver.{source}", info, lookups, now=now)
        new = write_silver(ctx, source, kept_s, info, dates=meta.get("dates"))
        added = record_lineage(ctx, info, ctx.tables.silver(source), bronze_ref.label, bronze_version, bronze_version)[1]
        rows_out = written + added
        outcomes = [out_b, out_s]
        lap("silver")
    try:
        if source == USAGE and (new is not None or windows):
            # cost_daily before the ops records: it carries the freshness promise (the other cost
            # tables follow in the gold query: gold/follow.py)
            keep_cost(ctx, new, windows, info, dates=meta.get("dates"))
            lap("cost")
            record_lineage(ctx, info, ctx.tables.gold(HOT_TABLE), ctx.tables.silver(source).label, None, None,
                           tagged=True)
            if ctx.settings.budgets:
                record_lineage(ctx, info, ctx.tables.gold(BUDGET_TABLE), ctx.tables.gold(HOT_TABLE).label, None, None,
                               tagged=True)
            lap("lineage")
            if new is not None and meta.get("dates") and reconcile_touched(ctx, kept_b.sparkSession, meta["dates"],
                                                                           _last_check(ctx)):
                lap("reconcile")
    finally:
        if new is not None:
            release_checkpoint(new)
    if outcomes and ctx.quality is not None:
        ctx.ops.quality(ctx.quality.write_batch(outcomes, ctx.tables, info.batch_id, info.txn_app("quality")))
        lap("quality")
    return {"rows_in": n, "rows_out": rows_out, "steps": steps}


def _last_check(ctx: PipelineContext) -> list[float | None]:
    """When this pipeline last ran the in-stream reconciliation (one slot per context)."""
    return ctx.schedule.setdefault("reconcile", [None])


def source_flow(ctx: PipelineContext, source: str) -> Flow:
    """The streaming flow of one `cdf`/`append` source: source → bronze → silver (→ cost_daily)."""
    name = source_query_name(source)
    # After a checkpoint reset the new stream starts at the reset's snapshot version and must
    # not write again what that snapshot already gave bronze (docs/troubleshooting.md).
    reset_version = reset_marker(ctx.tables.checkpoint(name))
    mode = ctx.settings.sources[source].mode

    def build(c: PipelineContext) -> DataFrame:
        stream = read_source_stream(c.spark, c.settings, c.tables, source, starting_version=reset_version)
        if reset_version is not None and mode == "cdf":
            stream = stream.where(F.col("_source_version") > reset_version)
        stream = freshness_observation(stream, name)
        # Quality counts reach the query progress only when observed on the streaming frame.
        if c.quality is not None:
            stream = c.quality.observe_stream(stream, f"bronze.{source}")
        if source == USAGE:
            # Price changes ride in the same query, so cost_daily has one writer and the
            # checkpoint covers both inputs.
            stream = stream.unionByName(price_touch_stream(c), allowMissingColumns=True)
        return with_batch_time(stream)

    trigger = ctx.settings.trigger
    return Flow(
        name=name, layer="bronze", source_label=ctx.tables.source(source).label,
        target_label=ctx.tables.silver(source).label, build_stream=build,
        # usage keeps cost_daily on the fast trigger; the others feed the slower gold
        trigger_seconds=None if source == USAGE else max(trigger.interval_seconds, trigger.source_interval_seconds),
        pool=COST_POOL if source == USAGE else SOURCES_POOL,
        on_batch=lambda c, df, info: ingest_batch(
            c, source, df, info, skip_seen=reset_version is not None and mode == "append" and info.batch_id == 0),
    )


def _wrap(ctx: PipelineContext, flow: Flow, app_id: str) -> Callable[[DataFrame, int], None]:
    def run(batch_df: DataFrame, batch_id: int) -> None:
        stop_gate(batch_df, flow.name, batch_id)  # once a stop was asked for, no batch starts its work
        started = datetime.now(timezone.utc)
        t0 = time.monotonic()
        info = BatchInfo(flow.name, batch_id, app_id, started)
        try:
            result = flow.on_batch(ctx, batch_df, info)
        except Exception as exc:
            if batch_ended_by_stop(exc):  # the stop's deadline cut it: not a failure, and quiet
                log.info("batch ended by the stop", query=flow.name, batch_id=batch_id, error=str(exc)[:300])
                raise BatchStopped(flow.name, batch_id, "cut at the stop deadline") from None
            op = operation_of(exc)
            log.error(
                "batch failed", query=flow.name, batch_id=batch_id, source=flow.source_label,
                target=(op.target if op and op.target else flow.target_label), **info.context,
                **(op.as_log() if op else {}), error_class=type(exc).__name__, error=str(exc)[:500],
            )
            ctx.ops.batch(query_name=flow.name, batch_id=batch_id, target=flow.target_label, started=started,
                          rows_in=0, rows_out=None, status="failed", error=exc, query_id=app_id)
            raise
        ctx.ops.batch(query_name=flow.name, batch_id=batch_id, target=flow.target_label, started=started,
                      rows_in=int(result.get("rows_in", 0)), rows_out=result.get("rows_out"), query_id=app_id)
        if ctx.telemetry is not None and result.get("rows_out"):
            # foreachBatch reports numOutputRows = -1: rows written come from the Delta commit.
            ctx.telemetry.record_batch_write(flow.name, flow.target_label, int(result["rows_out"]))
        log.debug("batch done", query=flow.name, batch_id=batch_id, seconds=round(time.monotonic() - t0, 3), **result)

    return run


def _start_in_pool(spark, writer, pool: str | None) -> StreamingQuery:
    """Start the query with `spark.scheduler.pool` set: the query's thread inherits the starting
    thread's local properties, so every job of its batches runs in that pool."""
    sc = spark.sparkContext
    before = sc.getLocalProperty(POOL_PROPERTY)
    if pool is not None:
        sc.setLocalProperty(POOL_PROPERTY, pool)
    try:
        return writer.start()
    finally:
        sc.setLocalProperty(POOL_PROPERTY, before)


def start_flow(ctx: PipelineContext, flow: Flow, *, available_now: bool) -> StreamingQuery:
    """Start `flow` as a streaming query with its checkpoint under the configured root."""
    if flow.prepare is not None:  # before the app id is read: prepare may start a new checkpoint
        flow.prepare(ctx)
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
        seconds = flow.trigger_seconds or ctx.settings.trigger.interval_seconds
        writer = writer.trigger(processingTime=f"{seconds} seconds")
    if ctx.telemetry is not None:
        ctx.telemetry.register_query(flow.name, layer=flow.layer, source=flow.source_label, target=flow.target_label)
    query = _start_in_pool(ctx.spark, writer, flow.pool)
    log.info("query started", query=flow.name, id=str(query.id), checkpoint=checkpoint)
    return query
