"""Reconciliation: the identities gold's cost must satisfy, checked against cost_daily.

Per (usage_date, workspace_id, currency_code) and measure (list_cost, usage_quantity, net_cost),
each check's sum must equal cost_daily's (docs/architecture.md#reconciliation):

- `source`: the source's usage (each `record_id` once, less the records held in quarantine),
  priced from the source's price tables;
- `silver`: silver usage, priced;
- `cost_by_job_daily`: that table plus the silver usage that has no job;
- `cost_by_tag_daily:<key>`: that table's rows of each configured tag key;
- `cost_by_compute_daily` and `focus_costs`.

`reconcile` runs them all (the `streaming-obs reconcile` command); `stream_check` runs the gold
checks on the dates a gold batch touched and returns the largest difference per table, which
the gold query exports as `streaming_obs_reconciliation_difference`. `restated_share` reports
how much of each month's list cost corrections later changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from streaming_obs.errors import ReconciliationError
from streaming_obs.gold.compute import run_gold_sql
from streaming_obs.gold.contract import CONTRACT_SOURCE, contract_prices_on, with_contract_prices
from streaming_obs.gold.watermark import price_inputs

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from streaming_obs.config.models import Settings
    from streaming_obs.tables import Tables

__all__ = ["DEFAULT_TOLERANCE", "MEASURES", "ReconcileReport", "reconcile", "restated_share",
           "stream_check", "table_of", "versions_at"]

#: differences up to this (in money or usage units) are rounding, not a gap
DEFAULT_TOLERANCE = 1e-6
MEASURES = ("list_cost", "usage_quantity", "net_cost")
_SUMS = "check_name STRING, usage_date DATE, workspace_id STRING, currency_code STRING, " \
        "list_cost DECIMAL(38,18), usage_quantity DECIMAL(38,18), net_cost DECIMAL(38,18)"


@dataclass
class ReconcileReport:
    """What a reconciliation found."""

    tolerance: float
    checks: list[str]
    #: rows beyond the tolerance: check, table, usage_date, workspace_id, currency_code, measure,
    #: expected (cost_daily), actual (the check), difference (actual - expected), as exact strings
    differences: list[dict] = field(default_factory=list)
    #: (table, measure) -> largest absolute difference, over every key checked
    max_difference: dict[tuple[str, str], float] = field(default_factory=dict)
    keys_checked: int = 0
    restated: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no difference is beyond the tolerance."""
        return not self.differences

    def as_json(self) -> dict:
        """A JSON-ready document of the report."""
        return {
            "ok": self.ok, "tolerance": self.tolerance, "checks": self.checks, "keys_checked": self.keys_checked,
            "differences": self.differences,
            "max_difference": [{"table": t, "measure": m, "value": v} for (t, m), v in sorted(self.max_difference.items())],
            "restated_share": self.restated,
        }


def table_of(check: str) -> str:
    """The table a check is about (`cost_by_tag_daily:team` -> `cost_by_tag_daily`)."""
    return check.split(":", 1)[0]


def _in_scope(col: str, dates: set[date] | None, start: date | None, end: date | None) -> Column:
    cond = F.lit(True)
    if dates is not None:
        cond = F.col(col).isin(sorted(dates))
    if start is not None:
        cond = cond & (F.col(col) >= F.lit(start))
    if end is not None:
        cond = cond & (F.col(col) <= F.lit(end))
    return cond


def _sums(check: str | Column, df: DataFrame, currency: str = "currency_code", list_cost: str = "list_cost",
          quantity: str = "usage_quantity", net: str | None = "net_cost") -> DataFrame:
    name = F.lit(check) if isinstance(check, str) else check
    return df.groupBy("usage_date", "workspace_id", currency).agg(
        F.sum(list_cost).cast("decimal(38,18)").alias("list_cost"),
        F.sum(quantity).cast("decimal(38,18)").alias("usage_quantity"),
        (F.sum(net) if net else F.lit(None)).cast("decimal(38,18)").alias("net_cost"),
    ).select(name.alias("check_name"), "usage_date", "workspace_id", F.col(currency).alias("currency_code"),
             "list_cost", "usage_quantity", "net_cost")


def _priced_sums(check: str, priced: DataFrame) -> DataFrame:
    return _sums(check, priced.withColumn("list_cost", F.coalesce("list_cost_row", F.lit(0))),
                 net="net_cost_row")


