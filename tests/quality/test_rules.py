"""Rules files: loading, the public API, and validation errors that name the rule and the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from streaming_obs.errors import QualityRuleError, StreamingObsError
from streaming_obs.quality import CHECKS, QualityEngine, load_rules, parse_rules
from streaming_obs.quality.checks import parse_duration
from tests.quality.system_schemas import layer_schema, source_schema


def test_public_api_imports():
    import streaming_obs.quality as q

    for name in q.__all__:
        assert getattr(q, name) is not None, name
    assert {"QualityEngine", "QualityOutcome", "list_quarantine", "show_quarantine", "replay_quarantine"} <= set(q.__all__)


def test_packaged_rules_load_from_settings(make_settings):
    engine = QualityEngine.from_settings(make_settings())
    assert engine.rules.source == "conf/quality_rules.yaml"
    assert engine.rules_for("bronze.billing_usage")
    assert engine.lookups_needed("silver.billing_usage") == {"silver.list_prices"}
    # every check type the docs promise exists
    assert set(CHECKS) == {"not_null", "in_range", "in_set", "regex", "unique_in_batch", "freshness", "referential", "sql"}


def test_disabled_quality_has_no_rules(make_settings):
    engine = QualityEngine.from_settings(make_settings(quality={"enabled": False}))
    assert engine.rules_for("bronze.billing_usage") == ()


def test_a_real_path_wins_over_the_packaged_name(tmp_path: Path):
    f = tmp_path / "rules.yaml"
    f.write_text(yaml.safe_dump({"tables": {"bronze.jobs": {"rules": [
        {"name": "job_id_present", "check": {"function": "not_null", "arguments": {"column": "job_id"}}}]}}}))
    rs = load_rules(str(f))
    assert rs.source == str(f)
    assert [r.name for r in rs.for_table("bronze.jobs").rules] == ["job_id_present"]
    assert rs.for_table("bronze.clusters").rules == []


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"name": "r1", "check": {"function": "is_even", "arguments": {"column": "a"}}}, "unknown check 'is_even'"),
        ({"name": "r1", "check": {"function": "regex", "arguments": {"column": "a", "pattern": "(unclosed"}}}, "bad regex"),
        ({"name": "r1", "check": {"function": "in_range", "arguments": {"column": "a"}}}, "give 'min', 'max' or both"),
        ({"name": "r1", "check": {"function": "in_range", "arguments": {"column": "a", "min": 5, "max": 1}}}, "greater than max"),
        ({"name": "r1", "check": {"function": "not_null", "arguments": {"column": "a", "colour": "red"}}}, "unknown key"),
        ({"name": "r1", "check": {"function": "freshness", "arguments": {"column": "a", "max_age": "three days"}}}, "not a duration"),
        ({"name": "r1", "check": {"function": "sql", "arguments": {"expression": "a > 0"}}, "action": "explode"}, "action"),
        ({"name": "Bad Name", "check": {"function": "sql", "arguments": {"expression": "a > 0"}}}, "rule name"),
        ({"name": "rows", "check": {"function": "sql", "arguments": {"expression": "a > 0"}}}, "reserved"),
    ],
)
def test_static_errors_name_the_file_table_and_rule(rule, message):
    with pytest.raises(QualityRuleError) as exc:
        parse_rules({"tables": {"bronze.jobs": {"rules": [rule]}}}, "conf/my_rules.yaml")
    text = str(exc.value)
    assert "conf/my_rules.yaml" in text and "bronze.jobs" in text and message in text
    assert repr(rule["name"]) in text
    assert isinstance(exc.value, StreamingObsError)


def test_unknown_table_key_and_duplicate_rule_names_are_errors():
    with pytest.raises(QualityRuleError, match="f.yaml: tables.gold.jobs"):
        parse_rules({"tables": {"gold.jobs": {"rules": []}}}, "f.yaml")
    dup = {"name": "a", "check": {"function": "not_null", "arguments": {"column": "x"}}}
    with pytest.raises(QualityRuleError, match="rule 'a': duplicate"):
        parse_rules({"tables": {"bronze.jobs": {"rules": [dup, dup]}}}, "f.yaml")


def test_missing_file_and_bad_yaml(tmp_path: Path):
    with pytest.raises(QualityRuleError, match="no_such_rules.yaml: rules file not found"):
        load_rules("no_such_rules.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("tables: [unclosed\n")
    with pytest.raises(QualityRuleError, match="not valid YAML"):
        load_rules(str(bad))


def test_durations():
    assert parse_duration("3 days") == 3 * 86400
    assert parse_duration("15 minutes") == 900
    assert parse_duration("2h") == 7200
    assert parse_duration(90) == 90.0
    with pytest.raises(ValueError):
        parse_duration("-3 days")


def _engine(rule: dict, table: str = "bronze.billing_usage", key: list[str] | None = None) -> QualityEngine:
    body = {"rules": [rule]}
    if key:
        body["key"] = key
    return QualityEngine.from_dict({"tables": {table: body}}, "conf/test_rules.yaml")


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"name": "ghost", "check": {"function": "not_null", "arguments": {"column": "no_such_column"}}}, "unknown column 'no_such_column'"),
        ({"name": "ghost", "check": {"function": "not_null", "arguments": {"column": "usage_metadata.no_such"}}}, "unknown column 'usage_metadata.no_such'"),
        ({"name": "bad_sql", "check": {"function": "sql", "arguments": {"expression": "no_such_col > 1"}}}, "bad SQL in expression"),
        ({"name": "not_bool", "check": {"function": "sql", "arguments": {"expression": "usage_quantity + 1"}}}, "not boolean"),
        ({"name": "ref", "check": {"function": "referential", "arguments": {"columns": ["sku_name"], "lookup": "silver.list_prices", "lookup_columns": ["sku"]}}}, "has no column 'sku'"),
    ],
)
def test_validation_against_schemas_names_rule_and_file(spark, rule, message):
    engine = _engine(rule)
    schemas = {"bronze.billing_usage": layer_schema("bronze", "billing_usage"), "silver.list_prices": source_schema("list_prices")}
    with pytest.raises(QualityRuleError) as exc:
        engine.validate(schemas, spark)
    text = str(exc.value)
    assert text.startswith("conf/test_rules.yaml: tables.bronze.billing_usage: rule ")
    assert repr(rule["name"]) in text and message in text, text


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"name": "bad_sql", "check": {"function": "sql", "arguments": {"expression": "usage_quantity >>> 1 +"}}},
         "check.arguments.expression: bad SQL"),
        ({"name": "bad_filter", "filter": "record_type = ", "check": {"function": "not_null", "arguments": {"column": "record_id"}}},
         "filter: bad SQL"),
        # Python's `re` accepts this, Java's (the one Spark uses) does not
        ({"name": "java_regex", "check": {"function": "regex", "arguments": {"column": "sku_name", "pattern": "(?P<x>A)"}}},
         "check.arguments.pattern: regex '(?P<x>A)': '(?P<name>...)' is Python only"),
    ],
)
def test_syntax_errors_are_caught_when_the_file_is_parsed(rule, message):
    with pytest.raises(QualityRuleError) as exc:
        _engine(rule)
    text = str(exc.value)
    assert text.startswith(f"conf/test_rules.yaml: tables.bronze.billing_usage: rule {rule['name']!r}: ")
    assert message in text, text


def test_validation_checks_key_columns_and_passes_good_rules(spark):
    good = _engine({"name": "job_id_present", "check": {"function": "not_null", "arguments": {"column": "usage_metadata.job_id"}}},
                   key=["workspace_id", "record_id"])
    assert good.validate({"bronze.billing_usage": source_schema("billing_usage")}, spark) == ["bronze.billing_usage"]
    assert good.validate({}, spark) == []  # tables without a schema are not checked
    bad_key = _engine({"name": "x", "check": {"function": "not_null", "arguments": {"column": "record_id"}}}, key=["nope"])
    with pytest.raises(QualityRuleError, match="key column 'nope'"):
        bad_key.validate({"bronze.billing_usage": source_schema("billing_usage")}, spark)
