"""Batch schemas the quality rules see, built from the project's system-table schemas
(sql/ddl/system/*.ddl via `streaming_obs.sources.schemas`).

A bronze batch is the source's columns plus the ingest columns of sql/ddl/tables.yaml; a silver
batch is bronze rows read from the bronze change feed (plus `_change_type`, `_commit_version`,
`_commit_timestamp`).
"""

from __future__ import annotations

from pyspark.sql.types import StructField, StructType

from streaming_obs.config.models import SOURCE_NAMES
from streaming_obs.sources.schemas import parse_ddl, system_schema
from streaming_obs.sqlfiles import table_specs

CDF_DDL = "_change_type STRING, _commit_version BIGINT, _commit_timestamp TIMESTAMP"


def _ddl(text: str) -> list[StructField]:
    return list(parse_ddl(text).fields)


def source_schema(source: str) -> StructType:
    """The system table's schema."""
    return system_schema(source)


def layer_schema(layer: str, source: str) -> StructType:
    """Schema of a batch entering `layer` ("bronze" or "silver") for `source`."""
    fields = list(system_schema(source).fields) + _ddl(table_specs()["bronze"]["extra"])
    if layer == "silver":
        fields += _ddl(CDF_DDL)
    return StructType(fields)


def all_schemas() -> dict[str, StructType]:
    """Every `<layer>.<source>` key the rules can name, with its batch schema."""
    return {f"{layer}.{s}": layer_schema(layer, s) for s in SOURCE_NAMES for layer in ("bronze", "silver")}
