"""The live console without Spark: source mapping, per-source tracking, the screen, the summary line."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

from rich.console import Console

from streaming_obs.cli.console import Figures, SourceTracker, render, source_of, summary_line

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


class _Q:
    def __init__(self, name):
        self.name, self.isActive, self.lastProgress = name, True, None

    def batch(self, batch_id, start, seconds, rows=10, commit=None):
        observed = {f"fresh_{self.name}": {"max_source_commit_ts": commit.isoformat(), "rows": rows}} if commit else {}
        self.lastProgress = {"batchId": batch_id, "timestamp": start.isoformat(), "numInputRows": rows,
                             "durationMs": {"triggerExecution": int(seconds * 1000)}, "observedMetrics": observed}


def test_queries_map_to_their_source_longest_name_first():
    assert source_of("silver_job_task_run_timeline") == "job_task_run_timeline"
    assert source_of("bronze_job_run_timeline") == "job_run_timeline"
    assert source_of("billing_usage") == "billing_usage"
    assert source_of("gold") == "gold" and source_of("gold_fast") == "gold"
    assert source_of("something_else") is None and source_of(None) is None


def test_freshness_usage_at_its_own_batch_other_sources_at_a_later_gold_batch():
    tracker = SourceTracker(default_interval_s=5)
    usage, jobs, gold = _Q("bronze_billing_usage"), _Q("bronze_jobs"), _Q("gold")
    usage.batch(1, T0, 2, commit=T0 - timedelta(seconds=30))  # cost_daily committed in this batch
    jobs.batch(1, T0, 1, commit=T0 - timedelta(seconds=5))  # silver jobs written at T0+1
    tracker.update([usage, jobs, gold])
    fresh = tracker.freshness(now=(T0 + timedelta(seconds=10)).timestamp())
    assert fresh["billing_usage"] == 40.0 and fresh["jobs"] is None  # no gold batch yet for jobs
    gold.batch(1, T0 + timedelta(seconds=3), 4)  # began after jobs' batch ended
    jobs.batch(2, T0 + timedelta(seconds=5), 2, commit=T0 + timedelta(seconds=1))  # after gold began
    tracker.update([usage, jobs, gold])
    fresh = tracker.freshness(now=(T0 + timedelta(seconds=20)).timestamp())
    assert fresh["jobs"] == 25.0  # T0+20 - (T0-5): the second batch has not reached gold yet


def test_batches_restarts_and_falling_behind_per_source():
    tracker = SourceTracker(default_interval_s=5)
    q = _Q("silver_jobs")
    q.batch(1, T0, 7.5)  # longer than the 5 s trigger: behind
    tracker.update([q], restarts={"silver_jobs": 2})
    q.batch(1, T0, 7.5)  # the same batch seen again counts once
    tracker.update([q], restarts={"silver_jobs": 2})
    row = tracker.rows["jobs"]
    assert (row.batches, row.restarts, row.behind, row.last_batch_s) == (1, 2, True, 7.5)
    q.batch(2, T0 + timedelta(seconds=10), 1.0, rows=0)  # an empty batch is not counted, no longer behind
    tracker.update([q])
    assert (row.batches, row.behind) == (1, False)


def _figures():
    return Figures(workspaces=[("ws-1", "USD", 120.5), ("ws-2", "USD", 3.25)],
                   jobs=[("ws-1", "42", "nightly etl", 80.0)], quality=0.9925,
                   quarantined_by=[("usage_quantity_not_null", "bronze.billing_usage", 3)],
                   anomalies=[("2026-01-01", "ws-1", "JOBS_COMPUTE", 99.0, 4.2)])


def test_screen_shows_every_panel():
    tracker = SourceTracker(default_interval_s=5)
    q = _Q("silver_billing_usage")
    q.batch(3, T0, 9.0, commit=T0)
    tracker.update([q, _Q("gold")])
    out = io.StringIO()
    Console(file=out, width=140).print(render(tracker, _figures(), elapsed_s=42, metrics_url="http://x/metrics",
                                              stopping=True, restarts_total=1))
    text = out.getvalue()
    for needle in ("billing_usage", "fresh to gold", "behind", "yes", "123.75", "ws-1", "nightly etl", "99.25%",
                   "usage_quantity_not_null", "JOBS_COMPUTE", "4.2", "restarts 1", "http://x/metrics",
                   "stopping between batches"):
        assert needle in text, needle


def test_summary_line_is_one_line_with_cost_freshness_quality_and_batches():
    tracker = SourceTracker(default_interval_s=5)
    silver, gold = _Q("silver_billing_usage"), _Q("gold")
    silver.batch(1, T0, 1, commit=T0 - timedelta(seconds=3))
    gold.batch(1, T0 + timedelta(seconds=2), 1)
    tracker.update([silver, gold])
    line = summary_line(tracker, _figures(), elapsed_s=30, restarts_total=0)
    assert "\n" not in line
    assert "cost today 123.75 USD (2 workspaces)" in line
    assert "freshness to gold max" in line and "(billing_usage)" in line
    assert "quality 99.25%" in line and "anomalies 1" in line and "batches 2, restarts 0" in line
    assert "behind: none" in line
    empty = summary_line(SourceTracker(5), Figures(), elapsed_s=1)
    assert "cost today 0.00 (0 workspaces)" in empty and "freshness to gold -" in empty


def test_the_live_console_turns_key_echo_off_and_back_on():
    """A `^C` echoed under the live console would leave a stale line above it at the next redraw."""
    import os
    import pty
    import sys
    import termios

    from streaming_obs.cli import demo

    leader, follower = pty.openpty()
    stdin = sys.stdin
    try:
        sys.stdin = os.fdopen(follower, "r", closefd=False)
        before = termios.tcgetattr(follower)[3]
        assert before & termios.ECHO
        with demo._keys_not_echoed():
            assert not termios.tcgetattr(follower)[3] & termios.ECHO
        assert termios.tcgetattr(follower)[3] == before
    finally:
        sys.stdin = stdin
        os.close(leader)
        os.close(follower)


def test_budgets_panel_and_summary():
    fig = _figures()
    fig.budgets = [("data-team", "USD", 214.0, 250.0, 263.0, 250.18, 275.82), ("sql", "EUR", 10.0, 100.0, 40.0, 35.0, 45.0)]
    out = io.StringIO()
    Console(file=out, width=140).print(render(SourceTracker(5), fig, elapsed_s=1, metrics_url=None))
    text = out.getvalue()
    for needle in ("budgets this month: 2, 1 forecast over", "data-team", "214.00 USD", "86%", "105% !",
                   "250.18 - 275.82", "sql", "10%", "40%"):
        assert needle in text, needle
    line = summary_line(SourceTracker(5), fig, elapsed_s=1)
    assert "budgets 2, forecast over: data-team" in line and "\n" not in line
    out = io.StringIO()
    Console(file=out, width=140).print(render(SourceTracker(5), _figures(), elapsed_s=1, metrics_url=None))
    assert "budgets this month" not in out.getvalue()  # no budgets, no panel


def test_idle_clusters_panel():
    fig = _figures()
    fig.idle = [("ws-1", "0101-abc", "USD", 0.625, 31.5)]
    out = io.StringIO()
    Console(file=out, width=160).print(render(SourceTracker(5), fig, elapsed_s=1, metrics_url=None))
    text = out.getvalue()
    for needle in ("idle clusters, last 7 days", "ws-1/0101-abc", "62%", "31.50 USD"):
        assert needle in text, needle


def test_last_quarantined_by_credits_only_the_rules_that_quarantined(spark):
    """quality_results repeats the batch's rows_quarantined on every rule's row: the panel takes
    each rule's own failures, and only quarantine rules."""
    from streaming_obs.cli.console import quarantined_by
    from streaming_obs.ops.schema import ops_schema

    t1, t2 = datetime(2026, 1, 1, 10), datetime(2026, 1, 1, 11)
    table = "bronze.billing_usage"
    rows = [  # recorded_at, query, batch, table, rule, action, passed, failed, in, kept, dropped, quarantined, score
        (t1, "q", 1, table, "usage_record_id_not_null", "quarantine", 8, 2, 10, 7, 0, 3, 0.7),
        (t1, "q", 1, table, "usage_times_not_null", "quarantine", 9, 1, 10, 7, 0, 3, 0.7),
        (t1, "q", 1, table, "usage_sku_name_not_null", "quarantine", 10, 0, 10, 7, 0, 3, 0.7),
        (t1, "q", 1, table, "usage_unit_not_null", "warn", 5, 5, 10, 7, 0, 3, 0.7),
        (t1, "q", 1, table, "*", "summary", 7, 3, 10, 7, 0, 3, 0.7),
        (t2, "q", 2, table, "usage_times_not_null", "quarantine", 3, 4, 7, 3, 0, 4, 0.4),
    ]
    found = quarantined_by(spark.createDataFrame(rows, ops_schema("quality_results")))
    assert found == [("usage_times_not_null", table, 4), ("usage_record_id_not_null", table, 2)]


def test_most_expensive_runs_panel():
    fig = _figures()
    fig.runs = [("ws-1", "42", "9001", "USD", 12.5, 2.25), ("ws-1", "7", "9002", "USD", 3.0, 0.0)]
    out = io.StringIO()
    Console(file=out, width=160).print(render(SourceTracker(5), fig, elapsed_s=1, metrics_url=None))
    text = out.getvalue()
    for needle in ("most expensive runs today", "ws-1/42/9001", "12.50 USD", "2.25", "ws-1/7/9002", "3.00 USD"):
        assert needle in text, needle
    out = io.StringIO()
    Console(file=out, width=160).print(render(SourceTracker(5), _figures(), elapsed_s=1, metrics_url=None))
    assert "most expensive runs" not in out.getvalue()  # no runs finished today, no panel
