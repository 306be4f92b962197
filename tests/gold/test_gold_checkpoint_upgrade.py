"""Upgrade path: a gold checkpoint written before job_task_run_timeline was a gold input (nine
sources) must start cleanly with the ten-input gold query, and gold must come out as a
recompute from silver (real Spark streams and Delta)."""

from __future__ import annotations

import glob
import os
import shutil
from dataclasses import replace
from datetime import datetime, timezone

import pytest
from pyspark.errors import StreamingQueryException

from streaming_obs.bootstrap import ddl_statements
from streaming_obs.context import PipelineContext
from streaming_obs.flows import BatchInfo, start_flow
from streaming_obs.gold import recompute_all
from streaming_obs.gold.checkpoint import checkpoint_table_ids
from streaming_obs.gold.flow import GOLD_QUERY, fit_checkpoint, gold_flow, write_gold_batch
from streaming_obs.gold.touches import gold_inputs, input_table
from streaming_obs.resilience.idempotency import checkpoint_app_id
from streaming_obs.sources.readers import read_cdf_stream
from tests.compare import assert_same_gold
from tests.warehouse import create_tables
from tests.gold.test_incremental_property import with_reference_gold
from tests.gold.test_job_run_cost import FIRST, SECOND, T0, _ingest

NEW_INPUT = "job_task_run_timeline"


def _old_gold_checkpoint(ctx, spark) -> None:
    """Run the gold query as it was before this release: every input but the task timeline, in
    the same order, on the gold checkpoint."""
    checkpoint = ctx.tables.checkpoint(GOLD_QUERY)
    app_id = checkpoint_app_id(checkpoint, GOLD_QUERY)
    stream = None
    for name, projection in gold_inputs(ctx.settings).items():
        if name == NEW_INPUT:
            continue
        part = read_cdf_stream(spark, input_table(ctx.tables, name), starting_version=0, keep_preimage=True)
        part = part.select(*projection())
        stream = part if stream is None else stream.unionByName(part)
    query = (stream.writeStream.option("checkpointLocation", checkpoint).trigger(availableNow=True)
             .foreachBatch(lambda df, n: write_gold_batch(ctx, df, BatchInfo(GOLD_QUERY, n, app_id,
                                                                             datetime.now(timezone.utc))))
             .start())
    try:
        query.awaitTermination()
    finally:
        query.stop()


def test_a_gold_checkpoint_from_before_the_new_input_starts_cleanly(spark, make_settings):
    settings = make_settings(quality={"enabled": False})
    tables, ref_settings, ref_tables = with_reference_gold(spark, settings)
    create_tables(spark, ddl_statements(tables), settings.storage.warehouse)  # the ops tables too: the rebuild is audited
    ctx = PipelineContext.create(spark, settings, "upgrade")
    _ingest(ctx, spark, FIRST, 1)
    _old_gold_checkpoint(ctx, spark)
    checkpoint = tables.checkpoint(GOLD_QUERY)
    assert len(checkpoint_table_ids(checkpoint)) == len(gold_inputs(settings)) - 1
    old_app_id = checkpoint_app_id(checkpoint, GOLD_QUERY)
    _ingest(ctx, spark, SECOND, 2)

    # Without the check, Spark refuses the old checkpoint (on a copy, so the real one stays old).
    copy = make_settings(quality={"enabled": False}, storage={"warehouse": settings.storage.warehouse,
                                                              "checkpoints": settings.storage.checkpoints + "_copy"})
    shutil.copytree(os.path.dirname(checkpoint), copy.storage.checkpoints)
    copy_ctx = PipelineContext.create(spark, copy, "upgrade-copy")
    unguarded = replace(gold_flow(copy_ctx), prepare=None)
    query = start_flow(copy_ctx, unguarded, available_now=True)
    with pytest.raises(StreamingQueryException, match="sources"):
        query.awaitTermination()

    query = start_flow(ctx, gold_flow(ctx), available_now=True)
    try:
        query.awaitTermination()
        assert query.exception() is None
    finally:
        query.stop()
    (moved,) = glob.glob(checkpoint.rstrip("/") + ".inputs-*")
    assert len(checkpoint_table_ids(moved)) == len(gold_inputs(settings)) - 1
    assert len(checkpoint_table_ids(checkpoint)) == len(gold_inputs(settings))
    assert checkpoint_app_id(checkpoint, GOLD_QUERY) != old_app_id  # no write taken for a replay
    assert fit_checkpoint(ctx) is None  # the next start keeps the new checkpoint
    audit = tables.ops("audit").read(spark).where("event = 'gold_checkpoint_rebuilt'").collect()
    assert len(audit) == 1 and moved in audit[0]["details"]

    recompute_all(spark, ref_tables, ref_settings)
    costs = tables.gold("job_run_cost").read(spark)
    assert costs.where("allocated").count() == 3
    assert_same_gold(spark, tables, ref_tables, ("job_run_cost", "job_run_daily", "cost_by_compute_daily"),
                     non_empty=True)
