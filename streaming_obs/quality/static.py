"""A rules file loaded and checked against the shipped table schemas, without Spark.

The schema of `bronze.<source>` and `silver.<source>` is the one bootstrap creates: the system
table's columns (`sql/ddl/system/<source>.ddl`) plus the layer's extra columns of
`sql/ddl/tables.yaml`. Against it every rule is checked: key columns, the columns its arguments
name (nested struct fields such as `usage_metadata.job_id` included), the lookup columns of a
`referential` rule, and its SQL (`sql/quality/denied_functions.yaml`, boolean where a predicate is
expected; see `streaming_obs.quality.sql_expr`). What a rule's arguments name (columns, a lookup
and its columns, SQL predicates) its check's argument model declares (`CheckArgs`), so every
check, a new one too, is checked the same way. Regexes and numbers are checked when the file is
parsed (`streaming_obs.quality.rules`).

Every failure is one `QualityRuleError` line: ``<file>: tables.<table>: rule '<name>': <key>: <problem>``.
"""

from __future__ import annotations

import difflib
import os
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from streaming_obs.config.loader import decode_utf8, yaml_problem
from streaming_obs.errors import QualityRuleError
from streaming_obs.quality.rules import Rule, RuleSet, parse_rules
from streaming_obs.quality.sql_expr import check_expression, resolve_path, schema_from_ddl

__all__ = ["check_rule_set", "load_rules", "rules_label", "table_schema"]


@lru_cache(maxsize=None)
def table_schema(table: str) -> Any:
    """The shipped schema of `<layer>.<source>` (``bronze.billing_usage``), as bootstrap creates
    it, as a sqlglot STRUCT type (no Spark needed)."""
    from streaming_obs.bootstrap import layer_columns

    layer, _, source = table.partition(".")
    return schema_from_ddl(layer_columns(layer, source))


def check_rule_set(rules: RuleSet) -> None:
    """Check every table of `rules` against its shipped schema.

    Raises:
        QualityRuleError: the first failure, naming the file, table, rule and key.
    """
    for table, body in rules.tables.items():
        where = f"{rules.source}: tables.{table}"
        schema = table_schema(table)
        for col in body.key:
            if resolve_path(schema, col) is None:
                raise QualityRuleError(f"{where}: key: {_unknown(col, schema)}")
        for rule in body.rules:
            _check_rule(rule, schema, where)


def _check_rule(rule: Rule, schema: Any, where: str) -> None:
    def fail(key: str, problem: str) -> QualityRuleError:
        return QualityRuleError(f"{where}: rule {rule.name!r}: {key}: {problem}")

    args = rule.args  # what the arguments name is declared by the check's model (CheckArgs)
    for col in args.cols:
        if resolve_path(schema, col) is None:
            raise fail(f"check.arguments.{args.cols_key}", _unknown(col, schema))
    if args.lookup_table is not None:
        lookup = table_schema(args.lookup_table)
        for col in args.lookup_cols:
            if resolve_path(lookup, col) is None:
                raise fail(f"check.arguments.{args.lookup_cols_key}", f"lookup {args.lookup_table}: {_unknown(col, lookup)}")
    predicates = [("filter", rule.filter)] + [(f"check.arguments.{k}", v) for k, v in args.predicates.items()]
    for key, expression in predicates:
        if expression is None:
            continue
        try:
            check_expression(expression, schema, predicate=True)
        except ValueError as exc:
            raise fail(key, str(exc)) from None


def _unknown(col: str, schema: Any) -> str:
    near = difflib.get_close_matches(col.lower(), _paths(schema), n=1)
    return f"unknown column {col!r}" + (f" (did you mean {near[0]!r}?)" if near else "")


def _paths(schema: Any, prefix: str = "") -> list[str]:
    """Every column and nested struct field of `schema`, dotted and lower-case."""
    from sqlglot import exp

    out = []
    for col in schema.expressions:
        name = prefix + col.name.lower()
        out.append(name)
        kind = col.args.get("kind")
        if kind is not None and kind.is_type(exp.DataType.Type.STRUCT):
            out += _paths(kind, name + ".")
    return out


def rules_label(name: str | os.PathLike[str]) -> str:
    """How a rules file is named in messages: its path, or `conf/<name>` for packaged files."""
    path = Path(name)
    return str(path) if path.is_file() else f"conf/{name}"


def load_rules(name: str | os.PathLike[str]) -> RuleSet:
    """Load a rules file: a real path if it exists, else a file shipped in `streaming_obs.conf`.

    The file is parsed (`parse_rules`) and every rule checked against the shipped table schemas
    (columns, SQL types, lookups; `check_rule_set`), as `validate-config` and `run` do.

    Args:
        name: a path, or the name of a packaged file (``quality_rules.yaml``).

    Raises:
        QualityRuleError: the file is missing, not UTF-8, not YAML, or holds an invalid rule.
    """
    path = Path(name)
    label = rules_label(name)
    try:
        if path.is_file():
            raw = path.read_bytes()
        else:
            node = files("streaming_obs.conf") / str(name)
            if not node.is_file():
                raise QualityRuleError(f"{label}: rules file not found (neither a path nor packaged)")
            raw = node.read_bytes()
    except OSError as exc:
        raise QualityRuleError(f"{label}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    try:
        text = decode_utf8(raw)
    except ValueError as exc:
        raise QualityRuleError(f"{label}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where, problem = yaml_problem(exc, text)
        raise QualityRuleError(f"{label}: {where}: {problem}") from None
    rules = parse_rules(data, label)
    check_rule_set(rules)
    return rules
