"""Quality rules as data: the typed models of `conf/quality_rules.yaml` and its parser, with the
checks that need neither Spark nor a schema (names, arguments, regexes, SQL syntax). Loading a
file and checking it against the shipped schemas is `streaming_obs.quality.static`.

A rules file maps a table key `<layer>.<source>` (``bronze.billing_usage``) to its rules::

    version: 1
    tables:
      bronze.billing_usage:
        key: [workspace_id, record_id]          # shown as the sample key of a failure
        rules:
          - name: usage_end_after_start
            check: {function: sql, arguments: {expression: "usage_end_time >= usage_start_time"}}
            action: quarantine                  # warn | drop | quarantine | fail
            filter: "record_type <> 'RETRACTION'"   # optional: the rule applies only where TRUE

Every error names the file, the table and the rule.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from streaming_obs.config.models import SOURCE_NAMES
from streaming_obs.errors import QualityRuleError
from streaming_obs.quality.regex_safety import check_regex
from streaming_obs.quality.sql_expr import check_expression

__all__ = [
    "ACTIONS",
    "CHECKS",
    "ERROR_ACTIONS",
    "LAYERS",
    "ROW_LEVEL_CHECKS",
    "Rule",
    "RuleSet",
    "TableRules",
    "parse_duration",
    "parse_rules",
    "resolve_column",
]

CHECKS: tuple[str, ...] = (
    "not_null", "in_range", "in_set", "regex", "unique_in_batch", "freshness", "referential", "sql",
)
#: Checks decided by one row alone; the others look at the whole batch or at a lookup table.
ROW_LEVEL_CHECKS: frozenset[str] = frozenset(CHECKS) - {"unique_in_batch", "referential"}
ACTIONS: tuple[str, ...] = ("warn", "drop", "quarantine", "fail")
#: Actions that take a row out of the written output; the quality score counts rows passing all of them.
ERROR_ACTIONS: frozenset[str] = frozenset({"drop", "quarantine", "fail"})
LAYERS: tuple[str, ...] = ("bronze", "silver")

# Matched with fullmatch: `$` would also accept a trailing newline.
_RULE_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_RESERVED_NAMES = frozenset({"rows"})
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


def _column(v: str) -> str:
    if not _COLUMN.fullmatch(v):
        raise ValueError(f"{v!r} is not a column name (letters, digits, '_', nested fields with '.')")
    return v


class _Model(BaseModel):
    # NaN and infinity are refused everywhere: `min: .nan` would make every comparison false.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class NotNullArgs(_Model):
    """`not_null`: fails where any of the columns is NULL."""

    column: str | None = None
    columns: list[str] | None = None

    @model_validator(mode="after")
    def _one(self) -> NotNullArgs:
        if (self.column is None) == (self.columns is None):
            raise ValueError("give exactly one of 'column' or 'columns'")
        for c in self.cols:
            _column(c)
        if not self.cols:
            raise ValueError("'columns' must not be empty")
        return self

    @property
    def cols(self) -> list[str]:
        return [self.column] if self.column is not None else list(self.columns or [])


class _OneColumn(_Model):
    column: str

    @field_validator("column")
    @classmethod
    def _col(cls, v: str) -> str:
        return _column(v)

    @property
    def cols(self) -> list[str]:
        return [self.column]


class InRangeArgs(_OneColumn):
    """`in_range`: fails where the value lies outside [min, max] (NULL passes)."""

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


class InSetArgs(_OneColumn):
    """`in_set`: fails where the value is not one of `values` (NULL passes)."""

    values: list[str | bool | int | float] = Field(min_length=1)


class RegexArgs(_OneColumn):
    """`regex`: fails where the value does not contain a match of `pattern` (Java regex; NULL passes)."""

    pattern: str

    @field_validator("pattern")
    @classmethod
    def _safe(cls, v: str) -> str:
        check_regex(v)
        return v


class UniqueArgs(_Model):
    """`unique_in_batch`: fails on every row whose key occurs more than once in the batch."""

    columns: list[str] = Field(min_length=1)

    @field_validator("columns")
    @classmethod
    def _cols(cls, v: list[str]) -> list[str]:
        return [_column(c) for c in v]

    @property
    def cols(self) -> list[str]:
        return list(self.columns)


class FreshnessArgs(_OneColumn):
    """`freshness`: fails where the event time is older than `max_age` or later than `max_future`,
    both measured from the batch time (NULL passes)."""

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


class ReferentialArgs(_Model):
    """`referential`: fails where the key has no match in the lookup table (NULL keys pass)."""

    columns: list[str] = Field(min_length=1)
    lookup: str
    lookup_columns: list[str] | None = None

    @field_validator("columns", "lookup_columns")
    @classmethod
    def _cols(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else [_column(c) for c in v]

    @field_validator("lookup")
    @classmethod
    def _lookup(cls, v: str) -> str:
        _table_key(v)
        return v

    @model_validator(mode="after")
    def _same_length(self) -> ReferentialArgs:
        if self.lookup_columns is not None and len(self.lookup_columns) != len(self.columns):
            raise ValueError("'lookup_columns' must have as many columns as 'columns'")
        return self

    @property
    def cols(self) -> list[str]:
        return list(self.columns)

    @property
    def lookup_cols(self) -> list[str]:
        return list(self.lookup_columns or self.columns)


class SqlArgs(_Model):
    """`sql`: fails where the boolean SQL expression is FALSE (NULL passes, as in a CHECK constraint)."""

    expression: str = Field(min_length=1)

    @field_validator("expression")
    @classmethod
    def _sql(cls, v: str) -> str:
        check_expression(v, None)  # syntax and deny list; columns and type: quality.static
        return v

    @property
    def cols(self) -> list[str]:
        return []


_ARGS: dict[str, type[_Model]] = {
    "not_null": NotNullArgs,
    "in_range": InRangeArgs,
    "in_set": InSetArgs,
    "regex": RegexArgs,
    "unique_in_batch": UniqueArgs,
    "freshness": FreshnessArgs,
    "referential": ReferentialArgs,
    "sql": SqlArgs,
}


class Check(_Model):
    """`{function, arguments}` of a rule."""

    function: str
    arguments: Any = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _typed(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise ValueError("'check' must be a mapping {function: ..., arguments: {...}}")
        function = data.get("function")
        if function not in _ARGS:
            raise ValueError(f"unknown check {function!r}; known: {', '.join(CHECKS)}")
        args = data.get("arguments") or {}
        if not isinstance(args, Mapping):
            raise ValueError("'arguments' must be a mapping")
        extra = set(data) - {"function", "arguments"}
        if extra:
            raise ValueError(f"unknown key(s) {sorted(extra)} in 'check'")
        return {"function": function, "arguments": _ARGS[function].model_validate(dict(args))}


class Rule(_Model):
    """One quality rule of one table."""

    name: str
    check: Check
    action: Literal["warn", "drop", "quarantine", "fail"] = "warn"
    filter: str | None = None
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _RULE_NAME.fullmatch(v) or "__" in v:
            raise ValueError(f"rule name {v!r}: use lower-case letters, digits and single '_' (max 63)")
        if v in _RESERVED_NAMES:
            raise ValueError(f"rule name {v!r} is reserved (the table totals are rows_*)")
        return v

    @field_validator("filter")
    @classmethod
    def _filter(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("'filter' must not be blank")
        if v is not None:
            check_expression(v, None)
        return v

    @property
    def function(self) -> str:
        """The check's function name (``not_null``, ``sql``, ...)."""
        return self.check.function

    @property
    def args(self) -> Any:
        """The typed arguments of the check."""
        return self.check.arguments

    @property
    def row_level(self) -> bool:
        """True when one row alone decides the rule (not unique_in_batch nor referential)."""
        return self.check.function in ROW_LEVEL_CHECKS

    @property
    def is_error(self) -> bool:
        """True for drop/quarantine/fail: a failing row is not written to the target."""
        return self.action in ERROR_ACTIONS


