"""Batch-run, lineage and quality-result records survive a crash: a batch's records are journaled before the
batch commits, and the next run's flush appends them once (issue 14, crash campaign)."""

from __future__ import annotations

import os
from datetime import datetime, timezone

from streaming_obs.bootstrap import ddl_statements
from streaming_obs.ops.recorder import JOURNAL_DIR, OpsRecorder
from streaming_obs.tables import Tables

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _batch(rec: OpsRecorder, batch_id: int, *, version: int, status: str = "ok", at: datetime = T0) -> None:
    """What one batch of `bronze_jobs` reports: its quality results (`at`: the batch's time),
    the lineage of its write, then itself."""
    rec.quality([(at, "bronze_jobs", batch_id, "bronze.jobs", rule, "warn", 3, 0, 3, 3, 0, 0, 1.0)
                 for rule in ("job_id_present", "*")])
    rec.lineage(query_name="bronze_jobs", batch_id=batch_id, target="plt_bronze.jobs", target_version=version,
                source="system.lakeflow.jobs", start_version=batch_id, end_version=batch_id, operation="WRITE", rows=3)
    rec.batch(query_name="bronze_jobs", batch_id=batch_id, target="plt_silver.jobs", started=T0, rows_in=3,
              rows_out=3, status=status, error=RuntimeError("boom") if status != "ok" else None, query_id="q:1")


def test_records_of_committed_batches_survive_a_crash_and_a_replay_adds_nothing(spark, make_settings):
    settings = make_settings()
    tables = Tables(settings)
    for stmt in ddl_statements(tables):
        if any(tables.ops(n).ident in stmt for n in ("batch_runs", "lineage", "quality_results")):
            spark.sql(stmt)

    crashed = OpsRecorder(tables, "run1")
    _batch(crashed, 0, version=1)
    _batch(crashed, 1, version=2)  # committed; then the process dies before any flush
    journal = os.path.join(settings.storage.checkpoints, JOURNAL_DIR)
    assert len(os.listdir(journal)) == 2 and crashed.pending() == 8
    assert oct(os.stat(journal).st_mode & 0o777) == "0o700"

    restarted = OpsRecorder(tables, "run2")
    _batch(restarted, 1, version=2)  # batch 1 journaled but not committed by Spark: replayed
    _batch(restarted, 2, version=3, status="failed")  # a failed attempt, then its retry
    _batch(restarted, 2, version=3)
    assert restarted.flush(spark) > 0
    assert os.listdir(journal) == [] and restarted.pending() == 0
    assert restarted.flush(spark) == 0

    runs = tables.ops("batch_runs").read(spark)
    ok = sorted((r.batch_id, r.run_id) for r in runs.where("status = 'ok'").collect())
    assert ok == [(0, "run1"), (1, "run1"), (2, "run2")]  # the first report of a batch wins
    assert runs.where("status = 'failed'").count() == 1
    lineage = sorted((r.batch_id, r.target_version) for r in tables.ops("lineage").read(spark).collect())
    assert lineage == [(0, 1), (1, 2), (2, 3)]
    results = tables.ops("quality_results").read(spark)
    assert sorted((r.batch_id, r.rule) for r in results.collect()) == [
        (b, rule) for b in (0, 1, 2) for rule in ("*", "job_id_present")]  # once each, replay or not

    _batch(restarted, 1, version=2)  # a replay reported after the flush: the MERGE skips it
    restarted.flush(spark)
    assert tables.ops("batch_runs").read(spark).where("status = 'ok'").count() == 3
    assert tables.ops("quality_results").read(spark).count() == 6

    # after a checkpoint reset batch ids start again, at a new batch time: a record of its own
    _batch(OpsRecorder(tables, "run3"), 0, version=4, at=datetime(2026, 1, 3, tzinfo=timezone.utc))
    reset = OpsRecorder(tables, "run3")
    assert reset.flush(spark) > 0
    assert tables.ops("quality_results").read(spark).where("batch_id = 0").count() == 4


def test_without_a_local_checkpoint_root_records_wait_in_memory(make_settings, tmp_path):
    rec = OpsRecorder(Tables(make_settings(storage={"checkpoints": "s3://bucket/ck"})), "run")
    assert rec.journal is None
    _batch(rec, 0, version=1)
    assert rec.pending() == 4

    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    rec = OpsRecorder(Tables(make_settings(storage={"checkpoints": str(blocked)})), "run")
    _batch(rec, 0, version=1)  # the journal cannot be written: the batch goes on, records kept
    assert rec.pending() == 4


def test_lineage_of_a_shared_table_is_the_batch_own_commits_not_the_latest(spark, tmp_path):
    """The cost tables take commits from two queries (the usage query adds, the gold query
    renames): a batch's lineage is found by its commit tag, not as the table's latest commit."""
    from streaming_obs.ops.recorder import tagged_commit_info
    from streaming_obs.resilience.idempotency import idempotent_write
    from streaming_obs.tables import TableRef

    path = str(tmp_path / "shared")
    ref = TableRef("gold", "shared", f"delta.`{path}`", path)
    rows = lambda n: spark.range(n).selectExpr("id AS k")  # noqa: E731
    with idempotent_write(spark, "app1:shared:add", 7):
        rows(3).write.format("delta").mode("append").save(path)
    with idempotent_write(spark, "app1:shared:names", 7):
        rows(2).write.format("delta").mode("append").save(path)
    rows(5).write.format("delta").mode("append").save(path)  # another query, after
    assert spark.conf.get("spark.databricks.delta.commitInfo.userMetadata", None) is None  # unset after
    assert tagged_commit_info(spark, ref, "app1:", "@7") == (1, 5, "WRITE")  # both of batch 7's, not version 2
    assert tagged_commit_info(spark, ref, "app1:", "@8") == (None, None, None)  # batch 8 wrote nothing here
    assert tagged_commit_info(spark, ref, "app2:", "@7") == (None, None, None)
