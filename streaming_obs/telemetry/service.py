"""`Telemetry`: the one object the runner holds — provider, listener, worker and cost gauges."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from streaming_obs._version import __version__
from streaming_obs.logs import get_logger
from streaming_obs.telemetry.backlog import DeltaBacklogProbe
from streaming_obs.telemetry.cost_gauges import CostGauges
from streaming_obs.telemetry.exporters import TelemetryPipeline, build_pipeline
from streaming_obs.telemetry.listener import TelemetryListener
from streaming_obs.telemetry.metrics import METER_NAME, Instruments
from streaming_obs.telemetry.worker import RESTART, EventHandler, EventWorker, QueryInfo

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricReader
    from pyspark.sql import SparkSession

    from streaming_obs.config.models import Settings
    from streaming_obs.tables import Tables

__all__ = ["Telemetry"]

_log = get_logger(__name__)


class Telemetry:
    """Metrics of the running pipeline. Build it with `Telemetry.start`.

    Thread-safety: every public method may be called from any thread (the supervisor, a
    foreachBatch function, a signal handler).
    """

    def __init__(
        self,
        settings: Settings,
        pipeline: TelemetryPipeline,
        instruments: Instruments,
        worker: EventWorker,
        listener: TelemetryListener,
        cost_gauges: CostGauges | None,
        spark: SparkSession | None,
    ) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.instruments = instruments
        self.worker = worker
        self.listener = listener
        self.cost_gauges = cost_gauges
        self._spark = spark
        self._queries: dict[str, QueryInfo] = {}
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def start(
        cls,
        spark: SparkSession | None,
        settings: Settings,
        tables: Tables | None = None,
        *,
        extra_readers: Sequence[MetricReader] = (),
        environ: Mapping[str, str] | None = None,
        cost_gauges: bool | None = None,
        today: Callable[[], date] | None = None,
    ) -> Telemetry:
        """Build the MeterProvider and exporters, register ONE listener, start the threads.

        Args:
            spark: the session whose `streams` get the listener (None: no listener, no cost
                gauges — for tests and tools).
            settings: the environment's settings (`settings.telemetry`).
            tables: table registry (needed for the cost gauges).
            extra_readers: more metric readers (tests pass an `InMemoryMetricReader`).
            environ: environment for OTEL_* variables (default `os.environ`).
            cost_gauges: force the cost-gauge thread on/off (default: config and tables given).
            today: the cost gauges' clock (default: the UTC date now). Tests pin the day their
                gold fixture was written for, so a run that crosses midnight still reads it.

        Raises:
            TelemetryStartError: the Prometheus port is taken or its host cannot be served.
        """
        tel_cfg = settings.telemetry
        pipeline = build_pipeline(settings, extra_readers=extra_readers, environ=environ)
        meter = pipeline.provider.get_meter(METER_NAME, __version__)
        instruments = Instruments(meter)
        for breaker in pipeline.breakers:
            instruments.add_breaker(breaker)
        self_ref: dict[str, Telemetry] = {}
        probe = (
            DeltaBacklogProbe(spark, tel_cfg.backlog_probe_seconds)
            if spark is not None and tel_cfg.backlog_probe_seconds > 0
            else None
        )
        handler = EventHandler(instruments, lambda name: self_ref["t"]._queries.get(name), probe)
        worker = EventWorker(handler, maxsize=tel_cfg.worker_queue_size)
        instruments.set_dropped_events_source(lambda: worker.dropped)
        listener = TelemetryListener(worker.put)
        want_cost = tel_cfg.cost_metrics_enabled if cost_gauges is None else cost_gauges
        gauges = CostGauges(spark, tables, instruments, tel_cfg, today=today) if want_cost and spark and tables else None
        tel = cls(settings, pipeline, instruments, worker, listener, gauges, spark)
        self_ref["t"] = tel
        if spark is not None:
            spark.streams.addListener(listener)
        if gauges is not None:
            gauges.start()
        _log.info("telemetry started", otlp=tel_cfg.otlp.enabled, prometheus=tel.prometheus_url or "off")
        return tel

    # --- what the runner and the supervisor call -----------------------------------------------
    def register_query(self, query_name: str, *, layer: str = "", source: str = "", target: str = "") -> None:
        """Attach metadata to a query name (exported as streaming_obs_query_info)."""
        info = QueryInfo(query_name, layer, source, target)
        with self._lock:
            self._queries[query_name] = info
        self.instruments.set("streaming_obs.query.info", 1, query=query_name, layer=layer, source=source, target=target)

    def record_restart(self, query_name: str, error_class: str) -> None:
        """Count a supervisor restart of `query_name` after a failure of `error_class`."""
        self.worker.put((RESTART, (query_name, error_class), time.time()))

    def record_batch_write(self, query_name: str, target_table: str, rows_written: int) -> None:
        """Count rows written to `target_table` (from the Delta commit's operationMetrics)."""
        if rows_written is None or rows_written < 0:
            return
        self.instruments.add(
            "streaming_obs.batch.rows_written", int(rows_written), query=query_name, table=target_table
        )

    def record_reconciliation(self, differences: Mapping[tuple[str, str], float]) -> None:
        """Set `streaming_obs_reconciliation_difference` per (table, measure) from a reconciliation."""
        for (table, measure), value in differences.items():
            self.instruments.set("streaming_obs.reconciliation.difference", float(value), table=table, measure=measure)

    @property
    def prometheus_url(self) -> str | None:
        """Scrape URL of the Prometheus endpoint, or None when it is off."""
        prom = self.pipeline.prometheus
        return prom.url if prom is not None else None

    # --- helpers -----------------------------------------------------------------------------
    def refresh_cost_gauges(self) -> bool:
        """Read the cost gauges from gold now (the thread does it periodically)."""
        return self.cost_gauges.refresh() if self.cost_gauges is not None else False

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Record every queued event and push metrics to the exporters now."""
        drained = self.worker.drain(timeout_s)
        flushed = self.pipeline.provider.force_flush(timeout_millis=max(1.0, timeout_s * 1000))
        return drained and bool(flushed)

    @property
    def breaker_states(self) -> dict[str, str]:
        """State of each exporter's circuit breaker."""
        return {b.name: b.state for b in self.pipeline.breakers}

    def shutdown(self, timeout_s: float = 10) -> None:
        """Remove the listener, stop the threads, flush and shut the provider down.

        Bounded: about `timeout_s` in total even when the collector is dead (the circuit breaker
        caps each export). Idempotent.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        deadline = time.monotonic() + timeout_s
        self.remove_listener()
        if self.cost_gauges is not None:
            self.cost_gauges.stop(min(2.0, timeout_s / 4))
        self.worker.stop(max(0.1, min(deadline - time.monotonic(), timeout_s / 2)))
        self.pipeline.shutdown(max(0.1, deadline - time.monotonic()))

    def remove_listener(self) -> None:
        """Take the query listener off the session (idempotent).

        Called once the queries' last batches ended and before they are stopped and the session
        stops: no progress event is left to report, and none reaches Python while the JVM winds
        down. The exporters keep running until `shutdown`.
        """
        with self._lock:
            spark, self._spark = self._spark, None
        if spark is None:
            return
        try:
            spark.streams.removeListener(self.listener)
        except Exception as exc:  # the session may already be gone at interpreter exit
            _log.info("telemetry: removeListener failed: %r", exc)

    def __enter__(self) -> Telemetry:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
