"""Budgets (conf/budgets.yaml): gold budget_status_daily, kept in the billing-usage batch.

Each row is one budget at the end of one day: the day's cost in the budget's scope
(`day_cost`), month-to-date cost, the month-end forecast and its interval, and both as a share
of the monthly amount (docs/budgets.md). The row of day x reads only `day_cost` of the 28 days
before x and of x's month up to x, so a change to day d's cost moves exactly the rows of
[d, max(d + 28, end of d's month)] (`affected_dates`).

The usage batch keeps it like cost_daily: the batch's new priced rows give each budget's cost
delta per date, added to the `day_cost` the table holds; the dates a price change covers are
recomputed from silver (as cost_daily's are). The status of every affected date is then
recomputed from the small `day_cost` series — never from raw usage — and MERGEd, one MERGE
carrying the batch's txnAppId/txnVersion, so a replay skips it or repeats the same result.
A row exists for every budget and every date cost_daily has (in-scope cost or not).
"""

from __future__ import annotations

import calendar
import hashlib
import json
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from streaming_obs.sqlfiles import load_sql

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from streaming_obs.config.models import BudgetConfig, Settings
    from streaming_obs.gold.compute import GoldWriter

__all__ = ["BUDGET_TABLE", "INTERVAL_Z", "TRAILING_DAYS", "affected_dates", "window_dates", "budgets_frame",
           "budget_hash", "day_costs", "status_frame", "batch_update", "from_scratch", "resync"]

BUDGET_TABLE = "budget_status_daily"
#: days before the as-of day whose cost gives the weekday run rates (each weekday 4 times)
TRAILING_DAYS = 28
#: the forecast interval is forecast -/+ INTERVAL_Z standard deviations: a central 80 % range
#: if each remaining day's cost were normal around its weekday mean (docs/budgets.md)
INTERVAL_Z = 1.2816

_BUDGETS_SCHEMA = ("budget_name STRING, budget_hash STRING, currency_code STRING, monthly_amount DECIMAL(38,6), "
                   "workspace_ids ARRAY<STRING>, skus ARRAY<STRING>, products ARRAY<STRING>, "
                   "tags MAP<STRING,STRING>, thresholds ARRAY<DOUBLE>")


def _month_end(d: date) -> date:
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


def affected_dates(dates) -> set[date]:
    """The as-of dates whose status reads the cost of any of `dates`: for d, every day from d to
    d + 28 (the trailing window) or to the end of d's month (month to date), whichever is later."""
    out: set[date] = set()
    for d in dates:
        last = max(d + timedelta(days=TRAILING_DAYS), _month_end(d))
        out.update(d + timedelta(days=i) for i in range((last - d).days + 1))
    return out


def window_dates(as_of) -> set[date]:
    """The dates whose cost the status of `as_of` dates reads (28 days back and month to date)."""
    out: set[date] = set()
    for x in as_of:
        first = min(x - timedelta(days=TRAILING_DAYS), x.replace(day=1))
        out.update(first + timedelta(days=i) for i in range((x - first).days + 1))
    return out