class TableRules(_Model):
    """The rules of one table and the columns that identify a row in messages."""

    key: list[str] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)

    @field_validator("key")
    @classmethod
    def _key(cls, v: list[str]) -> list[str]:
        return [_column(c) for c in v]


class RuleSet(_Model):
    """All rules of a rules file, by table key `<layer>.<source>`."""

    version: Literal[1] = 1
    tables: dict[str, TableRules] = Field(default_factory=dict)
    source: str = Field("<memory>", exclude=True)

    def for_table(self, table: str) -> TableRules:
        """The rules of `table` (empty when the file has none for it)."""
        return self.tables.get(_table_key(table), TableRules())


def _table_key(key: str) -> str:
    layer, _, source = key.partition(".")
    if layer not in LAYERS or source not in SOURCE_NAMES:
        raise ValueError(
            f"table {key!r} is not '<layer>.<source>' with layer in {list(LAYERS)} "
            f"and source in {list(SOURCE_NAMES)}"
        )
    return key


# Tags pydantic puts in an error's location: validator kinds and the members of a union.
_LOC_NOISE = frozenset({"function-after", "function-before", "str", "bool", "int", "float"})


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    # Of the errors at one place (one per member of a union), "not finite" says the most.
    err = next((e for e in errors if e["type"] == "finite_number"), errors[0])
    parts = [str(p) for p in err["loc"] if p not in _LOC_NOISE]
    if len(parts) > 1 and parts[0] == "check" and parts[1] not in ("function", "arguments"):
        parts.insert(1, "arguments")  # the typed arguments are validated inside `check`
    loc = ".".join(parts)
    ctx = (err.get("ctx") or {}).get("error")
    msg = str(ctx) if ctx is not None else err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    return f"{loc}: {msg}" if loc else msg


