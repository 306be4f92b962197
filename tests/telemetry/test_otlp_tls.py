"""OTLP over TLS into the real OpenTelemetry Collector, with a certificate authority made by openssl.

The collector (built by .ci/build-otelcol.sh) listens on loopback with a server certificate signed
by a throw-away CA. Our exporter verifies it with the CA given the way an operator would: the
SDK's own ``OTEL_EXPORTER_OTLP_CERTIFICATE`` variable, or ``telemetry.otlp.certificate``; without
the CA the handshake fails and nothing arrives. No network beyond 127.0.0.1, no mocks.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult
from opentelemetry.sdk.resources import Resource

from streaming_obs.config.models import OtlpConfig
from streaming_obs.telemetry.exporters import build_otlp_exporter
from tests.telemetry.telemetry_helpers import free_port, stop_process, wait_until

pytestmark = pytest.mark.timeout(600)

_OTEL_TLS_VARS = (
    "OTEL_EXPORTER_OTLP_CLIENT_KEY", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY", "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_INSECURE",
    "OTEL_EXPORTER_OTLP_METRICS_INSECURE", "OTEL_EXPORTER_OTLP_CERTIFICATE", "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_METRICS_HEADERS", "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
)


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"openssl {' '.join(args)} failed: {proc.stderr}"


def _make_pki(tmp: Path) -> dict[str, Path]:
    """A CA and a server certificate for 127.0.0.1/localhost signed by it, plus an unrelated CA."""
    assert shutil.which("openssl"), "openssl is needed to make the test certificates"
    for name in ("ca", "other_ca"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN=streaming_obs test {name}",
                 "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                 "-keyout", f"{name}.key", "-out", f"{name}.pem", cwd=tmp)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
             "-keyout", "server.key", "-out", "server.csr", cwd=tmp)
    (tmp / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
    )
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "1", "-extfile", "server.ext", "-out", "server.pem", cwd=tmp)
    # a client certificate for mutual TLS, signed by the same CA
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=streaming_obs", "-keyout", "client.key",
             "-out", "client.csr", cwd=tmp)
    (tmp / "client.ext").write_text("extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n")
    _openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "1", "-extfile", "client.ext", "-out", "client.pem", cwd=tmp)
    return {n: tmp / f"{n}.pem" for n in ("ca", "other_ca", "server", "client")} | {
        "server_key": tmp / "server.key", "client_key": tmp / "client.key"}


@pytest.fixture(scope="module")
def tls_collector(otelcol_bin, tmp_path_factory):
    """The real collector with TLS on its gRPC and HTTP OTLP receivers; yields ports, PKI and output file."""
    tmp = tmp_path_factory.mktemp("otlp_tls")
    pki = _make_pki(tmp)
    grpc_port, http_port, mtls_port = free_port(), free_port(), free_port()
    out = tmp / "metrics.jsonl"
    tls = f"tls: {{cert_file: {pki['server']}, key_file: {pki['server_key']}}}"
    mtls = f"tls: {{cert_file: {pki['server']}, key_file: {pki['server_key']}, client_ca_file: {pki['ca']}}}"
    cfg = tmp / "otelcol.yaml"
    cfg.write_text(
        f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
        {tls}
      http:
        endpoint: 127.0.0.1:{http_port}
        {tls}
  otlp/mtls:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{mtls_port}
        {mtls}
exporters:
  file:
    path: {out}
    flush_interval: 100ms
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    metrics:
      receivers: [otlp, otlp/mtls]
      exporters: [file]
"""
    )
    log = tmp / "otelcol.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([otelcol_bin, f"--config={cfg}"], stdout=fh, stderr=subprocess.STDOUT)
    try:
        for port in (grpc_port, http_port, mtls_port):
            wait_until(lambda p=port: socket.create_connection(("127.0.0.1", p), timeout=1).close() or True, 60,
                       what=f"the collector on port {port}")
        assert proc.poll() is None, log.read_text()
        yield {"grpc": grpc_port, "http": http_port, "mtls": mtls_port, "pki": pki, "out": out, "log": log}
    finally:
        stop_process(proc)


@pytest.fixture
def clean_otel_env(monkeypatch):
    for var in _OTEL_TLS_VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def _metrics(probe: str):
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], resource=Resource({"service.name": "tls-test"}))
    provider.get_meter("tls").create_counter(probe, unit="{probe}").add(1)
    data = reader.get_metrics_data()
    provider.shutdown()
    return data


def _received(out: Path) -> set[str]:
    if not out.exists():
        return set()
    names = set()
    for line in out.read_text().splitlines():
        if line.strip():
            for rm in json.loads(line)["resourceMetrics"]:
                for sm in rm["scopeMetrics"]:
                    names.update(m["name"] for m in sm["metrics"])
    return names


