"""The benchmark harness's pure helpers (no timing is asserted anywhere)."""

from __future__ import annotations

import json
import os

import pytest

from benchmarks import deltalog
from benchmarks.baseline import Bookmarks
from benchmarks.freshness import batch_commits, freshness_chain
from benchmarks.report import evaluate_targets, render_markdown, write_results
from benchmarks.scale import copies_needed
from benchmarks.sqlmetrics import parse_metric, scan_totals
from benchmarks.stats import percentile, ratio, summarize


def test_percentile_interpolates_linearly():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([10], 95) == 10
    assert percentile(list(range(101)), 95) == 95
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile([1], 101)


def test_summarize_and_ratio():
    s = summarize([3, 1, 2])
    assert (s["n"], s["p50"], s["max"], s["min"]) == (3, 2, 3, 1)
    assert summarize([])["p95"] is None
    assert ratio(10, 2) == 5 and ratio(1, 0) is None and ratio(None, 1) is None


def test_bookmarks_reread_the_overlap_window():
    b = Bookmarks()
    assert b.start_version("billing_usage", overlap=1) == 0  # no bookmark: read everything
    b.record("billing_usage", 10)
    b.record("billing_usage", 14)
    b.record("list_prices", 3)
    assert b.history("billing_usage") == [10, 14]
    assert b.start_version("billing_usage", overlap=0) == 15
    assert b.start_version("billing_usage", overlap=1) == 11  # the previous update's range again
    assert b.start_version("billing_usage", overlap=5) == 11  # not more than the oldest bookmark
    assert b.record("billing_usage", 20) == (2, "billing_usage", 20)


def test_freshness_chain_follows_batches():
    recs = freshness_chain(
        source_times={1: 100.0, 2: 110.0, 3: 120.0, 4: 125.0},
        batch_of_source={1: 4, 2: 5, 3: 6},  # version 4 has not reached bronze
        bronze={4: 101.0, 5: 112.0, 6: 121.0},
        silver={4: 102.0, 5: 114.0, 6: 122.0},
        gold={4: 103.5, 5: 116.0})  # batch 6 has not reached cost_daily yet
    assert [(r["source_version"], r["batch"], r["to_bronze"], r["to_silver"], r["to_gold"]) for r in recs] == [
        (1, 4, 1.0, 2.0, 3.5), (2, 5, 2.0, 4.0, 6.0)]


def test_batch_commits_reads_txn_ids(tmp_path):
    log = tmp_path / "t" / "_delta_log"
    log.mkdir(parents=True)
    for v, app, txn in ((0, "x:cost_daily:add", 3), (1, "x:cost_daily:recompute", 4), (2, "x:cost_daily:add", 5)):
        (log / f"{v:020d}.json").write_text(json.dumps({"txn": {"appId": app, "version": txn}}) + "\n")
    assert sorted(batch_commits(str(tmp_path / "t"), "cost_daily:add")) == [3, 5]


def test_checkpoint_and_log_readers(tmp_path):
    ck = tmp_path / "ck"
    (ck / "offsets").mkdir(parents=True)
    (ck / "commits").mkdir()
    (ck / "offsets" / "0").write_text('v1\n{"batchWatermarkMs":0}\n{"reservoirId":"a","reservoirVersion":3,"index":-1}\n-\n')
    (ck / "commits" / "0").write_text("v1\n{}\n")
    (ck / "offsets" / "1").write_text('v1\n{}\n{"reservoirId":"a","reservoirVersion":4,"index":2}\n')
    assert deltalog.in_flight(str(ck))
    batches = deltalog.checkpoint_batches(str(ck))
    assert [b["batch"] for b in batches] == [0]
    assert batches[0]["offsets"][1] is None and deltalog.covered_version(batches[0]["offsets"][0]) == 2
    log = tmp_path / "t" / "_delta_log"
    log.mkdir(parents=True)
    (log / f"{0:020d}.json").write_text(json.dumps({"metaData": {"id": "tid"}}) + "\n")
    (log / f"{1:020d}.json").write_text(json.dumps({"txn": {"appId": "g:x:cost_daily:recompute", "version": 7}}) + "\n")
    path = str(tmp_path / "t")
    assert deltalog.latest_version(path) == 1 and deltalog.table_id(path) == "tid"
    assert [(v, a, n) for v, a, n, _t in deltalog.txn_commits(path)] == [(1, "g:x:cost_daily:recompute", 7)]
    assert deltalog.latest_version(str(tmp_path / "missing")) == -1


