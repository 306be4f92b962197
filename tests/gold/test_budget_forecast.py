"""The budget forecast's algebra, without Spark: the hand-computed fixture, the last day of a
month, and which dates a day's cost moves (the incremental scope)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from streaming_obs.gold.budgets import TRAILING_DAYS, affected_dates, window_dates
from tests.gold.budget_reference import HAND, fixture_costs, month_end, status

days = st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 12, 31))
money = st.decimals(min_value=-500, max_value=500, places=2)


def test_hand_computed_forecast():
    got = status(fixture_costs(), HAND["as_of"], HAND["amount"])
    for key in ("mtd_cost", "forecast_cost", "days_remaining"):
        assert got[key] == HAND[key], key
    for key in ("forecast_low", "forecast_high", "spend_ratio", "forecast_ratio"):
        assert got[key] == pytest.approx(HAND[key]), key


@settings(max_examples=200, deadline=None)
@given(last=days, values=st.lists(money, min_size=60, max_size=60))
def test_on_the_last_day_the_forecast_is_the_month_cost(last, values):
    last = month_end(last)
    costs = {last - timedelta(days=i): v for i, v in enumerate(values)}
    month = sum((v for d, v in costs.items() if (d.year, d.month) == (last.year, last.month)), Decimal(0))
    got = status(costs, last, Decimal(100))
    assert got["forecast_cost"] == got["mtd_cost"] == month
    assert got["forecast_low"] == got["forecast_high"] == float(month)
    assert got["days_remaining"] == 0


@settings(max_examples=200, deadline=None)
@given(d=days, x=days)
def test_a_day_moves_exactly_the_rows_that_read_it(d, x):
    """d is in the window of x's status  <=>  x is among the dates d's cost affects."""
    assert (d in window_dates([x])) == (x in affected_dates([d]))


@settings(max_examples=100, deadline=None)
@given(d=days)
def test_affected_dates_reach_28_days_and_the_month_end(d):
    got = affected_dates([d])
    assert min(got) == d and max(got) == max(d + timedelta(days=TRAILING_DAYS), month_end(d))
    assert len(got) == (max(got) - d).days + 1


@settings(max_examples=100, deadline=None)
@given(costs=st.lists(money, min_size=40, max_size=40), as_of=days)
def test_interval_holds_the_forecast_and_never_falls_below_month_to_date(costs, as_of):
    series = {as_of - timedelta(days=i): v for i, v in enumerate(costs)}
    got = status(series, as_of, Decimal(10))
    assert got["forecast_low"] <= float(got["forecast_cost"]) + 1e-9 <= got["forecast_high"] + 2e-9
    assert got["forecast_low"] >= float(min(got["mtd_cost"], got["forecast_cost"]))
