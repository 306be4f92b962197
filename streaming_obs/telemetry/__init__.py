"""Telemetry: the pipeline's health and key cost figures as OpenTelemetry metrics.

One `StreamingQueryListener` per session hands events to a worker thread that records them on
a MeterProvider exporting OTLP (gRPC or HTTP, behind a circuit breaker) and/or a Prometheus
endpoint; a second thread reads today's cost figures from gold. Names: docs/metrics.md.

    tel = Telemetry.start(spark, settings, tables)
    tel.register_query("silver_billing_usage", layer="silver", source="bronze.billing_usage",
                       target="silver.billing_usage")
    ...
    tel.shutdown()
"""

from streaming_obs.telemetry.metrics import SPECS, MetricSpec, prometheus_names
from streaming_obs.telemetry.service import Telemetry

__all__ = ["Telemetry", "MetricSpec", "SPECS", "prometheus_names"]
