"""Pure parsing of one `StreamingQueryProgress` into the facts the metrics need.

No Spark, no OpenTelemetry: a progress is a dict (pyspark 4 makes it one), so every function here
is unit-tested on golden JSON. All parsing is tolerant: a field that is missing or malformed
yields "unknown" (None / nothing), never an exception, because the worker must survive whatever
a future Spark or Delta version reports.

Observed metrics (the pipeline attaches them with `DataFrame.observe` on the *streaming*
DataFrame, so they arrive in `progress.observedMetrics`) are named and parsed by
`streaming_obs.observations`, the module their producers use too:

* Freshness: `fresh_<query>` with `max_source_commit_ts`. Values may be `datetime` (naive =
  local time, as PySpark converts), ISO-8601 strings (no zone = UTC) or epoch seconds /
  milliseconds.
* Quality: `dq_<layer>_<source>` with per-rule fields `<rule>__<outcome>` (passed, warned,
  dropped, quarantined, failed) and the per-table totals rows_in, rows_kept, rows_dropped,
  rows_quarantined, rows_failed. Other observations and fields are ignored; null counts read as
  0, negative ones are dropped.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from streaming_obs.observations import (
    FRESHNESS_FIELD,
    TOTALS,
    is_freshness_name,
    parse_quality_name,
    parse_rule_field,
)

__all__ = [
    "BatchFacts",
    "QualityCount",
    "SourceFacts",
    "StateFacts",
    "parse_progress",
    "parse_quality",
    "parse_quality_totals",
    "parse_freshness",
    "parse_offset_version",
    "delta_backlog",
    "source_label",
    "to_epoch_seconds",
]

@dataclass(frozen=True)
class QualityCount:
    """Rows of one table that met one outcome of one rule in one batch."""

    layer: str
    table: str
    rule: str
    outcome: str
    rows: int


@dataclass(frozen=True)
class SourceFacts:
    """One source of a batch."""

    label: str
    description: str
    input_rows: int | None
    backlog_versions: int | None
    backlog_files: float | None
    backlog_bytes: float | None
    end_version: int | None = None
    end_index: int | None = None


@dataclass(frozen=True)
class StateFacts:
    """One stateful operator of a batch."""

    operator: str
    rows_total: int
    memory_bytes: int


@dataclass
class BatchFacts:
    """Everything the metrics take from one progress event."""

    query_id: str
    run_id: str
    name: str | None
    batch_id: int
    timestamp: float | None
    input_rows: int
    batch_duration_s: float | None
    phase_durations_s: dict[str, float] = field(default_factory=dict)
    input_rows_per_second: float | None = None
    processed_rows_per_second: float | None = None
    sources: list[SourceFacts] = field(default_factory=list)
    state: list[StateFacts] = field(default_factory=list)
    quality: list[QualityCount] = field(default_factory=list)
    quality_totals: list[QualityCount] = field(default_factory=list)
    newest_source_commit_ts: float | None = None


def _get(obj: Any, key: str, default: Any = None) -> Any:
    try:
        value = obj[key]
    except (KeyError, TypeError, IndexError):
        return default
    return default if value is None else value


def _num(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _int(value: Any) -> int | None:
    out = _num(value)
    return None if out is None else int(out)


def _row_dict(row: Any) -> dict[str, Any]:
    if row is None:
        return {}
    if hasattr(row, "asDict"):
        try:
            return dict(row.asDict())
        except Exception:  # a Row whose fields cannot be listed: treat as empty
            return {}
    if isinstance(row, Mapping):
        return dict(row)
    return {}


def to_epoch_seconds(value: Any) -> float | None:
    """Epoch seconds of a timestamp given as datetime, ISO string, or epoch s / ms; else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        # PySpark hands TimestampType back as a naive datetime in the local time zone, and
        # naive .timestamp() assumes local time, so the round trip is exact.
        return value.timestamp()
    if isinstance(value, (int, float)):
        v = float(value)
        if not math.isfinite(v) or v <= 0:
            return None
        return v / 1000.0 if v > 1e11 else v
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        number = _num(text)
        if number is not None:
            return to_epoch_seconds(number)
        text = text.replace(" ", "T", 1)
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.timestamp()
    return None


def _offset(offset: Any) -> Mapping[str, Any]:
    if isinstance(offset, str):
        text = offset.strip()
        if not text or text in ("null", "None"):
            return {}
        try:
            offset = json.loads(text)
        except ValueError:
            return {}
    return offset if isinstance(offset, Mapping) else {}


def parse_offset_version(offset: Any) -> tuple[str | None, int | None]:
    """(reservoirId, reservoirVersion) of a Delta source offset (JSON text or dict), else Nones."""
    o = _offset(offset)
    return _get(o, "reservoirId"), _int(_get(o, "reservoirVersion"))


#: Delta's DeltaSourceOffset.END_INDEX: "every file of reservoirVersion was read".
_DELTA_END_INDEX = 2**62


