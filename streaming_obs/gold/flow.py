"""The gold query: everything except cost_daily, on its own (slower) trigger.

It reads the change feeds of the silver tables gold depends on and of cost_daily, works out the
scope a batch touched (dates, runs, renamed jobs and compute, hours, anomaly dates) and
recomputes exactly that from silver, then MERGEs it. Recompute is idempotent by construction and
each MERGE also carries txnAppId/txnVersion, so a replayed batch is skipped or repeats the same
result — never a double count. cost_daily is kept by the usage query (gold/hot.py), so this
query never delays the headline number.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

from streaming_obs.batch import GOLD_POOL, BatchInfo, Flow, freshness_observation, record_lineage
from streaming_obs.gold.checkpoint import replace_if_inputs_changed
from streaming_obs.gold.compute import COST_TABLES, GoldWriter
from streaming_obs.gold.hot import HOT_TABLE
from streaming_obs.gold.reconcile import silver_versions, stream_check
from streaming_obs.gold.touches import GOLD_INPUTS, gold_inputs, input_table, scope_of, touch_stream
from streaming_obs.logs import get_logger
from streaming_obs.ops.audit import write_audit
from streaming_obs.resilience.idempotency import idempotent_write
from streaming_obs.resilience.retry import retry_delta_conflicts

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from streaming_obs.context import PipelineContext

__all__ = ["gold_flow", "write_gold_batch", "fit_checkpoint", "GOLD_QUERY", "GOLD_COST_TABLES"]

log = get_logger(__name__)

GOLD_QUERY = "gold"
#: the cost tables the gold query keeps (cost_daily is the usage query's)
GOLD_COST_TABLES = tuple(t for t in COST_TABLES if t != HOT_TABLE)


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

        # The batch reads usage and prices at the versions of now (changes after come as touches
        # of a later batch), so the reconciliation below compares like with like.
        pins = silver_versions(session, ctx.tables) if scope.usage_dates else {}
        writer = GoldWriter(session, ctx.tables, ctx.settings, txn=txn, cost_tables=GOLD_COST_TABLES, pins=pins)
        retry_delta_conflicts(lambda: writer.apply(scope), attempts=ctx.settings.resilience.write_retries,
                              what="gold recompute")
        if scope.usage_dates and ctx.settings.cost.reconcile.in_stream:
            _reconcile_touched(ctx, session, scope.usage_dates, pins)
        total = 0
        for table in writer.merged:
            total += record_lineage(ctx, info, ctx.tables.gold(table), ", ".join(sorted(GOLD_INPUTS)), None, None)[1]
        return {"rows_in": n, "rows_out": total}
    finally:
        touches.unpersist()


def _reconcile_touched(ctx: PipelineContext, session, dates, pins: dict[str, int]) -> None:
    """The reconciliation identities on the dates the batch touched, exported as gauges.

    A failed check is logged and never fails the batch: the gauges keep their last values.
    """
    try:
        report = stream_check(session, ctx.tables, ctx.settings, dates, pins, ctx.settings.cost.reconcile.tolerance)
    except Exception as exc:  # noqa: BLE001 - a check must not stop gold
        log.warning("reconciliation check failed", error_class=type(exc).__name__, error=str(exc)[:300])
        return
    if ctx.telemetry is not None:
        ctx.telemetry.record_reconciliation(report.max_difference)
    if not report.ok:
        first = report.differences[0]
        log.warning("reconciliation differences", count=len(report.differences), table=first["table"],
                    check=first["check"], usage_date=first["usage_date"], workspace_id=first["workspace_id"],
                    currency_code=first["currency_code"], measure=first["measure"], difference=first["difference"])


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
