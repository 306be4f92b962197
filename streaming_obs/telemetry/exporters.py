"""The MeterProvider and its readers: OTLP (gRPC or HTTP, behind a circuit breaker) and Prometheus.

Resource: the SDK's `OTELResourceDetector` (``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_SERVICE_NAME``)
merged over ours: `service.name` (telemetry.service_name), `service.version` (the wheel),
`deployment.environment.name` (settings.env) and a per-process `service.instance.id`.

OTLP settings: an argument is passed to the exporter only when the config sets it, so the SDK
reads its own ``OTEL_EXPORTER_OTLP_METRICS_*`` / ``OTEL_EXPORTER_OTLP_*`` variables (ENDPOINT,
INSECURE, TIMEOUT, HEADERS, CERTIFICATE, CLIENT_KEY, CLIENT_CERTIFICATE) for everything else, and
``OTEL_METRIC_EXPORT_INTERVAL`` when `telemetry.export_interval_seconds` is unset. The protocol
always has a config value, so ``OTEL_EXPORTER_OTLP_METRICS_PROTOCOL`` / ``OTEL_EXPORTER_OTLP_PROTOCOL``
override it when set. ``OTEL_SDK_DISABLED=true`` turns every exporter off. In prod an exporter that
would send headers in plaintext is refused (`ConfigError`), whether config or variables ask for it.

The Prometheus endpoint uses its own `CollectorRegistry` (not prometheus_client's global one), so
several providers in one process never clash; port 0 picks a free port.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import OTELResourceDetector, Resource

from streaming_obs._version import __version__
from streaming_obs.errors import ConfigError
from streaming_obs.logs import get_logger
from streaming_obs.telemetry.breaker import CircuitBreakerExporter
from streaming_obs.telemetry.preflight import prometheus_start_error

if TYPE_CHECKING:
    from streaming_obs.config.models import OtlpConfig, Settings

__all__ = [
    "TelemetryPipeline",
    "PrometheusEndpoint",
    "build_resource",
    "build_otlp_exporter",
    "build_pipeline",
    "refuse_plaintext_secrets",
]

_log = get_logger(__name__)

#: Push interval when neither the config nor OTEL_METRIC_EXPORT_INTERVAL sets one (the SDK's is 60 s).
DEFAULT_EXPORT_INTERVAL_S = 10.0


def build_resource(settings: Settings) -> Resource:
    """Resource of every metric: ours, merged under what the SDK's `OTELResourceDetector` finds in
    ``OTEL_RESOURCE_ATTRIBUTES`` and ``OTEL_SERVICE_NAME`` (``os.environ``), which win."""
    ours = Resource(
        {
            "service.name": settings.telemetry.service_name,
            "service.version": __version__,
            "deployment.environment.name": settings.env,
            "service.instance.id": str(uuid.uuid4()),
        }
    )
    # Resource.create({}) is the SDK's default resource (telemetry.sdk.*); the detected side wins.
    return Resource.create({}).merge(ours).merge(OTELResourceDetector().detect())


def _protocol(cfg: OtlpConfig, environ: Mapping[str, str]) -> str:
    for var in ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        value = (environ.get(var) or "").strip()
        if value in ("grpc", "http/protobuf"):
            return value
        if value:
            _log.warning(f"{var}={value} is not supported (grpc | http/protobuf); using {cfg.protocol}")
    return cfg.protocol


def _read(path: str, key: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise ConfigError("config", f"telemetry.otlp.{key}", f"cannot read {path}: {exc.strerror}") from None


def _grpc_kwargs(cfg: OtlpConfig) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if cfg.insecure is not None:
        kwargs["insecure"] = cfg.insecure
    if cfg.certificate or cfg.client_key:
        import grpc

        kwargs["credentials"] = grpc.ssl_channel_credentials(
            root_certificates=_read(cfg.certificate, "certificate") if cfg.certificate else None,
            private_key=_read(cfg.client_key, "client_key") if cfg.client_key else None,
            certificate_chain=_read(cfg.client_certificate, "client_certificate") if cfg.client_certificate else None,
        )
    return kwargs


_HTTP_SESSION_PROVIDERS = (
    "OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER",
    "OTEL_PYTHON_EXPORTER_OTLP_HTTP_METRICS_CREDENTIAL_PROVIDER",
)


def _pinned_verify_session() -> Any:
    """A requests Session that keeps the CA bundle it is given.

    requests lets ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` replace ``Session.verify`` on every
    request (psf/requests#3829), so on a host that sets them (most containers do) the certificate
    from OTEL_EXPORTER_OTLP_CERTIFICATE or the config would be ignored and the handshake fail.
    """
    import requests

    class PinnedVerifySession(requests.Session):
        def merge_environment_settings(self, url, proxies, stream, verify, cert):  # type: ignore[no-untyped-def]
            merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
            if isinstance(self.verify, str) and verify in (None, True):
                merged["verify"] = self.verify
            return merged

    return PinnedVerifySession()


def _http_kwargs(cfg: OtlpConfig) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if not any(os.environ.get(v) for v in _HTTP_SESSION_PROVIDERS):  # a user's own session wins
        kwargs["session"] = _pinned_verify_session()
    if cfg.certificate:
        kwargs["certificate_file"] = cfg.certificate
    if cfg.client_key:
        kwargs["client_key_file"] = cfg.client_key
        kwargs["client_certificate_file"] = cfg.client_certificate
    return kwargs


def build_otlp_exporter(cfg: OtlpConfig, environ: Mapping[str, str] | None = None) -> MetricExporter:
    """The OTLP metric exporter the config asks for; what the config leaves unset, the SDK takes
    from its OTEL_EXPORTER_OTLP_* variables (read from ``os.environ`` by the exporter itself).

    Raises:
        ConfigError: a certificate or key file named in the config cannot be read.
    """
    env = os.environ if environ is None else environ
    kwargs: dict[str, Any] = {}
    if cfg.endpoint:
        kwargs["endpoint"] = cfg.endpoint
    if cfg.headers:
        kwargs["headers"] = {k: v.get_secret_value() for k, v in cfg.headers.items()}
    if cfg.timeout_seconds is not None:
        kwargs["timeout"] = cfg.timeout_seconds
    if _protocol(cfg, env) == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcExporter

        return GrpcExporter(**kwargs, **_grpc_kwargs(cfg))
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpExporter

    endpoint = cfg.endpoint
    if endpoint and not endpoint.rstrip("/").endswith("/v1/metrics"):
        # The HTTP exporter uses an explicit endpoint verbatim; accept the collector's base URL.
        kwargs["endpoint"] = endpoint.rstrip("/") + "/v1/metrics"
    return HttpExporter(**kwargs, **_http_kwargs(cfg))


_DEFAULT_HTTP_HEADERS = {"content-type", "user-agent"}


def _plaintext_with_headers(exporter: MetricExporter) -> bool:
    """Whether the built exporter would send headers without TLS (config and variables resolved).

    Reads what the SDK resolved (private attributes of 1.4x exporters); an exporter of another
    shape counts as having no headers.
    """
    if hasattr(exporter, "_insecure"):  # gRPC: insecure resolved from config, variables and scheme
        return bool(getattr(exporter, "_headers", None)) and bool(exporter._insecure)
    client = getattr(exporter, "_client", None)  # HTTP: TLS is the https:// scheme
    headers = {k for k in (getattr(client, "_headers", None) or {}) if k.lower() not in _DEFAULT_HTTP_HEADERS}
    return bool(headers) and str(getattr(client, "_endpoint", "")).lower().startswith("http://")


def refuse_plaintext_secrets(settings: Settings, exporter: MetricExporter) -> None:
    """In prod, refuse an exporter that would send its headers (credentials) in plaintext.

    The config model already refuses it when the config alone asks for it; this catches the
    same through OTEL_EXPORTER_OTLP_* variables.

    Raises:
        ConfigError: env is prod, the exporter has headers and no TLS.
    """
    if settings.env == "prod" and _plaintext_with_headers(exporter):
        exporter.shutdown()
        raise ConfigError(
            "$OTEL_EXPORTER_OTLP_INSECURE / $OTEL_EXPORTER_OTLP_ENDPOINT",
            "telemetry.otlp.insecure",
            "prod refuses to send OTLP headers in plaintext; use an https:// endpoint with TLS",
        )


def _export_interval_millis(settings: Settings, environ: Mapping[str, str]) -> float:
    """Config, else OTEL_METRIC_EXPORT_INTERVAL (ms, as the SDK reads it), else our 10 s."""
    configured = settings.telemetry.export_interval_seconds
    if configured is not None:
        return configured * 1000.0
    raw = (environ.get("OTEL_METRIC_EXPORT_INTERVAL") or "").strip()
    if raw:
        try:
            value = float(raw)
            if value > 0:
                return value
        except ValueError:
            pass
        _log.warning(f"OTEL_METRIC_EXPORT_INTERVAL={raw} is not a positive number of milliseconds; "
                     f"using {DEFAULT_EXPORT_INTERVAL_S}s")
    return DEFAULT_EXPORT_INTERVAL_S * 1000.0


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
            _log.warning("telemetry flush failed", error=repr(exc))
        try:
            self.provider.shutdown(timeout_millis=millis)
        except Exception as exc:
            _log.warning("telemetry shutdown failed", error=repr(exc))
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
        ConfigError: prod with OTLP headers in plaintext, or an unreadable certificate file.
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
            exporter = build_otlp_exporter(tel.otlp, env)
            refuse_plaintext_secrets(settings, exporter)
            breaker = CircuitBreakerExporter(
                exporter,
                name="otlp",
                failure_threshold=tel.breaker_failure_threshold,
                reset_seconds=tel.breaker_reset_seconds,
                call_timeout_s=tel.breaker_call_timeout_seconds,
            )
            breakers.append(breaker)
            readers.append(
                PeriodicExportingMetricReader(
                    breaker,
                    export_interval_millis=_export_interval_millis(settings, env),
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
    provider = MeterProvider(metric_readers=readers, resource=build_resource(settings))
    return TelemetryPipeline(provider, breakers, prometheus)
