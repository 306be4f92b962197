"""Governance SQL: golden text of the functions, the targets of filters and masks, injection."""

from __future__ import annotations

from pathlib import Path

import pytest

from streaming_obs.config import load_settings
from streaming_obs.config.models import GovernanceConfig
from streaming_obs.deploy.governance import (
    column_mask_targets,
    govern,
    governance_names,
    governance_statements,
    row_filter_targets,
)
from streaming_obs.errors import ConfigError, InvalidIdentifierError, SqlTemplateError
from streaming_obs.sqlfiles import render_sql
from streaming_obs.tables import GOLD_TABLES, Tables

GOLDEN = Path(__file__).parent / "golden" / "governance_prod_head.sql"


@pytest.fixture(scope="module")
def prod():
    return load_settings("prod", environ={})


def test_functions_and_mapping_table_match_the_golden_sql(prod):
    """Regenerate after an intended change: python -m tests.deploy.golden"""
    head = ";\n\n".join(governance_statements(prod)[:4]) + ";\n"
    assert head == GOLDEN.read_text()


def test_every_gold_table_and_every_workspace_silver_table_is_row_filtered(prod):
    stmts = governance_statements(prod)
    filt = "streaming_obs_prod.plt_ops.workspace_filter"
    for name in GOLD_TABLES:
        assert f"ALTER TABLE streaming_obs_prod.plt_gold.{name} SET ROW FILTER {filt} ON (workspace_id)" in stmts
    assert f"ALTER TABLE streaming_obs_prod.plt_silver.query_history SET ROW FILTER {filt} ON (workspace_id)" in stmts
    # list_prices is account-wide: no workspace_id, no filter.
    assert not [s for s in stmts if "plt_silver.list_prices" in s]
    assert len(row_filter_targets(Tables(prod))) == len(GOLD_TABLES) + 9


def test_identity_and_statement_text_columns_are_masked(prod):
    stmts = governance_statements(prod)
    ops = "streaming_obs_prod.plt_ops"
    for column in ("executed_by", "executed_as"):
        assert (f"ALTER TABLE streaming_obs_prod.plt_silver.query_history ALTER COLUMN {column} "
                f"SET MASK {ops}.mask_email") in stmts
    assert (f"ALTER TABLE streaming_obs_prod.plt_silver.query_history ALTER COLUMN statement_text "
            f"SET MASK {ops}.mask_text") in stmts
    assert (f"ALTER TABLE streaming_obs_prod.plt_silver.clusters ALTER COLUMN owned_by "
            f"SET MASK {ops}.mask_email") in stmts
    # Struct fields cannot carry a mask of their own (mask_pii covers them).
    assert all("." not in column for _, column, _ in column_mask_targets(Tables(prod)))


def test_grants_keep_bronze_and_ops_with_the_admins(prod):
    grants = [s for s in governance_statements(prod) if s.startswith("GRANT")]
    readers = [g for g in grants if g.endswith("`streaming_obs_readers`")]
    assert "GRANT USE SCHEMA, SELECT ON SCHEMA streaming_obs_prod.plt_gold TO `streaming_obs_readers`" in readers
    assert not [g for g in readers if "plt_bronze" in g or "plt_ops" in g]
    assert "GRANT SELECT, MODIFY ON TABLE streaming_obs_prod.plt_ops.workspace_access TO `streaming_obs_admins`" in grants


def test_order_functions_before_filters_before_grants(prod):
    stmts = governance_statements(prod)
    kinds = ["fn" if s.startswith(("CREATE OR REPLACE FUNCTION", "CREATE TABLE")) else
             "alter" if s.startswith("ALTER") else "grant" for s in stmts]
    assert kinds == sorted(kinds, key=["fn", "alter", "grant"].index)
    assert not [s for s in stmts if s.rstrip().endswith(";") or "--" in s]


def test_dry_run_prints_exactly_the_statements(prod):
    printed: list[str] = []
    stmts = govern(prod, None, dry_run=True, echo=printed.append)
    assert printed == [s + ";\n" for s in stmts]


def test_local_has_no_unity_catalog(settings):
    with pytest.raises(ConfigError, match="governance needs Unity Catalog"):
        govern(settings, None, dry_run=True, echo=lambda _: None)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("admin_group", "admins'); DROP TABLE x; --"),
        ("admin_group", "a`b"),
        ("reader_group", "readers OR 1=1"),
        ("workspace_map_table", "other_catalog.secrets"),
        ("email_columns", ["executed_by`, x"]),
        ("text_columns", ["statement_text; DROP"]),
    ],
)
def test_injection_through_config_is_refused(key, value):
    with pytest.raises(ConfigError) as exc:
        load_settings("prod", environ={}, overrides={"governance": {key: value}})
    assert f"governance.{key}" in str(exc.value)


def test_injection_past_the_config_model_is_refused_again(prod):
    # model_construct skips validation: the renderer must still refuse.
    bad = prod.model_copy(update={"governance": GovernanceConfig.model_construct(
        **{**prod.governance.model_dump(), "admin_group": "x') OR true --"})})
    with pytest.raises(InvalidIdentifierError):
        governance_names(bad)


@pytest.mark.parametrize("value", ["t; DROP TABLE x", "t -- c", "t'", "t/*x*/"])
def test_render_refuses_non_identifier_values(value):
    with pytest.raises(SqlTemplateError):
        render_sql("governance/set_row_filter.sql", table=value, function="c.s.f", column="workspace_id")


def test_functions_and_mapping_table_parse_with_spark_sql(spark, prod):
    """Open-source Spark parses SQL functions and CREATE TABLE (not UC's ROW FILTER/MASK/GRANT)."""
    parser = spark._jsparkSession.sessionState().sqlParser()
    for stmt in governance_statements(prod)[:4]:
        parser.parsePlan(stmt)


class _RecordingSpark:
    """Stands in for a Unity Catalog session: records statements, fails on request."""

    def __init__(self, fail_on: str | None = None):
        self.statements: list[str] = []
        self.fail_on = fail_on

    def sql(self, text: str):
        if self.fail_on and self.fail_on in text:
            raise RuntimeError("PERMISSION_DENIED")
        self.statements.append(text)


def test_apply_runs_every_statement_in_order_and_audits_them(prod, monkeypatch):
    audited = []
    monkeypatch.setattr("streaming_obs.ops.audit.write_audit",
                        lambda spark, tables, event, details, stmts: audited.append((event, details, stmts)))
    spark = _RecordingSpark()
    stmts = govern(prod, spark, dry_run=False, echo=lambda _: pytest.fail("apply must not print SQL"))
    assert spark.statements == stmts
    assert audited == [("govern", {"statements": len(stmts), "of": len(stmts)}, stmts)]


def test_a_failed_statement_stops_apply_and_audits_what_was_applied(prod, monkeypatch):
    audited = []
    monkeypatch.setattr("streaming_obs.ops.audit.write_audit",
                        lambda spark, tables, event, details, stmts: audited.append((details, stmts)))
    spark = _RecordingSpark(fail_on="GRANT")
    with pytest.raises(RuntimeError, match="PERMISSION_DENIED"):
        govern(prod, spark, dry_run=False)
    ((details, stmts),) = audited
    assert stmts == spark.statements and not any(s.startswith("GRANT") for s in stmts)
    assert details["statements"] == len(stmts) < details["of"]
