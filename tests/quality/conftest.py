"""Fixtures of the quality tests: the packaged engine, the system-table schemas and row builders."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from streaming_obs.quality import QualityEngine
from tests.quality.system_schemas import all_schemas, layer_schema

NOW = datetime(2025, 3, 10, 12, 0, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="session")
def default_engine() -> QualityEngine:
    """The engine over the packaged conf/quality_rules.yaml."""
    return QualityEngine.from_file("quality_rules.yaml")


@pytest.fixture(scope="session")
def schemas():
    """Batch schemas of every `<layer>.<source>`."""
    return all_schemas()


def usage_row(**overrides: Any) -> dict[str, Any]:
    """A legitimate billing.usage row (ORIGINAL, one hour of jobs compute, two hours old)."""
    start = NOW - timedelta(hours=2)
    row: dict[str, Any] = {
        "record_id": "r-1",
        "account_id": "acc",
        "workspace_id": "1001",
        "sku_name": "PREMIUM_JOBS_COMPUTE",
        "cloud": "AWS",
        "usage_start_time": start,
        "usage_end_time": start + timedelta(hours=1),
        "usage_date": start.date(),
        "custom_tags": {"team": "data"},
        "usage_unit": "DBU",
        "usage_quantity": Decimal("1.5"),
        "usage_metadata": {"job_id": "42", "job_run_id": "7", "cluster_id": "c-1"},
        "identity_metadata": {"run_as": "a@b.c"},
        "record_type": "ORIGINAL",
        "ingestion_date": start.date(),
        "billing_origin_product": "JOBS",
        "usage_type": "COMPUTE_TIME",
    }
    row.update(overrides)
    return row


@pytest.fixture
def make_df(spark) -> Callable[..., Any]:
    """Build a DataFrame of `<layer>.<source>` batch schema from dict rows (missing keys NULL)."""

    def _make(table: str, rows: list[dict[str, Any]]):
        layer, source = table.split(".")
        schema = layer_schema(layer, source)
        names = [f.name for f in schema.fields]
        return spark.createDataFrame([tuple(r.get(n) for n in names) for r in rows], schema)

    return _make
