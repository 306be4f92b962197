"""MeterProvider construction: resource attributes, OTLP selection from config and OTEL_* variables,
the Prometheus endpoint, and the public API."""

from __future__ import annotations

import inspect
import json

import pytest
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpExporter

import streaming_obs
import streaming_obs.telemetry as telemetry
from streaming_obs.config import load_settings
from streaming_obs.config.models import OtlpConfig
from streaming_obs.errors import ConfigError, TelemetryStartError
from streaming_obs.telemetry import Telemetry
from streaming_obs.telemetry.exporters import build_otlp_exporter, build_pipeline, build_resource
from tests.telemetry.telemetry_helpers import ROOT, http_get


def test_public_api():
    for name in telemetry.__all__:
        assert getattr(telemetry, name) is not None
    for method in ("start", "register_query", "record_restart", "record_batch_write", "shutdown"):
        assert callable(getattr(Telemetry, method))
    assert isinstance(inspect.getattr_static(Telemetry, "prometheus_url"), property)
    params = inspect.signature(Telemetry.register_query).parameters
    assert all(params[p].kind is inspect.Parameter.KEYWORD_ONLY for p in ("layer", "source", "target"))
    assert "timeout_s" in inspect.signature(Telemetry.shutdown).parameters


def test_resource_attributes_and_env_overrides(settings, monkeypatch):
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    attrs = build_resource(settings).attributes
    assert attrs["service.name"] == "streaming_obs"
    assert attrs["service.version"] == streaming_obs.__version__
    assert attrs["deployment.environment.name"] == "local"
    assert attrs["service.instance.id"]
    assert attrs["telemetry.sdk.name"] == "opentelemetry"  # the SDK's default resource is kept
    # The SDK's OTELResourceDetector reads these; they win over config.
    monkeypatch.setenv("OTEL_SERVICE_NAME", "obs-eu")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=prod-eu,team=data%20platform")
    attrs = build_resource(settings).attributes
    assert attrs["service.name"] == "obs-eu"
    assert attrs["deployment.environment.name"] == "prod-eu"
    assert attrs["team"] == "data platform"
    assert attrs["service.version"] == streaming_obs.__version__


def test_otlp_protocol_endpoint_and_headers():
    grpc = build_otlp_exporter(
        OtlpConfig(enabled=True, endpoint="http://collector:4317", headers={"k": "v"}), environ={}
    )
    assert isinstance(grpc, GrpcExporter)
    assert grpc._endpoint == "collector:4317" and ("k", "v") in grpc._headers
    assert grpc._insecure  # unset in config: the SDK takes plaintext from the http:// scheme
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


