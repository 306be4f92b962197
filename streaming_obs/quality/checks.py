"""The registry of quality checks: one decorated function per check.

A check is a function decorated with `@check(name, ArgumentModel, row_level=...)`. From the
registry (`CHECKS`) everything else is derived: parsing a rule's `check: {function, arguments}`
(`streaming_obs.quality.rules`), the schema checks with and without Spark (`static.py`,
`validate.py`), compilation to a Spark column (`compile.py`), the engine's lookups and the checks
table of docs/quality-rules.md (`checks_reference`). Adding a check is this alone::

    class EvenArgs(CheckArgs):
        column: str

        @property
        def cols(self) -> list[str]:
            return [self.column]

    @check("even", EvenArgs)
    def even(args: EvenArgs, at: CheckInput) -> Column:
        '''Fails where the value is odd.

        Arguments: `column`.
        '''
        return F.col(args.column) % 2 != 0

The function returns a Column that is TRUE where a row breaks the check (NULL or FALSE
otherwise); the rule's filter and NULL handling are added around it. A check that needs the
whole batch or a lookup (`row_level=False`) also gives `prepare`, which adds the helper column
its function reads (`at.helper`). The shipped checks are in `check_funcs.py`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from streaming_obs.config.models import SOURCE_NAMES

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import DataType, StructType

__all__ = [
    "CHECKS",
    "CHECKS_BEGIN",
    "CHECKS_END",
    "LAYERS",
    "BatchInput",
    "CheckArgs",
    "CheckInput",
    "CheckSpec",
    "check",
    "checks_reference",
    "column_name",
    "parse_duration",
    "resolve_column",
    "table_key",
]

#: The layers whose tables carry rules (a rules key is `<layer>.<source>`).
LAYERS: tuple[str, ...] = ("bronze", "silver")

_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_DURATION = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*(s|secs?|seconds?|m|mins?|minutes?|h|hours?|d|days?)\s*$", re.IGNORECASE
)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: Longest duration a rule may give (100 years): the batch time is shifted by it in microseconds.
MAX_DURATION_SECONDS = 100 * 365.25 * 86400


def parse_duration(value: Any) -> float:
    """Seconds of a duration given as a number of seconds or as ``"<n> <unit>"`` (s, m, h, d).

    Raises:
        ValueError: not a finite non-negative number (at most 100 years) nor a recognised
            ``"3 days"``-style string.
    """
    if isinstance(value, bool):
        raise ValueError(f"{_show(value)} is not a duration")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{_show(value)} is not a duration: use seconds or e.g. '3 days', '15 minutes'")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)[0].lower()]
    if not math.isfinite(seconds):
        raise ValueError(f"{_show(value)}: a duration must be a finite number")
    if seconds < 0:
        raise ValueError(f"{_show(value)}: a duration cannot be negative")
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"{_show(value)}: a duration can be at most 100 years")
    return seconds


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def column_name(v: str) -> str:
    """`v` when it is a column name (nested fields with '.'), for validators.

    Raises:
        ValueError: `v` is not a column name.
    """
    if not _COLUMN.fullmatch(v):
        raise ValueError(f"{v!r} is not a column name (letters, digits, '_', nested fields with '.')")
    return v


def table_key(key: str) -> str:
    """`key` when it is a rules table key `<layer>.<source>` (``bronze.billing_usage``).

    Raises:
        ValueError: an unknown layer or source.
    """
    layer, _, source = key.partition(".")
    if layer not in LAYERS or source not in SOURCE_NAMES:
        raise ValueError(
            f"table {key!r} is not '<layer>.<source>' with layer in {list(LAYERS)} "
            f"and source in {list(SOURCE_NAMES)}"
        )
    return key


def resolve_column(schema: Any, path: str) -> Any | None:
    """Data type of a possibly nested column (`usage_metadata.job_id`, `custom_tags.team`) in a
    StructType, case-insensitively as Spark resolves it, or None when it does not exist."""
    from pyspark.sql.types import ArrayType, MapType, StringType, StructType

    current: Any = schema
    for part in path.split("."):
        if isinstance(current, ArrayType) and isinstance(current.elementType, StructType):
            # `arr.f` of an array of structs is the array of every element's `f`, as in Spark
            inner = resolve_column(current.elementType, part)
            if inner is None:
                return None
            current = ArrayType(inner, True)
        elif isinstance(current, StructType):
            match = [f for f in current.fields if f.name.lower() == part.lower()]
            if not match:
                return None
            current = match[0].dataType
        elif isinstance(current, MapType) and isinstance(current.keyType, StringType):
            current = current.valueType
        else:
            return None
    return current


class CheckArgs(BaseModel):
    """Base of a check's argument model: frozen; unknown keys, NaN and infinity refused.

    The properties say what the arguments name, so that every check is validated the same way
    (columns exist, lookups have their keys, SQL is boolean, regexes compile): a check overrides
    those that apply to it.
    """

    # NaN and infinity are refused everywhere: `min: .nan` would make every comparison false.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @property
    def cols(self) -> list[str]:
        """Columns of the checked table that the arguments name."""
        return []

    @property
    def cols_key(self) -> str:
        """The argument that names `cols`, for messages."""
        return "columns" if getattr(self, "columns", None) is not None else "column"

    @property
    def lookup_table(self) -> str | None:
        """The `<layer>.<source>` whose DataFrame the check needs (`apply(lookups=...)`), if any."""
        return None

    @property
    def lookup_cols(self) -> list[str]:
        """Columns of `lookup_table` that the arguments name."""
        return []

    @property
    def lookup_cols_key(self) -> str:
        """The argument that names `lookup_cols`, for messages."""
        return "lookup_columns"

    @property
    def predicates(self) -> dict[str, str]:
        """Boolean SQL expressions among the arguments, by argument name."""
        return {}

    @property
    def patterns(self) -> dict[str, str]:
        """Regexes (Java, as `rlike`) among the arguments, by argument name."""
        return {}


A = TypeVar("A", bound=CheckArgs)


@dataclass(frozen=True)
class CheckInput:
    """What a check's function sees besides its arguments."""

    #: Schema of the DataFrame the column is evaluated on (decides casts).
    schema: StructType
    #: The batch time (for `freshness`).
    now: Column
    #: The helper column `prepare` added (batch-level checks only).
    helper: str | None = None

    def dtype(self, column: str) -> DataType | None:
        """Data type of `column` in `schema` (None when it has no such column)."""
        return resolve_column(self.schema, column)


