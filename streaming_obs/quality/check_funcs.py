"""The shipped quality checks, each an argument model and a function registered with `@check`.

Checks are NULL-tolerant in one way throughout: a check is broken only where it is definitely
broken, so a NULL value passes every check except `not_null`. Comparisons never raise under ANSI
mode: a value of the wrong type is `try_cast` first, so a malformed string is caught by the rule
written for it, not by a crash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator, model_validator

from streaming_obs.errors import QualityLookupError
from streaming_obs.quality.checks import (
    BatchInput,
    CheckArgs,
    CheckInput,
    check,
    column_name,
    parse_duration,
    resolve_column,
    table_key,
)
from streaming_obs.quality.regex_safety import check_regex
from streaming_obs.quality.sql_expr import check_expression

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = [
    "FreshnessArgs",
    "InRangeArgs",
    "InSetArgs",
    "NotNullArgs",
    "ReferentialArgs",
    "RegexArgs",
    "SqlArgs",
    "UniqueArgs",
]


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


def _keys_present(cols: list[str]) -> Column:
    from pyspark.sql import functions as F

    present = F.lit(True)
    for c in cols:
        present = present & F.col(c).isNotNull()
    return present


class _OneColumn(CheckArgs):
    column: str

    @field_validator("column")
    @classmethod
    def _col(cls, v: str) -> str:
        return column_name(v)

    @property
    def cols(self) -> list[str]:
        return [self.column]


class NotNullArgs(CheckArgs):
    """Arguments of `not_null`: `column` or `columns`, exactly one."""

    column: str | None = None
    columns: list[str] | None = None

    @model_validator(mode="after")
    def _one(self) -> NotNullArgs:
        if (self.column is None) == (self.columns is None):
            raise ValueError("give exactly one of 'column' or 'columns'")
        for c in self.cols:
            column_name(c)
        if not self.cols:
            raise ValueError("'columns' must not be empty")
        return self

    @property
    def cols(self) -> list[str]:
        return [self.column] if self.column is not None else list(self.columns or [])


@check("not_null", NotNullArgs)
def not_null(args: NotNullArgs, at: CheckInput) -> Column:
    """Fails where any listed column is NULL.

    Arguments: `column` or `columns: [..]`.
    """
    from pyspark.sql import functions as F

    out = F.lit(False)
    for c in args.cols:
        out = out | F.col(c).isNull()
    return out


class InRangeArgs(_OneColumn):
    """Arguments of `in_range`: `column`, `min` and/or `max`, `inclusive`."""

    min: float | None = None
    max: float | None = None
    inclusive: bool = True

    @model_validator(mode="after")
    def _bounds(self) -> InRangeArgs:
        if self.min is None and self.max is None:
            raise ValueError("give 'min', 'max' or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self


@check("in_range", InRangeArgs)
def in_range(args: InRangeArgs, at: CheckInput) -> Column:
    """Fails where value < min or > max (≤ / ≥ when not inclusive).

    Arguments: `column`, `min` and/or `max`, `inclusive` (default true).
    """
    from pyspark.sql import functions as F

    v = _num(F.col(args.column), at.dtype(args.column))
    out = F.lit(False)
    if args.min is not None:
        out = out | ((v < F.lit(args.min)) if args.inclusive else (v <= F.lit(args.min)))
    if args.max is not None:
        out = out | ((v > F.lit(args.max)) if args.inclusive else (v >= F.lit(args.max)))
    return out


class InSetArgs(_OneColumn):
    """Arguments of `in_set`: `column`, `values`."""

    values: list[str | bool | int | float] = Field(min_length=1)


@check("in_set", InSetArgs)
def in_set(args: InSetArgs, at: CheckInput) -> Column:
    """Fails where value not in the list.

    Arguments: `column`, `values: [..]`.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    col = F.col(args.column)
    values = list(args.values)
    if isinstance(at.dtype(args.column), StringType) or any(isinstance(v, str) for v in values):
        return ~col.cast("string").isin([_as_string(v) for v in values])
    return ~col.isin(values)


class RegexArgs(_OneColumn):
    """Arguments of `regex`: `column`, `pattern` (checked by `regex_safety` when parsed)."""

    pattern: str

    @field_validator("pattern")
    @classmethod
    def _safe(cls, v: str) -> str:
        check_regex(v)
        return v

    @property
    def patterns(self) -> dict[str, str]:
        return {"pattern": self.pattern}


@check("regex", RegexArgs)
def regex(args: RegexArgs, at: CheckInput) -> Column:
    """Fails where no match.

    Arguments: `column`, `pattern` (Java regex, as `rlike`: a match anywhere; anchor with `^…$`).
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    col = F.col(args.column)
    s = col if isinstance(at.dtype(args.column), StringType) else col.cast("string")
    return ~s.rlike(args.pattern)


class UniqueArgs(CheckArgs):
    """Arguments of `unique_in_batch`: `columns`, the key."""

    columns: list[str] = Field(min_length=1)

    @field_validator("columns")
    @classmethod
    def _cols(cls, v: list[str]) -> list[str]:
        return [column_name(c) for c in v]

    @property
    def cols(self) -> list[str]:
        return list(self.columns)


def _count_key(df: DataFrame, args: UniqueArgs, batch: BatchInput) -> DataFrame:
    """The helper: how many rows of the batch the rule applies to carry the row's key."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    counted = batch.applies & _keys_present(args.cols)
    window = Window.partitionBy(*[F.col(c) for c in args.cols])
    return df.withColumn(batch.helper, F.count(F.when(counted, F.lit(1))).over(window))