def _export(cfg: OtlpConfig, probe: str) -> MetricExportResult:
    exporter = build_otlp_exporter(cfg, environ={})
    try:
        return exporter.export(_metrics(probe), timeout_millis=5_000)
    finally:
        exporter.shutdown()


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_tls_with_the_ca_from_the_sdk_variable(tls_collector, clean_otel_env, protocol):
    """Only the SDK's own variable names the CA; the config sets no TLS option at all."""
    port = tls_collector["grpc" if protocol == "grpc" else "http"]
    clean_otel_env.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", str(tls_collector["pki"]["ca"]))
    # containers often set this; it must not replace the CA we were given (psf/requests#3829)
    clean_otel_env.setenv("REQUESTS_CA_BUNDLE", str(tls_collector["pki"]["other_ca"]))
    cfg = OtlpConfig(enabled=True, protocol=protocol, endpoint=f"https://127.0.0.1:{port}", headers={"x-api-key": "k"})
    probe = f"tls_probe_env_{protocol.split('/')[0]}"
    assert _export(cfg, probe) is MetricExportResult.SUCCESS
    wait_until(lambda: probe in _received(tls_collector["out"]), 30, what="the metric in the collector")


def test_grpc_tls_with_the_ca_from_config(tls_collector, clean_otel_env):
    cfg = OtlpConfig(enabled=True, endpoint=f"127.0.0.1:{tls_collector['grpc']}", insecure=False,
                     certificate=str(tls_collector["pki"]["ca"]))
    assert _export(cfg, "tls_probe_grpc_cfg") is MetricExportResult.SUCCESS
    wait_until(lambda: "tls_probe_grpc_cfg" in _received(tls_collector["out"]), 30, what="the metric in the collector")


def test_http_tls_with_the_ca_from_config(tls_collector, clean_otel_env):
    cfg = OtlpConfig(enabled=True, protocol="http/protobuf", endpoint=f"https://127.0.0.1:{tls_collector['http']}",
                     certificate=str(tls_collector["pki"]["ca"]))
    assert _export(cfg, "tls_probe_http_cfg") is MetricExportResult.SUCCESS
    wait_until(lambda: "tls_probe_http_cfg" in _received(tls_collector["out"]), 30, what="the metric in the collector")


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_tls_fails_to_verify_without_the_ca(tls_collector, clean_otel_env, protocol):
    port = tls_collector["grpc" if protocol == "grpc" else "http"]
    # The system trust store does not know our CA; neither does an unrelated one.
    for ca in (None, str(tls_collector["pki"]["other_ca"])):
        probe = f"tls_probe_unverified_{protocol.split('/')[0]}_{'other' if ca else 'none'}"
        cfg = OtlpConfig(enabled=True, protocol=protocol, endpoint=f"https://127.0.0.1:{port}", certificate=ca,
                         timeout_seconds=2)
        assert _export(cfg, probe) is MetricExportResult.FAILURE
        assert probe not in _received(tls_collector["out"])


def test_plaintext_is_not_accepted_by_a_tls_receiver(tls_collector, clean_otel_env):
    cfg = OtlpConfig(enabled=True, endpoint=f"http://127.0.0.1:{tls_collector['grpc']}", timeout_seconds=2)
    assert _export(cfg, "tls_probe_plaintext") is MetricExportResult.FAILURE
    assert "tls_probe_plaintext" not in _received(tls_collector["out"])


def test_mutual_tls_with_the_client_certificate_from_config_or_variables(tls_collector, clean_otel_env):
    pki, endpoint = tls_collector["pki"], f"https://127.0.0.1:{tls_collector['mtls']}"
    cfg = OtlpConfig(enabled=True, endpoint=endpoint, certificate=str(pki["ca"]),
                     client_key=str(pki["client_key"]), client_certificate=str(pki["client"]))
    assert _export(cfg, "tls_probe_mtls_cfg") is MetricExportResult.SUCCESS
    for var, key in (("CERTIFICATE", "ca"), ("CLIENT_KEY", "client_key"), ("CLIENT_CERTIFICATE", "client")):
        clean_otel_env.setenv(f"OTEL_EXPORTER_OTLP_{var}", str(pki[key]))
    assert _export(OtlpConfig(enabled=True, endpoint=endpoint), "tls_probe_mtls_env") is MetricExportResult.SUCCESS
    wait_until(lambda: {"tls_probe_mtls_cfg", "tls_probe_mtls_env"} <= _received(tls_collector["out"]), 30,
               what="both metrics in the collector")
    # the server's CA alone is not enough: the collector wants our certificate
    clean_otel_env.delenv("OTEL_EXPORTER_OTLP_CLIENT_KEY")
    clean_otel_env.delenv("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE")
    no_client = OtlpConfig(enabled=True, endpoint=endpoint, timeout_seconds=2)
    assert _export(no_client, "tls_probe_mtls_none") is MetricExportResult.FAILURE
    assert "tls_probe_mtls_none" not in _received(tls_collector["out"])
