"""budget_status_daily on real Spark and Delta: the SQL meets the Python specification
(tests/gold/budget_reference.py) on the hand-computed fixture and on random months, and the
usage batch keeps the table for budgets scoped by workspace, tag, SKU and product."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from streaming_obs.config.models import BudgetConfig
from streaming_obs.context import PipelineContext
from streaming_obs.flows import BatchInfo, ingest_batch
from streaming_obs.gold.budgets import BUDGET_TABLE, budgets_frame, status_frame
from streaming_obs.gold.hot import resync_budgets
from tests.gold.budget_reference import HAND, fixture_costs, month_end, status
from tests.gold.test_incremental_property import _as_source_batch, with_reference_gold
from tests.sourcerows import price, usage

T0 = datetime(2026, 3, 1)


def _frames(spark, costs: dict[date, Decimal], dates, amount: Decimal = Decimal(250), **budget):
    cfg = SimpleNamespace(budgets=[BudgetConfig(name="b", monthly_amount=amount, **budget)])
    c = spark.createDataFrame([("b", d, v) for d, v in sorted(costs.items())],
                              "budget_name STRING, usage_date DATE, day_cost DECIMAL(38,18)")
    d = spark.createDataFrame([(x,) for x in dates], "usage_date DATE")
    return c, d, budgets_frame(spark, cfg)


def test_hand_computed_forecast_in_sql(spark):
    last = date(2026, 3, 31)
    rows = {r["usage_date"]: r for r in status_frame(spark, *_frames(spark, fixture_costs(), [HAND["as_of"], last])).collect()}
    r = rows[HAND["as_of"]]
    assert (r["mtd_cost"], r["forecast_cost"], r["day_cost"]) == (HAND["mtd_cost"], HAND["forecast_cost"], Decimal(10))
    assert float(r["forecast_low"]) == pytest.approx(HAND["forecast_low"])
    assert float(r["forecast_high"]) == pytest.approx(HAND["forecast_high"])
    assert r["spend_ratio"] == pytest.approx(HAND["spend_ratio"]) and r["forecast_ratio"] == pytest.approx(HAND["forecast_ratio"])
    assert (r["days_in_month"], r["days_remaining"], r["threshold_reached"]) == (31, 6, HAND["threshold_reached"])
    assert r["monthly_amount"] == Decimal(250) and r["currency_code"] == "USD"
    # the month's last day (no cost after the 25th): the forecast is what the month cost
    r = rows[last]
    assert r["mtd_cost"] == r["forecast_cost"] == r["forecast_low"] == r["forecast_high"] == Decimal(214)
    assert r["days_remaining"] == 0 and r["day_cost"] == 0


money = st.decimals(min_value=-20, max_value=200, places=3)


@hsettings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(last=st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 12, 31)),
       values=st.lists(st.one_of(st.none(), money), min_size=70, max_size=70), back=st.integers(1, 27))
def test_sql_equals_the_specification_and_the_last_day_forecast_is_the_month_cost(spark, last, values, back):
    last = month_end(last)
    costs = {last - timedelta(days=i): v for i, v in enumerate(values) if v is not None}  # None: no row
    other = last - timedelta(days=back)
    got = {r["usage_date"]: r for r in status_frame(spark, *_frames(spark, costs, [last, other], Decimal(100))).collect()}
    month = sum((v for d, v in costs.items() if (d.year, d.month) == (last.year, last.month)), Decimal(0))
    assert got[last]["forecast_cost"] == got[last]["mtd_cost"] == month
    assert got[last]["forecast_low"] == got[last]["forecast_high"] == month
    for day in (last, other):
        want = status(costs, day, Decimal(100))
        assert got[day]["mtd_cost"] == want["mtd_cost"] and got[day]["forecast_cost"] == want["forecast_cost"], day
        assert float(got[day]["forecast_low"]) == pytest.approx(want["forecast_low"], rel=1e-9, abs=1e-9)
        assert float(got[day]["forecast_high"]) == pytest.approx(want["forecast_high"], rel=1e-9, abs=1e-9)
        assert got[day]["days_remaining"] == want["days_remaining"]


BUDGETS = [
    {"name": "w1", "scope": {"workspace_ids": ["w1"]}, "monthly_amount": 10},
    {"name": "team-x-sku-a", "scope": {"tags": {"team": "x"}, "skus": ["A"]}, "monthly_amount": 4},
    {"name": "sql", "scope": {"products": ["SQL"]}, "monthly_amount": 1, "thresholds": [10]},
    {"name": "euro", "monthly_amount": 5, "currency": "EUR"},
]


@pytest.fixture
def pipeline(spark, make_settings):
    settings = make_settings(quality={"enabled": False}, budgets=BUDGETS)
    with_reference_gold(spark, settings)
    ctx = PipelineContext.create(spark, settings, "budgets")
    ingest_batch(ctx, "list_prices", _as_source_batch(spark, "list_prices", [
        price("A", "2026-03-01 00:00", None, "0.10"), price("B", "2026-03-01 00:00", None, "0.20")], 0),
        BatchInfo("p", 0, "budgets", T0))
    return ctx


def _status(ctx, spark):
    return {(r["budget_name"], r["usage_date"]): r for r in ctx.tables.gold(BUDGET_TABLE).read(spark).collect()}


def test_usage_batches_keep_budget_status(spark, pipeline):
    ctx = pipeline
    batches = [
        [usage("u1", "w1", "A", "2026-03-02 10:00", "10", custom_tags={"team": "x"}),   # 1.00: w1, team-x-sku-a
         usage("u2", "w2", "A", "2026-03-02 11:00", "20", custom_tags={"team": "y"}),   # 2.00: none
         usage("u3", "w2", "B", "2026-03-03 11:00", "5", origin="SQL"),                 # 1.00: sql
         usage("u4", "w1", "NO_PRICE", "2026-03-03 12:00", "7")],                       # unpriced: no budget
        [usage("u5", "w1", "A", "2026-03-02 10:00", "-10", "RETRACTION", custom_tags={"team": "x"}),
         usage("u6", "w1", "A", "2026-03-02 10:00", "30", "RESTATEMENT", custom_tags={"team": "x"}),  # 3.00 instead
         usage("u7", "w2", "B", "2026-03-04 09:00", "1", origin="SQL")],                # 0.20: sql
    ]
    for n, rows in enumerate(batches, start=1):
        ingest_batch(ctx, "billing_usage", _as_source_batch(spark, "billing_usage", rows, n),
                     BatchInfo("q_usage", n, "budgets", T0))
    got = _status(ctx, spark)
    d2, d3, d4 = date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)
    # a row per budget for every date cost_daily has; the EUR budget counts no USD usage
    assert set(got) == {(b["name"], d) for b in BUDGETS for d in (d2, d3, d4)}
    assert [got[("w1", d)]["day_cost"] for d in (d2, d3, d4)] == [Decimal(3), 0, 0]
    assert [got[("team-x-sku-a", d)]["mtd_cost"] for d in (d2, d3, d4)] == [Decimal(3)] * 3
    assert [got[("sql", d)]["mtd_cost"] for d in (d2, d3, d4)] == [0, Decimal(1), Decimal("1.2")]
    assert all(got[("euro", d)]["mtd_cost"] == 0 for d in (d2, d3, d4))
    assert got[("sql", d4)]["threshold_reached"] == 10.0 and got[("w1", d4)]["threshold_reached"] is None
    assert got[("sql", d4)]["spend_ratio"] == pytest.approx(1.2)
    assert got[("team-x-sku-a", d2)]["spend_ratio"] == pytest.approx(0.75)
    # a replayed batch changes nothing
    ingest_batch(ctx, "billing_usage", _as_source_batch(spark, "billing_usage", batches[-1], 2),
                 BatchInfo("q_usage", 2, "budgets", T0))
    again = _status(ctx, spark)
    assert {k: (v["day_cost"], v["forecast_cost"]) for k, v in again.items()} == \
        {k: (v["day_cost"], v["forecast_cost"]) for k, v in got.items()}


def test_resync_follows_a_changed_budget_file(spark, pipeline):
    ctx = pipeline
    ingest_batch(ctx, "billing_usage", _as_source_batch(spark, "billing_usage", [
        usage("u1", "w1", "A", "2026-03-02 10:00", "10", custom_tags={"team": "x"})], 1),
        BatchInfo("q_usage", 1, "budgets", T0))
    assert resync_budgets(ctx) == []  # in step
    changed = [dict(BUDGETS[0], monthly_amount=20), BUDGETS[1], {"name": "new", "monthly_amount": 2}]
    ctx2 = PipelineContext.create(spark, ctx.settings.model_copy(update={
        "budgets": [BudgetConfig.model_validate(b) for b in changed]}), "budgets2")
    assert resync_budgets(ctx2) == ["new", "w1", "euro", "sql"]
    got = _status(ctx2, spark)
    assert {k[0] for k in got} == {"w1", "team-x-sku-a", "new"}
    assert got[("w1", date(2026, 3, 2))]["spend_ratio"] == pytest.approx(0.05)  # 1.00 of 20
    assert got[("new", date(2026, 3, 2))]["mtd_cost"] == Decimal(1)
    assert resync_budgets(ctx2) == []
