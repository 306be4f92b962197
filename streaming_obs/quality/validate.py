"""Up-front validation of a table's rules against its schema, before any stream starts.

Python checks first (columns named in arguments, key columns, lookup columns), then Spark's
analyser on an empty DataFrame of the schema: SQL parses, resolves and is boolean, every compiled
rule analyses, and regexes compile with Java's `Pattern` (the engine Spark uses). Only analysis
runs; no Spark job is started.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from streaming_obs.errors import QualityRuleError
from streaming_obs.quality.compile import compile_rules
from streaming_obs.quality.checks import resolve_column
from streaming_obs.quality.rules import Rule, TableRules

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

__all__ = ["validate_table"]

_SPARK_ERROR_LOGGERS = ("DataFrameQueryContextLogger", "SQLQueryContextLogger")


@contextlib.contextmanager
def _quiet_spark_errors() -> Iterator[None]:
    """PySpark logs every analysis error with a full JVM stack before raising it; while probing
    rules we turn each into one QualityRuleError line instead, so mute those two loggers."""
    loggers = [logging.getLogger(n) for n in _SPARK_ERROR_LOGGERS]
    before = [lg.disabled for lg in loggers]
    for lg in loggers:
        lg.disabled = True
    try:
        yield
    finally:
        for lg, was in zip(loggers, before):
            lg.disabled = was


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def validate_table(
    label: str,
    table: str,
    table_rules: TableRules,
    schema: StructType,
    schemas: Mapping[str, StructType],
    spark: SparkSession,
) -> None:
    """Validate the rules of one table.

    Raises:
        QualityRuleError: ``<file>: tables.<table>: rule '<name>': <problem>``.
    """
    from pyspark.errors import AnalysisException

    where = f"{label}: tables.{table}"
    for key in table_rules.key:
        if resolve_column(schema, key) is None:
            raise QualityRuleError(f"{where}: key column {key!r} not in the table ({_names(schema)})")
    empty = spark.createDataFrame([], schema)
    for rule in table_rules.rules:
        def fail(problem: str, rule: Rule = rule) -> QualityRuleError:
            return QualityRuleError(f"{where}: rule {rule.name!r}: {problem}")

        args = rule.args  # what the arguments name is declared by the check's model (CheckArgs)
        for col in args.cols:
            if resolve_column(schema, col) is None:
                raise fail(f"unknown column {col!r} (columns: {_names(schema)})")
        for pattern in args.patterns.values():
            _java_regex(spark, pattern, fail)
        lookups: dict[str, DataFrame] = {}
        if args.lookup_table is not None:
            lookup_schema = schemas.get(args.lookup_table)
            if lookup_schema is None:
                continue  # checked when apply() gets the lookup DataFrame
            for col in args.lookup_cols:
                if resolve_column(lookup_schema, col) is None:
                    raise fail(f"lookup {args.lookup_table!r} has no column {col!r}")
            lookups[args.lookup_table] = spark.createDataFrame([], lookup_schema)
        with _quiet_spark_errors():
            for what, expr in [("filter", rule.filter), *args.predicates.items()]:
                if expr is None:
                    continue
                try:
                    dtype = empty.selectExpr(expr).schema.fields[0].dataType
                except AnalysisException as exc:
                    raise fail(f"bad SQL in {what} {expr!r}: {_first_line(exc)}") from None
                if dtype.typeName() != "boolean":
                    raise fail(f"{what} {expr!r} is {dtype.simpleString()}, not boolean")
            try:
                compiled = compile_rules(empty, [rule], datetime.now(timezone.utc), lookups, table)
                compiled.df.select(compiled.flags[0]).schema  # noqa: B018 - analysis only
            except AnalysisException as exc:
                raise fail(f"does not analyse against the schema: {_first_line(exc)}") from None


def _java_regex(spark: SparkSession, pattern: str, fail) -> None:  # type: ignore[no-untyped-def]
    jvm = getattr(spark, "_jvm", None)
    if jvm is None:  # Spark Connect: Python's `re` already checked the pattern
        return
    try:
        jvm.java.util.regex.Pattern.compile(pattern)
    except Exception as exc:  # py4j wraps PatternSyntaxException
        raise fail(f"bad regex {pattern!r}: {_first_line(exc)}") from None


def _names(schema: StructType) -> str:
    names = [f.name for f in schema.fields]
    return ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
