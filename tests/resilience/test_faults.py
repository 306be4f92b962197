"""Faults injected into real Spark and real Delta: each heals by itself, or stops with a message
that says what to do and leaves nothing half-written.

The flows run under the real supervisor, one or two queries at a time, on tables of a few rows:
the point is the failure path, not volume. One warehouse serves the module; each test streams a
different source so they do not see each other's rows.
"""

from __future__ import annotations

import logging
import os
import time
from decimal import Decimal

import pytest
from delta.exceptions import ConcurrentAppendException
from delta.tables import DeltaMergeBuilder
from pyspark.sql import functions as F

from streaming_obs.errors import CheckpointError, PipelineError, StorageError
from streaming_obs.flows import source_flow, start_flow
from streaming_obs.logs import configure_logging
from streaming_obs.resilience.reset import reset_bronze_flow
from streaming_obs.resilience.supervisor import Supervisor
from streaming_obs.runner import build_context, run
from streaming_obs.sources.schemas import system_schema
from tests.sourcerows import row, ts, usage, write_source

FAST_RESTARTS = {"backoff_initial_seconds": 0.2, "backoff_max_seconds": 1, "max_restarts": 3}


@pytest.fixture(scope="module")
def pipe(spark, tmp_path_factory):
    """One bootstrapped warehouse (quality off: the failure paths are the subject here)."""
    from streaming_obs.config import load_settings
    from tests.conftest import TEST_SPARK

    tmp = tmp_path_factory.mktemp("faults")
    settings = load_settings("local", environ={}, overrides={
        "spark": TEST_SPARK,
        "storage": {"warehouse": str(tmp / "wh"), "checkpoints": str(tmp / "ckpt")},
        "simulator": {"root": str(tmp / "system")},
        "trigger": {"interval_seconds": 1},
        "quality": {"enabled": False},
        "resilience": FAST_RESTARTS,
        "telemetry": {"prometheus": {"enabled": False}},
    })
    return build_context(spark, settings, telemetry=False)


def _supervise(ctx, flows, *, available_now: bool) -> Supervisor:
    sup = Supervisor(ctx, lambda f: start_flow(ctx, f, available_now=available_now))
    sup.launch(flows)
    return sup


def _until(sup: Supervisor, cond, timeout: float = 300, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sup.check()
        if cond():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; restarts {[(n, w.restarts) for n, w in sup.watched.items()]}")


def _drain(ctx, flows) -> Supervisor:
    """Run `flows` with trigger availableNow until each has processed what is there."""
    sup = _supervise(ctx, flows, available_now=True)
    try:
        _until(sup, sup.all_done, what="available-now flows to finish")
    finally:
        sup.stop_all(30)
    return sup


def _node(inst: str, minute: int) -> dict:
    return row("node_timeline", account_id="acc", workspace_id="w1", cluster_id="c1", instance_id=inst,
               start_time=ts(f"2026-01-02 10:{minute:02d}"), end_time=ts(f"2026-01-02 10:{minute + 1:02d}"),
               driver=False, cpu_user_percent=10.0, cpu_system_percent=1.0,
               mem_used_percent=50.0)


def _job(job_id: str, name: str, change: str) -> dict:
    return row("jobs", account_id="acc", workspace_id="w1", job_id=job_id, name=name, change_time=ts(change))


def _fail_first_merge(monkeypatch, *, before_commit: bool, error: Exception) -> list[int]:
    """Make the process's next Delta MERGE fail once, before or after it commits; count calls."""
    calls: list[int] = []
    execute = DeltaMergeBuilder.execute

    def faulty(self):
        calls.append(1)
        if before_commit and len(calls) == 1:
            raise error
        out = execute(self)
        if not before_commit and len(calls) == 1:
            raise error
        return out

    monkeypatch.setattr(DeltaMergeBuilder, "execute", faulty)
    return calls


def _merges(spark, ref) -> int:
    return ref.delta(spark).history().where(F.col("operation") == "MERGE").count()


def test_a_new_source_column_mid_stream_reaches_bronze_and_silver(spark, pipe):
    ctx = pipe
    write_source(spark, ctx.settings, "billing_usage", [usage("nc-1", "w1", "JOBS", "2026-01-02 10:00", "1.0")])
    bronze, silver = ctx.tables.bronze("billing_usage"), ctx.tables.silver("billing_usage")
    sup = _supervise(ctx, [source_flow(ctx, "billing_usage")], available_now=False)
    try:
        _until(sup, lambda: silver.read(spark).count() == 1, what="the first row in silver")
        # While both queries run, the source gains a column (as Databricks adds them to system tables).
        new = (spark.createDataFrame([usage("nc-2", "w1", "JOBS", "2026-01-02 11:00", "2.0")],
                                     system_schema("billing_usage"))
               .withColumn("carbon_grams", F.lit(Decimal("12.5")).cast("decimal(18,2)")))
        new.write.format("delta").mode("append").option("mergeSchema", "true").save(ctx.tables.source("billing_usage").path)
        _until(sup, lambda: "carbon_grams" in silver.read(spark).columns and silver.read(spark).count() == 2,
               what="the new column and row in silver")
    finally:
        sup.stop_all(30)
    got = {r["record_id"]: r["carbon_grams"] for r in bronze.read(spark).collect()}
    assert got == {"nc-1": None, "nc-2": Decimal("12.50")}
    got = {r["record_id"]: r["carbon_grams"] for r in silver.read(spark).collect()}
    assert got == {"nc-1": None, "nc-2": Decimal("12.50")}


def test_a_source_vacuumed_behind_the_checkpoint_stops_with_the_recovery_then_resets(spark, pipe):
    ctx = pipe
    source = ctx.tables.source("node_timeline")
    write_source(spark, ctx.settings, "node_timeline", [_node("i1", 0), _node("i1", 1)])
    _drain(ctx, [source_flow(ctx, "node_timeline")])
    write_source(spark, ctx.settings, "node_timeline", [_node("i1", 2)])
    # Compaction rewrites both appends into one file; VACUUM then deletes the files of the version
    # the checkpoint has not read yet (retention 0 only to make the test fast).
    spark.sql(f"OPTIMIZE delta.`{source.path}`")
    spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    try:
        spark.sql(f"VACUUM delta.`{source.path}` RETAIN 0 HOURS")
    finally:
        spark.conf.unset("spark.databricks.delta.retentionDurationCheck.enabled")

    with pytest.raises(PipelineError) as failed:
        _drain(ctx, [source_flow(ctx, "node_timeline")])
    message = str(failed.value)
    assert "bronze_node_timeline" in message and "VACUUM" in message
    assert "streaming-obs reset-checkpoint node_timeline" in message and "troubleshooting" in message

    report = reset_bronze_flow(spark, ctx.settings, "node_timeline")
    assert report.backfilled_rows == 1 and report.old_checkpoint and os.path.isdir(report.old_checkpoint)
    write_source(spark, ctx.settings, "node_timeline", [_node("i1", 3)])
    _drain(ctx, [source_flow(ctx, "node_timeline")])
    minutes = sorted(r["start_time"].minute for r in ctx.tables.bronze("node_timeline").read(spark).collect())
    assert minutes == [0, 1, 2, 3]  # every source row exactly once: none lost, none written twice


def test_a_transient_merge_failure_is_retried_and_commits_once(spark, pipe, monkeypatch):
    ctx = pipe
    write_source(spark, ctx.settings, "jobs", [_job("j1", "etl", "2026-01-01 09:00"), _job("j2", "bi", "2026-01-01 09:00")])
    silver = ctx.tables.silver("jobs")
    merges_before = _merges(spark, silver)
    # a real Delta conflict class, raised once before the commit
    calls = _fail_first_merge(monkeypatch, before_commit=True,
                              error=ConcurrentAppendException(message="injected: files were added by a concurrent update"))
    sup = _drain(ctx, [source_flow(ctx, "jobs")])
    assert len(calls) == 2 and sup.watched["bronze_jobs"].restarts == 0  # healed inside the batch
    assert _merges(spark, silver) == merges_before + 1
    assert sorted((r["job_id"], r["name"]) for r in silver.read(spark).collect()) == [("j1", "etl"), ("j2", "bi")]


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, dict):
            self.events.append(record.msg)


