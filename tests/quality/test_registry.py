"""The check registry: a check added with `@check` alone is parsed, checked, compiled, counted and
documented like a shipped one."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from streaming_obs.config.reference import splice
from streaming_obs.errors import QualityRuleError
from streaming_obs.quality import CHECKS, CheckArgs, CheckInput, QualityEngine, check, parse_rules
from streaming_obs.quality.checks import CHECKS_BEGIN, CHECKS_END, checks_reference
from streaming_obs.quality.static import check_rule_set
from tests.quality.conftest import NOW, usage_row

DOC = Path(__file__).resolve().parents[2] / "docs" / "quality-rules.md"


class EvenArgs(CheckArgs):
    """Arguments of the toy check: one column."""

    column: str

    @property
    def cols(self) -> list[str]:
        return [self.column]


@pytest.fixture
def toy_check():
    """`toy_even` registered for one test, through the registry alone."""

    @check("toy_even", EvenArgs)
    def toy_even(args: EvenArgs, at: CheckInput):
        """Fails where the value is odd.

        Arguments: `column` (a number).
        """
        from pyspark.sql import functions as F

        return F.col(args.column) % 2 != 0

    try:
        yield toy_even
    finally:
        CHECKS.pop("toy_even", None)


def _rules(arguments: dict) -> dict:
    rule = {"name": "even_quantity", "check": {"function": "toy_even", "arguments": arguments}, "action": "quarantine"}
    return {"tables": {"bronze.billing_usage": {"rules": [rule]}}}


def test_a_new_check_is_parsed_checked_and_documented(toy_check):
    rules = parse_rules(_rules({"column": "usage_quantity"}), "toy.yaml")
    (rule,) = rules.for_table("bronze.billing_usage").rules
    assert rule.row_level and isinstance(rule.args, EvenArgs)
    check_rule_set(rules)  # the column exists in the shipped schema
    with pytest.raises(QualityRuleError, match="check.arguments.column: unknown column 'usage_quantty'"):
        check_rule_set(parse_rules(_rules({"column": "usage_quantty"}), "toy.yaml"))
    with pytest.raises(QualityRuleError, match="rule 'even_quantity': check.arguments.colour: unknown key"):
        parse_rules(_rules({"column": "usage_quantity", "colour": "red"}), "toy.yaml")
    assert "| `toy_even` | row | `column` (a number) | the value is odd |" in checks_reference()


def test_a_new_check_runs_in_the_engine(toy_check, make_df):
    engine = QualityEngine.from_dict(_rules({"column": "usage_quantity"}))
    rows = [usage_row(record_id=f"r{q}", usage_quantity=Decimal(q)) for q in (1, 2, 3, 4)]
    outcome = engine.apply(make_df("bronze.billing_usage", rows), table="bronze.billing_usage", batch_id=0, now=NOW)
    assert sorted(r["record_id"] for r in outcome.kept.collect()) == ["r2", "r4"]
    assert outcome.counts == {"rows_in": 4, "rows_kept": 2, "rows_dropped": 0, "rows_quarantined": 2}
    assert outcome.rule_failures == {"even_quantity": 2}


def test_registration_refuses_what_the_registry_cannot_derive_from():
    def undocumented(args, at):  # noqa: ANN001, ANN202
        return None

    with pytest.raises(ValueError, match="taken"):
        check("sql", EvenArgs)
    with pytest.raises(ValueError, match="must be a CheckArgs"):
        check("toy_plain", dict)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="gives `prepare`"):
        check("toy_batch", EvenArgs, row_level=False)
    with pytest.raises(ValueError, match="Fails where"):
        check("toy_undocumented", EvenArgs)(undocumented)
    assert "toy_undocumented" not in CHECKS


def test_every_argument_is_documented_and_the_doc_is_current():
    for spec in CHECKS.values():
        for name in spec.arguments.model_fields:
            assert f"`{name}" in spec.arguments_doc, (spec.name, name)
    text = DOC.read_text(encoding="utf-8")
    assert splice(text, CHECKS_BEGIN, CHECKS_END, checks_reference()) == text, \
        "docs/quality-rules.md is stale: run python scripts/gen_config_doc.py"
