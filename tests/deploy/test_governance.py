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
    store_salt,
    governance_statements,
    row_filter_targets,
)
from streaming_obs.errors import ConfigError, InvalidIdentifierError, SqlTemplateError
from streaming_obs.sqlfiles import render_sql
from streaming_obs.tables import GOLD_TABLES, Tables

GOLDEN = Path(__file__).parent / "golden" / "governance_prod_head.sql"
HEAD = 6  # the tables, the salt and the functions: everything before the first ALTER
SALT = "pepper-0123456789abcdef"


@pytest.fixture(scope="module")
def prod():
    return load_settings("prod", environ={})


def test_functions_and_mapping_table_match_the_golden_sql(prod):
    """Regenerate after an intended change: python -m tests.deploy.golden"""
    head = ";\n\n".join(governance_statements(prod)[:HEAD]) + ";\n"
    assert head == GOLDEN.read_text()


def test_every_gold_table_and_every_workspace_silver_table_is_row_filtered(prod):
    stmts = governance_statements(prod)
    filt = "streaming_obs_prod.plt_ops.workspace_filter"
    # budget_status_daily is account-level (a budget may span workspaces): no workspace_id, no filter
    for name in GOLD_TABLES:
        if name == "budget_status_daily":
            assert not [s for s in stmts if f"plt_gold.{name} SET ROW FILTER" in s]
            continue
        assert f"ALTER TABLE streaming_obs_prod.plt_gold.{name} SET ROW FILTER {filt} ON (workspace_id)" in stmts
    assert f"ALTER TABLE streaming_obs_prod.plt_silver.query_history SET ROW FILTER {filt} ON (workspace_id)" in stmts
    # list_prices is account-wide: no workspace_id, no filter.
    assert not [s for s in stmts if "plt_silver.list_prices" in s]
    assert len(row_filter_targets(Tables(prod))) == len(GOLD_TABLES) - 1 + 9


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
    kinds = ["fn" if s.startswith(("CREATE OR REPLACE FUNCTION", "CREATE TABLE", "INSERT OVERWRITE")) else
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
    for stmt in governance_statements(prod)[:HEAD]:
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

    def createDataFrame(self, rows, schema):  # noqa: N802 - the SparkSession name
        return _RecordedRow(self, rows, schema)

    args: list[tuple[str, dict, str]]

    def __new__(cls, *a, **k):
        obj = super().__new__(cls)
        obj.args = []
        return obj


class _RecordedRow:
    """The salt's one-row DataFrame: records what store_salt writes where."""

    def __init__(self, spark, rows, schema):
        self.spark, self.rows, self.schema = spark, rows, schema
        self.write = self

    def insertInto(self, table, overwrite=False):  # noqa: N802 - the DataFrameWriter name
        assert overwrite
        self.spark.args.append((self.rows, self.schema, table))
        self.spark.statements.append(f"INSERT OVERWRITE {table} SELECT :pii_salt AS salt")


def test_apply_runs_every_statement_in_order_and_audits_them(prod, monkeypatch):
    monkeypatch.setenv("STREAMING_OBS_PII_SALT", SALT)
    audited = []
    monkeypatch.setattr("streaming_obs.ops.audit.write_audit",
                        lambda spark, tables, event, details, stmts: audited.append((event, details, stmts)))
    spark = _RecordingSpark()
    stmts = govern(prod, spark, dry_run=False, echo=lambda _: pytest.fail("apply must not print SQL"))
    assert spark.statements == stmts
    assert audited == [("govern", {"statements": len(stmts), "of": len(stmts)}, stmts)]
    # the salt is bound to the one statement that stores it, and is in no statement text
    assert spark.args == [([(SALT,)], "salt STRING", "streaming_obs_prod.plt_ops.pii_salt")]
    assert not [s for s in stmts if SALT in s]


def test_a_failed_statement_stops_apply_and_audits_what_was_applied(prod, monkeypatch):
    monkeypatch.setenv("STREAMING_OBS_PII_SALT", SALT)
    audited = []
    monkeypatch.setattr("streaming_obs.ops.audit.write_audit",
                        lambda spark, tables, event, details, stmts: audited.append((details, stmts)))
    spark = _RecordingSpark(fail_on="GRANT")
    with pytest.raises(RuntimeError, match="PERMISSION_DENIED"):
        govern(prod, spark, dry_run=False)
    ((details, stmts),) = audited
    assert stmts == spark.statements and not any(s.startswith("GRANT") for s in stmts)
    assert details["statements"] == len(stmts) < details["of"]


def test_apply_without_the_salt_secret_applies_nothing(prod, monkeypatch):
    monkeypatch.delenv("STREAMING_OBS_PII_SALT", raising=False)
    spark = _RecordingSpark()
    with pytest.raises(ConfigError, match=r"^\$STREAMING_OBS_PII_SALT: governance.pii_salt_env: govern --apply"):
        govern(prod, spark, dry_run=False)
    assert spark.statements == []


def test_dry_run_shows_the_salt_parameter_not_the_salt(prod, monkeypatch):
    monkeypatch.setenv("STREAMING_OBS_PII_SALT", SALT)
    printed: list[str] = []
    govern(prod, None, dry_run=True, echo=printed.append)
    text = "".join(printed)
    assert "INSERT OVERWRITE streaming_obs_prod.plt_ops.pii_salt SELECT :pii_salt AS salt;" in text
    assert SALT not in text
    grants = [p for p in printed if p.startswith("GRANT") and "pii_salt" in p]
    assert grants == []  # the salt table is reached only through the admins' schema grant


def _local_masks(spark, tmp_path, make_settings):
    """Render the governance SQL for a local 'catalog' and run its salt table, salt and mask bodies.

    Open-source Spark runs SQL functions but has no is_account_group_member and no UC: the mask
    bodies are run as temporary functions with the membership test replaced by a flag.
    """
    db = f"gov_{tmp_path.name[-12:].replace('-', '_')}".lower()
    spark.sql(f"CREATE DATABASE IF NOT EXISTS spark_catalog.{db} LOCATION '{tmp_path / 'ops'}'")
    settings = make_settings(catalog="spark_catalog", storage={"use_metastore": True}, schemas={"ops": db})
    stmts = governance_statements(settings)
    salt_table = f"spark_catalog.{db}.pii_salt"
    create, store = stmts[1], stmts[2]
    assert create.startswith(f"CREATE TABLE IF NOT EXISTS {salt_table}") and ":pii_salt" in store
    spark.sql(create)
    for kind, stmt in (("email", stmts[4]), ("text", stmts[5])):
        body = stmt.replace(f"CREATE OR REPLACE FUNCTION spark_catalog.{db}.mask_{kind}", f"CREATE OR REPLACE TEMPORARY FUNCTION mask_{kind}_t")
        body = body.replace("is_account_group_member('streaming_obs_admins')", "admin_flag_t()")
        spark.sql(body)
    return salt_table


def test_uc_masks_are_salted_like_mask_pii(spark, tmp_path, make_settings):
    """The rendered salt table, bound salt and mask bodies, run by Spark: same hash as silver.masking."""
    from streaming_obs.silver.masking import mask_value

    spark.sql("CREATE OR REPLACE TEMPORARY FUNCTION admin_flag_t() RETURNS BOOLEAN RETURN false")
    salt_table = _local_masks(spark, tmp_path, make_settings)
    # no salt stored yet: NULL, never an unsalted (reversible) hash
    assert spark.sql("SELECT mask_email_t('alice@example.com') AS m").head().m is None
    store_salt(spark, salt_table, SALT)
    store_salt(spark, salt_table, SALT)  # idempotent: still one row
    assert spark.sql(f"SELECT count(*) AS n FROM {salt_table}").head().n == 1
    hashed = mask_value("alice@example.com", SALT, "email")
    row = spark.sql(
        f"SELECT mask_email_t(' Alice@Example.com') AS e, mask_text_t('SELECT 1') AS t, mask_email_t(NULL) AS n, "
        f"mask_email_t('{hashed}') AS again"
    ).head()
    assert row.e == hashed and len(row.e) == 64
    assert row.t == mask_value("SELECT 1", SALT, "text") != mask_value("select 1", SALT, "text")
    assert row.n is None
    assert row.again == hashed  # a value masked at write time (mask_pii) keeps its pseudonym
    spark.sql("CREATE OR REPLACE TEMPORARY FUNCTION admin_flag_t() RETURNS BOOLEAN RETURN true")
    assert spark.sql("SELECT mask_email_t(' Alice@Example.com') AS e").head().e == " Alice@Example.com"