@check("unique_in_batch", UniqueArgs, row_level=False, prepare=_count_key)
def unique_in_batch(args: UniqueArgs, at: CheckInput) -> Column:
    """Fails where the key occurs on more than one row of the batch (every copy fails; rows with a NULL key part are not counted).

    Arguments: `columns: [..]`.
    """
    from pyspark.sql import functions as F

    return _keys_present(args.cols) & (F.col(at.helper) > 1)


class FreshnessArgs(_OneColumn):
    """Arguments of `freshness`: `column`, `max_age` and/or `max_future` (durations)."""

    max_age: float | None = None
    max_future: float | None = None

    @field_validator("max_age", "max_future", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> float | None:
        return None if v is None else parse_duration(v)

    @model_validator(mode="after")
    def _some(self) -> FreshnessArgs:
        if self.max_age is None and self.max_future is None:
            raise ValueError("give 'max_age', 'max_future' or both")
        return self


@check("freshness", FreshnessArgs)
def freshness(args: FreshnessArgs, at: CheckInput) -> Column:
    """Fails where event time older than batch time − max_age, or later than batch time + max_future.

    Arguments: `column`, `max_age` and/or `max_future`.
    """
    from pyspark.sql import functions as F

    ts = _ts(F.col(args.column), at.dtype(args.column))
    out = F.lit(False)
    if args.max_age is not None:
        out = out | (ts < _shift(at.now, -args.max_age))
    if args.max_future is not None:
        out = out | (ts > _shift(at.now, args.max_future))
    return out


class ReferentialArgs(CheckArgs):
    """Arguments of `referential`: `columns`, `lookup` (a rules table key), `lookup_columns`."""

    columns: list[str] = Field(min_length=1)
    lookup: str
    lookup_columns: list[str] | None = None

    @field_validator("columns", "lookup_columns")
    @classmethod
    def _cols(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else [column_name(c) for c in v]

    @field_validator("lookup")
    @classmethod
    def _lookup(cls, v: str) -> str:
        return table_key(v)

    @model_validator(mode="after")
    def _same_length(self) -> ReferentialArgs:
        if self.lookup_columns is not None and len(self.lookup_columns) != len(self.columns):
            raise ValueError("'lookup_columns' must have as many columns as 'columns'")
        return self

    @property
    def cols(self) -> list[str]:
        return list(self.columns)

    @property
    def lookup_table(self) -> str | None:
        return self.lookup

    @property
    def lookup_cols(self) -> list[str]:
        return list(self.lookup_columns or self.columns)

    @property
    def lookup_cols_key(self) -> str:
        return "lookup_columns" if self.lookup_columns is not None else "columns"


def _join_lookup(df: DataFrame, args: ReferentialArgs, batch: BatchInput) -> DataFrame:
    """The helper: TRUE where the row's key is among the lookup's distinct keys (a broadcast
    left join), NULL where it is not."""
    from pyspark.sql import functions as F

    if args.lookup not in batch.lookups:
        raise QualityLookupError(
            f"{batch.table}: rule {batch.rule!r} needs lookup {args.lookup!r}; pass lookups={{{args.lookup!r}: DataFrame}}"
        )
    lookup = batch.lookups[args.lookup]
    helper = batch.helper
    keys = []
    cond = None
    for j, (c, lc) in enumerate(zip(args.cols, args.lookup_cols)):
        ltype = resolve_column(lookup.schema, lc)
        if ltype is None:
            raise QualityLookupError(f"{batch.table}: rule {batch.rule!r}: lookup {args.lookup!r} has no column {lc!r}")
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


@check("referential", ReferentialArgs, row_level=False, prepare=_join_lookup)
def referential(args: ReferentialArgs, at: CheckInput) -> Column:
    """Fails where the key has no match in the lookup (NULL keys pass).

    Arguments: `columns: [..]`, `lookup: <layer>.<source>`, `lookup_columns` (default: same names).
    """
    from pyspark.sql import functions as F

    return _keys_present(args.cols) & F.col(at.helper).isNull()


class SqlArgs(CheckArgs):
    """Arguments of `sql`: `expression` (syntax and deny list checked when parsed)."""

    expression: str = Field(min_length=1)

    @field_validator("expression")
    @classmethod
    def _sql(cls, v: str) -> str:
        check_expression(v, None)  # syntax and deny list; columns and type: quality.static
        return v

    @property
    def predicates(self) -> dict[str, str]:
        return {"expression": self.expression}


@check("sql", SqlArgs)
def sql(args: SqlArgs, at: CheckInput) -> Column:
    """Fails where the expression is FALSE.

    Arguments: `expression` (boolean Spark SQL).
    """
    from pyspark.sql import functions as F

    return ~F.expr(args.expression)
