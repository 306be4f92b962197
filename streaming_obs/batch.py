"""What every batch function shares, below the layers: the batch's identity and time, the
flow description, quality on a persisted batch and lineage from the commit just made.

Layers (bronze, silver, gold) import this module and never each other; `flows.py` composes
them into streaming queries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from streaming_obs.observations import FRESHNESS_FIELD, FRESHNESS_ROWS, freshness_name
from streaming_obs.ops.recorder import commit_info, tagged_commit_info

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from streaming_obs.context import PipelineContext

__all__ = ["BatchInfo", "Flow", "BATCH_TS", "COST_POOL", "SOURCES_POOL", "GOLD_POOL", "freshness_observation", "with_batch_time", "apply_quality",
           "record_lineage", "batch_now"]

#: Spark scheduler pools of the queries (streaming_obs/fairscheduler.xml)
COST_POOL, SOURCES_POOL, GOLD_POOL = "cost", "sources", "gold"

#: column carrying the micro-batch's timestamp (fixed in the offset log, the same on replay)
BATCH_TS = "_batch_ts"


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


#: batch function: (ctx, batch_df, info) -> counts for the batch-run record (rows_in, rows_out)
BatchFn = Callable[["PipelineContext", "DataFrame", BatchInfo], dict]


@dataclass
class Flow:
    """A streaming query to start: name, layer, the stream and what to do with each batch.

    `trigger_seconds` overrides the pipeline's trigger (the slower gold query uses its own);
    `pool` is the Spark scheduler pool its jobs run in (fairscheduler.xml).
    """

    name: str
    layer: str
    source_label: str
    target_label: str
    build_stream: Callable[[PipelineContext], DataFrame]
    on_batch: BatchFn
    trigger_seconds: float | None = None
    pool: str | None = None
    #: run before the query (re)starts, before its checkpoint is opened (the gold query checks
    #: that its checkpoint still fits its inputs: gold/checkpoint.py)
    prepare: Callable[[PipelineContext], None] | None = None


def freshness_observation(df: DataFrame, query_name: str) -> DataFrame:
    """Attach the named observation the telemetry listener reads: newest source commit time and
    row count of each batch, computed in the batch's own pass (no extra action)."""
    return df.observe(
        freshness_name(query_name),
        F.max("_source_commit_ts").alias(FRESHNESS_FIELD),
        F.count(F.lit(1)).alias(FRESHNESS_ROWS),
    )


def with_batch_time(stream: DataFrame) -> DataFrame:
    """Add `_batch_ts`: in a micro-batch `current_timestamp()` is the batch's timestamp, which
    Spark writes to the offset log before the batch runs, so a replayed batch sees the same
    value and every time-dependent decision (quality freshness rules) comes out the same."""
    return stream.withColumn(BATCH_TS, F.current_timestamp())


def batch_now(value: datetime | None) -> datetime:
    """The batch time from `_batch_ts` (UTC), or now for frames that carry none (snapshot polls)."""
    if value is None:
        return datetime.now(timezone.utc)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def apply_quality(ctx: PipelineContext, df: DataFrame, table: str, info: BatchInfo, lookups=None, now=None):
    """Run the quality rules of `table` on a persisted batch; returns (kept df, outcome or None)."""
    if ctx.quality is None:
        return df, None
    outcome = ctx.quality.apply(df, table=table, batch_id=info.batch_id, query_name=info.query_name,
                                lookups=lookups or {}, now=now)
    if ctx.settings.governance.mask_pii:
        # quarantine keeps the raw row: it gets the same pseudonyms silver does
        from streaming_obs.silver.masking import mask_raw_rows

        outcome.quarantine = mask_raw_rows(outcome.quarantine, df.schema, ctx.settings)
    return outcome.kept, outcome


def record_lineage(ctx: PipelineContext, info: BatchInfo, ref, source_label: str, lo, hi,
                   *, tagged: bool = False) -> tuple[int | None, int]:
    """Buffer the lineage record of the commit just made to `ref`; returns (version, rows written).

    `tagged`: `ref` is a table other queries write too (the cost tables): the record is of this
    batch's own commits there, found by their commit tag (`idempotent_write`), and there is none
    when the batch wrote nothing to `ref`.
    """
    if tagged:
        version, rows, op = tagged_commit_info(ctx.spark, ref, f"{info.app_id}:", f"@{int(info.batch_id)}")
        if version is None:
            return None, 0
    else:
        version, rows, op = commit_info(ctx.spark, ref)
    ctx.ops.lineage(query_name=info.query_name, batch_id=info.batch_id, target=ref.label, target_version=version,
                    source=source_label, start_version=lo, end_version=hi, operation=op, rows=rows)
    return version, rows or 0
