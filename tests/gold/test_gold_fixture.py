"""Gold on a hand-made account: every number below can be checked by eye against fixture_data."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import time

import pytest

from streaming_obs.bootstrap import bootstrap
from streaming_obs.config import load_settings
from streaming_obs.gold import recompute_all
from streaming_obs.runner import build_context, run
from streaming_obs.tables import GOLD_TABLES, Tables
from tests.compare import assert_same_gold
from tests.gold import fixture_data
from tests.telemetry.telemetry_helpers import free_port

D1, D2 = date(2026, 1, 1), date(2026, 1, 2)


def _rows(spark, tables, name, order):
    df = tables.gold(name).read(spark).drop("_updated_at")
    return [r.asDict() for r in df.orderBy(*order).collect()]


def _by(rows, *keys):
    return {tuple(r[k] for k in keys): r for r in rows}


#: budget_status_daily must have rows too (the recompute check below wants every table filled)
BUDGETS = [{"name": "all", "monthly_amount": 100}, {"name": "w1", "scope": {"workspace_ids": ["w1"]}, "monthly_amount": 10}]


@pytest.fixture(scope="module")
def account(spark, tmp_path_factory):
    """Run the pipeline after batch 1 and after batch 2; snapshot gold after each."""
    tmp = tmp_path_factory.mktemp("gold_fixture")
    settings = load_settings("local", environ={}, overrides={
        "storage": {"warehouse": str(tmp / "wh"), "checkpoints": str(tmp / "ckpt")},
        "simulator": {"root": str(tmp / "system")},
        "cost": {"tag_keys": ["team"]},
        "quality": {"enabled": False},
        "budgets": BUDGETS,
    })
    tables = Tables(settings)
    fixture_data.batch1(spark, settings)
    first_run = run(settings, available_now=True, spark=spark, telemetry=False)
    first = {n: tables.gold(n).read(spark).drop("_updated_at").collect() for n in GOLD_TABLES}
    fixture_data.batch2(spark, settings)
    # The second run exports telemetry to a collector that is not there (nothing listens on the
    # port): the gold numbers below must not care, and batches must not wait for the exporter.
    dead = load_settings("local", environ={}, overrides={
        "storage": {"warehouse": str(tmp / "wh"), "checkpoints": str(tmp / "ckpt")},
        "simulator": {"root": str(tmp / "system")},
        "cost": {"tag_keys": ["team"]},
        "quality": {"enabled": False},
        "budgets": BUDGETS,
        "telemetry": {"export_interval_seconds": 1, "prometheus": {"enabled": False},
                      "otlp": {"enabled": True, "endpoint": f"http://127.0.0.1:{free_port()}", "protocol": "grpc"}},
    })
    ctx = build_context(spark, dead, telemetry=True)
    try:
        second_run = run(dead, available_now=True, spark=spark, ctx=ctx)
        breakers = [(b.state, b.failures, b.dropped_points) for b in ctx.telemetry.pipeline.breakers]
    finally:
        t0 = time.monotonic()
        ctx.telemetry.shutdown()
        shutdown_s = time.monotonic() - t0
    runs = {"first": _batch_seconds(spark, tables, first_run.run_id),
            "dead_collector": _batch_seconds(spark, tables, second_run.run_id),
            "breakers": breakers, "shutdown_s": shutdown_s}
    return spark, settings, tables, first, runs


def _batch_seconds(spark, tables, run_id):
    rows = tables.ops("batch_runs").read(spark).where(f"run_id = '{run_id}' AND rows_in > 0").collect()
    return [r["duration_ms"] / 1000 for r in rows]


def test_cost_daily(account):
    spark, _, tables, first, _ = account
    rows = _by(_rows(spark, tables, "cost_daily", ["usage_date", "workspace_id", "sku_name"]),
               "usage_date", "workspace_id", "sku_name")
    jobs = rows[(D2, "w1", "JOBS")]
    # 10*0.15 - 10*0.15 + 8*0.15 + 4*0.20 (price changed at 12:00, usage at 13:00)
    assert jobs["list_cost"] == Decimal("2.000000000000000000")
    assert jobs["usage_quantity"] == Decimal(12) and jobs["unpriced_quantity"] == 0
    assert jobs["currency_code"] == "USD" and jobs["usage_rows"] == 4
    # effective_list.default (0.50) wins over pricing.default (0.55)
    assert rows[(D2, "w1", "ALLP")]["list_cost"] == Decimal("1.0")
    unpriced = rows[(D2, "w2", "NOPRICE")]
    assert unpriced["currency_code"] is None and unpriced["list_cost"] == 0
    assert unpriced["unpriced_quantity"] == Decimal(3)
    # the late row corrected the older day it belongs to
    assert rows[(D1, "w1", "JOBS")]["list_cost"] == Decimal("0.3")
    assert len(rows) == 4
    # before the price change was known, the 13:00 row was priced at 0.15
    before = {(r["usage_date"], r["sku_name"]): r for r in first["cost_daily"]}
    assert before[(D2, "JOBS")]["list_cost"] == Decimal("1.8")
    assert (D1, "JOBS") not in before


def test_cost_by_job_daily(account):
    spark, _, tables, first, _ = account
    rows = _by(_rows(spark, tables, "cost_by_job_daily", ["usage_date"]), "usage_date", "workspace_id", "job_id")
    assert set(rows) == {(D1, "w1", "j1"), (D2, "w1", "j1")}  # all-purpose usage (NULL job_id) left out
    d2 = rows[(D2, "w1", "j1")]
    assert d2["job_name"] == "etl-daily"  # renamed in batch 2, applied to the older rows too
    assert d2["job_runs"] == 2 and d2["list_cost"] == Decimal("2.0") and d2["usage_quantity"] == 12
    assert rows[(D1, "w1", "j1")]["job_runs"] == 1 and rows[(D1, "w1", "j1")]["job_name"] == "etl-daily"
    assert [r["job_name"] for r in first["cost_by_job_daily"]] == ["etl-old"]


def test_cost_by_tag_daily(account):
    spark, _, tables, _, _ = account
    rows = _by(_rows(spark, tables, "cost_by_tag_daily", ["usage_date"]),
               "usage_date", "workspace_id", "tag_key", "tag_value", "currency_code")
    assert rows[(D2, "w1", "team", "data", "USD")]["list_cost"] == Decimal("2.0")
    assert rows[(D2, "w1", "team", "(untagged)", "USD")]["list_cost"] == Decimal("1.0")
    assert rows[(D2, "w2", "team", "(untagged)", None)]["list_cost"] == 0
    assert rows[(D2, "w2", "team", "(untagged)", None)]["usage_quantity"] == 3
    assert rows[(D1, "w1", "team", "data", "USD")]["list_cost"] == Decimal("0.3")
    assert len(rows) == 4


def test_cost_by_compute_daily(account):
    spark, _, tables, _, _ = account
    rows = _by(_rows(spark, tables, "cost_by_compute_daily", ["usage_date"]),
               "usage_date", "workspace_id", "compute_type", "compute_id")
    assert rows[(D2, "w1", "cluster", "c1")]["compute_name"] == "job-cluster-1"
    assert rows[(D2, "w1", "cluster", "c1")]["list_cost"] == Decimal("2.0")
    assert rows[(D2, "w1", "cluster", "c2")]["compute_name"] == "shared-ap"
    other = rows[(D2, "w2", "other", "(none)")]
    assert other["compute_name"] is None and other["list_cost"] == 0 and other["currency_code"] is None


def test_job_run_daily(account):
    spark, _, tables, first, _ = account
    rows = _rows(spark, tables, "job_run_daily", ["run_date"])
    assert len(rows) == 1
    r = rows[0]
    # run99 ends exactly at 00:00 of D2, so it belongs to D2; run102 has no result_state yet
    assert (r["run_date"], r["workspace_id"], r["job_id"]) == (D2, "w1", "j1")
    assert (r["runs_finished"], r["runs_succeeded"], r["runs_failed"], r["runs_other"]) == (3, 2, 1, 0)
    # durations 1800 s (run99), 3000 s (run101), 4500 s (run100, two hourly slices)
    assert r["duration_p50_s"] == 3000.0
    assert r["duration_p95_s"] == pytest.approx(3000 + 0.9 * 1500)
    # run100: 1.5 - 1.5 + 1.2; run101: 0.8; run99: 0.3
    assert r["list_cost"] == Decimal("2.3")
    assert first["job_run_daily"][0]["runs_finished"] == 2
    assert first["job_run_daily"][0]["list_cost"] == Decimal("1.8")


def test_cluster_utilization_hourly(account):
    spark, _, tables, _, _ = account
    (r,) = _rows(spark, tables, "cluster_utilization_hourly", ["hour"])
    assert r["hour"] == datetime(2026, 1, 2, 10) and r["cluster_id"] == "c1"
    assert r["node_minutes"] == 3.0
    assert r["avg_cpu_percent"] == pytest.approx((15 + 40 + 60) / 3)
    assert r["max_cpu_percent"] == 60.0
    assert r["avg_mem_used_percent"] == pytest.approx((50 + 70 + 80) / 3)


def test_query_daily(account):
    spark, _, tables, _, _ = account
    rows = _by(_rows(spark, tables, "query_daily", ["warehouse_id"]), "warehouse_id")
    wh = rows[("wh1",)]
    # s1 counted once, at its latest state (FINISHED, 1000 ms); s2 FAILED 3000 ms
    assert (wh["queries"], wh["failed"], wh["read_bytes"]) == (2, 1, 100)
    assert wh["duration_p50_ms"] == 2000.0 and wh["duration_p95_ms"] == pytest.approx(2900.0)
    assert rows[("(none)",)]["queries"] == 1 and rows[("(none)",)]["duration_p50_ms"] == 500.0


def test_cost_anomalies(account):
    spark, _, tables, _, _ = account
    rows = _by(_rows(spark, tables, "cost_anomalies", ["usage_date"]), "usage_date", "workspace_id", "sku_name")
    jobs = rows[(D2, "w1", "JOBS")]
    assert jobs["baseline_mean"] == Decimal("0.3") / 7 or abs(jobs["baseline_mean"] - Decimal("0.3") / 7) < Decimal("1e-17")
    assert jobs["z_score"] > 3 and jobs["is_anomaly"] is True
    assert rows[(D2, "w2", "NOPRICE")]["is_anomaly"] is False
    assert rows[(D1, "w1", "JOBS")]["is_anomaly"] is False  # 0.3 is under min_list_cost


def test_incremental_equals_recompute_from_scratch(account):
    spark, settings, tables, _, _ = account
    ref_settings = settings.model_copy(update={"schemas": settings.schemas.model_copy(update={"gold": "plt_gold_ref"})})
    ref_tables = Tables(ref_settings)
    bootstrap(spark, ref_tables)
    recompute_all(spark, ref_tables, ref_settings)
    assert_same_gold(spark, tables, ref_tables, GOLD_TABLES, non_empty=True)


def test_a_dead_collector_changes_no_number_and_holds_up_no_batch(account):
    """The second run's gold is checked above; here: the exporter did fail, and was cut off."""
    _, _, _, _, runs = account
    assert runs["breakers"], "the OTLP exporter was not set up"
    state, failures, dropped = runs["breakers"][0]
    assert failures >= 1 and state in ("open", "half_open")
    first, dead = runs["first"], runs["dead_collector"]
    assert first and dead
    # generous: a batch never waits out export timeouts (3 s per call, retries with backoff)
    assert max(dead) <= max(3 * max(first), max(first) + 30), (first, dead)
    assert runs["shutdown_s"] < 20  # the final flush is bounded too


def _stored_rdds(spark) -> set[int]:
    return {info.id() for info in spark.sparkContext._jsc.sc().getRDDStorageInfo()}


def test_a_cost_recompute_materialises_once_and_frees_its_copy(account):
    """The cost MERGEs (and focus_costs') share one localCheckpoint of priced usage; its blocks are released
    at the end of the recompute, not left for the JVM's garbage collector."""
    from streaming_obs.gold.compute import GoldWriter, release_checkpoint

    spark, settings, tables, _, _ = account
    before = _stored_rdds(spark)
    writer = GoldWriter(spark, tables, settings)
    writer.costs({D1, D2})
    assert set(writer.merged) == {"cost_daily", "cost_by_job_daily", "cost_by_tag_daily", "cost_by_compute_daily",
                                  "focus_costs"}
    assert _stored_rdds(spark) <= before
    copy = spark.range(3).localCheckpoint(eager=True)
    assert _stored_rdds(spark) - before
    assert release_checkpoint(copy) is True and _stored_rdds(spark) <= before
    assert release_checkpoint(spark.range(3)) is False  # not a checkpointed plan: nothing to free
