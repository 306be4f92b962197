"""The gold query: everything but cost_daily and the budgets, on its own (slower) trigger.

It reads the change feeds of the silver tables gold depends on and of cost_daily, works out the
scope a batch touched (dates, runs, renamed jobs and compute, hours, anomaly dates) and
recomputes exactly that from silver, then MERGEs it: job_run_daily, cluster_utilization_hourly,
idle_compute_daily, query_daily, cost_anomalies, and the current names on the cost tables after
a rename. Recompute is idempotent by construction and each MERGE also carries
txnAppId/txnVersion, so a replayed batch is skipped or repeats the same result — never a double
count. It also brings cost_by_job/tag/compute_daily and focus_costs up to silver by watermark
(gold/follow.py). cost_daily and the budgets are kept by the usage query (gold/hot.py), so this
query never delays the headline cost figure.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import TYPE_CHECKING

from streaming_obs.batch import GOLD_POOL, BatchInfo, Flow, freshness_observation, record_lineage
from streaming_obs.gold.checkpoint import replace_if_inputs_changed
from streaming_obs.gold.compute import GoldWriter
from streaming_obs.gold.hot import reconcile_touched
from streaming_obs.gold.follow import WM_MARK  # (importing gold.follow registers the "follow" step)
from streaming_obs.gold.touches import GOLD_INPUTS, gold_inputs, input_table, scope_of, touch_stream
from streaming_obs.logs import get_logger
from streaming_obs.ops.audit import write_audit
from streaming_obs.resilience.idempotency import idempotent_write, tagged_write
from streaming_obs.resilience.retry import retry_delta_conflicts

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from streaming_obs.context import PipelineContext

__all__ = ["gold_flow", "write_gold_batch", "fit_checkpoint", "GOLD_QUERY"]

log = get_logger(__name__)

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

        @contextmanager
        def tag(step: str):
            with tagged_write(session, info.txn_app(step), info.batch_id):
                yield

        # cost_daily is the usage query's (gold/hot.py); the other cost tables and focus_costs
        # this writer brings up to silver by watermark (`follow`), not by the batch's scope.
        writer = GoldWriter(session, ctx.tables, ctx.settings, txn=txn, cost_tables=(), focus=False, follow=True,
                            tag=tag)
        retry_delta_conflicts(lambda: writer.apply(scope), attempts=ctx.settings.resilience.write_retries,
                              what="gold recompute")
        total = 0
        # a follow-on table this batch's earlier attempt wrote (a replay after a kill) has the
        # batch's tag on its latest stamp, though the catch-up found nothing left to do
        mine = f"@{int(info.batch_id)} {WM_MARK}"
        earlier = [t for t, meta in writer.stamps.items() if meta and meta.startswith(f"{info.app_id}:") and mine in meta]
        for table in dict.fromkeys([*writer.merged, *earlier]):
            total += record_lineage(ctx, info, ctx.tables.gold(table), ", ".join(sorted(GOLD_INPUTS)), None, None,
                                    tagged=True)[1] or 0
        if writer.followed is not None:
            # the dates the catch-up moved; after a recompute of everything, those this batch
            # touched (a check of all history would re-read it every time it is due)
            dates, reached = writer.followed
            dates = dates if dates is not None else scope.usage_dates
            if dates:
                t0 = time.monotonic()
                reconcile_touched(ctx, session, sorted(dates), ctx.schedule.setdefault("reconcile_follow", [None]),
                                  follow=reached)
                writer.timings["reconcile"] = round(time.monotonic() - t0, 3)
        return {"rows_in": n, "rows_out": total, "steps": writer.timings}
    finally:
        touches.unpersist()


def fit_checkpoint(ctx: PipelineContext) -> str | None:
    """Start the gold query on a new checkpoint when its inputs changed since the old one was
    written (a release added an input, contract prices turned on or off): gold is then rebuilt
    from silver by the first batch. Returns where the old checkpoint went, or None."""
    inputs = [input_table(ctx.tables, name) for name in gold_inputs(ctx.settings)]
    old = replace_if_inputs_changed(ctx.spark, ctx.tables.checkpoint(GOLD_QUERY), inputs, GOLD_QUERY)
    if old is not None:
        write_audit(ctx.spark, ctx.tables, "gold_checkpoint_rebuilt",
                    {"query": GOLD_QUERY, "inputs": sorted(gold_inputs(ctx.settings)), "old_checkpoint": old})
    return old


def gold_flow(ctx: PipelineContext) -> Flow:
    """The gold streaming flow, on `trigger.gold_interval_seconds`."""

    def build(c: PipelineContext) -> DataFrame:
        return freshness_observation(touch_stream(c), GOLD_QUERY)

    return Flow(
        name=GOLD_QUERY, layer="gold", source_label=f"{ctx.settings.schemas.silver}.*",
        target_label=f"{ctx.settings.schemas.gold}.*", build_stream=build,
        on_batch=lambda c, df, info: write_gold_batch(c, df, info),
        trigger_seconds=ctx.settings.trigger.gold_interval_seconds, pool=GOLD_POOL,
        prepare=fit_checkpoint,
    )
