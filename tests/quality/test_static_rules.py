"""Rules checked without Spark: SQL (sqlglot, Spark dialect) against the shipped schemas, the deny
list, regex safety and Java syntax. Pure Python; the Spark analyser's own checks are in
test_rules.py."""

from __future__ import annotations

import time

import pytest
from streaming_obs.errors import QualityRuleError
from streaming_obs.quality.regex_safety import MAX_PATTERN_LENGTH, check_regex
from streaming_obs.quality.checks import parse_duration, resolve_column
from streaming_obs.quality.rules import parse_rules
from streaming_obs.quality.sql_expr import (
    MAX_EXPRESSION_LENGTH,
    check_expression,
    denied_functions,
    resolve_path,
    schema_from_ddl,
)
from streaming_obs.quality.static import check_rule_set, load_rules, table_schema

USAGE = table_schema("bronze.billing_usage")


@pytest.mark.parametrize(
    "expression",
    [
        "usage_end_time >= usage_start_time",
        "usage_quantity IS NULL OR try_cast(usage_quantity AS DECIMAL(38,18)) IS NOT NULL",
        "usage_end_time <= usage_start_time + INTERVAL 1 DAY",
        "usage_metadata.job_id IS NOT NULL AND USAGE_METADATA.JOB_RUN_ID <> ''",  # case-insensitive, as Spark
        "custom_tags['team'] = 'data'",
        "product_features.is_serverless",  # a BOOLEAN column is a predicate
        "NOT product_features.is_photon",
        "coalesce(product_features.is_serverless, false)",
        "isnull(record_id)",  # Spark boolean functions sqlglot does not type
        "map_contains_key(custom_tags, 'team')",
        "exists(array(1, 2), x -> x > 0)",  # lambda variables are not columns
        "CASE WHEN record_type = 'RETRACTION' THEN usage_quantity <= 0 ELSE usage_quantity >= 0 END",
        "record_type IN ('ORIGINAL', 'RETRACTION') AND sku_name RLIKE '^[A-Z_]+$'",
        "`record_type` = 'ORIGINAL' -- a comment",
        "_ingest_time >= _source_commit_ts",  # bronze's own columns
        "usage_date > current_date() - INTERVAL 400 DAYS",
    ],
)
def test_good_expressions_pass(expression):
    check_expression(expression, USAGE)


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("usage_quantity >>> 1 +", "bad SQL"),
        ("", "empty SQL expression"),
        ("usage_quantity + 1", "is DECIMAL(38, 18), not boolean"),
        ("record_id", "is STRING, not boolean"),
        ("NULL", "is NULL, not boolean"),
        ("custom_tags['team']", "cannot be shown to be boolean"),
        ("my_function(record_id)", "cannot be shown to be boolean"),
        ("no_such > 1", "names unknown column 'no_such'"),
        ("usage_metadata.no_such = 'x'", "names unknown column 'usage_metadata.no_such'"),
        ("usage_metadata.job_id.deeper.still = 'x'", "names unknown column 'usage_metadata.job_id.deeper.still'"),
        ("reflect('java.lang.System', 'exit', 3) IS NULL", "names reflect"),
        ("REFLECT('java.lang.System', 'exit', 3) IS NULL", "names reflect"),
        ("system.builtin.reflect('a', 'b') IS NULL", "names reflect"),
        ("`java_method`('a', 'b') IS NULL", "names java_method"),
        ("try_reflect('a', 'b') IS NULL", "names try_reflect"),
        ("xpath_boolean('<a/>', 'a')", "names xpath_boolean"),
        ("raise_error('x') IS NULL", "names raise_error"),
        ("rand() > 0.5", "names rand"),
        ("random() > 0.5", "names random"),
        ("uuid() = record_id", "names uuid"),
        ("usage_quantity > (SELECT max(a) FROM t)", "holds a subquery or table"),
        ("record_id IN (SELECT record_id FROM other)", "holds a subquery or table"),
        ("true; DROP TABLE x", "holds a statement"),
        ("count(*) > 1", "holds an aggregate function"),
        ("count(*) OVER (PARTITION BY record_id) > 1", "holds"),
        ("explode(array(1)) > 0", "holds a generator"),
        ("usage_quantity > :limit", "holds a query parameter"),
        ("1 = " + "(" * 3000 + "1" + ")" * 3000, "at most"),
    ],
)
def test_bad_expressions_fail_with_one_line(expression, problem):
    with pytest.raises(ValueError) as exc:
        check_expression(expression, USAGE)
    assert problem in str(exc.value) and "\n" not in str(exc.value), str(exc.value)


