"""Telemetry tests (listener, exporters, breaker, cost gauges, real Prometheus and Collector)."""
