"""The budget forecast in plain Python: the specification sql/gold/budget_status_daily.sql must
meet (docs/budgets.md#the-forecast), and the hand-computed fixture both are tested on."""

from __future__ import annotations

import calendar
import math
from datetime import date, timedelta
from decimal import Decimal

from streaming_obs.gold.budgets import INTERVAL_Z, TRAILING_DAYS

ZERO = Decimal(0)


def month_end(d: date) -> date:
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


def status(costs: dict[date, Decimal], as_of: date, amount: Decimal, z: float = INTERVAL_Z) -> dict:
    """One budget's status at the end of `as_of` from its day costs (missing days cost 0)."""
    mtd = sum((costs.get(as_of.replace(day=i), ZERO) for i in range(1, as_of.day + 1)), ZERO)
    rate: dict[int, Decimal] = {}
    var: dict[int, float] = {}
    for w in range(7):
        xs = [costs.get(as_of - timedelta(days=k), ZERO) for k in range(1, TRAILING_DAYS + 1)
              if (as_of - timedelta(days=k)).weekday() == w]
        assert len(xs) == 4
        rate[w] = sum(xs, ZERO) / 4
        m = sum(float(x) for x in xs) / 4
        var[w] = sum((float(x) - m) ** 2 for x in xs) / 3
    remaining = [as_of + timedelta(days=i) for i in range(1, (month_end(as_of) - as_of).days + 1)]
    forecast = mtd + sum((rate[d.weekday()] for d in remaining), ZERO)
    half = z * math.sqrt(sum(var[d.weekday()] for d in remaining))
    return {"mtd_cost": mtd, "forecast_cost": forecast, "forecast_low": max(float(min(mtd, forecast)), float(forecast) - half),
            "forecast_high": float(forecast) + half, "days_remaining": len(remaining),
            "spend_ratio": float(mtd) / float(amount), "forecast_ratio": float(forecast) / float(amount)}


def fixture_costs() -> dict[date, Decimal]:
    """Feb 1 to Mar 25 2026: weekdays cost 10, weekends 2, and Monday Mar 9 costs 30."""
    out = {}
    d = date(2026, 2, 1)
    while d <= date(2026, 3, 25):
        out[d] = Decimal(10) if d.weekday() < 5 else Decimal(2)
        d += timedelta(days=1)
    out[date(2026, 3, 9)] = Decimal(30)
    return out


#: the fixture's status on Wed Mar 25 2026 with a budget of 250, by hand:
#: month to date: 18 weekdays x 10 + 7 weekend days x 2 + 20 more on Mar 9 = 214;
#: trailing Feb 25 - Mar 24: Mondays 10, 30, 10, 10 (mean 15, sample variance 300 / 3 = 100),
#: other weekdays 10 (variance 0), weekend days 2 (variance 0);
#: remaining Thu 26 .. Tue 31: 10 + 10 + 2 + 2 + 15 + 10 = 49, so the forecast is 263;
#: the one remaining Monday carries variance 100: sd 10, interval 263 -/+ 12.816.
HAND = {"as_of": date(2026, 3, 25), "amount": Decimal(250), "mtd_cost": Decimal(214), "forecast_cost": Decimal(263),
        "forecast_low": 263 - INTERVAL_Z * 10, "forecast_high": 263 + INTERVAL_Z * 10, "days_remaining": 6,
        "spend_ratio": 214 / 250, "forecast_ratio": 263 / 250, "threshold_reached": 80.0}