def delta_backlog(latest_table_version: int, end_version: int, end_index: int | None) -> int:
    """Versions not yet read, given the table's latest version and a Delta source's endOffset.

    An offset (v, index) means versions < v are done and v is next (index -1, nothing of it
    read) or partly read (index >= 0, counted as one version left); Delta's END_INDEX means v
    is done too.
    """
    done_through = end_version if end_index is not None and end_index >= _DELTA_END_INDEX else end_version - 1
    return max(0, latest_table_version - done_through)


def source_label(description: str) -> str:
    """Short, stable label of a source: `DeltaSource[file:/a/b/system/billing/usage]` -> `billing/usage`."""
    text = description or "unknown"
    inner = re.search(r"\[(.*)\]", text)
    if inner:
        path = inner.group(1).rstrip("/")
        parts = [p for p in re.split(r"[/\\]", path) if p and not p.endswith(":")]
        if parts:
            return "/".join(parts[-2:])
    return text[:80]


def _source_facts(src: Any) -> SourceFacts:
    end = _offset(_get(src, "endOffset"))
    end_id, end_v = _get(end, "reservoirId"), _int(_get(end, "reservoirVersion"))
    latest_id, latest_v = parse_offset_version(_get(src, "latestOffset"))
    backlog = None
    if end_v is not None and latest_v is not None and (end_id is None or latest_id is None or end_id == latest_id):
        backlog = max(0, latest_v - end_v)
    metrics = _get(src, "metrics", {}) or {}
    description = str(_get(src, "description", ""))
    return SourceFacts(
        label=source_label(description),
        description=description,
        input_rows=_int(_get(src, "numInputRows")),
        backlog_versions=backlog,
        backlog_files=_num(_get(metrics, "numFilesOutstanding")),
        backlog_bytes=_num(_get(metrics, "numBytesOutstanding")),
        end_version=end_v,
        end_index=_int(_get(end, "index")),
    )


def parse_quality(name: str, row: Any) -> list[QualityCount]:
    """Per-rule counts of one observed metric; [] when `name` is not a quality observation."""
    where = parse_quality_name(name or "")
    if where is None:
        return []
    out = []
    for key, value in _row_dict(row).items():
        parsed = parse_rule_field(str(key))
        count = _int(value) if value is not None else 0
        if parsed is None or count is None or count < 0:
            continue
        out.append(QualityCount(*where, *parsed, count))
    return out


def parse_quality_totals(name: str, row: Any) -> list[QualityCount]:
    """Per-table row totals (rows_in, rows_kept, ...) of a quality observation, as
    QualityCount(rule="*", outcome=in|kept|dropped|quarantined|failed)."""
    where = parse_quality_name(name or "")
    if where is None:
        return []
    out = []
    for key, value in _row_dict(row).items():
        kind = TOTALS.get(str(key))
        count = _int(value) if value is not None else 0
        if kind is None or count is None or count < 0:
            continue
        out.append(QualityCount(*where, "*", kind, count))
    return out


def parse_freshness(observed: Mapping[str, Any]) -> float | None:
    """Newest source commit time (epoch s) among the freshness observations, or None."""
    newest = None
    for name, row in (observed or {}).items():
        if not is_freshness_name(str(name)):
            continue
        ts = to_epoch_seconds(_row_dict(row).get(FRESHNESS_FIELD))
        if ts is not None and (newest is None or ts > newest):
            newest = ts
    return newest


def parse_progress(progress: Any) -> BatchFacts:
    """Facts of one progress (a `StreamingQueryProgress` or the dict of its JSON)."""
    durations = _get(progress, "durationMs", {}) or {}
    phases = {}
    for phase, ms in dict(durations).items():
        value = _num(ms)
        if value is not None and value >= 0:
            phases[str(phase)] = value / 1000.0
    batch_ms = _num(_get(progress, "batchDuration"))
    observed = _get(progress, "observedMetrics", {}) or {}
    quality: list[QualityCount] = []
    totals: list[QualityCount] = []
    for name, row in dict(observed).items():
        quality.extend(parse_quality(str(name), row))
        totals.extend(parse_quality_totals(str(name), row))
    state = []
    for op in _get(progress, "stateOperators", []) or []:
        state.append(
            StateFacts(
                operator=str(_get(op, "operatorName", "state")),
                rows_total=_int(_get(op, "numRowsTotal", 0)) or 0,
                memory_bytes=_int(_get(op, "memoryUsedBytes", 0)) or 0,
            )
        )
    return BatchFacts(
        query_id=str(_get(progress, "id", "")),
        run_id=str(_get(progress, "runId", "")),
        name=_get(progress, "name"),
        batch_id=_int(_get(progress, "batchId", -1)) or 0,
        timestamp=to_epoch_seconds(_get(progress, "timestamp")),
        input_rows=max(0, _int(_get(progress, "numInputRows", 0)) or 0),
        batch_duration_s=None if batch_ms is None or batch_ms < 0 else batch_ms / 1000.0,
        phase_durations_s=phases,
        input_rows_per_second=_num(_get(progress, "inputRowsPerSecond")),
        processed_rows_per_second=_num(_get(progress, "processedRowsPerSecond")),
        sources=[_source_facts(s) for s in _get(progress, "sources", []) or []],
        state=state,
        quality=quality,
        quality_totals=totals,
        newest_source_commit_ts=parse_freshness(observed),
    )
