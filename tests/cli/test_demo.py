"""The demo: simulator writing live, the pipeline streaming it, the live console, a clean stop."""

from __future__ import annotations

import io
import threading

import pytest
from rich.console import Console

from streaming_obs.cli.demo import run_demo
from streaming_obs.tables import Tables


@pytest.mark.slow
@pytest.mark.e2e
def test_demo_streams_and_stops_cleanly(spark, make_settings):
    """Without a terminal the demo prints one summary line every few seconds, then stops cleanly."""
    settings = make_settings(
        simulator={"workspaces": 2, "jobs": 10, "clusters": 6, "warehouses": 2, "days": 1, "flush_seconds": 2,
                   "rows_per_second": 20},
        trigger={"interval_seconds": 2},
        telemetry={"prometheus": {"enabled": True, "port": 0}},
    )
    out = io.StringIO()
    console = Console(file=out, width=160, force_terminal=False)
    stop = threading.Event()
    run_demo(settings, duration_s=30, days=1, rows_per_second=20, stop_event=stop, spark=spark, console=console,
             summary_every_s=3)
    text = out.getvalue()
    assert "simulating 1 days of history" in text
    summaries = [line for line in text.splitlines() if "cost today" in line and "freshness to gold" in line]
    assert len(summaries) >= 5, text  # one line every 3 s, not a redrawn table
    assert "demo stopped cleanly" in text
    assert stop.is_set()
    tables = Tables(settings)
    assert tables.bronze("billing_usage").read(spark).count() > 0
    assert not [q for q in spark.streams.active if q.name and q.name.startswith(("bronze_", "silver_", "gold"))]


class _FakeQuery:
    def __init__(self, name, progress):
        self.name, self.isActive, self.lastProgress = name, True, progress


def test_freshness_reads_observations_given_as_rows():
    """PySpark may hand `lastProgress` over as a dict whose observations are Rows."""
    from datetime import datetime, timedelta, timezone

    from pyspark.sql import Row

    from streaming_obs.cli.progress import query_row

    now = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    seen = Row(max_source_commit_ts=datetime(2026, 1, 1, 11, 59, 30), rows=5)
    q = _FakeQuery("gold", {"batchId": 1, "observedMetrics": {"fresh_gold": seen}})
    assert query_row(q, now)["freshness_s"] == 30.0
    empty = _FakeQuery("gold", {"batchId": 2, "observedMetrics": {"fresh_gold": Row(max_source_commit_ts=None, rows=0)}})
    assert query_row(empty, now + timedelta(seconds=1))["freshness_s"] is None
