"""The MeterProvider and its readers: OTLP (gRPC or HTTP, behind a circuit breaker) and Prometheus.

Resource attributes: `service.name` (telemetry.service_name), `service.version` (the wheel),
`deployment.environment.name` (settings.env) and a per-process `service.instance.id`; the
standard `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` override them.

OTLP settings: a value in the config wins; what the config leaves empty (endpoint, headers) is
taken by the exporter from `OTEL_EXPORTER_OTLP_METRICS_*` / `OTEL_EXPORTER_OTLP_*`. The protocol
always has a config value, so `OTEL_EXPORTER_OTLP_METRICS_PROTOCOL` / `OTEL_EXPORTER_OTLP_PROTOCOL`
override it when set. `OTEL_SDK_DISABLED=true` turns every exporter off.

The Prometheus endpoint uses its own `CollectorRegistry` (not prometheus_client's global one), so
several providers in one process never clash; port 0 picks a free port.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from streaming_obs.telemetry.breaker import CircuitBreakerExporter
from streaming_obs.telemetry.preflight import prometheus_start_error

if TYPE_CHECKING:
    from streaming_obs.config.models import OtlpConfig, Settings

__all__ = ["TelemetryPipeline", "PrometheusEndpoint", "build_resource", "build_otlp_exporter", "build_pipeline"]

_log = logging.getLogger(__name__)


def _version() -> str:
    try:
        from streaming_obs import __version__

        return __version__
    except Exception:  # pragma: no cover - only a broken install lands here
        return "unknown"


def _env_resource(env: Mapping[str, str]) -> dict[str, str]:
    """OTEL_RESOURCE_ATTRIBUTES (k=v,k=v, URL-encoded values) then OTEL_SERVICE_NAME, as the SDK reads them."""
    attrs: dict[str, str] = {}
    for item in (env.get("OTEL_RESOURCE_ATTRIBUTES") or "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            attrs[key.strip()] = unquote(value.strip())
    if env.get("OTEL_SERVICE_NAME"):
        attrs["service.name"] = env["OTEL_SERVICE_NAME"]
    return attrs


def build_resource(settings: Settings, environ: Mapping[str, str] | None = None) -> Resource:
    """Resource of every metric; OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES win over config."""
    env = os.environ if environ is None else environ
    attrs = {
        "service.name": settings.telemetry.service_name,
        "service.version": _version(),
        "deployment.environment.name": settings.env,
        "service.instance.id": str(uuid.uuid4()),
    }
    attrs.update(_env_resource(env))
    return Resource.create(attrs)


def _protocol(cfg: OtlpConfig, environ: Mapping[str, str]) -> str:
    for var in ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        value = (environ.get(var) or "").strip()
        if value in ("grpc", "http/protobuf"):
            return value
        if value:
            _log.warning("%s=%s is not supported (grpc | http/protobuf); using %s", var, value, cfg.protocol)
    return cfg.protocol


def build_otlp_exporter(cfg: OtlpConfig, environ: Mapping[str, str] | None = None) -> MetricExporter:
    """The OTLP metric exporter the config (and OTEL_* variables) ask for."""
    env = os.environ if environ is None else environ
    headers = dict(cfg.headers) or None
    if _protocol(cfg, env) == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcExporter

        return GrpcExporter(endpoint=cfg.endpoint, insecure=cfg.insecure, headers=headers, timeout=cfg.timeout_seconds)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpExporter

    endpoint = cfg.endpoint
    if endpoint and not endpoint.rstrip("/").endswith("/v1/metrics"):
        # The HTTP exporter uses an explicit endpoint verbatim; accept the collector's base URL.
        endpoint = endpoint.rstrip("/") + "/v1/metrics"
    return HttpExporter(endpoint=endpoint, headers=headers, timeout=cfg.timeout_seconds)


@dataclass
class PrometheusEndpoint:
    """The scrape endpoint: reader, private registry and HTTP server."""

    reader: MetricReader
    registry: Any
    server: Any
    thread: Any
    host: str
    port: int

    @property
    def url(self) -> str:
        """Scrape URL, e.g. http://127.0.0.1:9464/metrics."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving (idempotent)."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def _start_prometheus(host: str, port: int) -> PrometheusEndpoint:
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry(auto_describe=True)
    reader = PrometheusMetricReader(scope_info_enabled=False, registry=registry)
    server, thread = start_http_server(port, addr=host, registry=registry)
    bound = server.server_address[1]
    return PrometheusEndpoint(reader, registry, server, thread, host, int(bound))


@dataclass
class TelemetryPipeline:
    """A MeterProvider with its readers; `breakers` and `prometheus` for self-monitoring."""

    provider: MeterProvider
    breakers: list[CircuitBreakerExporter] = field(default_factory=list)
    prometheus: PrometheusEndpoint | None = None

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Flush and stop everything, bounded by `timeout_s` plus the breaker's call timeout."""
        millis = max(1.0, timeout_s * 1000.0)
        try:
            self.provider.force_flush(timeout_millis=millis)
        except Exception as exc:
            _log.warning("telemetry flush failed: %r", exc)
        try:
            self.provider.shutdown(timeout_millis=millis)
        except Exception as exc:
            _log.warning("telemetry shutdown failed: %r", exc)
        if self.prometheus is not None:
            self.prometheus.close()


def _sdk_disabled(environ: Mapping[str, str]) -> bool:
    return (environ.get("OTEL_SDK_DISABLED") or "").strip().lower() == "true"


def build_pipeline(
    settings: Settings,
    *,
    extra_readers: Sequence[MetricReader] = (),
    environ: Mapping[str, str] | None = None,
) -> TelemetryPipeline:
    """Build the MeterProvider the settings describe (never installed as the global one).

    Raises:
        TelemetryStartError: the Prometheus port is taken or its host cannot be served (one
            line naming the file and key).
    """
    env = os.environ if environ is None else environ
    tel = settings.telemetry
    readers: list[MetricReader] = list(extra_readers)
    breakers: list[CircuitBreakerExporter] = []
    prometheus = None
    if _sdk_disabled(env):
        _log.info("OTEL_SDK_DISABLED=true: no metrics are exported")
    else:
        if tel.otlp.enabled:
            breaker = CircuitBreakerExporter(
                build_otlp_exporter(tel.otlp, env),
                name="otlp",
                failure_threshold=tel.breaker_failure_threshold,
                reset_seconds=tel.breaker_reset_seconds,
                call_timeout_s=tel.breaker_call_timeout_seconds,
            )
            breakers.append(breaker)
            readers.append(
                PeriodicExportingMetricReader(
                    breaker,
                    export_interval_millis=tel.export_interval_seconds * 1000.0,
                    export_timeout_millis=tel.breaker_call_timeout_seconds * 1000.0,
                )
            )
        if tel.prometheus.enabled:
            try:
                prometheus = _start_prometheus(tel.prometheus.host, tel.prometheus.port)
            except OSError as exc:  # socket.gaierror included
                for breaker in breakers:  # do not leave the export thread behind
                    breaker.shutdown(timeout_millis=100)
                raise prometheus_start_error(settings, exc) from None
            readers.append(prometheus.reader)
    provider = MeterProvider(metric_readers=readers, resource=build_resource(settings, env))
    return TelemetryPipeline(provider, breakers, prometheus)
