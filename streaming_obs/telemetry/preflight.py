"""The Prometheus endpoint checked before Spark starts, and its start errors made one line.

A port that is taken or a host that does not resolve surfaced as a raw `OSError` /
`socket.gaierror` traceback, and only after Spark had started and the tables were bootstrapped.
`check_prometheus` binds the configured address once (and lets it go) so `streaming-obs run`
refuses to start; `prometheus_start_error` turns the same failures, when they happen at the real
start, into a `TelemetryStartError` naming the file and key.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING

from streaming_obs.errors import TelemetryStartError

if TYPE_CHECKING:
    from streaming_obs.config.models import Settings

__all__ = ["check_prometheus", "prometheus_start_error"]

# Errors that are the host's fault, not the port's.
_HOST_ERRNOS = frozenset({errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT})


def prometheus_start_error(settings: Settings, exc: OSError) -> TelemetryStartError:
    """The one-line error for an `OSError` raised while serving `telemetry.prometheus`."""
    prom = settings.telemetry.prometheus
    reason = (exc.strerror or str(exc) or type(exc).__name__).strip().splitlines()[0]
    if isinstance(exc, socket.gaierror) or exc.errno in _HOST_ERRNOS:
        key = "telemetry.prometheus.host"
        problem = f"cannot listen on host {prom.host!r}: {reason}"
    else:
        key = "telemetry.prometheus.port"
        problem = (f"cannot serve metrics on {prom.host}:{prom.port}: {reason}; choose another port "
                   "(0 picks a free one) or set telemetry.prometheus.enabled: false")
    return TelemetryStartError(settings.source_of(key), key, problem)


def check_prometheus(settings: Settings, environ: Mapping[str, str] | None = None) -> None:
    """Bind the configured Prometheus address once, the way the exporter will, and release it.

    Nothing is checked when the endpoint is off or `OTEL_SDK_DISABLED=true`.

    Raises:
        TelemetryStartError: the host does not resolve or is not local, or the port is taken
            or not allowed.
    """
    env = os.environ if environ is None else environ
    prom = settings.telemetry.prometheus
    if not prom.enabled or (env.get("OTEL_SDK_DISABLED") or "").strip().lower() == "true":
        return
    try:
        infos = socket.getaddrinfo(prom.host, prom.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]  # the exporter serves on the first as well
        with socket.socket(family, kind, proto) as sock:
            # http.server sets SO_REUSEADDR too: a port in TIME_WAIT is not "taken"
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
    except OSError as exc:
        raise prometheus_start_error(settings, exc) from None
