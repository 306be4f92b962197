"""The SQL of a rule (a `sql` check's expression, a `filter`), checked without Spark.

Each expression is parsed with sqlglot's Spark dialect and must be one plain expression over the
row: no statement, subquery, table, aggregate, window or generator, no query parameter, and no
function of the deny list (`sql/quality/denied_functions.yaml`: JVM and file-system access,
secrets, errors thrown from the batch, randomness). Every column it names, nested struct fields
included, must exist in the table's schema; the expression's type is then inferred with the
columns typed as the schema says, and where a predicate is expected it must be BOOLEAN.

Spark's own analyser still runs in `streaming-obs run` against the live tables; this check is
what makes `validate-config` trustworthy and lets `run` refuse a bad rule before Spark starts.
Schemas here are sqlglot types parsed from the DDL (`schema_from_ddl`), not pyspark's: the
wheel's `validate-config` runs where Spark is not installed.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import yaml

from streaming_obs.sqlfiles import load_sql

__all__ = ["MAX_EXPRESSION_LENGTH", "check_expression", "denied_functions", "resolve_path", "schema_from_ddl"]

#: Longer expressions are refused: a rule is a check, not a program.
MAX_EXPRESSION_LENGTH = 4000

# Spark functions that return BOOLEAN but that sqlglot does not type (unknown to it, or known
# without a return type, as map_contains_key).
_BOOLEAN_FUNCTIONS = frozenset({
    "isnull", "isnotnull", "isnan", "equal_null", "map_contains_key", "arrays_overlap", "array_contains",
    "exists", "forall", "like", "ilike", "rlike", "regexp", "regexp_like", "startswith", "endswith",
    "contains", "is_valid_utf8", "is_variant_null",
})


@lru_cache(maxsize=1)
def denied_functions() -> dict[str, str]:
    """Lower-case function name → why rules may not call it (from the shipped deny list)."""
    groups = yaml.safe_load(load_sql("quality/denied_functions.yaml"))
    return {str(fn).lower(): str(g["reason"]) for g in groups.values() for fn in g["functions"]}


def schema_from_ddl(ddl: str) -> Any:
    """A Spark DDL column list (``a STRING, s STRUCT<b: INT>``) as one sqlglot STRUCT type.

    Raises:
        ValueError: the DDL does not parse.
    """
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError, TokenError

    try:
        create = sqlglot.parse_one(f"CREATE TABLE t ({ddl})", read="spark")
    except (ParseError, TokenError) as exc:
        raise ValueError(f"bad DDL: {_parse_problem(exc)}") from None
    columns = [c for c in create.this.expressions if isinstance(c, exp.ColumnDef)]
    return exp.DataType(this=exp.DataType.Type.STRUCT, expressions=columns, nested=True)


def resolve_path(schema: Any, path: str) -> Any | None:
    """The sqlglot type of a possibly nested column (`usage_metadata.job_id`, `custom_tags.team`,
    `array_of_structs.field`) in a STRUCT type, case-insensitively as Spark resolves it, or None
    when it does not exist."""
    from sqlglot import exp

    t = exp.DataType.Type
    current = schema
    for part in path.split("."):
        if current.is_type(t.ARRAY) and current.expressions and current.expressions[0].is_type(t.STRUCT):
            # `arr.f` of an array of structs is the array of every element's `f`, as in Spark
            inner = resolve_path(current.expressions[0], part)
            if inner is None:
                return None
            current = exp.DataType(this=t.ARRAY, expressions=[inner], nested=True)
        elif current.is_type(t.STRUCT):
            match = [c for c in current.expressions if isinstance(c, exp.ColumnDef) and c.name.lower() == part.lower()]
            if not match:
                return None
            current = match[0].args["kind"]
        elif current.is_type(t.MAP) and len(current.expressions) == 2 and current.expressions[0].this in exp.DataType.TEXT_TYPES:
            current = current.expressions[1]
        else:
            return None
    return current


def check_expression(expression: str, schema: Any | None = None, *, predicate: bool = True) -> None:
    """Refuse an expression that Spark would reject, that reaches outside the row, or that is
    not boolean where a predicate is expected.

    Args:
        expression: Spark SQL expression text.
        schema: the columns it may name, a sqlglot STRUCT type (`schema_from_ddl`); None: only
            syntax and the deny list are checked.
        predicate: True where the expression must be BOOLEAN (`sql` checks, filters).

    Raises:
        ValueError: one line saying what is wrong.
    """
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError, TokenError

    if not expression.strip():
        raise ValueError("empty SQL expression")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ValueError(f"SQL expression is {len(expression)} characters long; at most {MAX_EXPRESSION_LENGTH}")
    try:
        tokens = sqlglot.tokenize(expression, read="spark")
        _no_denied_names(tokens)
        tree = sqlglot.parse_one(expression, read="spark")
    except (ParseError, TokenError) as exc:
        raise ValueError(f"bad SQL {expression!r}: {_parse_problem(exc)}") from None
    except RecursionError:
        raise ValueError(f"bad SQL {expression!r}: nested too deeply") from None
    if tree is None:  # pragma: no cover - parse_one raises on empty input
        raise ValueError(f"bad SQL {expression!r}: no expression")
    _plain_expression(tree, expression)
    for fn in tree.find_all(exp.Func):
        for name in _function_names(fn):
            if name in denied_functions():
                raise ValueError(f"SQL {expression!r} calls {name}(), which rules may not: {denied_functions()[name]}")
    if schema is None:
        return
    typed = _typed(tree.copy(), schema, expression)
    if predicate:
        _boolean(typed, expression)


def _parse_problem(exc: Exception) -> str:
    errors = getattr(exc, "errors", None) or []
    if errors:
        err = errors[0]
        where = f" at column {err['col']}" if err.get("col") else ""
        what = re.sub(r"<class 'sqlglot\.expressions\.[\w.]*?(\w+)'>", r"\1", err.get("description") or "cannot parse")
        return f"{what}{where}"
    text = str(exc).strip()
    return text.splitlines()[0] if text else "cannot parse"


def _no_denied_names(tokens: list[Any]) -> None:
    """A word of the expression that names a denied function and is followed by `(` refuses it,
    whatever the parser makes of the syntax around it (qualified names, backquotes). A column
    of the same name (query_history has `read_files`) stays usable."""
    from sqlglot.tokens import TokenType

    for tok, nxt in zip(tokens, tokens[1:]):
        if tok.token_type in (TokenType.STRING, TokenType.NUMBER) or nxt.token_type != TokenType.L_PAREN:
            continue
        name = tok.text.lower()
        if name in denied_functions():
            raise ValueError(f"SQL names {name}, which rules may not call: {denied_functions()[name]}")


def _plain_expression(tree: Any, expression: str) -> None:
    from sqlglot import exp

    refused = (
        ((exp.Query, exp.Subquery, exp.Table), "a subquery or table (a rule sees one row)"),
        ((exp.DDL, exp.DML, exp.Command, exp.Block), "a statement"),
        ((exp.AggFunc,), "an aggregate function (a rule judges one row; use unique_in_batch)"),
        ((exp.Window,), "a window function (a rule judges one row; use unique_in_batch)"),
        ((exp.UDTF, exp.Explode), "a generator (a rule must not add rows)"),
        ((exp.Placeholder, exp.Parameter), "a query parameter"),
    )
    for node in tree.walk():
        for types, what in refused:
            if isinstance(node, types):
                raise ValueError(f"SQL {expression!r} holds {what}: {node.sql(dialect='spark')[:60]!r}")


def _function_names(fn: Any) -> set[str]:
    """Every name a parsed function goes by: as written when sqlglot does not know it, else all
    the names of its class (`rand` and `random` are both `exp.Rand`)."""
    from sqlglot import exp

    if isinstance(fn, exp.Anonymous):
        return {str(fn.name).lower()}
    if isinstance(fn, (exp.Connector, exp.Binary, exp.Unary)):
        return set()
    return {n.lower() for n in type(fn).sql_names()}


def _typed(tree: Any, schema: Any, expression: str) -> Any:
    """`tree` with every column replaced by `CAST(NULL AS <its type>)`, types inferred."""
    from sqlglot import exp
    from sqlglot.optimizer.annotate_types import annotate_types

    holder = exp.Paren(this=tree)  # so that a bare column at the root can be replaced too
    replacements = []
    for col in list(holder.find_all(exp.Column)):
        if _lambda_bound(col):
            continue
        node, parts = col, [p.name for p in col.parts]
        while isinstance(node.parent, exp.Dot) and node.parent.this is node and isinstance(node.parent.expression, exp.Identifier):
            node = node.parent
            parts.append(node.expression.name)
        path = ".".join(parts)
        dtype = resolve_path(schema, path)
        if dtype is None:
            raise ValueError(f"SQL {expression!r} names unknown column {path!r}")
        replacements.append((node, dtype))
    for node, dtype in replacements:
        node.replace(exp.Cast(this=exp.Null(), to=dtype.copy()))
    return annotate_types(holder, dialect="spark").this


def _lambda_bound(col: Any) -> bool:
    from sqlglot import exp

    first = col.parts[0].name.lower()
    node = col.parent
    while node is not None:
        if isinstance(node, exp.Lambda) and any(p.name.lower() == first for p in node.expressions):
            return True
        node = node.parent
    return False


def _boolean(tree: Any, expression: str) -> None:
    from sqlglot import exp

    dtype = tree.type
    if dtype is not None and dtype.is_type(exp.DataType.Type.BOOLEAN):
        return
    root = tree.unnest() if isinstance(tree, exp.Paren) else tree
    if isinstance(root, exp.Func) and _function_names(root) & _BOOLEAN_FUNCTIONS:
        return
    if dtype is None or dtype.is_type(exp.DataType.Type.UNKNOWN):
        raise ValueError(f"SQL {expression!r} cannot be shown to be boolean; compare it explicitly (e.g. '... = true')")
    raise ValueError(f"SQL {expression!r} is {dtype.sql(dialect='spark')}, not boolean")
