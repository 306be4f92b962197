"""source --readStream--> bronze.

Each batch gets `_ingest_time`, `_batch_id` and `_row_hash`, passes the bronze quality rules and
is appended with txnAppId/txnVersion, so a batch replayed after a crash is not written twice.
New source columns are merged into the bronze schema instead of stopping the stream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from streaming_obs.flows import BatchInfo, Flow, freshness_observation
from streaming_obs.ops.recorder import commit_info
from streaming_obs.resilience.reset import reset_marker
from streaming_obs.resilience.retry import retry_delta_conflicts
from streaming_obs.sources.readers import SOURCE_META_COLUMNS, read_source_stream
from streaming_obs.sources.snapshot import row_hash

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from streaming_obs.context import PipelineContext

__all__ = ["bronze_flow", "write_bronze_batch", "apply_quality", "finish_batch"]

_BRONZE_META = ("_ingest_time", "_batch_id", "_row_hash")


def apply_quality(ctx: PipelineContext, df: DataFrame, table: str, info: BatchInfo, lookups=None):
    """Run the quality rules of `table` on a persisted batch; returns (kept df, outcome or None)."""
    if ctx.quality is None:
        return df, None
    outcome = ctx.quality.apply(df, table=table, batch_id=info.batch_id, query_name=info.query_name,
                                lookups=lookups or {})
    return outcome.kept, outcome


def finish_batch(ctx: PipelineContext, info: BatchInfo, ref, source_label: str, outcome, meta) -> dict:
    """After a batch's data write: quality records (exactly once, txn ids), lineage from the
    Delta commit, and the counts for the batch-run record. `meta` holds n, lo, hi."""
    if outcome is not None:
        ctx.quality.write(outcome, ctx.spark, ctx.tables, txn_version=info.batch_id,
                          txn_app_id=info.txn_app("quality"))
    version, rows, op = commit_info(ctx.spark, ref)
    ctx.ops.lineage(query_name=info.query_name, batch_id=info.batch_id, target=ref.label, target_version=version,
                    source=source_label, start_version=meta["lo"], end_version=meta["hi"], operation=op, rows=rows)
    return {"rows_in": int(meta["n"]), "rows_out": rows}


def write_bronze_batch(ctx: PipelineContext, source: str, batch_df: DataFrame, info: BatchInfo,
                       *, skip_seen: bool = False) -> dict:
    """Append one batch of source rows to bronze, exactly once. Returns counts for ops records.

    `skip_seen` drops rows whose hash bronze already holds (the first batch after a checkpoint
    reset, which re-reads the version the reset took its snapshot from).
    """
    ref = ctx.tables.bronze(source)
    src_cols = [c for c in batch_df.columns if c not in SOURCE_META_COLUMNS and c not in _BRONZE_META]
    df = batch_df
    if "_row_hash" not in df.columns:
        df = df.withColumn("_row_hash", row_hash(df, src_cols))
    df = df.withColumn("_ingest_time", F.current_timestamp()).withColumn("_batch_id", F.lit(info.batch_id).cast("bigint"))
    if skip_seen and ref.exists(ctx.spark):
        seen = ref.read(ctx.spark).select("_row_hash").where(F.col("_row_hash").isNotNull())
        df = df.join(seen, "_row_hash", "left_anti")
    df = df.persist()
    try:
        meta = df.agg(
            F.count(F.lit(1)).alias("n"), F.min("_source_version").alias("lo"), F.max("_source_version").alias("hi")
        ).head()
        if meta["n"] == 0:
            return {"rows_in": 0, "rows_out": 0}
        info.context["source_versions"] = f"{meta['lo']}..{meta['hi']}"
        kept, outcome = apply_quality(ctx, df, f"bronze.{source}", info)
        retry_delta_conflicts(
            lambda: ref.append(kept, txnAppId=info.txn_app("bronze"), txnVersion=str(info.batch_id), mergeSchema="true"),
            attempts=ctx.settings.resilience.write_retries, what=f"append {ref.label}",
        )
        return finish_batch(ctx, info, ref, ctx.tables.source(source).label, outcome, meta)
    finally:
        df.unpersist()


def bronze_flow(ctx: PipelineContext, source: str) -> Flow:
    """The source→bronze streaming flow of one `cdf`/`append` source."""
    name = f"bronze_{source}"
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
        return c.quality.observe_stream(stream, f"bronze.{source}") if c.quality is not None else stream

    return Flow(
        name=name, layer="bronze", source_label=ctx.tables.source(source).label,
        target_label=ctx.tables.bronze(source).label, build_stream=build,
        on_batch=lambda c, df, info: write_bronze_batch(
            c, source, df, info, skip_seen=reset_version is not None and mode == "append" and info.batch_id == 0),
    )
