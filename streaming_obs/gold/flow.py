"""silver --CDF--> gold: one query over the change feeds of every silver table gold reads.

Each batch works out the scope it touched (dates, runs, renamed jobs and compute, hours) and
recomputes exactly that from silver, then MERGEs it. Recompute is idempotent by construction and
each MERGE also carries txnAppId/txnVersion, so a replayed batch is skipped or repeats the same
result — never a double count.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING


from streaming_obs.flows import BatchInfo, Flow, freshness_observation
from streaming_obs.gold.compute import GoldWriter
from streaming_obs.gold.touches import GOLD_INPUTS, scope_of, touch_stream
from streaming_obs.ops.recorder import commit_info
from streaming_obs.resilience.idempotency import idempotent_write
from streaming_obs.resilience.retry import retry_delta_conflicts

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from streaming_obs.context import PipelineContext

__all__ = ["gold_flow", "write_gold_batch", "GOLD_QUERY"]

GOLD_QUERY = "gold"


def write_gold_batch(ctx: PipelineContext, batch_df: DataFrame, info: BatchInfo) -> dict:
    """Recompute and merge what one batch of silver changes touched."""
    session = batch_df.sparkSession
    touches = batch_df.persist()
    try:
        n = touches.count()
        if n == 0:
            return {"rows_in": 0, "rows_out": 0}
        scope = scope_of(touches, ctx)

        @contextmanager
        def txn(step: str):
            with idempotent_write(session, info.txn_app(step), info.batch_id):
                yield

        writer = GoldWriter(session, ctx.tables, ctx.settings, txn=txn)
        retry_delta_conflicts(lambda: writer.apply(scope), attempts=ctx.settings.resilience.write_retries,
                              what="gold recompute")
        total = 0
        for table in writer.merged:
            ref = ctx.tables.gold(table)
            version, rows, op = commit_info(session, ref)
            total += rows or 0
            ctx.ops.lineage(query_name=info.query_name, batch_id=info.batch_id, target=ref.label,
                            target_version=version, source=", ".join(sorted(GOLD_INPUTS)), start_version=None,
                            end_version=None, operation=op, rows=rows)
        return {"rows_in": n, "rows_out": total}
    finally:
        touches.unpersist()


def gold_flow(ctx: PipelineContext) -> Flow:
    """The silver→gold streaming flow."""

    def build(c: PipelineContext) -> DataFrame:
        return freshness_observation(touch_stream(c), GOLD_QUERY)

    return Flow(
        name=GOLD_QUERY, layer="gold", source_label=f"{ctx.settings.schemas.silver}.*",
        target_label=f"{ctx.settings.schemas.gold}.*", build_stream=build,
        on_batch=lambda c, df, info: write_gold_batch(c, df, info),
    )
