"""`streaming-obs bootstrap`: create the schemas and every bronze, silver, gold and ops table.

Idempotent (CREATE ... IF NOT EXISTS). Change data feed is on for every table, since silver
reads bronze's feed and gold reads silver's. Every statement applied is returned so the caller
can record it in the audit table. A table known by path whose log already holds a committed
version is left alone without a statement: `IF NOT EXISTS` would do nothing to it, and the
statement still cost Delta a catalog lookup and a snapshot per table on every start.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import TYPE_CHECKING

import yaml

from streaming_obs.config.models import OPTIONAL_SOURCE_NAMES, SOURCE_NAMES
from streaming_obs.identifiers import validate_identifier
from streaming_obs.logs import get_logger
from streaming_obs.sqlfiles import load_sql, render_sql, system_ddl, table_specs

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from streaming_obs.tables import TableRef, Tables

__all__ = ["bootstrap", "clear_cut_creation", "create_side_by_side", "log_state", "ddl_statements", "silver_specs", "layer_columns"]

log = get_logger(__name__)

#: CREATE TABLE statements of path-based tables run this many at a time (bootstrap)
BOOTSTRAP_THREADS = 4


@lru_cache(maxsize=None)
def silver_specs() -> dict:
    """How each source is refined into silver (sql/silver/entities.yaml)."""
    return yaml.safe_load(load_sql("silver/entities.yaml"))


def layer_columns(layer: str, source: str) -> str:
    """DDL column list of the bronze or silver table of a source."""
    specs = table_specs()
    cols = [system_ddl(source), specs[layer]["extra"]]
    if layer == "silver" and "scd2" in silver_specs()[source]:
        cols.append(specs["silver"]["scd2_extra"])
    return ", ".join(c.strip() for c in cols)


def _create(ref: TableRef, columns: str, partition_by: list[str] | None = None) -> str:
    parts = ", ".join(validate_identifier(c) for c in partition_by or [])
    return render_sql(
        "ddl/create_table.sql",
        table=ref.ident,
        columns=" ".join(columns.split()),
        partitioning=f"PARTITIONED BY ({parts})" if parts else "",
    ).strip()


def _tables_to_create(tables: Tables) -> list[tuple[TableRef, str, list[str] | None]]:
    """(table, DDL columns, partition columns) of every table bootstrap creates, in order."""
    settings = tables.settings
    specs = table_specs()
    out: list[tuple[TableRef, str, list[str] | None]] = []
    # optional sources (contract prices) get tables only where they are configured
    optional = [s for s in OPTIONAL_SOURCE_NAMES if s in settings.sources]
    for source in SOURCE_NAMES + tuple(optional):
        out.append((tables.bronze(source), layer_columns("bronze", source), None))
        out.append((tables.silver(source), layer_columns("silver", source), silver_specs()[source].get("partition_by")))
    for name, spec in specs["gold"].items():
        out.append((tables.gold(name), spec["columns"], spec.get("partition_by")))
    for name, spec in specs["ops"].items():
        out.append((tables.ops(name), spec["columns"], spec.get("partition_by")))
    return out


def ddl_statements(tables: Tables) -> list[str]:
    """Every DDL statement bootstrap would run, in order."""
    settings = tables.settings
    stmts: list[str] = []
    if settings.storage.use_metastore:
        for layer in ("bronze", "silver", "gold", "ops"):
            schema = getattr(settings.schemas, layer)
            full = f"{settings.catalog}.{schema}" if settings.catalog else schema
            stmts.append(render_sql("ddl/create_schema.sql", schema=full).strip())
    stmts += [_create(ref, columns, partition_by) for ref, columns, partition_by in _tables_to_create(tables)]
    m = settings.maintenance
    if m.optimize_write and m.auto_compact:
        # A long-running stream writes many small files; on clusters let Delta compact them.
        idents = [s.split("EXISTS ", 1)[1].split(" (", 1)[0] for s in stmts if s.startswith("CREATE TABLE")]
        stmts += [render_sql("ddl/auto_optimize.sql", table=i).strip() for i in idents]
    return stmts


#: a committed version in a Delta log: a commit file or a checkpoint
_COMMITTED = re.compile(r"^\d{20}\.(json|checkpoint(\..+)?\.parquet)$")


def _log_dir(spark: SparkSession, path: str):
    """(Hadoop FileSystem, `_delta_log` Path) of the table at `path`."""
    sc = spark.sparkContext
    log_path = sc._jvm.org.apache.hadoop.fs.Path(path.rstrip("/") + "/_delta_log")
    return log_path.getFileSystem(sc._jsc.hadoopConfiguration()), log_path


def log_state(spark: SparkSession, path: str) -> bool | None:
    """Whether the Delta log at `path` holds a committed version: True, False (a `_delta_log/`
    with none: a creation cut short), None (no log). One listing, through Hadoop's FileSystem."""
    fs, log_path = _log_dir(spark, path)
    if not fs.exists(log_path):
        return None
    return any(_COMMITTED.match(st.getPath().getName()) for st in fs.listStatus(log_path))