def test_deny_list_is_data_and_holds_the_jvm_functions():
    denied = denied_functions()
    assert {"reflect", "java_method", "try_reflect"} <= set(denied)
    assert all(reason and "\n" not in reason for reason in denied.values())


def test_a_column_named_like_a_function_stays_usable():
    # system.query.history has a `read_files` column; only a call is refused
    check_expression("read_files >= 0", table_schema("bronze.query_history"))
    with pytest.raises(ValueError, match="names reflect"):
        check_expression("reflect IS NULL OR reflect('a', 'b') IS NULL", None)


def test_syntax_and_deny_list_without_a_schema():
    check_expression("no_such_column + 1", None, predicate=True)  # columns and types need a schema
    with pytest.raises(ValueError, match="names java_method"):
        check_expression("java_method('a', 'b')", None)


def test_long_expressions_are_refused():
    with pytest.raises(ValueError, match=f"at most {MAX_EXPRESSION_LENGTH}"):
        check_expression("true AND " * 1000 + "true", None)


def test_nested_columns_resolve_like_spark():
    schema = schema_from_ddl("events ARRAY<STRUCT<kind: STRING>>, tags MAP<STRING, INT>, s STRUCT<t: STRUCT<u: DATE>>")
    assert resolve_path(schema, "events.kind").sql("spark") == "ARRAY<STRING>"
    assert resolve_path(schema, "EVENTS.Kind") is not None
    assert resolve_path(schema, "events.nope") is None
    assert resolve_path(schema, "tags.anything").sql("spark") == "INT"
    assert resolve_path(schema, "s.t.u").sql("spark") == "DATE"
    assert resolve_path(schema, "s.t.u.v") is None
    check_expression("array_contains(events.kind, 'x')", schema)
    check_expression("tags.team > 0 AND s.t.u < current_date()", schema)
    with pytest.raises(ValueError, match="bad DDL"):
        schema_from_ddl("a STRUCT<")


def test_pyspark_resolution_agrees_on_arrays_of_structs():
    from pyspark.sql.types import ArrayType, StringType, StructField, StructType

    schema = StructType([StructField("events", ArrayType(StructType([StructField("kind", StringType())])))])
    assert resolve_column(schema, "events.kind") == ArrayType(StringType(), True)
    assert resolve_column(schema, "events.nope") is None