def parse_rules(data: Any, label: str = "<memory>") -> RuleSet:
    """Validate a rules document already read from YAML.

    Raises:
        QualityRuleError: anything invalid; the message names the file, table and rule.
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise QualityRuleError(f"{label}: the file must hold a mapping with 'tables'")
    unknown = set(data) - {"version", "tables"}
    if unknown:
        raise QualityRuleError(f"{label}: unknown top-level key(s) {sorted(unknown)}")
    if data.get("version", 1) != 1:
        raise QualityRuleError(f"{label}: version {data.get('version')!r} is not supported (use 1)")
    tables: dict[str, TableRules] = {}
    raw_tables = data.get("tables") or {}
    if not isinstance(raw_tables, Mapping):
        raise QualityRuleError(
            f"{label}: tables: must be a mapping of '<layer>.<source>' to rules, not {type(raw_tables).__name__}")
    for table, body in raw_tables.items():
        where = f"{label}: tables.{table}"
        try:
            _table_key(str(table))
        except ValueError as exc:
            raise QualityRuleError(f"{where}: {exc}") from None
        body = body or {}
        if not isinstance(body, Mapping):
            raise QualityRuleError(f"{where}: must be a mapping with 'rules' (and optional 'key')")
        extra = sorted(str(k) for k in set(body) - {"key", "rules"})
        if extra:
            raise QualityRuleError(f"{where}.{extra[0]}: unknown key (a table has 'key' and 'rules')")
        raw_rules = body.get("rules") or []
        if not isinstance(raw_rules, list):
            raise QualityRuleError(f"{where}.rules: must be a list of rules, not {type(raw_rules).__name__}")
        rules = []
        for i, raw in enumerate(raw_rules):
            name = raw.get("name", f"#{i}") if isinstance(raw, Mapping) else f"#{i}"
            try:
                rules.append(Rule.model_validate(raw))
            except ValidationError as exc:
                raise QualityRuleError(f"{where}: rule {name!r}: {_first_error(exc)}") from None
        seen: set[str] = set()
        for rule in rules:
            if rule.name in seen:
                raise QualityRuleError(f"{where}: rule {rule.name!r}: duplicate rule name")
            seen.add(rule.name)
        try:
            tables[str(table)] = TableRules(key=body.get("key") or [], rules=rules)
        except ValidationError as exc:
            raise QualityRuleError(f"{where}: {_first_error(exc)}") from None
    return RuleSet(tables=tables, source=label)


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
