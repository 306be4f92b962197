"""Unity Catalog governance: workspace isolation by row filters, PII by column masks, and grants.

`governance_statements(settings)` renders the SQL of `sql/governance/` for one environment, in
the order it must run; `govern(...)` prints it (dry run) or applies it and records every statement
in the audit table. All of it is idempotent (CREATE OR REPLACE, SET replaces, GRANT repeats), so
it is safe to run after every deploy.

What is protected:
* every gold table, and every silver table that has a ``workspace_id`` column, gets the row
  filter ``<catalog>.<ops>.workspace_filter(workspace_id)``: the admin group sees all rows, other
  readers see the workspaces that the mapping table ``<ops>.<governance.workspace_map_table>``
  (group_name, workspace_id) grants to one of their groups;
* the top-level STRING columns of silver tables named in ``governance.email_columns`` and
  ``governance.text_columns`` get column masks: for everyone outside the admin group a salted
  sha256, the formula of `silver.masking` (the salt is kept in ``<ops>.pii_salt``, written by
  `govern` from the secret named by ``governance.pii_salt_env`` as a bound parameter).
  Struct fields (billing ``identity_metadata``, audit ``user_identity``) cannot carry a mask of
  their own; turn on ``governance.mask_pii`` to hash them when silver is written;
* the reader group gets USE/SELECT on silver and gold, the admin group on every layer; bronze
  and ops (raw rows, quarantine) stay with the admins.

Needs Unity Catalog (``storage.use_metastore: true`` and a ``catalog``): on a laptop there are
no groups to filter by, so the local equivalent is ``governance.mask_pii``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from streaming_obs.config.models import SOURCE_NAMES
from streaming_obs.errors import ConfigError
from streaming_obs.identifiers import validate_identifier
from streaming_obs.sqlfiles import render_sql, table_specs
from streaming_obs.tables import GOLD_TABLES, Tables

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from streaming_obs.config.models import Settings

__all__ = [
    "GovernanceNames",
    "governance_names",
    "governance_statements",
    "govern",
    "row_filter_targets",
    "column_mask_targets",
    "store_salt",
]

ROW_FILTER_COLUMN = "workspace_id"


@dataclass(frozen=True)
class GovernanceNames:
    """Fully qualified names of the governance objects of one environment."""

    catalog: str
    map_table: str
    workspace_filter: str
    mask_email: str
    mask_text: str
    salt_table: str
    admin_group: str
    reader_group: str


def governance_names(settings: Settings) -> GovernanceNames:
    """Names of the mapping table, functions and groups, validated.

    Raises:
        ConfigError: the environment has no Unity Catalog (no catalog, or use_metastore off).
    """
    if not settings.storage.use_metastore or not settings.catalog:
        raise ConfigError(
            f"conf/{settings.env}.yaml",
            "catalog" if not settings.catalog else "storage.use_metastore",
            "governance needs Unity Catalog tables (a catalog and storage.use_metastore: true); "
            "locally use governance.mask_pii",
        )
    gov = settings.governance
    ops = f"{validate_identifier(settings.catalog)}.{validate_identifier(settings.schemas.ops)}"
    return GovernanceNames(
        catalog=settings.catalog,
        map_table=validate_identifier(f"{ops}.{gov.workspace_map_table}", dotted=True),
        workspace_filter=f"{ops}.workspace_filter",
        mask_email=f"{ops}.mask_email",
        mask_text=f"{ops}.mask_text",
        salt_table=f"{ops}.pii_salt",
        admin_group=validate_identifier(gov.admin_group),
        reader_group=validate_identifier(gov.reader_group),
    )


def _silver_string_columns(source: str) -> dict[str, str]:
    """Top-level columns of a source as documented: lower-case name -> spelled name, for STRING ones."""
    from streaming_obs.sources.schemas import system_schema
    from pyspark.sql.types import StringType

    return {f.name.lower(): f.name for f in system_schema(source).fields if isinstance(f.dataType, StringType)}


def row_filter_targets(tables: Tables) -> list[str]:
    """Identifiers of the tables that get the workspace row filter: gold, and silver with workspace_id."""
    targets = []
    for source in SOURCE_NAMES:
        if ROW_FILTER_COLUMN in _silver_string_columns(source):
            targets.append(tables.silver(source).ident)
    specs = table_specs()["gold"]
    for name in GOLD_TABLES:
        if f"{ROW_FILTER_COLUMN} " in " ".join(specs[name]["columns"].split()) + " ":
            targets.append(tables.gold(name).ident)
    return targets


def column_mask_targets(tables: Tables) -> list[tuple[str, str, str]]:
    """(table identifier, column, ``email``/``text``) of every silver column that gets a mask."""
    gov = tables.settings.governance
    found = []
    for source in SOURCE_NAMES:
        columns = _silver_string_columns(source)
        for kind, names in (("email", gov.email_columns), ("text", gov.text_columns)):
            for name in names:
                if "." not in name and name.lower() in columns:
                    found.append((tables.silver(source).ident, validate_identifier(columns[name.lower()]), kind))
    return found


#: The parameter marker of the salt in the statement that stores it (bound at apply time).
SALT_PARAMETER = "pii_salt"


def governance_statements(settings: Settings) -> list[str]:
    """Every SQL statement `govern` applies for `settings`, in order, without trailing `;`.

    The statement that stores the PII salt carries the marker ``:pii_salt``; `govern` writes the
    secret as data in its place (`store_salt`), so the salt never appears in this text, a dry run
    or the audit.

    Raises:
        ConfigError: the environment has no Unity Catalog.
        SqlTemplateError: a name is not identifier-shaped (config can never inject SQL).
    """
    names = governance_names(settings)
    tables = Tables(settings)
    masks = {"salt_table": names.salt_table, "admin_group": names.admin_group}
    stmts = [
        _render("workspace_map_table.sql", table=names.map_table, function=names.workspace_filter),
        _render("pii_salt_table.sql", table=names.salt_table, mask_email=names.mask_email, mask_text=names.mask_text),
        _render("pii_salt_set.sql", table=names.salt_table),
        _render(
            "workspace_filter_function.sql",
            function=names.workspace_filter,
            map_table=names.map_table,
            admin_group=names.admin_group,
        ),
        _render("mask_email_function.sql", function=names.mask_email, **masks),
        _render("mask_text_function.sql", function=names.mask_text, **masks),
    ]
    for table in row_filter_targets(tables):
        stmts.append(_render("set_row_filter.sql", table=table, function=names.workspace_filter, column=ROW_FILTER_COLUMN))
    for table, column, kind in column_mask_targets(tables):
        function = names.mask_email if kind == "email" else names.mask_text
        stmts.append(_render("set_column_mask.sql", table=table, column=column, function=function))
    stmts.extend(_grants(settings, names))
    return stmts


def _grants(settings: Settings, names: GovernanceNames) -> list[str]:
    schemas = settings.schemas
    schema = {layer: f"{names.catalog}.{getattr(schemas, layer)}" for layer in ("bronze", "silver", "gold", "ops")}
    plan = [
        ("USE CATALOG", "CATALOG", names.catalog, names.reader_group),
        ("USE SCHEMA, SELECT", "SCHEMA", schema["silver"], names.reader_group),
        ("USE SCHEMA, SELECT", "SCHEMA", schema["gold"], names.reader_group),
        ("USE CATALOG", "CATALOG", names.catalog, names.admin_group),
    ]
    plan += [("USE SCHEMA, SELECT", "SCHEMA", schema[layer], names.admin_group) for layer in schema]
    plan.append(("SELECT, MODIFY", "TABLE", names.map_table, names.admin_group))
    # The salt table is covered by the admins' schema grant; nobody else gets any grant on it.
    return [
        _render("grant.sql", privileges=p, securable_type=t, securable=s, principal=who) for p, t, s, who in plan
    ]


def store_salt(spark: SparkSession, salt_table: str, salt: str) -> None:
    """Overwrite `salt_table` with the one row `salt`, written as data (never in SQL text).

    Not ``spark.sql(..., args=...)``: with the Delta extensions of delta-spark 4.4 on Spark 4.2,
    parameter markers are not bound at all (UNBOUND_SQL_PARAMETER), so the salt is a one-row
    DataFrame written with ``insertInto(overwrite=True)``.
    """
    validate_identifier(salt_table, dotted=True)
    spark.createDataFrame([(salt,)], "salt STRING").write.insertInto(salt_table, overwrite=True)


def _render(name: str, **identifiers: str) -> str:
    text = render_sql(f"governance/{name}", **identifiers)
    lines = [line.rstrip() for line in text.splitlines() if not line.lstrip().startswith("--")]
    return "\n".join(line for line in lines if line).strip().rstrip(";")


def govern(
    settings: Settings,
    spark: SparkSession | None = None,
    dry_run: bool = True,
    *,
    echo: Callable[[str], None] = print,
) -> list[str]:
    """Print (dry run) or apply the governance SQL of `settings`.

    Args:
        settings: the environment (must use Unity Catalog).
        spark: session to apply with; default: `session.get_spark(settings)` (apply only).
        dry_run: print the statements, each ending with `;`, and touch nothing.
        echo: where a dry run prints (default `print`; the CLI may pass `typer.echo`).

    Returns:
        The statements, in the order they are (or would be) applied.

    Raises:
        ConfigError: the environment has no Unity Catalog, or (apply) the PII salt secret is
            missing or too short.
        Exception: whatever Spark raises for a statement; the statements before it stay applied
            and are recorded in the audit table.
    """
    stmts = governance_statements(settings)
    if dry_run:
        for stmt in stmts:
            echo(stmt + ";\n")
        return stmts
    from streaming_obs.config.salt import pii_salt

    # Checked before the first statement: the masks must never be created without their salt.
    salt = pii_salt(settings, needed_by="govern --apply stores the salt of the column masks")
    if spark is None:
        from streaming_obs.session import get_spark

        spark = get_spark(settings)
    from streaming_obs.ops.audit import write_audit

    applied: list[str] = []
    try:
        for stmt in stmts:
            if f":{SALT_PARAMETER}" in stmt:
                store_salt(spark, governance_names(settings).salt_table, salt)
            else:
                spark.sql(stmt)
            applied.append(stmt)
    finally:
        if applied:
            write_audit(spark, Tables(settings), "govern", {"statements": len(applied), "of": len(stmts)}, applied)
    return stmts