@pytest.mark.parametrize(
    "pattern",
    [
        "^[A-Z_]+$", r"(\d{3}-)+", r"\p{L}+", r"\p{IsAlphabetic}\P{Lu}", r"\Q(.*a){12}\E", r"(?<word>a+)\k<word>",
        r"(?>.*a){12}", r"(a++)+", r"(.*a)*+", r"[(?P<x>]", r"\(?P<x>", r"a\z", r"(?i)abc", r"(?iu-s:a)", r"\h\R\x{41}",
        r"^[\w.+-]+@(?:[\w-]++\.)+[a-z]{2,}$", r"(?U)\w+", r"(?d)^a$", r"(?-i)x", r"(?iU-d:a|b)",
    ],
)
def test_safe_java_regexes_pass(pattern):
    check_regex(pattern)


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("(.*a){12}$", "nests a quantifier inside a repeated group (* inside {12})"),
        ("(a+)+", "(+ inside +)"),
        ("(a|aa?)+b", "(? inside +)"),
        (r"^([a-z]+\.)*$", "(+ inside *)"),
        ("((ab)*c)*", "(* inside *)"),
        ("(?P<n>a)", "'(?P<name>...)' is Python only"),
        ("(?P<n>a)(?P=n)", "'(?P<name>...)' is Python only"),
        ("(a)(?P=x)", "'(?P=name)' is Python only"),
        ("(?#note)a", "comments are Python only"),
        ("(a)?(?(1)b|c)", "conditional groups"),
        ("(?a)x", "inline flag(s) 'a'"),
        ("(?L:x)", "inline flag(s) 'L'"),
        ("a{,3}", "'{,n}' is Python only"),
        ("(unclosed", "bad regex"),
        ("a" * (MAX_PATTERN_LENGTH + 1), "characters long"),
    ],
)
def test_unsafe_or_python_only_regexes_fail(pattern, problem):
    with pytest.raises(ValueError) as exc:
        check_regex(pattern)
    assert problem in str(exc.value) and "\n" not in str(exc.value), str(exc.value)


def test_regex_check_is_fast_on_a_hostile_pattern():
    t0 = time.monotonic()
    with pytest.raises(ValueError):
        check_regex("(" * 100 + ".*a" + "){12}" * 100)
    assert time.monotonic() - t0 < 2


def test_durations_are_finite_and_bounded():
    for bad in (float("inf"), float("nan"), "9" * 400 + " days", "40000 days", -1):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert parse_duration("36500 days") == 36500 * 86400


def test_shipped_rules_pass_the_static_checks():
    rules = load_rules("quality_rules.yaml")
    check_rule_set(rules)  # again, explicitly
    assert sum(len(t.rules) for t in rules.tables.values()) > 40


def test_in_memory_rules_skip_schemas_until_asked():
    rs = parse_rules({"tables": {"bronze.jobs": {"rules": [
        {"name": "ghost", "check": {"function": "not_null", "arguments": {"column": "no_such"}}}]}}}, "mem.yaml")
    with pytest.raises(QualityRuleError, match="mem.yaml: tables.bronze.jobs: rule 'ghost': check.arguments.column: unknown column 'no_such'"):
        check_rule_set(rs)


def test_rule_and_column_names_do_not_accept_a_trailing_newline():
    for rule in ({"name": "ok\n", "check": {"function": "not_null", "arguments": {"column": "job_id"}}},
                 {"name": "ok", "check": {"function": "not_null", "arguments": {"column": "job_id\n"}}}):
        with pytest.raises(QualityRuleError):
            parse_rules({"tables": {"bronze.jobs": {"rules": [rule]}}}, "f.yaml")


def test_each_layer_of_the_deny_list_refuses_alone(monkeypatch):
    """The token scan and the parse-tree scan each refuse a denied call: one does not hide a
    gap in the other."""
    import streaming_obs.quality.sql_expr as sx

    monkeypatch.setattr(sx, "_no_denied_names", lambda tokens: None)
    with pytest.raises(ValueError, match=r"calls (rand|random)\(\), which rules may not"):
        check_expression("rand() > 0.5", None)
    with pytest.raises(ValueError, match=r"calls reflect\(\)"):
        check_expression("reflect('a', 'b') IS NULL", None)


def test_deep_struct_paths_and_deep_nesting():
    schema = schema_from_ddl("a STRUCT<b: STRUCT<c: STRUCT<d: STRUCT<e: INT>>>>")
    check_expression("a.b.c.d.e > 0", schema)
    with pytest.raises(ValueError, match="unknown column 'a.b.c.d.x'"):
        check_expression("a.b.c.d.x > 0", schema)
    with pytest.raises(ValueError, match="bad SQL"):
        check_expression("(" * 1500 + "true" + ")" * 1500, None)
