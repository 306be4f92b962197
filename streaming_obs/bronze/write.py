"""Bronze: the raw, append-only history of every source row, with ingest metadata.

Each batch gets `_ingest_time`, `_batch_id` and `_row_hash`, passes the bronze quality rules and
is appended with txnAppId/txnVersion, so a batch replayed after a crash is not written twice.
New source columns are merged into the bronze schema instead of stopping the stream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from streaming_obs.resilience.retry import retry_delta_conflicts
from streaming_obs.sources.readers import SOURCE_META_COLUMNS
from streaming_obs.sources.snapshot import row_hash

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from streaming_obs.batch import BatchInfo
    from streaming_obs.context import PipelineContext

__all__ = ["prepare_bronze", "append_bronze", "BRONZE_META"]

#: columns bronze adds to the source's own
BRONZE_META = ("_ingest_time", "_batch_id", "_row_hash")


def prepare_bronze(ctx: PipelineContext, source: str, batch_df: DataFrame, info: BatchInfo, *,
                   skip_seen: bool = False, ride_along: tuple[str, ...] = ()) -> DataFrame:
    """Source rows → bronze-shaped rows (ingest metadata added; not yet persisted).

    `skip_seen` drops rows whose hash bronze already holds (the first batch after a checkpoint
    reset, which re-reads the version the reset took its snapshot from). `ride_along` names
    columns that travel in the batch but are not the source's (not part of the row hash).
    """
    ref = ctx.tables.bronze(source)
    src_cols = [c for c in batch_df.columns
                if c not in SOURCE_META_COLUMNS and c not in BRONZE_META and not c.startswith("_batch_ts")
                and c not in ride_along]
    df = batch_df
    if "_row_hash" not in df.columns:
        df = df.withColumn("_row_hash", row_hash(df, src_cols))
    df = df.withColumn("_ingest_time", F.current_timestamp()).withColumn("_batch_id", F.lit(info.batch_id).cast("bigint"))
    if skip_seen and ref.exists(ctx.spark):
        seen = ref.read(ctx.spark).select("_row_hash").where(F.col("_row_hash").isNotNull())
        df = df.join(seen, "_row_hash", "left_anti")
    return df


def append_bronze(ctx: PipelineContext, source: str, kept: DataFrame, info: BatchInfo) -> None:
    """Append the rows that passed bronze's rules, exactly once per batch."""
    ref = ctx.tables.bronze(source)
    retry_delta_conflicts(
        lambda: ref.append(kept, txnAppId=info.txn_app("bronze"), txnVersion=str(info.batch_id), mergeSchema="true"),
        attempts=ctx.settings.resilience.write_retries, what=f"append {ref.label}",
    )
