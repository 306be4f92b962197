"""Reading a StreamingQuery's progress the same way whether PySpark gives dicts or objects."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from streaming_obs.observations import FRESHNESS_FIELD, freshness_name

__all__ = ["progress_dict", "query_row"]


def progress_dict(progress: Any) -> dict[str, Any]:
    """The progress as a plain dict (PySpark 4 returns StreamingQueryProgress objects)."""
    if progress is None:
        return {}
    if isinstance(progress, dict):
        return progress
    import json

    return json.loads(progress.json)


def _freshness(p: dict[str, Any], name: str, now: datetime) -> float | None:
    observed = (p.get("observedMetrics") or {}).get(freshness_name(name)) or {}
    if hasattr(observed, "asDict"):  # a lastProgress dict may carry observations as Rows
        observed = observed.asDict()
    ts = observed.get(FRESHNESS_FIELD)
    if not ts:
        return None
    if isinstance(ts, str):
        ts = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=timezone.utc)
    return max(0.0, (now - ts).total_seconds())


def query_row(query: Any, now: datetime | None = None) -> dict[str, Any]:
    """name, active, input rate (rows/s), last batch (s), freshness lag (s) of one query."""
    now = now or datetime.now(timezone.utc)
    p = progress_dict(query.lastProgress)
    duration = (p.get("durationMs") or {}).get("triggerExecution")
    return {
        "name": query.name,
        "active": query.isActive,
        "batch_id": p.get("batchId"),
        "input_rows": p.get("numInputRows", 0),
        "input_rate": p.get("inputRowsPerSecond") or 0.0,
        "batch_seconds": (duration or 0) / 1000.0 if duration is not None else None,
        "freshness_s": _freshness(p, query.name, now),
    }
