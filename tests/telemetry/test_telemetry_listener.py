"""Listener → worker → instruments, without a stream: golden events through StreamingQuery*Event.fromJson,
metrics read with OpenTelemetry's InMemoryMetricReader."""

from __future__ import annotations

import time
import uuid

import pytest
from pyspark.sql.streaming.listener import (
    QueryIdleEvent,
    QueryProgressEvent,
    QueryStartedEvent,
    QueryTerminatedEvent,
)

from tests.telemetry.telemetry_helpers import load_json, points, value


def _events():
    e = load_json("query_events.json")
    return (
        QueryStartedEvent.fromJson(e["started"]),
        QueryIdleEvent.fromJson(e["idle"]),
        QueryTerminatedEvent.fromJson(e["terminated_clean"]),
        QueryTerminatedEvent.fromJson(e["terminated_error"]),
    )


def _progress(name: str, **override) -> QueryProgressEvent:
    body = load_json(name)
    body.update(override)
    return QueryProgressEvent.fromJson({"progress": body})


def test_progress_events_become_metrics(mem_telemetry):
    tel, reader = mem_telemetry
    started, idle, _, _ = _events()
    lst = tel.listener
    lst.onQueryStarted(started)
    lst.onQueryProgress(_progress("progress_bronze_first_batch.json"))
    lst.onQueryProgress(_progress("progress_bronze_next_batch.json"))
    lst.onQueryProgress(_progress("progress_bronze_next_batch.json"))  # same batch again: counted once
    lst.onQueryIdle(idle)
    assert tel.worker.drain(5)
    p = points(reader)
    q = {"query": "bronze_billing_usage"}
    assert value(p, "streaming_obs.batch.input_rows", **q) == 40
    assert value(p, "streaming_obs.batches", **q) == 2
    total = value(p, "streaming_obs.batch.duration", phase="total", **q)
    assert total.count == 2 and total.sum == pytest.approx(24.123 + 6.192)
    assert value(p, "streaming_obs.batch.duration", phase="addBatch", **q).count == 2
    assert value(p, "streaming_obs.batch.processed_rows_per_second", **q) == pytest.approx(3.2)
    assert value(p, "streaming_obs.batch.input_rows_per_second", **q) == pytest.approx(0.8)
    assert value(p, "streaming_obs.query.active", **q) == 1
    assert value(p, "streaming_obs.query.idle", **q) == 1
    rule = {"layer": "bronze", "table": "billing_usage", "rule": "value_non_negative"}
    assert value(p, "streaming_obs.quality.rows", outcome="passed", **rule) == 39
    assert value(p, "streaming_obs.quality.rows", outcome="failed", **rule) == 1
    # freshness: now − newest commit (2026-11-27T13:01:39Z in the second batch), measured at collection
    lag = value(p, "streaming_obs.freshness.lag", **q)
    assert lag == pytest.approx(max(0.0, time.time() - 1795784499.0), abs=5)
    last = value(p, "streaming_obs.batch.last_completed_timestamp", **q)
    assert last == pytest.approx(1795784527.127 + 6.192, abs=0.01)


def test_backlog_state_and_quality_totals(mem_telemetry):
    tel, reader = mem_telemetry
    tel.listener.onQueryProgress(_progress("progress_synthetic_latest_offset.json"))
    tel.listener.onQueryProgress(_progress("progress_gold_stateful.json"))
    assert tel.worker.drain(5)
    p = points(reader)
    src = {"query": "silver_job_run_timeline", "source": "plt_bronze/job_run_timeline"}
    assert value(p, "streaming_obs.source.backlog_versions", **src) == 5
    assert value(p, "streaming_obs.source.backlog_files", **src) == 9
    assert value(p, "streaming_obs.source.backlog", **src) == 123456
    state = {"query": "gold_cost_by_workspace", "operator": "stateStoreSave"}
    assert value(p, "streaming_obs.state.rows", **state) == 2
    assert value(p, "streaming_obs.state.memory", **state) == 976
    tbl = {"layer": "silver", "table": "job_run_timeline"}
    assert value(p, "streaming_obs.quality.table_rows", kind="quarantined", **tbl) == 2
    assert value(p, "streaming_obs.quality.rows", rule="run_id_not_null", outcome="quarantined", **tbl) == 2


