"""Build system-table rows by hand for tests: defaults for every column, overrides by name."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pyspark.sql.types import StructType

from streaming_obs.sources.schemas import system_schema


def ts(text: str) -> datetime:
    """'2026-01-02 10:00' -> naive datetime (the session runs in UTC)."""
    return datetime.fromisoformat(text)


def _blank(dtype) -> Any:
    if isinstance(dtype, StructType):
        return {f.name: None for f in dtype.fields}
    return None


def row(source: str, **values: Any) -> dict[str, Any]:
    """A full row of `source` with NULLs (empty structs) where `values` says nothing."""
    schema = system_schema(source)
    out = {f.name: _blank(f.dataType) for f in schema.fields}
    for key, value in values.items():
        if "__" in key:  # usage_metadata__job_id=...
            outer, inner = key.split("__", 1)
            out[outer] = dict(out[outer] or {})
            out[outer][inner] = value
        else:
            if key not in out:
                raise KeyError(f"{source} has no column {key}")
            out[key] = value
    return out


def usage(record_id: str, ws: str, sku: str, start: str, qty: str, record_type: str = "ORIGINAL", **kw: Any) -> dict:
    """A billing.usage row of one hour starting at `start`."""
    s = ts(start)
    return row(
        "billing_usage", record_id=record_id, account_id="acc", workspace_id=ws, sku_name=sku, cloud="AWS",
        usage_start_time=s, usage_end_time=s + timedelta(hours=1),
        usage_date=date(s.year, s.month, s.day), usage_unit="DBU", usage_quantity=Decimal(qty),
        record_type=record_type, billing_origin_product=kw.pop("origin", "JOBS"), usage_type="COMPUTE_TIME",
        ingestion_date=date(s.year, s.month, s.day), **kw,
    )


def price(sku: str, start: str, end: str | None, default: str, effective: str | None = None) -> dict:
    """A list_prices row."""
    return row(
        "list_prices", price_start_time=ts(start), price_end_time=ts(end) if end else None, account_id="acc",
        sku_name=sku, cloud="AWS", currency_code="USD", usage_unit="DBU",
        pricing={"default": Decimal(default), "promotional": {"default": None},
                 "effective_list": {"default": Decimal(effective) if effective else None}},
    )


def write_source(spark, settings, source: str, rows: list[dict], mode: str = "append") -> None:
    """Write rows to the source table of `source` (Delta, change data feed on)."""
    from streaming_obs.tables import Tables

    ref = Tables(settings).source(source)
    df = spark.createDataFrame(rows, system_schema(source))
    (df.write.format("delta").mode(mode).option("delta.enableChangeDataFeed", "true").save(ref.path))
