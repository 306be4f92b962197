"""The schema of an ops table, from its one declaration (`sql/ddl/tables.yaml`, section ops)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from streaming_obs.sqlfiles import table_specs

if TYPE_CHECKING:
    from pyspark.sql.types import StructType

__all__ = ["ops_schema"]


@lru_cache(maxsize=None)
def ops_schema(name: str) -> StructType:
    """Schema of the ops table `name` (batch_runs, quality_results, quarantine, lineage, audit),
    as bootstrap creates it; parsed in pure Python, so no session is needed.

    Raises:
        KeyError: not an ops table.
    """
    from streaming_obs.sources.schemas import parse_ddl

    return parse_ddl(table_specs()["ops"][name]["columns"])
