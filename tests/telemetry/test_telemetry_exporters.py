"""MeterProvider construction: resource attributes, OTLP selection from config and OTEL_* variables,
the Prometheus endpoint, and the public API."""

from __future__ import annotations

import inspect

import pytest
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpExporter

import streaming_obs
import streaming_obs.telemetry as telemetry
from streaming_obs.config.models import OtlpConfig
from streaming_obs.errors import TelemetryStartError
from streaming_obs.telemetry import Telemetry
from streaming_obs.telemetry.exporters import build_otlp_exporter, build_pipeline, build_resource
from tests.telemetry.telemetry_helpers import http_get


def test_public_api():
    for name in telemetry.__all__:
        assert getattr(telemetry, name) is not None
    for method in ("start", "register_query", "record_restart", "record_batch_write", "shutdown"):
        assert callable(getattr(Telemetry, method))
    assert isinstance(inspect.getattr_static(Telemetry, "prometheus_url"), property)
    params = inspect.signature(Telemetry.register_query).parameters
    assert all(params[p].kind is inspect.Parameter.KEYWORD_ONLY for p in ("layer", "source", "target"))
    assert "timeout_s" in inspect.signature(Telemetry.shutdown).parameters


def test_resource_attributes_and_env_overrides(settings):
    attrs = build_resource(settings, environ={}).attributes
    assert attrs["service.name"] == "streaming_obs"
    assert attrs["service.version"] == streaming_obs.__version__
    assert attrs["deployment.environment.name"] == "local"
    assert attrs["service.instance.id"]
    env = {
        "OTEL_SERVICE_NAME": "obs-eu",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=prod-eu,team=data%20platform",
    }
    attrs = build_resource(settings, environ=env).attributes
    assert attrs["service.name"] == "obs-eu"
    assert attrs["deployment.environment.name"] == "prod-eu"
    assert attrs["team"] == "data platform"


def test_otlp_protocol_endpoint_and_headers():
    grpc = build_otlp_exporter(
        OtlpConfig(enabled=True, endpoint="http://collector:4317", headers={"k": "v"}), environ={}
    )
    assert isinstance(grpc, GrpcExporter)
    assert grpc._endpoint == "collector:4317" and ("k", "v") in grpc._headers
    grpc.shutdown()
    http = build_otlp_exporter(
        OtlpConfig(enabled=True, protocol="http/protobuf", endpoint="http://collector:4318"), environ={}
    )
    assert isinstance(http, HttpExporter)
    assert http._endpoint == "http://collector:4318/v1/metrics"
    http.shutdown()
    # the standard variable overrides the protocol the config always has
    env_http = build_otlp_exporter(
        OtlpConfig(enabled=True, endpoint="http://c:4318"),
        environ={"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf"},
    )
    assert isinstance(env_http, HttpExporter)
    env_http.shutdown()


def test_otlp_endpoint_falls_back_to_otel_variables(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://from-env:4317")
    exporter = build_otlp_exporter(OtlpConfig(enabled=True), environ={})
    assert exporter._endpoint == "from-env:4317"
    exporter.shutdown()


def test_sdk_disabled_builds_no_exporter(settings):
    pipeline = build_pipeline(
        settings.model_copy(
            update={"telemetry": settings.telemetry.model_copy(update={"otlp": OtlpConfig(enabled=True)})}
        ),
        environ={"OTEL_SDK_DISABLED": "true"},
    )
    try:
        assert pipeline.breakers == [] and pipeline.prometheus is None
    finally:
        pipeline.shutdown(1)


def test_prometheus_endpoint_on_a_free_port(make_settings):
    settings = make_settings(telemetry={"prometheus": {"enabled": True, "port": 0}})
    one = Telemetry.start(None, settings, cost_gauges=False)
    two = Telemetry.start(None, settings, cost_gauges=False)  # private registries: no clash
    try:
        assert one.prometheus_url != two.prometheus_url
        one.record_batch_write("q", "t", 7)
        text = http_get(one.prometheus_url)
        assert 'streaming_obs_batch_rows_written_total{query="q",table="t"} 7.0' in text
        assert "streaming_obs_batch_rows_written_total" not in http_get(two.prometheus_url)
    finally:
        one.shutdown(timeout_s=2)
        two.shutdown(timeout_s=2)
    one.shutdown()  # idempotent


def test_port_in_use_is_an_error(make_settings):
    settings = make_settings(telemetry={"prometheus": {"enabled": True, "port": 0}})
    first = Telemetry.start(None, settings, cost_gauges=False)
    try:
        port = int(first.prometheus_url.rsplit(":", 1)[1].split("/")[0])
        clash = make_settings(telemetry={"prometheus": {"enabled": True, "port": port}})
        with pytest.raises(TelemetryStartError) as exc:
            Telemetry.start(None, clash, cost_gauges=False)
        assert exc.value.key == "telemetry.prometheus.port" and exc.value.source == "<overrides>"
        assert f"127.0.0.1:{port}" in str(exc.value) and "\n" not in str(exc.value)
    finally:
        first.shutdown(timeout_s=2)
