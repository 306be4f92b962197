"""Rules → Spark columns: every rule becomes one boolean "this row breaks the rule" column.

All rules of a table are evaluated in one projection (one pass over the batch): the row-level
checks are plain expressions, `unique_in_batch` is a window count and `referential` a left join
to a broadcast of the lookup's distinct keys. Checks are NULL-tolerant in one way throughout: a
rule fails only where its filter is TRUE and its check is definitely broken, so a NULL value
passes every check except `not_null` (combine the two when NULL is an error, as SQL CHECK
constraints do). Comparisons never raise under ANSI mode: a value of the wrong type is
`try_cast` first, so a malformed string is caught by the rule written for it, not by a crash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from streaming_obs.errors import QualityLookupError
from streaming_obs.quality.rules import Rule, resolve_column

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
    "rule_violation",
]

#: Output columns of `QualityEngine.evaluate`: the names of the rules a row breaks and its fate.
FAILED_COL = "dq_failed_rules"
DISPOSITION_COL = "dq_disposition"
_HELPER = "__dq_h{}"


def _num(col: Column, dtype: Any) -> Column:
    from pyspark.sql.types import NumericType

    return col if isinstance(dtype, NumericType) else col.try_cast("double")


def _ts(col: Column, dtype: Any) -> Column:
    from pyspark.sql.types import TimestampType

    return col if isinstance(dtype, TimestampType) else col.try_cast("timestamp")


def _as_string(v: Any) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


def _shift(now: Column, seconds: float) -> Column:
    """`now` moved by `seconds` (exact, in microseconds)."""
    from pyspark.sql import functions as F

    return F.timestamp_micros(F.unix_micros(now) + F.lit(int(round(seconds * 1_000_000))))


def rule_violation(rule: Rule, schema: StructType, now: Column, helper: str | None = None) -> Column:
    """The check of `rule` as a Column that is TRUE where a row breaks it (NULL/FALSE otherwise).

    Args:
        rule: the rule.
        schema: schema of the DataFrame the column will be evaluated on (decides casts).
        now: the batch time, for `freshness`.
        helper: name of the helper column of set-level checks (window count / join marker).
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    a = rule.args
    fn = rule.function
    if fn == "not_null":
        out = F.lit(False)
        for c in a.cols:
            out = out | F.col(c).isNull()
        return out
    if fn == "sql":
        return ~F.expr(a.expression)
    if fn in ("unique_in_batch", "referential"):
        keys_present = F.lit(True)
        for c in a.cols:
            keys_present = keys_present & F.col(c).isNotNull()
        if fn == "unique_in_batch":
            return keys_present & (F.col(helper) > 1)
        return keys_present & F.col(helper).isNull()
    dtype = resolve_column(schema, a.column)
    col = F.col(a.column)
    if fn == "in_range":
        v = _num(col, dtype)
        out = F.lit(False)
        if a.min is not None:
            out = out | ((v < F.lit(a.min)) if a.inclusive else (v <= F.lit(a.min)))
        if a.max is not None:
            out = out | ((v > F.lit(a.max)) if a.inclusive else (v >= F.lit(a.max)))
        return out
    if fn == "in_set":
        values = list(a.values)
        if isinstance(dtype, StringType) or any(isinstance(v, str) for v in values):
            return ~col.cast("string").isin([_as_string(v) for v in values])
        return ~col.isin(values)
    if fn == "regex":
        s = col if isinstance(dtype, StringType) else col.cast("string")
        return ~s.rlike(a.pattern)
    if fn == "freshness":
        ts = _ts(col, dtype)
        out = F.lit(False)
        if a.max_age is not None:
            out = out | (ts < _shift(now, -a.max_age))
        if a.max_future is not None:
            out = out | (ts > _shift(now, a.max_future))
        return out
    raise AssertionError(f"unhandled check {fn}")  # rules.py rejects unknown checks first


def rule_failed(rule: Rule, schema: StructType, now: Column, helper: str | None = None) -> Column:
    """Non-null boolean: the rule applies to the row (filter TRUE) and the row breaks it."""
    from pyspark.sql import functions as F

    applies = F.coalesce(F.expr(rule.filter), F.lit(False)) if rule.filter else F.lit(True)
    return applies & F.coalesce(rule_violation(rule, schema, now, helper), F.lit(False))


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
    """A batch prepared for evaluation: `df` carries the helper columns of set-level checks and
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
    """Compile `rules` over `df`, joining lookups and adding window counts as needed.

    Raises:
        QualityLookupError: a referential rule's lookup was not given or lacks a key column.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    now_col = now if not isinstance(now, datetime) else F.lit(now).cast("timestamp")
    lookups = lookups or {}
    schema = df.schema
    out = df
    flags: list[Column] = []
    helpers: list[str] = []
    for i, rule in enumerate(rules):
        helper = None
        if rule.function == "unique_in_batch":
            helper = _HELPER.format(i)
            applies = F.coalesce(F.expr(rule.filter), F.lit(False)) if rule.filter else F.lit(True)
            counted = applies
            for c in rule.args.cols:
                counted = counted & F.col(c).isNotNull()
            window = Window.partitionBy(*[F.col(c) for c in rule.args.cols])
            out = out.withColumn(helper, F.count(F.when(counted, F.lit(1))).over(window))
        elif rule.function == "referential":
            helper = _HELPER.format(i)
            out = _join_lookup(out, rule, lookups, helper, table)
        if helper:
            helpers.append(helper)
        flags.append(rule_failed(rule, schema, now_col, helper))
    return CompiledRules(out, tuple(rules), tuple(flags), tuple(helpers))


def _join_lookup(df: DataFrame, rule: Rule, lookups: Mapping[str, DataFrame], helper: str, table: str) -> DataFrame:
    from pyspark.sql import functions as F

    a = rule.args
    if a.lookup not in lookups:
        raise QualityLookupError(
            f"{table}: rule {rule.name!r} needs lookup {a.lookup!r}; pass lookups={{{a.lookup!r}: DataFrame}}"
        )
    lookup = lookups[a.lookup]
    keys = []
    cond = None
    for j, (c, lc) in enumerate(zip(a.cols, a.lookup_cols)):
        ltype = resolve_column(lookup.schema, lc)
        if ltype is None:
            raise QualityLookupError(f"{table}: rule {rule.name!r}: lookup {a.lookup!r} has no column {lc!r}")
        dtype = resolve_column(df.schema, c)
        k = f"{helper}_k{j}"
        key = F.col(lc) if dtype is None or dtype == ltype else F.col(lc).try_cast(dtype)
        keys.append(key.alias(k))
        term = F.col(c) == F.col(k)
        cond = term if cond is None else cond & term
    names = [f"{helper}_k{j}" for j in range(len(keys))]
    right = lookup.select(*keys)
    for k in names:
        right = right.where(F.col(k).isNotNull())
    right = F.broadcast(right.distinct().withColumn(helper, F.lit(True)))
    return df.join(right, on=cond, how="left").drop(*names)
