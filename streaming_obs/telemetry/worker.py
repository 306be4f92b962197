"""The worker thread: turns listener events into metric recordings, off the listener thread.

`EventWorker` owns a bounded queue (a full queue drops the event and counts it rather than
block Spark's listener bus) and one daemon thread that calls `EventHandler.handle`.
`EventHandler` keeps the per-query state (names by id, last batch per run, failure times for
time-to-recover) and is usable synchronously, which is how the unit tests drive it.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from streaming_obs.logs import get_logger
from streaming_obs.resilience.failures import error_class_of
from streaming_obs.telemetry.listener import IDLE, PROGRESS, STARTED, TERMINATED
from streaming_obs.telemetry.metrics import Instruments
from streaming_obs.telemetry.progress import delta_backlog, parse_progress

__all__ = ["EventWorker", "EventHandler", "QueryInfo", "RESTART", "FLUSH"]

_log = get_logger(__name__)
RESTART = "restart"
FLUSH = "flush"


@dataclass(frozen=True)
class QueryInfo:
    """Optional metadata of a pipeline query (`Telemetry.register_query`)."""

    name: str
    layer: str = ""
    source: str = ""
    target: str = ""


class EventHandler:
    """Applies one event at a time to the instruments. Not thread-safe: one worker calls it."""

    def __init__(
        self,
        instruments: Instruments,
        queries: Callable[[str], QueryInfo | None] = lambda _: None,
        backlog_probe: Callable[[str], int | None] | None = None,
    ) -> None:
        self.m = instruments
        self._queries = queries
        self._probe = backlog_probe
        self._names: dict[str, str] = {}  # query id -> name
        self._last_batch: dict[str, int] = {}  # run id -> last batch id counted
        self._failed_at: dict[str, float] = {}  # query name -> wall time of the failure
        self.events = 0

    def handle(self, item: tuple[str, Any, float]) -> None:
        """Dispatch `(kind, event, wall_time)`; a bad event is logged, never raised."""
        kind, event, at = item
        self.events += 1
        try:
            if kind == PROGRESS:
                self.on_progress(event, at)
            elif kind == STARTED:
                self.on_started(event, at)
            elif kind == IDLE:
                self.on_idle(event, at)
            elif kind == TERMINATED:
                self.on_terminated(event, at)
            elif kind == RESTART:
                self.on_restart(event[0], event[1], at)
            elif kind == FLUSH:
                event.set()
        except Exception:  # one malformed event must not stop the telemetry
            _log.exception("telemetry: could not record an event", kind=kind)

    def _name(self, query_id: Any, fallback: str | None = None) -> str:
        key = str(query_id)
        if fallback:
            self._names[key] = fallback
            return fallback
        return self._names.get(key) or key[:8]

    def on_started(self, event: Any, at: float) -> None:
        name = self._name(event.id, event.name)
        self.m.set("streaming_obs.query.active", 1, query=name)
        self.m.set("streaming_obs.query.idle", 0, query=name)

    def on_idle(self, event: Any, at: float) -> None:
        name = self._name(event.id)
        self.m.set("streaming_obs.query.idle", 1, query=name)
        self.m.set("streaming_obs.query.active", 1, query=name)

    def on_terminated(self, event: Any, at: float) -> None:
        name = self._name(event.id)
        error_class = error_class_of(event.errorClassOnException, event.exception)
        self.m.set("streaming_obs.query.active", 0, query=name)
        self.m.set("streaming_obs.query.idle", 0, query=name)
        self.m.add("streaming_obs.query.terminations", 1, query=name, error_class=error_class)
        if error_class != "none":
            self._failed_at.setdefault(name, at)

    def on_restart(self, name: str, error_class: str, at: float) -> None:
        self.m.add("streaming_obs.query.restarts", 1, query=name, error_class=error_class or "UNKNOWN")
        self._failed_at.setdefault(name, at)

    def on_progress(self, progress: Any, at: float) -> None:
        f = parse_progress(progress)
        name = self._name(f.query_id, f.name)
        m = self.m
        m.set("streaming_obs.query.active", 1, query=name)
        m.set("streaming_obs.query.idle", 0, query=name)
        if self._last_batch.get(f.run_id) == f.batch_id:
            return  # the same batch reported twice (e.g. a no-data progress): count it once
        self._last_batch[f.run_id] = f.batch_id
        m.add("streaming_obs.batches", 1, query=name)
        m.add("streaming_obs.batch.input_rows", f.input_rows, query=name)
        if f.batch_duration_s is not None:
            m.record("streaming_obs.batch.duration", f.batch_duration_s, query=name, phase="total")
        for phase, seconds in f.phase_durations_s.items():
            m.record("streaming_obs.batch.duration", seconds, query=name, phase=phase)
        if f.input_rows_per_second is not None:
            m.set("streaming_obs.batch.input_rows_per_second", f.input_rows_per_second, query=name)
        if f.processed_rows_per_second is not None:
            m.set("streaming_obs.batch.processed_rows_per_second", f.processed_rows_per_second, query=name)
        finished = at if f.timestamp is None or f.batch_duration_s is None else f.timestamp + f.batch_duration_s
        m.set("streaming_obs.batch.last_completed_timestamp", finished, query=name)
        info = self._queries(name)
        for src in f.sources:
            label = info.source if info and info.source and len(f.sources) == 1 else src.label
            backlog = src.backlog_versions
            if backlog is None and self._probe is not None and src.end_version is not None:
                latest = self._probe(src.description)
                if latest is not None:
                    backlog = delta_backlog(latest, src.end_version, src.end_index)
            if backlog is not None:
                m.set("streaming_obs.source.backlog_versions", backlog, query=name, source=label)
            if src.backlog_files is not None:
                m.set("streaming_obs.source.backlog_files", src.backlog_files, query=name, source=label)
            if src.backlog_bytes is not None:
                m.set("streaming_obs.source.backlog", src.backlog_bytes, query=name, source=label)
        for op in f.state:
            m.set("streaming_obs.state.rows", op.rows_total, query=name, operator=op.operator)
            m.set("streaming_obs.state.memory", op.memory_bytes, query=name, operator=op.operator)
        for q in f.quality:
            m.add("streaming_obs.quality.rows", q.rows, layer=q.layer, table=q.table, rule=q.rule, outcome=q.outcome)
        for t in f.quality_totals:
            m.add("streaming_obs.quality.table_rows", t.rows, layer=t.layer, table=t.table, kind=t.outcome)
        if f.newest_source_commit_ts is not None:
            m.note_source_commit(name, f.newest_source_commit_ts)
        failed = self._failed_at.pop(name, None)
        if failed is not None:
            m.record("streaming_obs.query.recovery_time", max(0.0, finished - failed), query=name)


class EventWorker:
    """A bounded queue and the daemon thread that drains it into an `EventHandler`."""

    def __init__(self, handler: EventHandler, maxsize: int = 10_000) -> None:
        self.handler = handler
        self._queue: queue.Queue[tuple[str, Any, float] | None] = queue.Queue(maxsize=maxsize)
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="streaming_obs-telemetry-worker", daemon=True)
        self._thread.start()

    def put(self, item: tuple[str, Any, float]) -> None:
        """Enqueue without blocking; a full queue drops the event and counts it."""
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            self.handler.handle(item)

    def drain(self, timeout_s: float = 5.0) -> bool:
        """Wait until every event queued before this call is recorded; False on timeout."""
        done = threading.Event()
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self._queue.put((FLUSH, done, time.time()), timeout=max(0.001, deadline - time.monotonic()))
                break
            except queue.Full:
                if time.monotonic() >= deadline:
                    return False
        return done.wait(max(0.0, deadline - time.monotonic()))

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Record what is queued (up to `timeout_s`), then end the thread."""
        drained = self.drain(timeout_s) if self._thread.is_alive() else True
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass
        self._thread.join(timeout=max(0.1, timeout_s / 5))
        return drained and not self._thread.is_alive()
