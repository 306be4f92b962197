"""The audit table: who ran what, when, with which config; every DDL the tool applied."""

from __future__ import annotations

import getpass
import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from streaming_obs import __version__
from streaming_obs.config.loader import config_hash
from streaming_obs.ops.schema import ops_schema

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from streaming_obs.tables import Tables

__all__ = ["write_audit"]

def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"


def write_audit(spark: SparkSession, tables: Tables, event: str, details: dict[str, Any] | None = None,
                statements: list[str] | None = None) -> int:
    """Append audit rows: one per statement, or one for the event when there are none."""
    settings = tables.settings
    now = datetime.now(timezone.utc)
    base = (now, event, _user(), settings.env, config_hash(settings), __version__, json.dumps(details or {}, default=str))
    rows = [(*base, s) for s in statements] if statements else [(*base, None)]
    ref = tables.ops("audit")
    df = spark.createDataFrame(rows, ops_schema("audit"))
    ref.append(df)
    return len(rows)
