"""Cost gauges read from real (small) gold Delta tables, and the end-to-end check that every
metric docs/metrics.md documents is exposed — under exactly that name — by the Prometheus endpoint."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client.parser import text_string_to_metric_families
from pyspark.sql.streaming.listener import QueryProgressEvent, QueryStartedEvent, QueryTerminatedEvent

from streaming_obs.config import load_settings
from streaming_obs.tables import Tables
from streaming_obs.telemetry import SPECS, Telemetry
from streaming_obs.telemetry.cost_gauges import CostGauges, read_cost_snapshot
from tests.conftest import TEST_SPARK
from tests.telemetry.telemetry_helpers import (
    BUDGETS,
    ROOT,
    free_port,
    http_get,
    load_json,
    points,
    value,
    wait_until,
    write_cost_fixture,
)

TODAY = datetime.now(timezone.utc).date()


def _settings(root, **telemetry):
    overrides = {
        "spark": TEST_SPARK,
        "storage": {"warehouse": str(root / "wh"), "checkpoints": str(root / "ckpt")},
        "simulator": {"root": str(root / "system")},
        "telemetry": {"prometheus": {"enabled": False}, **telemetry},
        "budgets": BUDGETS,
    }
    return load_settings("local", overrides=overrides, environ={})


@pytest.fixture(scope="module")
def gold_root(spark, tmp_path_factory):
    """A warehouse whose gold cost tables hold TODAY's small fixture (written once per module)."""
    root = tmp_path_factory.mktemp("telemetry_gold")
    write_cost_fixture(spark, Tables(_settings(root)), TODAY)
    return root


def _as_dict(snapshot, name, *keys):
    return {tuple(labels[k] for k in keys): v for v, labels in snapshot[name]}


def test_cost_snapshot_from_gold(spark, gold_root, tmp_path):
    empty = read_cost_snapshot(spark, Tables(_settings(tmp_path)), today=TODAY)
    assert all(not v for v in empty.values())  # no gold tables yet: nothing, and no error
    snap = read_cost_snapshot(spark, Tables(_settings(gold_root)), today=TODAY, top_n=2, open_days=2)
    assert _as_dict(snap, "streaming_obs.workspace.list_cost_today", "workspace_id", "currency") == {
        ("ws1", "USD"): 10.5,
        ("ws2", "USD"): 2.0,
        ("ws2", "EUR"): 7.0,  # one currency per series
    }
    assert _as_dict(snap, "streaming_obs.workspace.unpriced_usage_today", "workspace_id", "usage_unit") == {
        ("ws1", "DBU"): 3.0,
        ("ws2", "DBU"): 0.0,
    }
    # j4 (no price, no currency, list_cost 50) is usage, not cost: it does not enter the top 2
    assert all(labels["currency"] for series in snap.values() for _, labels in series if "currency" in labels)
    assert _as_dict(snap, "streaming_obs.job.list_cost_today", "job_id", "job_name") == {
        ("j1", "etl"): 5.0,
        ("j2", "ml"): 3.0,
    }
    assert _as_dict(snap, "streaming_obs.tag.list_cost_today", "tag_key", "tag_value") == {
        ("team", "a"): 6.0,
        ("team", "b"): 2.0,
        ("project", "x"): 9.0,
    }
    # ws1: today + yesterday; ws2's anomaly is 3 days old: not open
    assert _as_dict(snap, "streaming_obs.workspace.cost_anomalies_open", "workspace_id") == {("ws1",): 2.0, ("ws2",): 0.0}
    assert _as_dict(snap, "streaming_obs.workspace.idle_list_cost_today", "workspace_id", "currency") == {
        ("ws1", "USD"): 5.0, ("ws2", "USD"): 2.0}
    # budgets: this month's latest row of each configured budget ("gone" is not configured)
    assert _as_dict(snap, "streaming_obs.budget.spend_ratio", "budget", "currency") == {
        ("data-team", "USD"): 0.85, ("sql", "EUR"): 0.1}
    assert _as_dict(snap, "streaming_obs.budget.forecast_ratio", "budget", "currency") == {
        ("data-team", "USD"): 1.1, ("sql", "EUR"): 0.4}
    assert _as_dict(snap, "streaming_obs.budget.threshold_ratio", "budget", "threshold") == {
        ("data-team", "50"): 0.5, ("data-team", "80"): 0.8, ("data-team", "100"): 1.0,
        ("sql", "75"): 0.75, ("sql", "100"): 1.0}


