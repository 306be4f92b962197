"""FOCUS 1.2 (FinOps Open Cost and Usage Specification): gold `focus_costs` and its export.

`focus_costs` holds one row per usage record in FOCUS CostAndUsage columns
(sql/gold/focus_costs.sql, mapping in docs/focus.md). The gold query keeps it for the dates a
batch touched, with the cost tables and from the same priced usage, so its costs always sum to
cost_daily's (`streaming-obs reconcile` checks that). `export_focus` writes one billing period
of it as a single Parquet or CSV file for FinOps tools.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING

import yaml

from streaming_obs.errors import ExportError
from streaming_obs.sqlfiles import load_sql, table_specs

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from streaming_obs.tables import Tables

__all__ = ["FOCUS_VERSION", "FocusExport", "check_out_path", "export_focus", "focus_columns", "focus_month", "services_frame"]

#: the FOCUS version the export follows
FOCUS_VERSION = "1.2"
#: columns of focus_costs that are ours (keys and bookkeeping), not part of the export
_INTERNAL = ("usage_date", "workspace_id", "record_id", "_updated_at")
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class FocusExport:
    """What `export_focus` wrote."""

    path: str
    rows: int
    billed_cost: dict[str, str]  # BillingCurrency -> sum of BilledCost, as text (exact decimal)
    unpriced_rows: int  # records left out: no price, hence no currency (FOCUS needs one)


@lru_cache(maxsize=None)
def _services() -> tuple[tuple[str, str, str], ...]:
    data = yaml.safe_load(load_sql("gold/focus_services.yaml")) or {}
    return tuple((str(product), str(v[0]), str(v[1]), str(v[2])) for product, v in sorted(data.items()))


def services_frame(spark: SparkSession) -> DataFrame:
    """billing_origin_product -> (service_name, service_category, service_subcategory), from
    sql/gold/focus_services.yaml."""
    return spark.createDataFrame(list(_services()), "product STRING, service_name STRING, service_category STRING, "
                                                    "service_subcategory STRING")


def focus_columns() -> list[str]:
    """The exported columns of focus_costs, in table order (FOCUS columns, then `x_` ones)."""
    spec = table_specs()["gold"]["focus_costs"]["columns"]
    # split on the commas between columns, not those of DECIMAL(38,18)
    names = [part.strip().split(" ", 1)[0] for part in re.split(r",(?![^(]*\))", " ".join(spec.split()))]
    return [n for n in names if n not in _INTERNAL]


def focus_month(text: str) -> date:
    """The first day of a `YYYY-MM` billing period.

    Raises:
        ExportError: not a `YYYY-MM` month.
    """
    m = _MONTH.match(text or "")
    if not m:
        raise ExportError(f"--month {text!r}: expected YYYY-MM, e.g. 2026-11")
    return date(int(m.group(1)), int(m.group(2)), 1)


def check_out_path(path: str) -> str:
    """The format (`parquet` or `csv`) of an export file name.

    Raises:
        ExportError: the name ends in neither.
    """
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".parquet", ".csv"):
        raise ExportError(f"--out {path!r}: the file name must end in .parquet or .csv")
    return ext[1:]


def export_focus(spark: SparkSession, tables: Tables, month: str, out: str) -> FocusExport:
    """Write the FOCUS rows of billing period `month` (`YYYY-MM`) to `out` (.parquet or .csv).

    Rows are those whose BillingPeriodStart is the month: the usage of that month, plus
    corrections of closed months that arrived in it (ChargeClass = Correction). Usage without
    a price has no currency and is left out (counted in `unpriced_rows`; its cost is 0).

    Raises:
        ExportError: bad month or file name, or focus_costs does not exist yet.
    """
    from datetime import datetime

    from pyspark.sql import functions as F

    start = focus_month(month)
    fmt = check_out_path(out)
    ref = tables.gold("focus_costs")
    if not ref.exists(spark):
        raise ExportError(f"{ref.label} does not exist yet: run the pipeline first (streaming-obs run)")
    rows = ref.read(spark).where(F.col("BillingPeriodStart") == F.lit(datetime(start.year, start.month, 1)))
    priced = rows.where(F.col("BillingCurrency").isNotNull())
    unpriced = rows.where(F.col("BillingCurrency").isNull()).count()
    export = priced.select(*focus_columns()).orderBy("ChargePeriodStart", "SubAccountId", "x_RecordId")
    sums = {r[0]: format(r[1], "f") for r in
            priced.groupBy("BillingCurrency").agg(F.sum("BilledCost")).collect()}
    n = _write_single_file(export, fmt, out)
    return FocusExport(os.path.abspath(out), n, sums, unpriced)


def _write_single_file(df: DataFrame, fmt: str, out: str) -> int:
    """Write `df` as one file at `out` (Spark writes a directory: its one part file is moved)."""
    target = os.path.abspath(out)
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".focus-", dir=os.path.dirname(target) or ".")
    try:
        writer = df.coalesce(1).write.mode("overwrite")
        if fmt == "csv":
            # FOCUS date-times are ISO 8601 in UTC; the session runs in UTC
            # RFC 4180 quoting (a quote inside a field is doubled): Tags hold JSON
            writer = (writer.option("header", "true").option("escape", '"')
                      .option("timestampFormat", "yyyy-MM-dd'T'HH:mm:ss'Z'").option("dateFormat", "yyyy-MM-dd"))
        getattr(writer, fmt)(os.path.join(tmp, "data"))
        parts = [p for p in os.listdir(os.path.join(tmp, "data")) if p.startswith("part-")]
        if len(parts) != 1:
            raise ExportError(f"expected one part file, Spark wrote {len(parts)}")
        os.replace(os.path.join(tmp, "data", parts[0]), target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return df.sparkSession.read.format(fmt).option("header", "true").option("escape", '"').load(target).count()
