"""Source backlog of Delta sources, which report no `latestOffset` (Delta 4.4).

A Delta source's progress carries its `endOffset` (reservoirVersion, index) but `latestOffset`
is null and its `metrics` are empty, so the backlog cannot be read from the progress alone. The
probe asks the table's `DeltaLog` for its latest version — the same cheap `_delta_log` listing
any reader does — on the worker thread (never the listener's), at most once per
`min_interval_s` per table. It relies on Delta's JVM `DeltaLog` API; if that ever fails it
switches itself off (one log line) and the backlog of Delta sources is simply not exported.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

from streaming_obs.logs import get_logger

__all__ = ["DeltaBacklogProbe", "delta_source_path"]

_log = get_logger(__name__)
_DELTA_SOURCE = re.compile(r"^DeltaSource\[(?P<path>.+)\]$")


def delta_source_path(description: str) -> str | None:
    """`DeltaSource[file:/x/y]` -> `file:/x/y`; None for any other source."""
    match = _DELTA_SOURCE.match((description or "").strip())
    return match.group("path") if match else None


class DeltaBacklogProbe:
    """Latest committed version of the Delta table behind a source description (cached)."""

    def __init__(self, spark: Any, min_interval_s: float = 15.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._spark = spark
        self._min_interval_s = min_interval_s
        self._clock = clock
        self._cache: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()
        self.disabled = False

    def __call__(self, description: str) -> int | None:
        """Latest version of the source's table, or None (not a Delta path source / probe off)."""
        path = delta_source_path(description)
        if path is None or self.disabled:
            return None
        now = self._clock()
        with self._lock:
            hit = self._cache.get(path)
            if hit is not None and now - hit[0] < self._min_interval_s:
                return hit[1]
        try:
            version = self._latest_version(path)
        except Exception as exc:  # internal API moved or table gone: stop probing, say so once
            self.disabled = True
            _log.warning("telemetry: Delta backlog probe disabled", error=str(exc).splitlines()[0][:200])
            return None
        with self._lock:
            self._cache[path] = (now, version)
        return version

    def _latest_version(self, path: str) -> int:
        jvm = self._spark._jvm
        delta_log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(self._spark._jsparkSession, path)
        snapshot = delta_log.update(
            getattr(delta_log, "update$default$1")(),
            getattr(delta_log, "update$default$2")(),
            getattr(delta_log, "update$default$3")(),
        )
        return int(snapshot.version())
