"""Parsing of golden progress JSON (captured from Spark 4.2 + Delta 4.4; one synthetic file)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from pyspark.sql.streaming.listener import StreamingQueryProgress

from streaming_obs.telemetry.progress import (
    QualityCount,
    delta_backlog,
    parse_progress,
    parse_quality,
    source_label,
    to_epoch_seconds,
)
from streaming_obs.resilience.failures import error_class_of
from tests.telemetry.telemetry_helpers import load_json


def _progress(name: str) -> StreamingQueryProgress:
    return StreamingQueryProgress.fromJson(load_json(name))


def test_first_batch_of_a_delta_cdf_stream():
    f = parse_progress(_progress("progress_bronze_first_batch.json"))
    assert (f.name, f.batch_id, f.input_rows) == ("bronze_billing_usage", 0, 20)
    assert f.batch_duration_s == pytest.approx(24.123)
    assert f.phase_durations_s["addBatch"] == pytest.approx(18.931)
    assert set(f.phase_durations_s) == {
        "addBatch",
        "commitOffsets",
        "getBatch",
        "latestOffset",
        "queryPlanning",
        "triggerExecution",
        "walCommit",
    }
    assert f.processed_rows_per_second == pytest.approx(0.8)
    [src] = f.sources
    assert src.label == "billing/usage"
    assert (src.end_version, src.end_index) == (1, -1)
    assert src.backlog_versions is None  # Delta reports no latestOffset
    assert f.quality == [
        QualityCount("bronze", "billing_usage", "value_non_negative", "passed", 19),
        QualityCount("bronze", "billing_usage", "value_non_negative", "failed", 1),
    ]
    # JSON carries the session-time-zone (UTC) wall time without zone, to the second
    assert f.newest_source_commit_ts == datetime(2026, 11, 27, 13, 0, 29, tzinfo=timezone.utc).timestamp()


def test_stateful_progress_has_state_rows():
    f = parse_progress(_progress("progress_gold_stateful.json"))
    [op] = f.state
    assert (op.operator, op.rows_total, op.memory_bytes) == ("stateStoreSave", 2, 976)
    assert f.quality == [] and f.newest_source_commit_ts is None


def test_synthetic_progress_with_latest_offset_and_foreign_observations():
    f = parse_progress(_progress("progress_synthetic_latest_offset.json"))
    [src] = f.sources
    assert src.backlog_versions == 17 - 12
    assert (src.backlog_files, src.backlog_bytes) == (9.0, 123456.0)
    got = {(q.layer, q.table, q.rule, q.outcome): q.rows for q in f.quality}
    assert got == {
        ("silver", "job_run_timeline", "run_id_not_null", "passed"): 38,
        ("silver", "job_run_timeline", "run_id_not_null", "quarantined"): 2,
        ("silver", "job_run_timeline", "known_result_state", "passed"): 0,  # null reads as 0
        ("silver", "job_run_timeline", "known_result_state", "warned"): 3,
    }  # dq_orders (no layer, `_ok` / `_invalid` fields) is not what the pipeline writes: ignored
    totals = {(q.table, q.outcome): q.rows for q in f.quality_totals}
    assert totals == {
        ("job_run_timeline", "in"): 40,
        ("job_run_timeline", "kept"): 38,
        ("job_run_timeline", "dropped"): 0,
        ("job_run_timeline", "quarantined"): 2,
        ("job_run_timeline", "failed"): 0,
    }
    assert f.newest_source_commit_ts == datetime(2026, 11, 27, 12, 59, 30, 250000, tzinfo=timezone.utc).timestamp()


def test_quality_parser_ignores_what_it_does_not_understand():
    assert parse_quality("not_dq", {"a__passed": 1}) == []
    assert parse_quality("dq_silver_jobs", {"rows_dropped": 3, "x__passed": 2, "x__ok": 1}) == [
        QualityCount("silver", "jobs", "x", "passed", 2)
    ]
    assert parse_quality("dq_silver_jobs", {"bad": "x", "r__failed": "nan"}) == []
    assert parse_quality("dq:silver_jobs", {"r__failed": 1}) == [] == parse_quality("dq_orders", {"r__failed": 1})


@pytest.mark.parametrize(
    "value, expected",
    [
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc), 1767323045.0),
        ("2026-01-02 03:04:05", 1767323045.0),
        ("2026-01-02T03:04:05Z", 1767323045.0),
        ("2026-01-02T04:04:05+01:00", 1767323045.0),
        (1767323045, 1767323045.0),
        (1767323045000, 1767323045.0),
        (None, None),
        ("garbage", None),
        (True, None),
    ],
)
def test_timestamps_in_every_shape(value, expected):
    assert to_epoch_seconds(value) == expected


def test_naive_datetimes_are_local_time_like_pyspark_makes_them():
    ts = 1767323045.25
    assert to_epoch_seconds(datetime.fromtimestamp(ts)) == pytest.approx(ts)


def test_delta_backlog_from_end_offset():
    assert delta_backlog(latest_table_version=3, end_version=4, end_index=-1) == 0  # caught up
    assert delta_backlog(10, 4, -1) == 7  # versions 4..10 unread
    assert delta_backlog(10, 4, 2) == 7  # 4 partly read counts as one
    assert delta_backlog(10, 10, 2**62) == 0  # END_INDEX: version 10 fully read


def test_error_class_prefers_the_python_exception_of_a_foreach_batch_failure():
    events = load_json("query_events.json")
    err = events["terminated_error"]
    assert err["errorClassOnException"] == "FOREACH_BATCH_USER_FUNCTION_ERROR"
    assert error_class_of(err["errorClassOnException"], err["exception"]) == "ValueError"
    assert error_class_of(None, None) == "none"
    assert error_class_of("DELTA_CONCURRENT_APPEND", "boom") == "DELTA_CONCURRENT_APPEND"
    assert error_class_of(None, "org.apache.spark.SparkException: [TASK_WRITE_FAILED] x") == "TASK_WRITE_FAILED"
    assert error_class_of(None, "java.io.IOException: disk full") == "IOException"


def test_source_labels():
    assert source_label("DeltaSource[file:/data/system/billing/usage]") == "billing/usage"
    assert source_label("DeltaSource[s3://bucket/wh/plt_bronze/jobs/]") == "plt_bronze/jobs"
    assert source_label("RateStreamV2[rowsPerSecond=1]") == "rowsPerSecond=1"
