"""Data quality on every micro-batch: rules as data, one-pass evaluation, quarantine and replay.

The pipeline calls, per table and batch::

    engine = QualityEngine.from_settings(settings)
    engine.validate(schemas, spark)
    stream = engine.observe_stream(stream, table)          # counts in StreamingQueryProgress
    outcome = engine.apply(batch_df, table=..., batch_id=..., query_name=..., lookups=...)
    engine.write(outcome, spark, tables, txn_version=batch_id)

See docs/quality-rules.md for the rule reference; a new check is one function registered with
`@check` (`streaming_obs.quality.checks`).
"""

from streaming_obs.quality.checks import CHECKS, CheckArgs, CheckInput, check
from streaming_obs.quality.compile import DISPOSITION_COL, FAILED_COL
from streaming_obs.quality.engine import QualityEngine
from streaming_obs.quality.quarantine import ReplayResult, list_quarantine, replay_quarantine, show_quarantine
from streaming_obs.quality.results import COUNT_KEYS, SUMMARY_RULE, QualityOutcome
from streaming_obs.quality.rules import ACTIONS, ERROR_ACTIONS, Rule, RuleSet, TableRules, parse_rules
from streaming_obs.quality.static import load_rules

__all__ = [
    "ACTIONS",
    "CHECKS",
    "COUNT_KEYS",
    "CheckArgs",
    "CheckInput",
    "DISPOSITION_COL",
    "ERROR_ACTIONS",
    "FAILED_COL",
    "QualityEngine",
    "QualityOutcome",
    "ReplayResult",
    "Rule",
    "RuleSet",
    "SUMMARY_RULE",
    "TableRules",
    "check",
    "list_quarantine",
    "load_rules",
    "parse_rules",
    "replay_quarantine",
    "show_quarantine",
]
