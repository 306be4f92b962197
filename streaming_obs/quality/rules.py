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

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError, field_validator, model_validator

from streaming_obs.errors import QualityRuleError
from streaming_obs.quality import check_funcs  # noqa: F401 - registers the shipped checks
from streaming_obs.quality.checks import CHECKS, CheckArgs, CheckSpec, column_name, table_key
from streaming_obs.quality.sql_expr import check_expression

__all__ = [
    "ACTIONS",
    "ERROR_ACTIONS",
    "Rule",
    "RuleSet",
    "TableRules",
    "parse_rules",
]

ACTIONS: tuple[str, ...] = ("warn", "drop", "quarantine", "fail")
#: Actions that take a row out of the written output; the quality score counts rows passing all of them.
ERROR_ACTIONS: frozenset[str] = frozenset({"drop", "quarantine", "fail"})

# Matched with fullmatch: `$` would also accept a trailing newline.
_RULE_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_RESERVED_NAMES = frozenset({"rows"})


class _Model(BaseModel):
    # NaN and infinity are refused everywhere: `min: .nan` would make every comparison false.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Check(_Model):
    """`{function, arguments}` of a rule."""

    function: str
    # SerializeAsAny: the value is the check's own model, dumped with all its fields
    arguments: SerializeAsAny[CheckArgs]

    @model_validator(mode="before")
    @classmethod
    def _typed(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise ValueError("'check' must be a mapping {function: ..., arguments: {...}}")
        function = data.get("function")
        if function not in CHECKS:
            raise ValueError(f"unknown check {function!r}; known: {', '.join(CHECKS)}")
        args = data.get("arguments") or {}
        if not isinstance(args, Mapping):
            raise ValueError("'arguments' must be a mapping")
        extra = set(data) - {"function", "arguments"}
        if extra:
            raise ValueError(f"unknown key(s) {sorted(extra)} in 'check'")
        return {"function": function, "arguments": CHECKS[function].arguments.model_validate(dict(args))}


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
        """The typed arguments of the check (its `CheckArgs` model)."""
        return self.check.arguments

    @property
    def spec(self) -> CheckSpec[Any]:
        """The registered check (`streaming_obs.quality.checks.CHECKS`)."""
        return CHECKS[self.check.function]

    @property
    def row_level(self) -> bool:
        """True when one row alone decides the rule (its check is registered row-level)."""
        return self.spec.row_level

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
        return [column_name(c) for c in v]


class RuleSet(_Model):
    """All rules of a rules file, by table key `<layer>.<source>`."""

    version: Literal[1] = 1
    tables: dict[str, TableRules] = Field(default_factory=dict)
    source: str = Field("<memory>", exclude=True)

    def for_table(self, table: str) -> TableRules:
        """The rules of `table` (empty when the file has none for it)."""
        return self.tables.get(table_key(table), TableRules())


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
            table_key(str(table))
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