def test_sdk_variables_apply_when_config_leaves_them_unset(monkeypatch):
    """INSECURE, TIMEOUT and HEADERS reach the exporter from the SDK's own variables."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_INSECURE", "false")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "7")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "api-key=from-env")
    exporter = build_otlp_exporter(OtlpConfig(enabled=True), environ={})
    try:
        assert exporter._insecure is False
        assert exporter._timeout == 7
        assert ("api-key", "from-env") in exporter._headers
    finally:
        exporter.shutdown()
    # a value set in the config wins over the variable
    explicit = build_otlp_exporter(
        OtlpConfig(enabled=True, insecure=True, timeout_seconds=2, headers={"api-key": "cfg"}), environ={}
    )
    try:
        assert explicit._insecure is True and explicit._timeout == 2
        assert ("api-key", "cfg") in explicit._headers
    finally:
        explicit.shutdown()


def test_config_certificate_must_be_readable(tmp_path):
    with pytest.raises(ConfigError, match=r"telemetry\.otlp\.certificate: cannot read"):
        build_otlp_exporter(OtlpConfig(enabled=True, certificate=str(tmp_path / "missing.pem")), environ={})
    http = build_otlp_exporter(
        OtlpConfig(enabled=True, protocol="http/protobuf", certificate="/ca.pem", client_key="/k.pem",
                   client_certificate="/c.pem"),
        environ={},
    )
    try:
        session = http._client._transport._session
        assert session.verify == "/ca.pem" and session.cert == ("/c.pem", "/k.pem")
    finally:
        http.shutdown()


def test_client_key_needs_its_certificate():
    with pytest.raises(ValueError, match="client_key and client_certificate"):
        OtlpConfig(client_key="/k.pem")


@pytest.mark.parametrize(
    ("configured", "variable", "expected_ms"),
    [(2.5, "999", 2500.0), (None, "1500", 1500.0), (None, None, 10_000.0), (None, "soon", 10_000.0)],
)
def test_export_interval_config_then_variable_then_default(make_settings, configured, variable, expected_ms):
    settings = make_settings(telemetry={"export_interval_seconds": configured,
                                        "otlp": {"enabled": True, "endpoint": "http://127.0.0.1:9"}})
    env = {} if variable is None else {"OTEL_METRIC_EXPORT_INTERVAL": variable}
    pipeline = build_pipeline(settings, environ=env)
    try:
        [reader] = pipeline.provider._metric_readers
        assert reader._export_interval_millis == expected_ms
    finally:
        pipeline.shutdown(0.5)


def test_headers_are_secret_everywhere(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    for name in ("base", "local"):
        (conf / f"{name}.yaml").write_text((ROOT / "conf" / f"{name}.yaml").read_text())
    settings = load_settings(
        "local", config_dir=conf,
        environ={"STREAMING_OBS_TELEMETRY__OTLP__HEADERS": "{authorization: Bearer s3cr3t-token}"},
    )
    otlp = settings.telemetry.otlp
    assert otlp.headers["authorization"].get_secret_value() == "Bearer s3cr3t-token"
    for text in (repr(settings), str(settings), json.dumps(settings.model_dump(mode="json")), repr(otlp)):
        assert "s3cr3t" not in text


def test_prod_refuses_plaintext_headers_from_config(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    for name in ("base", "prod"):
        (conf / f"{name}.yaml").write_text((ROOT / "conf" / f"{name}.yaml").read_text())
    with (conf / "prod.yaml").open("a") as fh:
        fh.write("\n# test\ntelemetry:\n  otlp: {enabled: true, endpoint: 'http://c:4317', headers: {k: v}}\n"
                 "  prometheus: {enabled: false}\n")
    with pytest.raises(ConfigError) as err:
        load_settings("prod", config_dir=conf, environ={})
    assert str(err.value).startswith(f"{conf}/prod.yaml: telemetry.otlp.endpoint: prod refuses")
    # https (TLS) with the same headers is fine; so is plaintext without headers, or outside prod
    load_settings("prod", config_dir=conf, environ={}, overrides={"telemetry": {"otlp": {"endpoint": "https://c:4317"}}})
    with pytest.raises(ConfigError, match=r"telemetry\.otlp\.insecure: prod refuses"):
        load_settings("prod", config_dir=conf, environ={},
                      overrides={"telemetry": {"otlp": {"endpoint": "https://c:4317", "insecure": True}}})
    (conf / "prod.yaml").write_text((conf / "prod.yaml").read_text().replace(", headers: {k: v}", ""))
    assert load_settings("prod", config_dir=conf, environ={}).telemetry.otlp.plaintext()  # no headers: allowed


def test_prod_refuses_plaintext_headers_from_variables(make_settings, monkeypatch):
    settings = make_settings(telemetry={"otlp": {"enabled": True}}).model_copy(update={"env": "prod"})
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "api-key=secret")
    with pytest.raises(ConfigError, match="prod refuses to send OTLP headers in plaintext"):
        build_pipeline(settings, environ={})
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4317")
    build_pipeline(settings, environ={}).shutdown(0.5)
    http = settings.model_copy(update={"telemetry": settings.telemetry.model_copy(
        update={"otlp": OtlpConfig(enabled=True, protocol="http/protobuf", endpoint="http://c:4318")})})
    with pytest.raises(ConfigError, match="prod refuses"):
        build_pipeline(http, environ={})
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_HEADERS")
    build_pipeline(http, environ={}).shutdown(0.5)  # no headers: nothing to leak


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
