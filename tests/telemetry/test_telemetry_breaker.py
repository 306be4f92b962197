"""The circuit breaker with a real OTLP/gRPC exporter pointed at a closed loopback port, then at a
receiver that comes up (opentelemetry-proto + grpcio, in-process)."""

from __future__ import annotations

import time

from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult

from streaming_obs.telemetry import Telemetry
from streaming_obs.telemetry.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreakerExporter
from tests.telemetry.telemetry_helpers import OtlpReceiver, free_port, points, value, wait_until

CALL_TIMEOUT = 0.5
BOUND = CALL_TIMEOUT + 0.5  # what "never blocks beyond a small bound" means here


def _data():
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    counter = provider.get_meter("t").create_counter("streaming_obs.test.rows")
    counter.add(3, {"query": "q"})
    counter.add(4, {"query": "r"})
    data = reader.get_metrics_data()
    provider.shutdown()
    return data


def _timed_export(breaker, data):
    t0 = time.monotonic()
    result = breaker.export(data, timeout_millis=10_000)
    return result, time.monotonic() - t0


def test_dead_collector_is_bounded_counted_and_recovers():
    port = free_port()  # nothing listens here until the receiver starts
    exporter = OTLPMetricExporter(endpoint=f"127.0.0.1:{port}", insecure=True, timeout=2)
    breaker = CircuitBreakerExporter(
        exporter, name="otlp", failure_threshold=2, reset_seconds=1.5, call_timeout_s=CALL_TIMEOUT
    )
    data = _data()
    receiver = None
    try:
        # closed: every call fails, none waits longer than the bound
        results = []
        for _ in range(4):
            result, took = _timed_export(breaker, data)
            assert took < BOUND, f"export blocked {took:.2f}s"
            results.append(result)
            time.sleep(0.1)
        assert all(r is MetricExportResult.FAILURE for r in results)
        assert breaker.state == OPEN
        assert breaker.failures >= 2
        assert breaker.dropped_points == 4 * 2  # 2 data points per export, all dropped

        # open: dropped at once, without touching the network
        result, took = _timed_export(breaker, data)
        assert result is MetricExportResult.FAILURE and took < 0.05
        assert breaker.dropped_points == 5 * 2

        # the collector comes back: after reset_seconds one probe goes through and closes it
        receiver = OtlpReceiver(port).start()
        wait_until(lambda: breaker.state == HALF_OPEN, 5, what="half-open")

        def probe_ok():
            result, took = _timed_export(breaker, data)
            assert took < BOUND + 0.5
            return result is MetricExportResult.SUCCESS

        wait_until(probe_ok, 15, interval_s=0.3, what="export to resume")
        assert breaker.state == CLOSED
        assert "streaming_obs.test.rows" in receiver.metric_names()
        result, took = _timed_export(breaker, data)
        assert result is MetricExportResult.SUCCESS and took < BOUND
    finally:
        breaker.shutdown(timeout_millis=2000)
        if receiver is not None:
            receiver.stop()


def test_dead_collector_never_slows_recording_and_shutdown_is_bounded(make_settings):
    port = free_port()
    reader = InMemoryMetricReader()
    settings = make_settings(
        telemetry={
            "export_interval_seconds": 0.2,
            "otlp": {"enabled": True, "endpoint": f"http://127.0.0.1:{port}", "timeout_seconds": 5},
            "breaker_failure_threshold": 1,
            "breaker_reset_seconds": 60,
            "breaker_call_timeout_seconds": CALL_TIMEOUT,
        }
    )
    tel = Telemetry.start(None, settings, extra_readers=[reader], cost_gauges=False)
    try:
        t0 = time.monotonic()
        for i in range(2000):  # what batches do: record in memory
            tel.record_batch_write("q", "t", i)
        assert time.monotonic() - t0 < 1.0
        wait_until(lambda: tel.breaker_states["otlp"] == OPEN, 10, what="breaker to open")
        wait_until(
            lambda: value(points(reader), "streaming_obs.telemetry.dropped_points", exporter="otlp") > 0,
            10,
            what="dropped points to be counted",
        )
        p = points(reader)
        assert value(p, "streaming_obs.telemetry.breaker_state", exporter="otlp") == 1
        assert value(p, "streaming_obs.telemetry.export_failures", exporter="otlp") >= 1
    finally:
        t0 = time.monotonic()
        tel.shutdown(timeout_s=2)
        assert time.monotonic() - t0 < 2 + BOUND + 1