def test_a_failure_after_the_commit_restarts_and_the_replay_writes_nothing_twice(spark, pipe, monkeypatch):
    ctx = pipe
    write_source(spark, ctx.settings, "jobs", [_job("j1", "etl-renamed", "2026-01-03 09:00")])
    silver, bronze = ctx.tables.silver("jobs"), ctx.tables.bronze("jobs")
    bronze_rows = bronze.read(spark).count()
    merges_before = _merges(spark, silver)
    # the MERGE commits, then the batch fails before Spark marks it done
    calls = _fail_first_merge(monkeypatch, before_commit=False,
                              error=RuntimeError("injected failure after the MERGE committed"))
    configure_logging("INFO", json_format=True)
    records = _Records()
    logging.getLogger("streaming_obs.flows").addHandler(records)
    try:
        sup = _drain(ctx, [source_flow(ctx, "jobs")])
    finally:
        logging.getLogger("streaming_obs.flows").removeHandler(records)
    assert sup.watched["bronze_jobs"].restarts == 1 and len(calls) == 2
    assert _merges(spark, silver) == merges_before + 1  # the replay's MERGE was skipped by its txn id
    assert bronze.read(spark).count() == bronze_rows + 1  # and so was its bronze append
    history = sorted((r["name"], r["_is_current"]) for r in silver.read(spark).where("job_id = 'j1'").collect())
    assert history == [("etl", False), ("etl-renamed", True)]
    failed = [e for e in records.events if e.get("event") == "batch failed"]
    assert failed, records.events
    e = failed[0]
    assert e["query"] == "bronze_jobs" and e["batch_id"] >= 0 and e["target"].endswith(".jobs")
    lo, hi = (int(v) for v in e["source_versions"].split(".."))
    assert 0 <= lo <= hi
    assert e["operation"].startswith("MERGE ") and e["operation"].endswith(".jobs")
    assert e["sql"].startswith("MERGE INTO ") and len(e["sql"]) <= 300
    assert "injected failure after the MERGE committed" in e["error"]


@pytest.mark.parametrize("broken", ["storage.checkpoints", "storage.warehouse"])
def test_an_unwritable_root_fails_before_anything_is_written(spark, make_settings, tmp_path, broken):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    roots = {"storage.checkpoints": str(tmp_path / "ckpt"), "storage.warehouse": str(tmp_path / "wh")}
    roots[broken] = str(blocker / "below")
    settings = make_settings(storage={"warehouse": roots["storage.warehouse"], "checkpoints": roots["storage.checkpoints"]})
    error = CheckpointError if broken == "storage.checkpoints" else StorageError
    with pytest.raises(error, match=f"{broken} = .*a_file/below cannot be created or written"):
        run(settings, available_now=True, spark=spark, telemetry=False)
    # no partial writes: neither a table nor a checkpoint exists anywhere
    assert not (tmp_path / "wh").exists() and not (tmp_path / "ckpt").exists()
    assert blocker.read_text() == "not a directory"
