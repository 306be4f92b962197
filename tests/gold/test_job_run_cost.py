"""job_run_cost from fixtures with known answers (real Spark and Delta), kept in two gold batches
and compared with a from-scratch recompute.

Three cases share one account (a workspace each, so no case sees another's runs or pools) and
one pipeline of two ingest batches and two gold batches: each whole chain costs ~1-2 minutes of
Delta commits on this machine, the cases' rows cost nothing next to it.

Workspace w1, all-purpose cluster ap1 (its usage carries no job_run_id), list price 0.50 a DBU:
- 09:00: pool 1.00. Task time: run A 1200 s (two parallel 600 s tasks), B 1200 s (a slice
  09:40-10:30, cut at 10:00), C 1200 s: a third each, 0.333333333333333333, and the 1e-18 left
  over goes to the largest share, ties to the smallest run id: A.
- 10:00: pool 2.00, only B (1800 s): all of it.
- 11:00: pool 0.50, no task time: stays unallocated.
Run A also has serverless usage with its job_run_id (0.50); run D runs on job cluster jc1, whose
usage carries its job_run_id (1.00): nothing of it is allocated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from streaming_obs.cli.console import read_expensive_runs
from streaming_obs.context import PipelineContext
from streaming_obs.flows import BatchInfo, ingest_batch
from streaming_obs.gold import recompute_all
from streaming_obs.gold.flow import write_gold_batch
from streaming_obs.gold.touches import touch_batch
from streaming_obs.tables import Tables
from tests.compare import assert_same_gold
from tests.conftest import settings_in
from tests.gold.test_incremental_property import _as_source_batch, with_reference_gold
from tests.sourcerows import price, row, ts, usage

T0 = datetime(2026, 4, 1)
D1 = date(2026, 4, 1)
THIRD = Decimal("0.333333333333333333")


def _run(run_id: str, job: str, start: str, end: str, state: str = "SUCCEEDED", ws: str = "w1") -> dict:
    return row("job_run_timeline", account_id="acc", workspace_id=ws, job_id=job, run_id=run_id,
               period_start_time=ts(f"2026-04-01 {start}"), period_end_time=ts(f"2026-04-01 {end}"), result_state=state)


def _task(run_id: str, job: str, task: str, start: str, end: str, cluster: str = "ap1") -> dict:
    return row("job_task_run_timeline", account_id="acc", workspace_id="w1", job_id=job, run_id=f"{run_id}-{task}",
               job_run_id=run_id, task_key=task, period_start_time=ts(f"2026-04-01 {start}"),
               period_end_time=ts(f"2026-04-01 {end}"), compute_ids=[cluster], result_state="SUCCEEDED")


def _ap(record: str, hour: str, qty: str) -> dict:
    return usage(record, "w1", "ALLP", f"2026-04-01 {hour}", qty, origin="ALL_PURPOSE", usage_metadata__cluster_id="ap1")


FIRST = {
    "list_prices": [price("ALLP", "2026-03-01 00:00", None, "0.55", effective="0.50"),
                    price("JOBS", "2026-03-01 00:00", None, "0.10")],
    "job_run_timeline": [_run("A", "jA", "09:00", "09:40"), _run("B", "jB", "09:40", "10:30"),
                         _run("C", "jA", "09:00", "09:20", "FAILED"), _run("D", "jD", "12:00", "12:30")],
    "job_task_run_timeline": [_task("A", "jA", "a1", "09:00", "09:10"), _task("A", "jA", "a2", "09:00", "09:10"),
                              _task("B", "jB", "b1", "09:40", "10:30"), _task("D", "jD", "d1", "12:00", "12:30", "jc1")],
    "billing_usage": [_ap("u9", "09:00", "2"), _ap("u11", "11:00", "1"),
                      usage("uA", "w1", "JOBS", "2026-04-01 09:00", "5", usage_metadata__job_id="jA",
                            usage_metadata__job_run_id="A"),
                      usage("uD", "w1", "JOBS", "2026-04-01 12:00", "10", usage_metadata__job_id="jD",
                            usage_metadata__job_run_id="D", usage_metadata__cluster_id="jc1")],
}
# C's task time and the 10:00 pool arrive later: A's share (A is not in the batch) must move
SECOND = {"job_task_run_timeline": [_task("C", "jA", "c1", "09:00", "09:20")], "billing_usage": [_ap("u10", "10:00", "4")]}

# Workspace w2: seven runs of job jS with task time 1, 2, 3, 5, 7, 11, 13 minutes (42 in all) on
# all-purpose cluster ap2 share a pool of 0.123456789 (SKU ALLP2 at 1 a DBU): no share is a finite
# decimal, and the shares still add up to the pool.
MINUTES = [1, 2, 3, 5, 7, 11, 13]
_NINE = T0 + timedelta(hours=9)
SPLIT = {
    "list_prices": [price("ALLP2", "2026-03-01 00:00", None, "1")],
    "job_run_timeline": [row("job_run_timeline", workspace_id="w2", job_id="jS", run_id=f"r{m}", period_start_time=_NINE,
                             period_end_time=_NINE + timedelta(minutes=m), result_state="SUCCEEDED") for m in MINUTES],
    "job_task_run_timeline": [row("job_task_run_timeline", workspace_id="w2", job_id="jS", run_id=f"t{m}",
                                  job_run_id=f"r{m}", period_start_time=_NINE,
                                  period_end_time=_NINE + timedelta(minutes=m), compute_ids=["ap2"])
                              for m in MINUTES],
    "billing_usage": [usage("uS", "w2", "ALLP2", "2026-04-01 09:00", "0.123456789", origin="ALL_PURPOSE",
                            usage_metadata__cluster_id="ap2")],
}

# Workspace w3: billing may date a run's usage on another day than the run's own (late metering, a
# run across midnight billed by hour): list_cost is all usage whose job_run_id is the run, so both
# job_run_cost and job_run_daily count it, incrementally as from scratch. Run E ran on April 1; its
# usage, dated April 3 (5 DBU at 0.10), comes in the second batch on its own. F (job jF) ran on
# April 3, so a from-scratch span of all runs' days would hold E's usage anyway.
LATE_FIRST = {
    "job_run_timeline": [_run("E", "jE", "09:00", "09:30", ws="w3"),
                         row("job_run_timeline", account_id="acc", workspace_id="w3", job_id="jF", run_id="F",
                             period_start_time=ts("2026-04-03 09:00"), period_end_time=ts("2026-04-03 10:00"),
                             result_state="SUCCEEDED")],
    "billing_usage": [usage("uF", "w3", "JOBS", "2026-04-03 09:00", "1", usage_metadata__job_id="jF",
                            usage_metadata__job_run_id="F")],
}
LATE_SECOND = {"billing_usage": [usage("uE", "w3", "JOBS", "2026-04-03 02:00", "5", usage_metadata__job_id="jE",
                                       usage_metadata__job_run_id="E")]}


def _merged(*batches: dict) -> dict:
    out: dict = {}
    for batch in batches:
        for source, rows in batch.items():
            out.setdefault(source, []).extend(rows)
    return out


def _ingest(ctx, spark, by_source: dict, n: int) -> None:
    for source in ("list_prices", "job_run_timeline", "job_task_run_timeline", "billing_usage"):
        if by_source.get(source):
            ingest_batch(ctx, source, _as_source_batch(spark, source, by_source[source], n),
                         BatchInfo(f"q_{source}", n, "rc", T0))


def _gold(spark, tables, name: str, key: tuple[str, ...], ws: str = "w1") -> dict:
    rows = tables.gold(name).read(spark).where(F.col("workspace_id") == ws).collect()
    return {tuple(r[k] for k in key): r.asDict() for r in rows}


@dataclass
class Account:
    spark: object
    tables: Tables
    ref_tables: Tables
    #: job_run_cost of w1 after the first gold batch
    first: dict


@pytest.fixture(scope="module")
def account(spark, tmp_path_factory) -> Account:
    """The three cases' rows in two source batches, each followed by a gold batch; then gold
    recomputed from scratch into gold_ref."""
    settings = settings_in(tmp_path_factory.mktemp("run_cost"), quality={"enabled": False})
    tables, ref_settings, ref_tables = with_reference_gold(spark, settings)
    ctx = PipelineContext.create(spark, settings, "rc")
    since: dict[str, int] = {}
    first: dict = {}
    for n, batch in enumerate((_merged(FIRST, SPLIT, LATE_FIRST), _merged(SECOND, LATE_SECOND)), start=1):
        _ingest(ctx, spark, batch, n)
        touches, since = touch_batch(spark, tables, since)
        write_gold_batch(ctx, touches, BatchInfo("gold", n, "rc", T0))
        if n == 1:
            first = _gold(spark, tables, "job_run_cost", ("run_id",))
    recompute_all(spark, ref_tables, ref_settings)
    return Account(spark, tables, ref_tables, first)


def test_incremental_job_run_cost_equals_recompute(account):
    assert_same_gold(account.spark, account.tables, account.ref_tables, ("job_run_cost", "job_run_daily"))


def test_job_run_cost_known_answers(account):
    spark, tables, first = account.spark, account.tables, account.first
    # after batch 1: A and B share 09:00 half and half; 10:00 has no cost yet
    assert first[("A",)]["allocated_list_cost"] == Decimal("0.5") and first[("B",)]["allocated_list_cost"] == Decimal("0.5")
    # C finished but its task time has not come: no share yet
    assert first[("C",)]["allocated"] is False and first[("C",)]["list_cost"] == 0
    got = _gold(spark, tables, "job_run_cost", ("run_id",))
    assert set(got) == {("A",), ("B",), ("C",), ("D",)}
    a, b, c, d = got[("A",)], got[("B",)], got[("C",)], got[("D",)]
    assert (a["direct_list_cost"], a["allocated_list_cost"]) == (Decimal("0.5"), THIRD + Decimal("1e-18"))
    assert a["list_cost"] == Decimal("0.833333333333333334") and a["allocated"] and a["allocated_cluster_hours"] == 1
    assert (b["direct_list_cost"], b["allocated_list_cost"], b["allocated_cluster_hours"]) == (0, THIRD + 2, 2)
    assert (c["allocated_list_cost"], c["result_state"], c["job_id"]) == (THIRD, "FAILED", "jA")
    assert (d["direct_list_cost"], d["allocated_list_cost"], d["list_cost"]) == (Decimal("1"), 0, Decimal("1"))
    assert d["allocated"] is False and d["allocated_cluster_hours"] == 0
    assert a["run_date"] == D1 and a["currency_code"] == "USD" and a["duration_s"] == 2400.0
    # the split adds up to the pools that had task time (09:00 and 10:00), to the last decimal
    assert sum(r["allocated_list_cost"] for r in got.values()) == Decimal("3")

    daily = _gold(spark, tables, "job_run_daily", ("job_id",))
    assert (daily[("jA",)]["list_cost"], daily[("jA",)]["allocated_list_cost"]) == (Decimal("0.5"), 2 * THIRD + Decimal("1e-18"))
    assert daily[("jB",)]["allocated_list_cost"] == THIRD + 2 and daily[("jB",)]["list_cost"] == 0
    assert daily[("jD",)]["allocated_list_cost"] == 0 and daily[("jD",)]["list_cost"] == Decimal("1")

    # the console's "most expensive runs today" panel reads these rows (w2's and w3's runs of
    # April 1 cost less than D)
    top = read_expensive_runs(spark, tables, D1)
    assert [(r[2], r[4], r[5]) for r in top][:2] == [("B", float(THIRD + 2), float(THIRD + 2)), ("D", 1.0, 0.0)]


def test_the_split_of_a_cluster_hour_adds_up_to_its_cost_exactly(account):
    got = {k[0]: r["allocated_list_cost"] for k, r in _gold(account.spark, account.tables, "job_run_cost", ("run_id",), "w2").items()}
    assert set(got) == {f"r{m}" for m in MINUTES}
    assert sum(got.values()) == Decimal("0.123456789")
    for m in MINUTES:  # each share within 1e-17 of the exact fraction (the remainder is 1e-18s)
        assert abs(got[f"r{m}"] - Decimal("0.123456789") * m / sum(MINUTES)) < Decimal("1e-17"), m
    daily = _gold(account.spark, account.tables, "job_run_daily", ("job_id",), "w2")
    assert daily[("jS",)]["allocated_list_cost"] == Decimal("0.123456789")


def test_a_runs_usage_dated_outside_its_run_still_counts(account):
    runs = _gold(account.spark, account.tables, "job_run_cost", ("run_id",), "w3")
    assert (runs[("E",)]["direct_list_cost"], runs[("E",)]["run_date"]) == (Decimal("0.5"), D1)
    assert runs[("F",)]["direct_list_cost"] == Decimal("0.1")
    daily = _gold(account.spark, account.tables, "job_run_daily", ("job_id",), "w3")
    assert (daily[("jE",)]["list_cost"], daily[("jE",)]["run_date"]) == (Decimal("0.5"), D1)