class _Reconciler:
    """Builds each check's sums for one scope of dates."""

    def __init__(self, spark: SparkSession, tables: Tables, settings: Settings, scope: Column,
                 pins: dict[str, int] | None = None) -> None:
        self.spark, self.tables, self.settings, self.scope = spark, tables, settings, scope
        self.pins = pins  # silver versions to read (None: the latest)
        self._priced: DataFrame | None = None

    def gold(self, name: str) -> DataFrame:
        ref = self.tables.gold(name)
        if not ref.exists(self.spark):
            raise ReconciliationError(f"{ref.label} does not exist: run `streaming-obs bootstrap` and the pipeline first")
        return ref.read(self.spark).where(self.scope)

    def silver_priced(self) -> DataFrame:
        if self._priced is None:
            from streaming_obs.gold.compute import GoldWriter

            version = (self.pins or {}).get("billing_usage")
            usage = self.tables.silver("billing_usage").read(self.spark, version).where(self.scope)
            self._priced = GoldWriter(self.spark, self.tables, self.settings, pins=self.pins).priced_usage(usage)
        return self._priced

    def reference(self) -> DataFrame:
        return self.gold("cost_daily")

    def source(self) -> DataFrame:
        """The source's usage, each record once, less open quarantine, priced from the source."""
        spark, tables = self.spark, self.tables
        src = tables.source("billing_usage").read(spark).where(self.scope)
        src = src.where(F.col("record_id").isNotNull()).dropDuplicates(["record_id"])
        quarantine = tables.ops("quarantine")
        if quarantine.exists(spark):
            held = (quarantine.read(spark)
                    .where(F.col("source_table").endswith(".billing_usage") & F.col("replayed_at").isNull())
                    .select(F.get_json_object("raw_row", "$.record_id").alias("record_id")).distinct())
            in_silver = tables.silver("billing_usage").read(spark).select("record_id")
            src = src.join(held.join(in_silver, "record_id", "left_anti"), "record_id", "left_anti")
        prices = tables.source("list_prices").read(spark)
        priced = run_gold_sql(spark, "priced_usage", usage=src, prices=prices)
        contract = tables.source(CONTRACT_SOURCE).read(spark) if contract_prices_on(self.settings) else None
        return _priced_sums("source", with_contract_prices(spark, priced, self.settings, tables, contract))

    def checks(self, *, source: bool, silver: bool = True) -> list[tuple[str, DataFrame]]:
        """(check name, sums) of every check; `source` adds the source check, `silver` the silver one."""
        out = []
        if source:
            out.append(("source", self.source()))
        priced = self.silver_priced()
        if silver:
            out.append(("silver", _priced_sums("silver", priced)))
        no_job = priced.where(F.col("usage_metadata.job_id").isNull())
        out.append(("cost_by_job_daily", _sums("cost_by_job_daily", self.gold("cost_by_job_daily"))
                    .unionByName(_priced_sums("cost_by_job_daily", no_job))))
        tags = self.gold("cost_by_tag_daily")
        for key in self.settings.cost.tag_keys:
            name = f"cost_by_tag_daily:{key}"
            out.append((name, _sums(name, tags.where(F.col("tag_key") == F.lit(key)))))
        out.append(("cost_by_compute_daily", _sums("cost_by_compute_daily", self.gold("cost_by_compute_daily"))))
        focus = self.gold("focus_costs")
        net = "ContractedCost" if contract_prices_on(self.settings) else None
        out.append(("focus_costs", _sums("focus_costs", focus, currency="BillingCurrency", list_cost="ListCost",
                                         quantity="PricingQuantity", net=net)))
        return out


def _compare(spark: SparkSession, reference: DataFrame, checks: list[tuple[str, DataFrame]]) -> DataFrame:
    ref = reference.select("usage_date", "workspace_id", "currency_code", "list_cost", "usage_quantity", "net_cost")
    actual = None
    for _, sums in checks:
        actual = sums if actual is None else actual.unionByName(sums)
    if actual is None:
        actual = spark.createDataFrame([], _SUMS)
    names = spark.createDataFrame([(c,) for c, _ in checks], "check_name STRING")
    return run_gold_sql(spark, "reconcile", reference=ref, actual=actual, checks=names)


def _evaluate(spark: SparkSession, reference: DataFrame, checks: list[tuple[str, DataFrame]], tolerance: float,
              report: ReconcileReport | None = None) -> ReconcileReport:
    """Compare `checks` with `reference` and add what they show to `report` (a new one by default)."""
    diffs = _compare(spark, reference, checks).persist()
    try:
        worst = (diffs.groupBy("check_name", "measure")
                 .agg(F.max(F.abs("difference")).alias("d"), F.count("*").alias("n")).collect())
        beyond = (diffs.where(F.abs("difference") > F.lit(Decimal(repr(tolerance))))
                  .orderBy("usage_date", "workspace_id", "check_name", "currency_code", "measure").collect())
    finally:
        diffs.unpersist()
    report = report or ReconcileReport(tolerance, [])
    report.checks += [c for c, _ in checks]
    for r in worst:
        key = (table_of(r["check_name"]), r["measure"])
        report.max_difference[key] = max(report.max_difference.get(key, 0.0), float(r["d"] or 0))
        if r["measure"] == MEASURES[0]:
            report.keys_checked += int(r["n"])
    report.differences += [{
        "check": r["check_name"], "table": table_of(r["check_name"]), "usage_date": r["usage_date"].isoformat(),
        "workspace_id": r["workspace_id"], "currency_code": r["currency_code"], "measure": r["measure"],
        "expected": _text(r["expected"]), "actual": _text(r["actual"]), "difference": _text(r["difference"]),
    } for r in beyond]
    return report


