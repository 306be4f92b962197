"""Names and locations of every table: the sources and our bronze, silver, gold and ops tables.

Locally a table is a path-based Delta table at `<warehouse>/<schema>/<table>` (readable by
DuckDB, delta-rs or pandas); with `storage.use_metastore` it is `[catalog.]schema.table`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from streaming_obs.config.models import OPTIONAL_SOURCE_NAMES, SOURCE_NAMES, Settings
from streaming_obs.identifiers import quote_path, validate_identifier, validate_path
from streaming_obs.sqlfiles import table_specs

if TYPE_CHECKING:
    from delta.tables import DeltaTable
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["TableRef", "Tables", "GOLD_TABLES", "OPS_TABLES"]

GOLD_TABLES: tuple[str, ...] = tuple(table_specs()["gold"])
OPS_TABLES: tuple[str, ...] = tuple(table_specs()["ops"])


@dataclass(frozen=True)
class TableRef:
    """One Delta table, by metastore name or by path."""

    layer: str
    name: str
    ident: str
    path: str | None = None

    def read(self, spark: SparkSession, version: int | None = None) -> DataFrame:
        """Batch read of the current version (or of `version`, by time travel)."""
        reader = spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", str(version))
        return reader.load(self.path) if self.path else reader.table(self.ident)

    def delta(self, spark: SparkSession) -> DeltaTable:
        """The `DeltaTable` handle (for MERGE, history, ...)."""
        from delta.tables import DeltaTable

        return DeltaTable.forPath(spark, self.path) if self.path else DeltaTable.forName(spark, self.ident)

    def exists(self, spark: SparkSession) -> bool:
        """True when the Delta table exists."""
        from delta.tables import DeltaTable

        if self.path:
            return DeltaTable.isDeltaTable(spark, self.path)
        return spark.catalog.tableExists(self.ident)

    def append(self, df: DataFrame, **options: str) -> None:
        """Append `df` (Delta writer options such as txnAppId/txnVersion/mergeSchema)."""
        from streaming_obs.resilience.operation import sql_operation

        writer = df.write.format("delta").mode("append")
        for key, value in options.items():
            writer = writer.option(key, value)
        opts = ", ".join(f"{k}={v}" for k, v in options.items())
        with sql_operation(f"APPEND {self.label}", target=self.label, sql=f"INSERT INTO {self.ident} ({opts})"):
            if self.path:
                writer.save(self.path)
            else:
                writer.saveAsTable(self.ident)

    def version(self, spark: SparkSession) -> int:
        """Latest committed version (from the Delta log: no Spark job)."""
        from streaming_obs.delta_log import latest_version

        return latest_version(spark, self)

    @property
    def label(self) -> str:
        """Human name: `plt_gold.cost_daily` or `system.billing.usage`."""
        return f"{self.layer}.{self.name}"


class Tables:
    """All tables of one environment, built from the settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _ref(self, layer_key: str, name: str) -> TableRef:
        schema = getattr(self.settings.schemas, layer_key)
        validate_identifier(name)
        storage = self.settings.storage
        if storage.use_metastore:
            parts = [p for p in (self.settings.catalog, schema, name) if p]
            return TableRef(schema, name, ".".join(parts))
        path = os.path.abspath(os.path.join(storage.warehouse, schema, name))
        return TableRef(schema, name, quote_path(path), validate_path(path))

    def bronze(self, source: str) -> TableRef:
        """Bronze table of a source (same short name as the source)."""
        return self._ref("bronze", _known_source(source))

    def silver(self, source: str) -> TableRef:
        """Silver table of a source."""
        return self._ref("silver", _known_source(source))

    def gold(self, name: str) -> TableRef:
        """Gold table by contract name."""
        if name not in GOLD_TABLES:
            raise KeyError(f"unknown gold table {name!r}")
        return self._ref("gold", name)

    def ops(self, name: str) -> TableRef:
        """Ops table (batch_runs, quality_results, quarantine, lineage, audit)."""
        if name not in OPS_TABLES:
            raise KeyError(f"unknown ops table {name!r}")
        return self._ref("ops", name)

    def source(self, source: str) -> TableRef:
        """The system table (or simulator table) a source reads."""
        cfg = self.settings.sources[_known_source(source)]
        if cfg.table:
            return TableRef("source", source, cfg.table)
        path = cfg.path or ""
        if not os.path.isabs(path) and "://" not in path and self.settings.source_kind == "simulator":
            path = os.path.join(self.settings.simulator.root, path)
        path = os.path.abspath(path) if "://" not in path else path
        return TableRef("source", source, quote_path(path), path)

    def checkpoint(self, query_name: str) -> str:
        """Checkpoint directory of one streaming query."""
        validate_identifier(query_name.replace("-", "_").replace(".", "_"))
        root = self.settings.storage.checkpoints
        return root.rstrip("/") + "/" + query_name if "://" in root else os.path.abspath(os.path.join(root, query_name))


def _known_source(source: str) -> str:
    if source not in SOURCE_NAMES and source not in OPTIONAL_SOURCE_NAMES:
        raise KeyError(f"unknown source {source!r}; known: {', '.join(SOURCE_NAMES + OPTIONAL_SOURCE_NAMES)}")
    return source
