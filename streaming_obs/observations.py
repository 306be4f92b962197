"""The names of the observations the pipeline attaches with `DataFrame.observe` and of their
fields: made here for the producers and parsed here for the consumers, so the two cannot drift.

Producers: the quality engine (`quality/engine.py`, `quality/results.py`) and the batch template
(`batch.py`, freshness). Consumers: the telemetry listener (`telemetry/progress.py`) and the
console (`cli/progress.py`, `cli/console.py`), which read `StreamingQueryProgress.observedMetrics`.

* Quality: ``dq_<layer>_<source>`` (``dq_bronze_billing_usage``) with the table totals
  `rows_in`, `rows_kept`, `rows_dropped`, `rows_quarantined`, `rows_failed` and, per row-level
  rule, ``<rule>__passed`` and ``<rule>__<outcome>``, the outcome named after the rule's action
  (warned, dropped, quarantined, failed).
* Freshness: ``fresh_<query>`` with `max_source_commit_ts` (the newest source commit of the
  batch) and `rows`.

Pure Python, no imports beyond the standard library: the listener thread reads it.
"""

from __future__ import annotations

__all__ = [
    "FRESHNESS_FIELD",
    "FRESHNESS_ROWS",
    "OUTCOME_OF_ACTION",
    "PASSED",
    "ROWS_DROPPED",
    "ROWS_FAILED",
    "ROWS_IN",
    "ROWS_KEPT",
    "ROWS_QUARANTINED",
    "TOTALS",
    "freshness_name",
    "is_freshness_name",
    "parse_quality_name",
    "parse_rule_field",
    "quality_batch_name",
    "quality_name",
    "rule_field",
    "rule_passed_field",
]

_QUALITY = "dq_"
_FRESHNESS = "fresh_"
_RULE_SEP = "__"  # rule names never contain it (quality/rules.py)

#: Freshness fields: the newest `_source_commit_ts` of the batch, and its rows.
FRESHNESS_FIELD = "max_source_commit_ts"
FRESHNESS_ROWS = "rows"

#: Quality table totals (a batch's rows, and where they went).
ROWS_IN = "rows_in"
ROWS_KEPT = "rows_kept"
ROWS_DROPPED = "rows_dropped"
ROWS_QUARANTINED = "rows_quarantined"
ROWS_FAILED = "rows_failed"
#: Each total field and the outcome it counts, as the metrics label it.
TOTALS: dict[str, str] = {ROWS_IN: "in", ROWS_KEPT: "kept", ROWS_DROPPED: "dropped",
                          ROWS_QUARANTINED: "quarantined", ROWS_FAILED: "failed"}

#: Outcome of the rows that pass a rule.
PASSED = "passed"
#: Outcome of the rows that break a rule, by the rule's action.
OUTCOME_OF_ACTION: dict[str, str] = {"warn": "warned", "drop": "dropped", "quarantine": "quarantined", "fail": "failed"}
_OUTCOMES = frozenset({PASSED, *OUTCOME_OF_ACTION.values()})


def quality_name(table: str) -> str:
    """The quality observation of a rules table `<layer>.<source>`: ``dq_<layer>_<source>``."""
    return _QUALITY + table.replace(".", "_")


def quality_batch_name(table: str) -> str:
    """The quality engine's own per-batch observation of `table` (read by the engine, never in
    the streaming progress): ``dq_<layer>_<source>_batch``."""
    return quality_name(table) + "_batch"


def rule_field(rule: str, action: str) -> str:
    """Field counting the rows that break `rule`: ``<rule>__<outcome>`` (outcome from `action`)."""
    return f"{rule}{_RULE_SEP}{OUTCOME_OF_ACTION[action]}"


def rule_passed_field(rule: str) -> str:
    """Field counting the rows that pass `rule`: ``<rule>__passed``."""
    return f"{rule}{_RULE_SEP}{PASSED}"


def freshness_name(query: str) -> str:
    """The freshness observation of a streaming query: ``fresh_<query>``."""
    return _FRESHNESS + query


def parse_quality_name(name: str) -> tuple[str, str] | None:
    """(layer, source) of a quality observation name, or None when `name` is not one."""
    if not name.startswith(_QUALITY):
        return None
    layer, _, source = name[len(_QUALITY):].partition("_")
    return (layer, source) if layer and source else None


def parse_rule_field(field: str) -> tuple[str, str] | None:
    """(rule, outcome) of a ``<rule>__<outcome>`` field, or None when `field` is not one."""
    rule, sep, outcome = field.rpartition(_RULE_SEP)
    return (rule, outcome) if sep and rule and outcome in _OUTCOMES else None


def is_freshness_name(name: str) -> bool:
    """True for a freshness observation name (``fresh_<query>``)."""
    return name.startswith(_FRESHNESS) and len(name) > len(_FRESHNESS)