@dataclass(frozen=True)
class BatchInput:
    """What the `prepare` step of a batch-level check sees besides its arguments."""

    #: The rule's name and table, for messages.
    rule: str
    table: str
    #: Name of the helper column to add.
    helper: str
    #: TRUE where the rule applies (its filter), never NULL.
    applies: Column
    #: Lookup DataFrames by `<layer>.<source>`.
    lookups: Mapping[str, DataFrame]


@dataclass(frozen=True)
class CheckSpec(Generic[A]):
    """A registered check: its name, argument model, level and functions."""

    name: str
    arguments: type[A]
    #: True when one row alone decides the check (counted in the streaming progress too).
    row_level: bool
    #: (arguments, input) -> Column TRUE where a row breaks the check.
    violation: Callable[[A, CheckInput], Column]
    #: (DataFrame, arguments, input) -> the DataFrame with the helper column (batch-level only).
    prepare: Callable[[DataFrame, A, BatchInput], DataFrame] | None
    #: "Fails where" and "Arguments" of the reference, from the function's docstring.
    fails_where: str
    arguments_doc: str


#: The registry, filled by `@check` in definition order (the shipped checks: `check_funcs.py`).
CHECKS: dict[str, CheckSpec[Any]] = {}

_FAILS = re.compile(r"^\s*Fails where (?P<fails>.+?)\.\s*$", re.DOTALL)
_ARGUMENTS = re.compile(r"^\s*Arguments: (?P<args>.+?)\.?\s*$", re.DOTALL)


def _doc_parts(name: str, doc: str | None) -> tuple[str, str]:
    paragraphs = [p for p in re.split(r"\n\s*\n", doc or "") if p.strip()]
    fails = _FAILS.match(paragraphs[0]) if paragraphs else None
    args = next((m for m in (_ARGUMENTS.match(p) for p in paragraphs[1:]) if m), None)
    if fails is None or args is None:
        raise ValueError(f"check {name!r}: the docstring must start 'Fails where ...' and have an 'Arguments: ...' "
                         "paragraph (docs/quality-rules.md is made from them)")
    return " ".join(fails["fails"].split()), " ".join(args["args"].split())


def check(
    name: str,
    arguments: type[A],
    *,
    row_level: bool = True,
    prepare: Callable[[DataFrame, A, BatchInput], DataFrame] | None = None,
) -> Callable[[Callable[[A, CheckInput], Column]], Callable[[A, CheckInput], Column]]:
    """Register the decorated function as the check `name` of rules files.

    Args:
        name: the `check.function` of a rule.
        arguments: the pydantic model of `check.arguments` (a `CheckArgs`).
        row_level: False when the check needs the whole batch or a lookup table.
        prepare: a batch-level check's step that adds its helper column to the batch.

    Raises:
        ValueError: the name is taken or not lower_snake_case, the arguments are not a
            `CheckArgs`, `prepare` is given exactly when the check is row-level, or the
            docstring lacks its "Fails where" sentence or "Arguments:" paragraph.
    """
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or name in CHECKS:
        raise ValueError(f"check name {name!r} is taken or not lower_snake_case")
    if not (isinstance(arguments, type) and issubclass(arguments, CheckArgs)):
        raise ValueError(f"check {name!r}: the arguments must be a CheckArgs model")
    if row_level == (prepare is not None):
        raise ValueError(f"check {name!r}: a batch-level check (row_level=False) gives `prepare`, a row-level one does not")

    def register(fn: Callable[[A, CheckInput], Column]) -> Callable[[A, CheckInput], Column]:
        fails, args = _doc_parts(name, fn.__doc__)
        CHECKS[name] = CheckSpec(name, arguments, row_level, fn, prepare, fails, args)
        return fn

    return register


CHECKS_BEGIN = "<!-- checks reference: generated by scripts/gen_config_doc.py from streaming_obs/quality/check_funcs.py -->"
CHECKS_END = "<!-- end of checks reference -->"


def checks_reference() -> str:
    """The checks table of docs/quality-rules.md (markdown), one row per registered check."""
    rows = ["| function | level | arguments | fails where |", "|---|---|---|---|"]
    for spec in CHECKS.values():
        level = "row" if spec.row_level else "batch"
        rows.append(f"| `{spec.name}` | {level} | {spec.arguments_doc} | {spec.fails_where} |")
    return "\n".join(rows) + "\n"
