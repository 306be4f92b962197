"""idle_compute_daily from fixture node timelines with known answers (real Spark and Delta)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from streaming_obs.context import PipelineContext
from streaming_obs.flows import BatchInfo, ingest_batch
from streaming_obs.gold import recompute_all
from streaming_obs.gold.flow import write_gold_batch
from streaming_obs.gold.touches import touch_batch
from tests.gold.test_incremental_property import _as_source_batch, with_reference_gold
from tests.sourcerows import price, row, usage

T0 = datetime(2026, 3, 2)
D2, D3 = date(2026, 3, 2), date(2026, 3, 3)


def _minute(cluster: str, instance: str, at: datetime, user: float | None, system: float | None, driver=False) -> dict:
    return row("node_timeline", account_id="acc", workspace_id="w1", cluster_id=cluster, instance_id=instance,
               start_time=at, end_time=at + timedelta(minutes=1), driver=driver, cpu_user_percent=user,
               cpu_system_percent=system, mem_used_percent=10.0)


def _nodes() -> list[dict]:
    start = T0 + timedelta(hours=9)
    out = []
    for m in range(60):
        at = start + timedelta(minutes=m)
        out.append(_minute("c1", "driver", at, 1.0, 1.0, driver=True))  # 2 %: idle all hour
        out.append(_minute("c1", "worker", at, 50.0, 5.0) if m < 30 else _minute("c1", "worker", at, 2.0, 1.0))
    for m in range(10):  # exactly at the threshold: not below it, so not idle
        out.append(_minute("c2", "w", start + timedelta(minutes=m), 4.0, 1.0))
    out.append(_minute("c2", "w", start + timedelta(minutes=10), None, None))  # no CPU figures: not idle
    # the minute from 23:59 belongs to the day it starts on; the next one to the next day
    out.append(_minute("c3", "w", T0 + timedelta(hours=23, minutes=59), 0.0, 0.0))
    out.append(_minute("c3", "w", T0 + timedelta(days=1), 0.0, 0.0))
    return out


def _run(spark, make_settings):
    settings = make_settings(quality={"enabled": False})
    tables, _, _ = with_reference_gold(spark, settings)
    ctx = PipelineContext.create(spark, settings, "idle")
    info = lambda q, n: BatchInfo(q, n, "idle", T0)  # noqa: E731
    ingest_batch(ctx, "list_prices", _as_source_batch(spark, "list_prices", [price("A", "2026-03-01 00:00", None, "0.10")], 0),
                 info("p", 0))
    ingest_batch(ctx, "node_timeline", _as_source_batch(spark, "node_timeline", _nodes(), 1), info("n", 1))
    ingest_batch(ctx, "billing_usage", _as_source_batch(spark, "billing_usage", [
        usage("u1", "w1", "A", "2026-03-02 09:00", "6", usage_metadata__cluster_id="c1"),
        usage("u2", "w1", "A", "2026-03-02 10:00", "4", usage_metadata__cluster_id="c1"),   # c1: 1.00 that day
        usage("u3", "w1", "NO_PRICE", "2026-03-02 09:00", "4", usage_metadata__cluster_id="c2"),  # unpriced
        usage("u4", "w1", "A", "2026-03-03 09:00", "8", usage_metadata__cluster_id="c3"),    # c3: 0.80 on Mar 3
    ], 1), info("u", 1))
    touches, _ = touch_batch(spark, tables, {})
    write_gold_batch(ctx, touches, info("gold", 1))
    return settings, tables


def _idle(spark, tables):
    return {(r["usage_date"], r["cluster_id"]): r for r in tables.gold("idle_compute_daily").read(spark).collect()}


def test_idle_compute_known_answers_then_a_configured_threshold(spark, make_settings):
    settings, tables = _run(spark, make_settings)
    got = _idle(spark, tables)
    assert set(got) == {(D2, "c1"), (D2, "c2"), (D2, "c3"), (D3, "c3")}
    c1 = got[(D2, "c1")]
    # 120 node-minutes up; idle: the driver's 60 and the worker's last 30
    assert (c1["node_hours_up"], c1["node_hours_idle"], c1["idle_share"]) == (2.0, 1.5, 0.75)
    assert (c1["currency_code"], c1["cluster_list_cost"], c1["idle_list_cost"]) == ("USD", Decimal("1.00"), Decimal("0.75"))
    c2 = got[(D2, "c2")]
    assert c2["node_hours_idle"] == 0 and c2["node_hours_up"] == pytest.approx(11 / 60) and c2["idle_share"] == 0
    assert c2["currency_code"] is None and c2["cluster_list_cost"] == 0 and c2["idle_list_cost"] == 0
    assert got[(D2, "c3")]["node_hours_up"] == pytest.approx(1 / 60) and got[(D2, "c3")]["idle_list_cost"] == 0
    c3 = got[(D3, "c3")]
    assert c3["idle_share"] == 1.0 and c3["idle_list_cost"] == Decimal("0.80")

    # the same silver under cost.idle.cpu_threshold_percent: 10 (the incremental batch and the
    # recompute render the same SQL with the threshold as a parameter: GoldWriter.utilization)
    cost = settings.cost.model_copy(update={"idle": settings.cost.idle.model_copy(update={"cpu_threshold_percent": 10})})
    recompute_all(spark, tables, settings.model_copy(update={"cost": cost}))
    got = _idle(spark, tables)
    assert got[(D2, "c2")]["idle_share"] == pytest.approx(10 / 11)  # 5 % minutes are idle under 10 %
    assert got[(D2, "c1")]["idle_share"] == 0.75  # the busy half-hour is 55 %