def budget_hash(b: BudgetConfig) -> str:
    """A short hash of what a budget counts and against what (its whole definition)."""
    blob = json.dumps(b.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def budgets_frame(spark: SparkSession, settings: Settings) -> DataFrame | None:
    """The configured budgets as one small DataFrame (None when there are none)."""
    if not settings.budgets:
        return None
    rows = [(b.name, budget_hash(b), b.currency, Decimal(b.monthly_amount), list(b.scope.workspace_ids),
             list(b.scope.skus), list(b.scope.products), dict(b.scope.tags), [float(t) for t in b.thresholds])
            for b in settings.budgets]
    return spark.createDataFrame(rows, _BUDGETS_SCHEMA)


def _run(spark: SparkSession, name: str, **frames: DataFrame) -> DataFrame:
    return spark.sql(load_sql(f"gold/{name}.sql"), **frames)


def day_costs(spark: SparkSession, priced: DataFrame, budgets: DataFrame) -> DataFrame:
    """(budget_name, usage_date, day_cost) of priced usage rows (sql/gold/budget_day_cost.sql)."""
    return _run(spark, "budget_day_cost", priced_usage=priced, budgets=budgets)


def status_frame(spark: SparkSession, costs: DataFrame, dates: DataFrame, budgets: DataFrame,
                 z: float = INTERVAL_Z) -> DataFrame:
    """budget_status_daily rows for every budget and every date of `dates` (a `usage_date` column)
    from the day-cost series `costs` (sql/gold/budget_status_daily.sql)."""
    params = spark.createDataFrame([(float(z),)], "z DOUBLE")
    return _run(spark, BUDGET_TABLE, costs=costs, dates=dates, budgets=budgets, params=params)


def _dates_df(spark: SparkSession, dates) -> DataFrame:
    return spark.createDataFrame([(d,) for d in sorted(dates)], "usage_date DATE")


def _in(col: str, dates) -> object:
    return F.col(col).isin(sorted(dates))


def batch_update(writer: GoldWriter, added: DataFrame | None, added_dates, changed) -> tuple[DataFrame, set[date]] | None:
    """What one usage batch changes in budget_status_daily: (rows, their dates), to MERGE with the
    dates as delete scope; None when there are no budgets or no dates.

    Args:
        writer: the usage batch's GoldWriter (its session, tables, settings; silver at its pins).
        added: priced usage rows the batch added on `added_dates` (whose price did not change).
        changed: the dates a price change covers: their day cost is recomputed from silver.

    The rows read budget_status_daily itself (the day costs it holds): materialise them before
    MERGEing into it.
    """
    spark, settings, tables = writer.spark, writer.settings, writer.tables
    budgets = budgets_frame(spark, settings)
    plain = set(added_dates or ()) - set(changed or ())
    touched = plain | set(changed or ())
    if budgets is None or not touched:
        return None
    affected = affected_dates(touched)
    present = (tables.gold("cost_daily").read(spark).where(_in("usage_date", affected))
               .select("usage_date").distinct())
    existing = (tables.gold(BUDGET_TABLE).read(spark).where(_in("usage_date", window_dates(affected)))
                .select("budget_name", "usage_date", "day_cost"))
    series = existing.where(~_in("usage_date", touched))
    if plain:
        before = existing.where(_in("usage_date", plain))
        delta = (day_costs(spark, added, budgets) if added is not None
                 else spark.createDataFrame([], "budget_name STRING, usage_date DATE, day_cost DECIMAL(38,18)"))
        both = before.alias("e").join(delta.alias("a"), ["budget_name", "usage_date"], "full_outer")
        # added at DECIMAL(37,18): the sum is DECIMAL(38,18) with no rounding, as in merge_add
        series = series.unionByName(both.select(
            "budget_name", "usage_date",
            (F.coalesce(F.col("e.day_cost"), F.lit(0)).cast("decimal(37,18)")
             + F.coalesce(F.col("a.day_cost"), F.lit(0)).cast("decimal(37,18)")).cast("decimal(38,18)").alias("day_cost")))
    if changed:
        usage = writer.silver("billing_usage").where(_in("usage_date", changed))
        series = series.unionByName(day_costs(spark, writer.priced_usage(usage), budgets))
    return status_frame(spark, series, present, budgets), affected


def from_scratch(writer: GoldWriter, settings: Settings | None = None) -> DataFrame:
    """budget_status_daily from silver: every budget of `settings` (default: the writer's) on
    every date silver usage has (no rows without budgets)."""
    spark = writer.spark
    budgets = budgets_frame(spark, settings or writer.settings)
    if budgets is None:
        return spark.createDataFrame([], writer.tables.gold(BUDGET_TABLE).read(spark).schema)
    usage = writer.silver("billing_usage")
    series = day_costs(spark, writer.priced_usage(usage), budgets)
    return status_frame(spark, series, usage.select("usage_date").distinct(), budgets)


def resync(writer: GoldWriter) -> tuple[DataFrame, list[str]] | None:
    """Budgets whose definition changed since budget_status_daily was kept: (their rows from
    scratch, the budget names whose rows they replace), or None when the table is in step.

    A budget whose stored `budget_hash` differs from its definition (scope, amount, currency,
    thresholds), or that has no rows while cost_daily has some, is recomputed; a budget no
    longer configured is deleted. Run before the queries start: nothing else writes then.
    """
    spark, settings, tables = writer.spark, writer.settings, writer.tables
    ref = tables.gold(BUDGET_TABLE)
    if not ref.exists(spark):
        return None
    stored: dict[str, set[str]] = {}
    for r in ref.read(spark).select("budget_name", "budget_hash").distinct().collect():
        stored.setdefault(r[0], set()).add(r[1])
    configured = {b.name: budget_hash(b) for b in settings.budgets}
    has_usage = bool(configured) and bool(tables.gold("cost_daily").read(spark).limit(1).collect())
    redo = sorted(n for n, h in configured.items() if has_usage and stored.get(n) != {h})
    gone = sorted(set(stored) - set(configured))
    if not redo and not gone:
        return None
    subset = settings.model_copy(update={"budgets": [b for b in settings.budgets if b.name in redo]})
    return from_scratch(writer, subset), redo + gone