def test_sql_metric_parsing():
    assert parse_metric("1,234") == 1234
    assert parse_metric("12.0 MiB") == 12 * 2 ** 20
    assert parse_metric("total (min, med, max (stageId: taskId))\n3.0 KiB (1.0 KiB, ...)") == 3072
    ex = [{"nodes": [{"nodeName": "Scan parquet ", "metrics": [{"name": "number of output rows", "value": "5"},
                                                                {"name": "number of files read", "value": "2"}]},
                     {"nodeName": "LocalTableScan", "metrics": [{"name": "number of output rows", "value": "9"}]}]}]
    totals = scan_totals(ex)
    assert (totals["rows_read"], totals["files_read"], totals["bytes_read"], totals["executions"]) == (5, 2, 0, 1)
    assert totals["top"][0]["nodes"] == ["Scan parquet ", "LocalTableScan"]


def test_copies_needed():
    assert copies_needed(100, 100) == 0
    assert copies_needed(100, 1000) == 9
    assert copies_needed(300, 1000) == 3
    with pytest.raises(ValueError):
        copies_needed(0, 10)


def _result() -> dict:
    step = {"p50": 2.0, "p95": 2.0, "max": 2.0, "n": 1, "mean": 2.0, "min": 2.0}
    return {
        "meta": {"mode": "test", "trigger_interval_s": 1, "machine_start": {"nproc": 2, "loadavg": [1, 1, 1]},
                 "machine_end": {"loadavg": [2, 2, 2]}},
        "throughput": {"backfill": {"usage_rows": 1000, "rows": 2000, "seconds": 0.1, "usage_rows_per_s": 10_000.0},
                       "live": {}},
        "freshness": {"1000": {"to_gold": {"p50": 3.0, "p95": 5.0, "max": 7.0, "n": 3}, "unfinished": 0,
                               "records": [{"to_gold": 3.0}, {"to_gold": 5.0}, {"to_gold": 7.0}]}},
        "scale": [{"silver_rows": 10 ** 5, "batch_rows": 100, "wall_ratio": 3.0, "work_ratio_rows": 4.0,
                   "stream": {"batch_s": step, "gold_s": step, "update_s": step, "rows_read": step},
                   "baseline": {"update_s": step, "rows_read": step}},
                  {"silver_rows": 10 ** 6, "batch_rows": 100, "wall_ratio": 30.0, "work_ratio_rows": 40.0,
                   "stream": {"batch_s": {**step, "p50": 2.4}, "gold_s": step, "update_s": step, "rows_read": step},
                   "baseline": {"update_s": step, "rows_read": step}}],
        "memory": {"backfill": {"jvm_peak_rss_bytes": 2 ** 30, "jvm_peak_heap_bytes": 2 ** 29,
                                "python_peak_rss_bytes": 2 ** 26}},
    }


def test_targets_and_markdown(tmp_path):
    res = _result()
    targets = {t["name"].split(" at")[0].split(",")[0]: t for t in evaluate_targets(res)}
    assert targets["freshness p95"]["status"] == "pass"  # 5 <= 1 + 5
    assert targets["sustained throughput"]["status"] == "miss"
    per_batch = next(t for n, t in targets.items() if n.startswith("per-batch"))
    assert per_batch["status"] == "pass" and per_batch["measured"] == pytest.approx(1.2)  # 2.4 / 2.0
    work = next(t for n, t in targets.items() if n.startswith("less work"))
    assert work["status"] == "pass" and work["measured"] == 40.0
    md = render_markdown({**res, "targets": evaluate_targets(res)})
    assert "| freshness p95 at 1 000 rows/s | 5.00 s | <= 6 | **pass**" in md
    assert "1,000,000" in md
    paths = write_results(res, str(tmp_path))
    assert os.path.exists(tmp_path / "results.json") and os.path.exists(tmp_path / "results.md")
    assert json.loads((tmp_path / "results.json").read_text())["targets"][0]["status"] == "pass"
    assert all(os.path.exists(p) for p in paths)


def test_too_few_commits_is_not_a_percentile():
    """Issue #12: a p95 over fewer than `min_commits` source commits is shown, never judged."""
    res = _result()
    res["freshness"]["1000"].update({"percentile": False, "min_commits": 50,
                                     "feeder": {"commits": {"usage": 3, "other": 1}, "window_s": 3.0, "plan_s": 1.0,
                                                "append_s": 0.3, "busy_share": 0.1, "late_steps": 0}})
    fresh = next(t for t in evaluate_targets(res) if t["name"].startswith("freshness p95"))
    assert fresh["status"] == "n/a" and fresh["measured"] == 5.0 and fresh["bound"] == 6
    assert "not a percentile" in fresh["note"]
    md = render_markdown({**res, "targets": evaluate_targets(res)})
    assert "| 1000 rows/s | 3 (not a percentile: < 50) |" in md
    assert "| 1000 rows/s | 3 | 1 | 3.00 |" in md  # the feeder's row: usage and other commits, window


