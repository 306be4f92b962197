"""The one StreamingQueryListener: filters by query id and hands events to the worker.

Spark calls `onQueryStarted` synchronously inside `DataStreamWriter.start()` and the others on
its listener-bus thread (through Py4J), so every method here only does dictionary look-ups and a
non-blocking `put`: no parsing, no I/O, no locks held across calls. Unnamed queries are not the
pipeline's (every pipeline query is named) and are ignored by id from then on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pyspark.sql.streaming.listener import (
    QueryIdleEvent,
    QueryProgressEvent,
    QueryStartedEvent,
    QueryTerminatedEvent,
    StreamingQueryListener,
)

__all__ = ["TelemetryListener", "STARTED", "PROGRESS", "IDLE", "TERMINATED"]

STARTED, PROGRESS, IDLE, TERMINATED = "started", "progress", "idle", "terminated"


class TelemetryListener(StreamingQueryListener):
    """Forwards `(kind, event, wall_time)` of the pipeline's queries to `enqueue`.

    Args:
        enqueue: non-blocking sink (the worker's `put`); must never raise.
    """

    def __init__(self, enqueue: Callable[[tuple[str, Any, float]], None]) -> None:
        self._enqueue = enqueue
        self._ignored: set[Any] = set()

    def onQueryStarted(self, event: QueryStartedEvent) -> None:  # noqa: N802 - Spark's name
        if event.name is None:
            self._ignored.add(event.id)
            return
        self._enqueue((STARTED, event, time.time()))

    def onQueryProgress(self, event: QueryProgressEvent) -> None:  # noqa: N802
        progress = event.progress
        if progress.id in self._ignored or progress.name is None:
            return
        self._enqueue((PROGRESS, progress, time.time()))

    def onQueryIdle(self, event: QueryIdleEvent) -> None:  # noqa: N802
        if event.id in self._ignored:
            return
        self._enqueue((IDLE, event, time.time()))

    def onQueryTerminated(self, event: QueryTerminatedEvent) -> None:  # noqa: N802
        if event.id in self._ignored:
            self._ignored.discard(event.id)
            return
        self._enqueue((TERMINATED, event, time.time()))
