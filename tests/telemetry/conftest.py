"""Fixtures of the telemetry tests: an in-memory Telemetry, and the real servers' binaries."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from streaming_obs.telemetry import Telemetry
from tests.telemetry.telemetry_helpers import ROOT, ensure_binary


@pytest.fixture
def mem_telemetry(make_settings):
    """(Telemetry without Spark, InMemoryMetricReader); no exporter, no listener registration."""
    reader = InMemoryMetricReader()
    settings = make_settings(telemetry={"prometheus": {"enabled": False}, "otlp": {"enabled": False}})
    tel = Telemetry.start(None, settings, extra_readers=[reader], cost_gauges=False)
    try:
        yield tel, reader
    finally:
        tel.shutdown(timeout_s=5)


@pytest.fixture(scope="session")
def prometheus_bins() -> dict[str, str]:
    """Paths of `prometheus` and `promtool`; installs Debian's package via .ci/install-prometheus.sh."""
    return ensure_binary(["prometheus", "promtool"], "install-prometheus.sh")


@pytest.fixture(scope="session")
def otelcol_bin() -> str:
    """Path of the collector built from docker/otelcol-builder.yaml (cached by .ci/build-otelcol.sh)."""
    import subprocess

    proc = subprocess.run([str(ROOT / ".ci" / "build-otelcol.sh")], capture_output=True, text=True, timeout=3600)
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0 and lines, (
        f".ci/build-otelcol.sh failed (rc={proc.returncode}); the real-collector test cannot run:\n"
        f"{proc.stderr[-4000:]}"
    )
    return lines[-1]