def test_step_log_receives_the_flows_batch_done_events(tmp_path):
    """The bench routes structlog through the stdlib (as the CLI does): the flows' DEBUG
    "batch done" events, with their per-step seconds, reach the harness's handler."""
    import logging

    from benchmarks.run import _StepLog
    from streaming_obs import logs
    from streaming_obs.logs import configure_logging, get_logger

    root = logging.getLogger()
    saved, state = (list(root.handlers), root.level), dict(logs._state)
    handler = _StepLog()
    flows_log = logging.getLogger("streaming_obs.flows")
    try:
        configure_logging("WARNING", log_file=str(tmp_path / "bench.log"))
        flows_log.setLevel(logging.DEBUG)
        flows_log.addHandler(handler)
        get_logger("streaming_obs.flows").debug("batch done", query="bronze_billing_usage", rows_in=3,
                                                steps={"bronze": 0.5, "silver": 0.25})
        get_logger("streaming_obs.flows").debug("something else")
    finally:
        flows_log.removeHandler(handler)
        flows_log.setLevel(logging.NOTSET)
        root.handlers[:], root.level = saved
        logs._state.update(state)  # the next test's notices must not see this one's handlers
    assert [e["steps"] for e in handler.events] == [{"bronze": 0.5, "silver": 0.25}]
    assert handler.events[0]["query"] == "bronze_billing_usage"


def test_jvm_profile_counts_a_sample_once_per_category_and_groups_threads():
    from benchmarks.jvmprofile import Sample, breakdown, render, thread_kind

    merge = ["java/io/ObjectOutputStream.writeObject0", "org/apache/spark/sql/delta/commands/MergeIntoCommand.run",
             "org/apache/spark/sql/delta/commands/MergeIntoCommand.runMerge", "py4j/GatewayConnection.run"]
    task = ["java/io/ObjectInputStream.readObject", "org/apache/spark/executor/Executor$TaskRunner.run"]
    n, per_cat, per_thread = breakdown([Sample("Thread-4", merge), Sample("Executor task launch worker-0", task),
                                        Sample("Thread-4", [])])
    assert thread_kind("stream execution thread for gold [id = 1]") == "query threads"
    assert thread_kind("dag-scheduler-event-loop") == "DAG scheduler" and thread_kind("shuffle-exchange-3") == "other"
    assert n == 3
    assert per_cat["delta merge"] == 1  # two MERGE frames in one stack: one sample
    assert per_cat["task (de)serialization"] == 2 and per_cat["running tasks"] == 1
    assert per_thread == {"driver (py4j)": 2, "tasks": 1}
    text = render(n, per_cat, per_thread)
    assert " 66.7%  task (de)serialization" in text and " 33.3%  delta merge" in text


def test_jvm_profile_reads_a_real_recording(tmp_path):
    """A flight recording of a tiny JVM run, read back through the JDK's `jfr` tool."""
    import subprocess

    from benchmarks.jvmprofile import breakdown, load_samples
    from streaming_obs.session import jdk_tool

    java = jdk_tool("java")
    assert java is not None  # Spark needs it: the suite has none without it
    if jdk_tool("jfr") is None:
        pytest.skip("a Java runtime without the JDK's tools (jfr): nothing to read a recording with")
    src = tmp_path / "Spin.java"
    src.write_text("public class Spin { public static void main(String[] a) { long t = System.nanoTime(); double x = 0;"
                   " while (System.nanoTime() - t < 3_000_000_000L) { x += Math.sqrt(x + 1); } System.out.println(x); } }")
    rec = tmp_path / "spin.jfr"
    subprocess.run([java, f"-XX:StartFlightRecording=filename={rec},settings=profile", str(src)],
                   check=True, capture_output=True, cwd=tmp_path)
    samples = load_samples(str(rec))
    n, _, per_thread = breakdown(samples)
    assert n > 0 and per_thread["driver (py4j)"] >= n / 2  # mostly the spinning `main` thread
    assert any(f.endswith("Spin.main") for s in samples for f in s.frames)
    with pytest.raises(ValueError, match="missing.jfr"):
        load_samples(str(tmp_path / "missing.jfr"))
