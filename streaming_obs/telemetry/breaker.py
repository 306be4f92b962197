"""A circuit breaker around a metric exporter: a dead collector never slows or fails a batch.

Batches never export: they only record into in-memory instruments, and a
`PeriodicExportingMetricReader` thread exports. What a dead collector can still hurt is that
thread, `force_flush` and shutdown (the OTLP exporter retries with back-off up to its timeout),
and the logs (one error per attempt). The breaker bounds all three:

* every export runs on the breaker's own daemon thread and the caller waits at most
  `call_timeout_s`; an export still running when the next one arrives makes that one drop,
  counted as a failure (a bulkhead: at most one export in flight);
* after `failure_threshold` consecutive failures the breaker opens: exports are dropped at once
  and their data points counted, for `reset_seconds`;
* then one export is let through (half-open): success closes the breaker, failure re-opens it.

With cumulative temporality (the OTLP default) dropping an export loses no counts: the next
successful export carries the totals; only gauge values in between are lost.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData

from streaming_obs.logs import get_logger

__all__ = ["CircuitBreakerExporter", "CLOSED", "OPEN", "HALF_OPEN", "count_points"]

_log = get_logger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
_STATE_CODE = {CLOSED: 0, OPEN: 1, HALF_OPEN: 2}


def count_points(data: MetricsData | None) -> int:
    """Number of data points in one export."""
    if data is None:
        return 0
    total = 0
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                total += len(getattr(metric.data, "data_points", ()) or ())
    return total


class _Call:
    __slots__ = ("data", "timeout_millis", "done", "result")

    def __init__(self, data: MetricsData, timeout_millis: float) -> None:
        self.data = data
        self.timeout_millis = timeout_millis
        self.done = threading.Event()
        self.result: Any = None


class CircuitBreakerExporter(MetricExporter):
    """Wraps a `MetricExporter`; same interface, bounded and self-protecting.

    Args:
        inner: the real exporter (OTLP gRPC or HTTP).
        name: label of this exporter in the breaker metrics (`exporter="otlp"`).
        failure_threshold: consecutive failures that open the breaker.
        reset_seconds: how long the breaker stays open before a probe.
        call_timeout_s: the longest a caller waits for one export.
        clock: monotonic clock (tests inject one).
    """

    def __init__(
        self,
        inner: MetricExporter,
        *,
        name: str = "otlp",
        failure_threshold: int = 3,
        reset_seconds: float = 30.0,
        call_timeout_s: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            preferred_temporality=getattr(inner, "_preferred_temporality", None),
            preferred_aggregation=getattr(inner, "_preferred_aggregation", None),
        )
        self.inner = inner
        self.name = name
        self.failure_threshold = max(1, int(failure_threshold))
        self.reset_seconds = float(reset_seconds)
        self.call_timeout_s = float(call_timeout_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._opened_at = 0.0
        self._consecutive = 0
        self.failures = 0
        self.dropped_points = 0
        self.dropped_exports = 0
        self.exports_ok = 0
        self._busy = threading.Event()
        self._calls: queue.Queue[_Call | None] = queue.Queue()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=f"streaming_obs-{name}-export", daemon=True)
        self._thread.start()

    # --- state -------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        """closed, open or half_open (an open breaker whose reset time passed reads half_open)."""
        with self._lock:
            if self._state == OPEN and self._clock() - self._opened_at >= self.reset_seconds:
                return HALF_OPEN
            return self._state

    @property
    def state_code(self) -> int:
        """0 closed, 1 open, 2 half-open (the value of streaming_obs_telemetry_breaker_state)."""
        return _STATE_CODE[self.state]

    def _admit(self) -> bool:
        with self._lock:
            if self._state == OPEN:
                if self._clock() - self._opened_at < self.reset_seconds:
                    return False
                self._state = HALF_OPEN
                _log.info("telemetry exporter circuit half-open, probing", exporter=self.name)
                return True
            if self._state == HALF_OPEN:
                return False  # a probe is already on its way
            return True

    def _on_success(self) -> None:
        with self._lock:
            if self._state != CLOSED:
                _log.warning("telemetry exporter circuit closed, export resumed", exporter=self.name)
            self._state = CLOSED
            self._consecutive = 0
            self.exports_ok += 1

    def _on_failure(self, points: int, why: str) -> None:
        with self._lock:
            self.failures += 1
            self._consecutive += 1
            self.dropped_points += points
            self.dropped_exports += 1
            if self._state == HALF_OPEN or self._consecutive >= self.failure_threshold:
                if self._state != OPEN:
                    _log.warning("telemetry exporter circuit open: dropping metrics", exporter=self.name,
                                 failures=self._consecutive, why=why, for_s=round(self.reset_seconds))
                self._state = OPEN
                self._opened_at = self._clock()

    def _drop(self, points: int) -> None:
        with self._lock:
            self.dropped_points += points
            self.dropped_exports += 1

    # --- MetricExporter ----------------------------------------------------------------------
    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        """Export through the breaker; never blocks longer than `call_timeout_s`."""
        points = count_points(metrics_data)
        if self._stopped:
            self._drop(points)
            return MetricExportResult.FAILURE
        with self._lock:  # reserve the single export slot atomically
            busy = self._busy.is_set()
            self._busy.set()
        if busy:
            # The previous export overran its budget and is still hanging: as much a sign of a
            # dead collector as a failure, and it counts as one.
            self._on_failure(points, "previous export still running")
            return MetricExportResult.FAILURE
        if not self._admit():
            self._busy.clear()
            self._drop(points)
            return MetricExportResult.FAILURE
        budget_s = min(self.call_timeout_s, max(0.001, timeout_millis / 1000.0))
        call = _Call(metrics_data, budget_s * 1000.0)
        self._calls.put(call)
        if not call.done.wait(budget_s):
            self._on_failure(points, f"no answer within {budget_s:.1f}s")
            return MetricExportResult.FAILURE
        if call.result is MetricExportResult.SUCCESS:
            self._on_success()
            return MetricExportResult.SUCCESS
        self._on_failure(points, "export failed" if not isinstance(call.result, BaseException) else repr(call.result))
        return MetricExportResult.FAILURE

    def _run(self) -> None:
        while True:
            call = self._calls.get()
            if call is None:
                return
            try:
                call.result = self.inner.export(call.data, timeout_millis=call.timeout_millis)
            except Exception as exc:  # an exporter bug must not kill the export thread
                call.result = exc
            finally:
                self._busy.clear()
                call.done.set()

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        """Flush the inner exporter unless the breaker is open."""
        if self.state == OPEN:
            return False
        try:
            return bool(self.inner.force_flush(timeout_millis=min(timeout_millis, self.call_timeout_s * 1000)))
        except Exception:
            return False

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Stop the export thread (waiting at most `call_timeout_s`) and shut the inner exporter down."""
        self._stopped = True
        self._calls.put(None)
        self._thread.join(min(timeout_millis / 1000.0, self.call_timeout_s))
        try:
            self.inner.shutdown(timeout_millis=min(timeout_millis, self.call_timeout_s * 1000))
        except Exception as exc:
            _log.debug("telemetry exporter shutdown error", exporter=self.name, error=repr(exc))
