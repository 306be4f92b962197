"""Rules → Spark columns: every rule becomes one boolean "this row breaks the rule" column.

All rules of a table are evaluated in one projection (one pass over the batch): a row-level
check is a plain expression, a batch-level one first adds its helper column (`unique_in_batch`
a window count, `referential` a left join to a broadcast of the lookup's distinct keys). What a
check computes is its registered function (`streaming_obs.quality.check_funcs`); here a rule
fails only where its filter is TRUE and its check is definitely broken, so a NULL value passes
every check except `not_null` (combine the two when NULL is an error, as SQL CHECK constraints
do).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from streaming_obs.quality.checks import BatchInput, CheckInput
from streaming_obs.quality.rules import Rule

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import StructType

__all__ = [
    "DISPOSITION_COL",
    "FAILED_COL",
    "CompiledRules",
    "compile_rules",
    "disposition",
    "failed_names",
    "rule_failed",
    "rule_violation",
]

#: Output columns of `QualityEngine.evaluate`: the names of the rules a row breaks and its fate.
FAILED_COL = "dq_failed_rules"
DISPOSITION_COL = "dq_disposition"
_HELPER = "__dq_h{}"


def rule_violation(rule: Rule, schema: StructType, now: Column, helper: str | None = None) -> Column:
    """The check of `rule` as a Column that is TRUE where a row breaks it (NULL/FALSE otherwise):
    the function its check registered (`streaming_obs.quality.checks`).

    Args:
        rule: the rule.
        schema: schema of the DataFrame the column will be evaluated on (decides casts).
        now: the batch time, for `freshness`.
        helper: name of the helper column of a batch-level check (added by its `prepare`).
    """
    return rule.spec.violation(rule.args, CheckInput(schema, now, helper))


def rule_failed(rule: Rule, schema: StructType, now: Column, helper: str | None = None) -> Column:
    """Non-null boolean: the rule applies to the row (filter TRUE) and the row breaks it."""
    from pyspark.sql import functions as F

    return _applies(rule) & F.coalesce(rule_violation(rule, schema, now, helper), F.lit(False))


def _applies(rule: Rule) -> Column:
    """TRUE where the rule's filter holds (everywhere without one), never NULL."""
    from pyspark.sql import functions as F

    return F.coalesce(F.expr(rule.filter), F.lit(False)) if rule.filter else F.lit(True)


def failed_names(rules: Sequence[Rule], flags: Sequence[Column]) -> Column:
    """ARRAY<STRING> of the names of the rules whose flag is TRUE, in rule order."""
    from pyspark.sql import functions as F

    if not rules:
        return F.array().cast("array<string>")
    return F.array_compact(F.array(*[F.when(f, F.lit(r.name)) for r, f in zip(rules, flags)]))


def disposition(rules: Sequence[Rule], flags: Sequence[Column]) -> Column:
    """What happens to a row: `fail` > `quarantine` > `drop` > `keep` (warn rules only count).

    Quarantine wins over drop so that a row breaking both is kept for inspection, not lost.
    """
    from pyspark.sql import functions as F

    def any_of(action: str) -> Column:
        out = F.lit(False)
        for r, f in zip(rules, flags):
            if r.action == action:
                out = out | f
        return out

    return (
        F.when(any_of("fail"), F.lit("fail"))
        .when(any_of("quarantine"), F.lit("quarantine"))
        .when(any_of("drop"), F.lit("drop"))
        .otherwise(F.lit("keep"))
    )


@dataclass(frozen=True)
class CompiledRules:
    """A batch prepared for evaluation: `df` carries the helper columns of batch-level checks and
    `flags[i]` is the failure flag of `rules[i]` over `df`."""

    df: DataFrame
    rules: tuple[Rule, ...]
    flags: tuple[Column, ...]
    helpers: tuple[str, ...]


def compile_rules(
    df: DataFrame,
    rules: Sequence[Rule],
    now: Column | datetime,
    lookups: Mapping[str, DataFrame] | None = None,
    table: str = "?",
) -> CompiledRules:
    """Compile `rules` over `df`, adding the helper columns of batch-level checks (a window
    count, a lookup join) as their `prepare` steps say.

    Raises:
        QualityLookupError: a lookup a rule needs was not given or lacks a key column.
    """
    from pyspark.sql import functions as F

    now_col = now if not isinstance(now, datetime) else F.lit(now).cast("timestamp")
    lookups = lookups or {}
    schema = df.schema
    out = df
    flags: list[Column] = []
    helpers: list[str] = []
    for i, rule in enumerate(rules):
        helper = None
        if rule.spec.prepare is not None:
            helper = _HELPER.format(i)
            batch = BatchInput(rule.name, table, helper, _applies(rule), lookups)
            out = rule.spec.prepare(out, rule.args, batch)
            helpers.append(helper)
        flags.append(rule_failed(rule, schema, now_col, helper))
    return CompiledRules(out, tuple(rules), tuple(flags), tuple(helpers))