def test_registered_source_label_wins(mem_telemetry):
    tel, reader = mem_telemetry
    tel.register_query("silver_job_run_timeline", layer="silver", source="bronze.job_run_timeline", target="silver.x")
    tel.listener.onQueryProgress(_progress("progress_synthetic_latest_offset.json"))
    assert tel.worker.drain(5)
    p = points(reader)
    assert value(p, "streaming_obs.source.backlog_versions", source="bronze.job_run_timeline") == 5
    info = value(p, "streaming_obs.query.info", query="silver_job_run_timeline")
    assert info == 1


def test_termination_restart_and_time_to_recover(mem_telemetry):
    tel, reader = mem_telemetry
    started, _, clean, failed = _events()
    lst = tel.listener
    lst.onQueryStarted(started)
    lst.onQueryTerminated(failed)
    tel.record_restart("bronze_billing_usage", "ValueError")
    lst.onQueryStarted(started)
    # the first batch after the restart completes "now": recovery time = now − failure time
    now_iso = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    lst.onQueryProgress(_progress("progress_bronze_next_batch.json", timestamp=now_iso, batchDuration=500))
    lst.onQueryTerminated(clean)
    assert tel.worker.drain(5)
    p = points(reader)
    q = {"query": "bronze_billing_usage"}
    assert value(p, "streaming_obs.query.terminations", error_class="ValueError", **q) == 1
    assert value(p, "streaming_obs.query.terminations", error_class="none", **q) == 1
    assert value(p, "streaming_obs.query.restarts", error_class="ValueError", **q) == 1
    assert value(p, "streaming_obs.query.active", **q) == 0
    recovery = value(p, "streaming_obs.query.recovery_time", **q)
    assert recovery.count == 1 and 0 <= recovery.sum < 5


def test_rows_written_and_unnamed_queries_are_ignored(mem_telemetry):
    tel, reader = mem_telemetry
    tel.record_batch_write("bronze_billing_usage", "plt_bronze.billing_usage", 20)
    tel.record_batch_write("bronze_billing_usage", "plt_bronze.billing_usage", 5)
    tel.record_batch_write("bronze_billing_usage", "plt_bronze.billing_usage", -1)  # unknown: not counted
    anon = QueryStartedEvent(uuid.uuid4(), uuid.uuid4(), None, "2026-01-01T00:00:00.000Z", set())
    tel.listener.onQueryStarted(anon)
    body = load_json("progress_bronze_first_batch.json")
    body.update(id=str(anon.id), name=None)
    tel.listener.onQueryProgress(QueryProgressEvent.fromJson({"progress": body}))
    assert tel.worker.drain(5)
    p = points(reader)
    assert value(p, "streaming_obs.batch.rows_written", table="plt_bronze.billing_usage") == 25
    assert "streaming_obs.batches" not in p


def test_a_full_queue_drops_instead_of_blocking_the_listener(make_settings):
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from streaming_obs.telemetry import Telemetry

    reader = InMemoryMetricReader()
    settings = make_settings(telemetry={"worker_queue_size": 10})
    tel = Telemetry.start(None, settings, extra_readers=[reader], cost_gauges=False)
    gate = __import__("threading").Event()
    original = tel.worker.handler.handle
    tel.worker.handler.handle = lambda item: (gate.wait(10), original(item))
    try:
        event = _progress("progress_bronze_first_batch.json")
        t0 = time.monotonic()
        for _ in range(50):
            tel.listener.onQueryProgress(event)
        assert time.monotonic() - t0 < 1.0
        gate.set()
        assert tel.worker.drain(5)
        assert value(points(reader), "streaming_obs.telemetry.dropped_events") >= 39
    finally:
        gate.set()
        tel.shutdown(timeout_s=5)