def test_cost_gauges_thread_publishes_and_counts_failures(spark, gold_root, monkeypatch):
    settings = _settings(gold_root, cost_metrics_interval_seconds=0.5)
    reader = InMemoryMetricReader()
    tel = Telemetry.start(None, settings, extra_readers=[reader], cost_gauges=False)
    gauges = CostGauges(spark, Tables(settings), tel.instruments, settings.telemetry, today=lambda: TODAY)
    try:
        gauges.start()
        wait_until(lambda: "streaming_obs.workspace.list_cost_today" in points(reader), 300, what="cost gauges")
        gauges.stop()
        p = points(reader)
        assert value(p, "streaming_obs.workspace.list_cost_today", workspace_id="ws1", currency="USD") == pytest.approx(10.5)
        assert value(p, "streaming_obs.workspace.cost_anomalies_open", workspace_id="ws1") == 2
        assert value(p, "streaming_obs.cost_gauges.last_refresh_timestamp") == pytest.approx(time.time(), abs=300)

        def broken(*a, **k):
            raise RuntimeError("gold unreadable")

        monkeypatch.setattr("streaming_obs.telemetry.cost_gauges.read_cost_snapshot", broken)
        assert gauges.refresh() is False
        p = points(reader)
        assert value(p, "streaming_obs.cost_gauges.refresh_failures") == 1
        # the last good snapshot stays exported
        assert value(p, "streaming_obs.workspace.list_cost_today", workspace_id="ws2", currency="USD") == pytest.approx(2.0)
    finally:
        gauges.stop()
        tel.shutdown(timeout_s=5)


def documented_names() -> dict[str, str]:
    """{Prometheus name: type} from the table in docs/metrics.md."""
    rows = re.findall(r"^\| `(streaming_obs_[a-z0-9_]+)` \| (\w+) \|", (ROOT / "docs" / "metrics.md").read_text(), re.M)
    return dict(rows)


def test_every_documented_metric_is_exposed_under_its_documented_name(spark, gold_root):
    """Start the real thing (Prometheus endpoint on a free port, OTLP to a dead collector, the
    listener on the session, cost gauges on gold), feed it the golden events, scrape it."""
    settings = _settings(
        gold_root,
        prometheus={"enabled": True, "port": 0},
        otlp={"enabled": True, "endpoint": f"http://127.0.0.1:{free_port()}", "timeout_seconds": 1},
        export_interval_seconds=0.5,
        breaker_failure_threshold=1,
        breaker_call_timeout_seconds=0.5,
        cost_metrics_interval_seconds=3600,
    )
    # the fixture holds TODAY's rows: pin the gauges' clock so a run across midnight reads them
    tel = Telemetry.start(spark, settings, Tables(settings), today=lambda: TODAY)
    try:
        assert tel.prometheus_url and re.match(r"http://127\.0\.0\.1:\d+/metrics$", tel.prometheus_url)
        events = load_json("query_events.json")
        lst = tel.listener
        tel.register_query(
            "bronze_billing_usage", layer="bronze", source="billing_usage", target="plt_bronze.billing_usage"
        )
        lst.onQueryStarted(QueryStartedEvent.fromJson(events["started"]))
        for name in (
            "progress_bronze_first_batch.json",
            "progress_synthetic_latest_offset.json",
            "progress_gold_stateful.json",
        ):
            lst.onQueryProgress(QueryProgressEvent.fromJson({"progress": load_json(name)}))
        lst.onQueryTerminated(QueryTerminatedEvent.fromJson(events["terminated_error"]))
        tel.record_restart("bronze_billing_usage", "ValueError")
        lst.onQueryProgress(QueryProgressEvent.fromJson({"progress": load_json("progress_bronze_next_batch.json")}))
        tel.record_batch_write("bronze_billing_usage", "plt_bronze.billing_usage", 20)
        tel.record_reconciliation({("cost_by_job_daily", "list_cost"): 0.0})  # a gold batch's check
        wait_until(tel.refresh_cost_gauges, 300, interval_s=1, what="cost gauges read")
        assert tel.worker.drain(10)
        wait_until(lambda: tel.breaker_states["otlp"] == "open", 20, what="breaker to open on the dead collector")

        families = list(text_string_to_metric_families(http_get(tel.prometheus_url)))
        samples = {s.name for f in families for s in f.samples}
        exposed = {f.name for f in families if f.name.startswith("streaming_obs")}
        documented = documented_names()
        assert set(documented) == {s.prometheus_name for s in SPECS}
        for name, kind in documented.items():
            wanted = name + "_bucket" if kind == "histogram" else name
            assert wanted in samples, f"{name} ({kind}) is documented but not exposed"
        # nothing exposed that the docs do not list (counter families drop their _total)
        bases = {n[: -len("_total")] if k == "counter" else n for n, k in documented.items()}
        assert exposed <= bases, f"undocumented: {sorted(exposed - bases)}"
        info = next(f for f in families if f.name == "target_info")
        labels = info.samples[0].labels
        assert labels["service_name"] == "streaming_obs"
        assert labels["deployment_environment_name"] == "local"
        assert labels["service_version"]
    finally:
        t0 = time.monotonic()
        tel.shutdown(timeout_s=5)
        assert time.monotonic() - t0 < 10
    with pytest.raises(OSError):
        http_get(tel.prometheus_url, timeout_s=2)  # the endpoint is gone after shutdown