def _text(value) -> str | None:
    return None if value is None else format(value.normalize() if isinstance(value, Decimal) else value, "f")


def reconcile(spark: SparkSession, tables: Tables, settings: Settings, *, start: date | None = None,
              end: date | None = None, tolerance: float = DEFAULT_TOLERANCE, source: bool = True,
              restated: bool = True) -> ReconcileReport:
    """Check every identity for usage dates in [start, end] (both optional, inclusive).

    Args:
        source: include the source check (reads the source tables: off when they are not reachable).
        restated: add the restated share of each month in range.

    Raises:
        ReconciliationError: a gold table is missing, or `start` is after `end`.
    """
    if start is not None and end is not None and start > end:
        raise ReconciliationError(f"--from {start} is after --to {end}")
    rec = _Reconciler(spark, tables, settings, _in_scope("usage_date", None, start, end))
    report = _evaluate(spark, rec.reference(), rec.checks(source=source), tolerance)
    if restated:
        report.restated = restated_share(spark, tables, settings, start=start, end=end)
    return report


def stream_check(spark: SparkSession, tables: Tables, settings: Settings, dates: Iterable[date],
                 pins: dict[str, int], tolerance: float = DEFAULT_TOLERANCE, *, hot: bool = True,
                 follow: bool = True) -> ReconcileReport:
    """The checks on `dates` a query runs after its writes, free of races.

    `follow`: the follow-on cost tables (gold/follow.py), brought by the gold query to silver
    at `pins` (the versions its catch-up read), are checked against silver at those versions.
    `hot`: cost_daily, which the usage query keeps, is checked against silver as it was when
    cost_daily's latest version was committed (a usage batch commits silver, then cost_daily).
    The identities compose to the ones `reconcile` checks against cost_daily.
    """
    scope = _in_scope("usage_date", set(dates), None, None)
    report = None
    if follow:
        pinned = _Reconciler(spark, tables, settings, scope, pins)
        report = _evaluate(spark, _priced_sums("silver", pinned.silver_priced()),
                           pinned.checks(source=False, silver=False), tolerance)
    if hot:
        at_cost = _Reconciler(spark, tables, settings, scope, versions_at(spark, tables, tables.gold("cost_daily")))
        report = _evaluate(spark, at_cost.reference(), [("silver", _priced_sums("silver", at_cost.silver_priced()))],
                           tolerance, report)
    return report or ReconcileReport(tolerance, [])


def versions_at(spark: SparkSession, tables: Tables, ref) -> dict[str, int]:
    """The silver versions (usage and prices) as they were when `ref`'s latest version committed."""
    committed = ref.delta(spark).history(1).select("timestamp").head()[0]
    out = {}
    for n in price_inputs(tables.settings):
        hist = tables.silver(n).delta(spark).history().where(F.col("timestamp") <= F.lit(committed))
        v = hist.agg(F.max("version")).head()[0]
        out[n] = int(v) if v is not None else 0
    return out


def restated_share(spark: SparkSession, tables: Tables, settings: Settings, *, start: date | None = None,
                   end: date | None = None) -> list[dict]:
    """Per usage month and currency: original, retracted and restated list cost, and the share
    of the original cost that corrections changed (`restated_share` = retracted / original)."""
    rec = _Reconciler(spark, tables, settings, _in_scope("usage_date", None, start, end))
    rows = run_gold_sql(spark, "restated_share", priced_usage=rec.silver_priced()).orderBy("month", "currency_code").collect()
    out = []
    for r in rows:
        original = r["original_cost"] or Decimal(0)
        share = (r["retracted_cost"] / original) if original else None
        out.append({"month": r["month"].strftime("%Y-%m"), "currency_code": r["currency_code"],
                    "original_cost": _text(r["original_cost"]), "retracted_cost": _text(r["retracted_cost"]),
                    "restated_cost": _text(r["restated_cost"]), "list_cost": _text(r["list_cost"]),
                    "correction_rows": int(r["correction_rows"]),
                    "restated_share": None if share is None else float(share)})
    return out