def clear_cut_creation(spark: SparkSession, path: str) -> bool:
    """Remove the `_delta_log` of a table whose creation a crash cut short; True if removed.

    A CREATE killed before its first commit leaves `_delta_log/` with no version in it (a temp
    file, `_staged_commits/`). `CREATE TABLE IF NOT EXISTS` then takes the path for a table and
    does nothing, while every read says the table does not exist: the next start would fail for
    good. Nothing was ever committed there, so nothing is lost by clearing it. Goes through
    Hadoop's FileSystem, so it holds for object stores as for local paths.
    """
    if log_state(spark, path) is not False:
        return False
    _remove_log(spark, path)
    return True


def _remove_log(spark: SparkSession, path: str) -> None:
    fs, log_path = _log_dir(spark, path)
    fs.delete(log_path, True)


def bootstrap(spark: SparkSession, tables: Tables) -> list[str]:
    """Run the DDL statements; returns those applied. A table known by path with a committed
    version is there already: its CREATE is skipped (`IF NOT EXISTS` would do nothing), so a
    restart applies none of them.

    Raises:
        StorageError: the warehouse or checkpoint root cannot be written (nothing was created).
    """
    from streaming_obs.resilience.preflight import check_storage

    check_storage(tables.settings)
    # the CREATE of each table known by path, as ddl_statements renders it
    by_path = {_create(ref, columns, parts): ref for ref, columns, parts in _tables_to_create(tables) if ref.path}
    present: set[str] = set()
    for stmt, ref in by_path.items():
        state = log_state(spark, ref.path)
        if state is False:  # cut short by a crash (clear_cut_creation): cleared, created below
            _remove_log(spark, ref.path)
            log.warning("table creation cut short by a crash: created again", table=ref.label, path=ref.path)
        elif state:
            present.add(stmt)
    todo = [stmt for stmt in ddl_statements(tables) if stmt not in present]
    # Tables known by path are independent directories: created side by side. A CREATE is
    # mostly Delta's commit protocol waiting on the file system (37 of them took 10.5 s one
    # after another in a warm session here, 5.5 s four at a time). Schemas, catalog tables and
    # the ALTERs after the creates keep their order, one by one.
    create_side_by_side(spark, [stmt for stmt in todo if stmt in by_path])
    for stmt in todo:
        if stmt not in by_path:
            _apply(spark, stmt)
    return todo


def _apply(spark: SparkSession, stmt: str) -> None:
    from streaming_obs.resilience.operation import sql_operation

    with sql_operation("bootstrap DDL", sql=stmt):
        spark.sql(stmt)


def create_side_by_side(spark: SparkSession, statements: list[str]) -> None:
    """Run CREATE statements of tables known by path, `BOOTSTRAP_THREADS` at a time: each table
    is a directory of its own, so none waits for another. Re-raises the first failure."""
    if not statements:
        return
    with ThreadPoolExecutor(BOOTSTRAP_THREADS, thread_name_prefix="bootstrap") as pool:
        list(pool.map(lambda stmt: _apply(spark, stmt), statements))
