"""Every metric streaming_obs exports: name, kind, unit, labels, meaning — and the instruments.

`SPECS` is the single source of truth; docs/metrics.md lists the same names and a test keeps the
two (and what the Prometheus endpoint really exposes) in step. OpenTelemetry names are dotted;
exporters derive the Prometheus name (dots → `_`, unit suffix such as `_seconds`, `_total` on
counters), which `MetricSpec.prometheus_name` reproduces.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Meter, Observation

__all__ = ["METER_NAME", "MetricSpec", "SPECS", "SPEC_BY_NAME", "DURATION_BUCKETS", "Instruments", "prometheus_names"]

METER_NAME = "streaming_obs"

#: Histogram buckets in seconds: sub-second micro-batches up to ten-minute catch-up batches.
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
_UNIT_SUFFIX = {"s": "seconds", "By": "bytes"}


@dataclass(frozen=True)
class MetricSpec:
    """One metric: OpenTelemetry name, instrument kind, unit, labels and meaning."""

    name: str
    kind: str  # counter | histogram | gauge | observable_gauge | observable_counter
    unit: str
    labels: tuple[str, ...]
    description: str

    @property
    def prometheus_name(self) -> str:
        """The name the Prometheus exporter (and the Collector's Prometheus exporters) expose."""
        base = re.sub(r"[^a-zA-Z0-9:]+", "_", self.name)
        suffix = _UNIT_SUFFIX.get(self.unit, "")
        if suffix and not base.endswith("_" + suffix):
            base += "_" + suffix
        if self.kind in ("counter", "observable_counter"):
            base += "_total"
        return base


def _s(name: str, kind: str, labels: tuple[str, ...], description: str, unit: str = "") -> MetricSpec:
    return MetricSpec(name, kind, unit, labels, description)


Q = ("query",)
SPECS: tuple[MetricSpec, ...] = (
    # --- batches ---------------------------------------------------------------------------
    _s("streaming_obs.batch.input_rows", "counter", Q, "Rows read by completed micro-batches.", "{row}"),
    _s("streaming_obs.batches", "counter", Q, "Completed micro-batches (each batch id once per run).", "{batch}"),
    _s(
        "streaming_obs.batch.duration",
        "histogram",
        ("query", "phase"),
        "Micro-batch duration; phase=total is the whole batch, other phases come from durationMs "
        "(addBatch, getBatch, latestOffset, queryPlanning, walCommit, commitOffsets, triggerExecution).",
        "s",
    ),
    _s("streaming_obs.batch.input_rows_per_second", "gauge", Q, "Arrival rate over the last trigger."),
    _s("streaming_obs.batch.processed_rows_per_second", "gauge", Q, "Processing rate of the last batch."),
    _s(
        "streaming_obs.batch.rows_written",
        "counter",
        ("query", "table"),
        "Rows written to a Delta table, from the commit's operationMetrics (foreachBatch sinks "
        "report numOutputRows=-1).",
        "{row}",
    ),
    _s(
        "streaming_obs.batch.last_completed_timestamp",
        "gauge",
        Q,
        "Unix time at which the last micro-batch of the query completed.",
        "s",
    ),
    _s(
        "streaming_obs.freshness.lag",
        "observable_gauge",
        Q,
        "Now minus the newest source commit timestamp processed (observation fresh_<query>, "
        "field max_source_commit_ts); computed at collection time, so it grows while nothing new "
        "is processed.",
        "s",
    ),
    _s(
        "streaming_obs.source.backlog_versions",
        "gauge",
        ("query", "source"),
        "Source table versions committed but not yet processed: latestOffset - endOffset when the "
        "source reports a latest offset, else (Delta path sources) the table's latest version "
        "probed on the worker thread; absent where neither is known (e.g. Delta Sharing).",
    ),
    _s("streaming_obs.source.backlog_files", "gauge", ("query", "source"), "Delta source numFilesOutstanding.", "{file}"),
    _s("streaming_obs.source.backlog", "gauge", ("query", "source"), "Delta source numBytesOutstanding.", "By"),
    _s("streaming_obs.state.rows", "gauge", ("query", "operator"), "Rows held in the state store.", "{row}"),
    _s("streaming_obs.state.memory", "gauge", ("query", "operator"), "Memory used by the state store.", "By"),
    # --- quality ---------------------------------------------------------------------------
    _s(
        "streaming_obs.quality.rows",
        "counter",
        ("layer", "table", "rule", "outcome"),
        "Rows per quality rule and outcome (passed, failed, warned, dropped, quarantined), from "
        "observations named dq_<layer>_<table>.",
        "{row}",
    ),
    _s(
        "streaming_obs.quality.table_rows",
        "counter",
        ("layer", "table", "kind"),
        "Rows per checked table by kind (in, kept, dropped, quarantined, failed), from the "
        "rows_* fields of dq_<layer>_<table>.",
        "{row}",
    ),
    # --- queries ---------------------------------------------------------------------------
    _s("streaming_obs.query.active", "gauge", Q, "1 while the query runs (started, not terminated), else 0."),
    _s("streaming_obs.query.idle", "gauge", Q, "1 while the query is idle waiting for data, 0 after a batch."),
    _s(
        "streaming_obs.query.info",
        "gauge",
        ("query", "layer", "source", "target"),
        "Always 1; carries the metadata given to register_query (join on query in PromQL).",
    ),
    _s(
        "streaming_obs.query.terminations",
        "counter",
        ("query", "error_class"),
        "Query terminations; error_class=none for a clean stop, else Spark's error class or the "
        "exception type. Every failed micro-batch ends in one.",
        "{termination}",
    ),
    _s(
        "streaming_obs.query.restarts", "counter", ("query", "error_class"), "Restarts by the supervisor.", "{restart}"
    ),
    _s(
        "streaming_obs.query.recovery_time",
        "histogram",
        Q,
        "Time from a query failing to its first completed batch after the restart.",
        "s",
    ),
    # --- cost (read from gold) ---------------------------------------------------------------
    # One series per currency: `currency` is a label, never part of a name, and every series
    # holds one currency (rows without a price, hence without a currency, are not cost: they
    # feed unpriced_usage). Aggregate with `sum by (currency)`, never a bare sum(). What is
    # broken down (workspace, job, tag) is the entity in the name's namespace, not a `_by_<label>`
    # suffix: the three are different top-N aggregations of the same cost, so they cannot be
    # one metric whose sum() means anything.
    _s(
        "streaming_obs.workspace.list_cost_today",
        "observable_gauge",
        ("workspace_id", "currency"),
        "Today's (UTC) list cost per workspace and currency, from gold cost_daily.",
    ),
    _s(
        "streaming_obs.job.list_cost_today",
        "observable_gauge",
        ("workspace_id", "job_id", "job_name", "currency"),
        "Today's list cost of the top-N jobs (telemetry.cost_top_n) per currency, from gold cost_by_job_daily.",
    ),
    _s(
        "streaming_obs.tag.list_cost_today",
        "observable_gauge",
        ("tag_key", "tag_value", "currency"),
        "Today's list cost of the top-N values per tag key and currency, from gold cost_by_tag_daily.",
    ),
    _s(
        "streaming_obs.workspace.unpriced_usage_today",
        "observable_gauge",
        ("workspace_id", "usage_unit"),
        "Today's usage (in usage_unit) with no matching list price, from gold cost_daily.unpriced_quantity.",
    ),
    _s(
        "streaming_obs.workspace.cost_anomalies_open",
        "observable_gauge",
        ("workspace_id",),
        "Cost anomalies (is_anomaly) on the last telemetry.anomaly_open_days days, from gold cost_anomalies.",
        "{anomaly}",
    ),
    _s(
        "streaming_obs.reconciliation.difference",
        "gauge",
        ("table", "measure"),
        "Largest absolute difference, over the dates the last gold batch touched, between a table's "
        "sums and the reference they must equal (table=silver: silver usage vs cost_daily; the "
        "others: the gold table vs silver usage), per measure (list_cost, usage_quantity, net_cost); "
        "0 when they reconcile (docs/architecture.md#reconciliation).",
    ),
    _s(
        "streaming_obs.workspace.idle_list_cost_today",
        "observable_gauge",
        ("workspace_id", "currency"),
        "Today's estimated list cost of idle clusters per workspace: each cluster's list cost times its "
        "idle share (node-minutes below cost.idle.cpu_threshold_percent CPU), from gold idle_compute_daily.",
    ),
    _s(
        "streaming_obs.budget.spend_ratio",
        "observable_gauge",
        ("budget", "currency"),
        "Month-to-date list cost of a budget (conf/budgets.yaml) over its monthly amount, from the "
        "latest row of this month (UTC) in gold budget_status_daily; 1 = the budget is spent.",
    ),
    _s(
        "streaming_obs.budget.forecast_ratio",
        "observable_gauge",
        ("budget", "currency"),
        "Month-end forecast of a budget's list cost over its monthly amount (the same row; "
        "docs/budgets.md#the-forecast); above 1 = forecast to overrun.",
    ),
    _s(
        "streaming_obs.budget.threshold_ratio",
        "observable_gauge",
        ("budget", "currency", "threshold"),
        "Each alert threshold of a budget as a ratio (threshold=\"80\" -> 0.8), exported beside its spend "
        "ratio so one alert rule compares the two.",
    ),
    _s(
        "streaming_obs.cost_gauges.last_refresh_timestamp",
        "observable_gauge",
        (),
        "Unix time of the last successful read of the cost gauges from gold.",
        "s",
    ),
    _s(
        "streaming_obs.cost_gauges.refresh_failures",
        "observable_counter",
        (),
        "Failed reads of the cost gauges.",
        "{failure}",
    ),
    # --- the telemetry itself ----------------------------------------------------------------
    _s(
        "streaming_obs.telemetry.breaker_state",
        "observable_gauge",
        ("exporter",),
        "Circuit breaker around an exporter: 0 closed, 1 open (dropping), 2 half-open (probing).",
    ),
    _s(
        "streaming_obs.telemetry.export_failures",
        "observable_counter",
        ("exporter",),
        "Exports that failed or exceeded the breaker's call timeout.",
        "{export}",
    ),
    _s(
        "streaming_obs.telemetry.dropped_points",
        "observable_counter",
        ("exporter",),
        "Data points dropped by the breaker (while open, or by a failed export).",
        "{point}",
    ),
    _s(
        "streaming_obs.telemetry.dropped_events",
        "observable_counter",
        (),
        "Listener events dropped because the worker queue was full.",
        "{event}",
    ),
)
SPEC_BY_NAME = {s.name: s for s in SPECS}


def prometheus_names() -> dict[str, MetricSpec]:
    """Prometheus name -> spec, for docs and tests."""
    return {s.prometheus_name: s for s in SPECS}


class Instruments:
    """The OpenTelemetry instruments of one MeterProvider, plus the state observable ones read.

    Synchronous instruments are recorded by the worker thread (and by `record_*` calls from the
    driver); observable ones are read at collection time from snapshots guarded by one lock.
    """

    def __init__(self, meter: Meter, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._newest_commit: dict[str, float] = {}
        self._cost: dict[str, list[tuple[float, dict[str, str]]]] = {}
        self._cost_last_refresh: float | None = None
        self._cost_failures = 0
        self._breakers: list[Any] = []
        self._dropped_events: Callable[[], int] = lambda: 0
        self.sync: dict[str, Any] = {}
        for spec in SPECS:
            self.sync[spec.name] = self._create(meter, spec)

    def _create(self, meter: Meter, spec: MetricSpec) -> Any:
        kw = {"name": spec.name, "unit": spec.unit, "description": spec.description}
        if spec.kind == "counter":
            return meter.create_counter(**kw)
        if spec.kind == "histogram":
            return meter.create_histogram(**kw, explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS))
        if spec.kind == "gauge":
            return meter.create_gauge(**kw)
        callback = self._callback_for(spec.name)
        if spec.kind == "observable_gauge":
            return meter.create_observable_gauge(callbacks=[callback], **kw)
        if spec.kind == "observable_counter":
            return meter.create_observable_counter(callbacks=[callback], **kw)
        raise ValueError(f"unknown instrument kind {spec.kind!r}")

    # --- synchronous -------------------------------------------------------------------------
    def add(self, name: str, value: float, **labels: Any) -> None:
        """Add to a counter."""
        self.sync[name].add(value, _attrs(labels))

    def record(self, name: str, value: float, **labels: Any) -> None:
        """Record into a histogram."""
        self.sync[name].record(value, _attrs(labels))

    def set(self, name: str, value: float, **labels: Any) -> None:
        """Set a synchronous gauge."""
        self.sync[name].set(value, _attrs(labels))

    # --- state read by observable instruments ------------------------------------------------
    def note_source_commit(self, query: str, ts: float) -> None:
        """Remember the newest source commit processed by `query` (never moves backwards)."""
        with self._lock:
            if ts > self._newest_commit.get(query, float("-inf")):
                self._newest_commit[query] = ts

    def set_cost_snapshot(self, snapshot: dict[str, list[tuple[float, dict[str, str]]]], at: float) -> None:
        """Replace every cost gauge at once (label sets that disappeared stop being exported)."""
        with self._lock:
            self._cost = dict(snapshot)
            self._cost_last_refresh = at

    def note_cost_failure(self) -> None:
        """Count a failed read of the cost gauges."""
        with self._lock:
            self._cost_failures += 1

    def add_breaker(self, breaker: Any) -> None:
        """Export the state and counters of a circuit breaker (see breaker.py)."""
        with self._lock:
            self._breakers.append(breaker)

    def set_dropped_events_source(self, source: Callable[[], int]) -> None:
        """Where the count of events dropped by a full worker queue is read from."""
        self._dropped_events = source

    def _callback_for(self, name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            return self._observe(name)

        return callback

    def _observe(self, name: str) -> list[Observation]:
        from opentelemetry.metrics import Observation

        with self._lock:
            if name == "streaming_obs.freshness.lag":
                now = self._clock()
                return [Observation(max(0.0, now - ts), {"query": q}) for q, ts in self._newest_commit.items()]
            if name in self._cost:
                return [Observation(v, attrs) for v, attrs in self._cost[name]]
            if name == "streaming_obs.cost_gauges.last_refresh_timestamp":
                return [] if self._cost_last_refresh is None else [Observation(self._cost_last_refresh)]
            if name == "streaming_obs.cost_gauges.refresh_failures":
                return [Observation(self._cost_failures)]
            if name == "streaming_obs.telemetry.dropped_events":
                return [Observation(self._dropped_events())]
            breakers = list(self._breakers)
        if name == "streaming_obs.telemetry.breaker_state":
            return [Observation(b.state_code, {"exporter": b.name}) for b in breakers]
        if name == "streaming_obs.telemetry.export_failures":
            return [Observation(b.failures, {"exporter": b.name}) for b in breakers]
        if name == "streaming_obs.telemetry.dropped_points":
            return [Observation(b.dropped_points, {"exporter": b.name}) for b in breakers]
        return []


def _attrs(labels: dict[str, Any]) -> dict[str, str]:
    return {k: "" if v is None else str(v) for k, v in labels.items()}
