"""The follow-on cost tables (gold/follow.py): caught up from silver by watermark, on real Delta
tables. Each step is compared with a recompute from scratch of the same silver."""

from __future__ import annotations

from datetime import datetime

import pytest

from streaming_obs.context import PipelineContext
from streaming_obs.flows import BatchInfo, ingest_batch
from streaming_obs.gold import recompute_all
from streaming_obs.gold.compute import GoldWriter
from streaming_obs.gold.follow import FOLLOW_TABLES, follow_costs
from streaming_obs.gold.watermark import current_watermark, parse_watermark, read_watermark, stamped
from tests.compare import assert_same_gold
from tests.gold.test_incremental_property import _as_source_batch, _with_price_touches, with_reference_gold
from tests.sourcerows import price, usage

T0 = datetime(2026, 1, 1)


def test_parse_watermark_reads_the_json_after_the_tag_and_refuses_broken_ones():
    assert parse_watermark('app:x@3 wm={"billing_usage":4,"list_prices":1}') == {"billing_usage": 4, "list_prices": 1}
    assert parse_watermark('wm={"billing_usage":4}') == {"billing_usage": 4}
    assert parse_watermark("app:x@3") is None
    assert parse_watermark(None) is None
    assert parse_watermark("app:x@3 wm={broken") is None
    assert parse_watermark('wm={"billing_usage":"4"}') is None


def _equal(spark, tables, ref_tables):
    assert_same_gold(spark, tables, ref_tables, FOLLOW_TABLES)


@pytest.fixture
def pipeline(spark, make_settings, tmp_path):
    settings = make_settings(storage={"warehouse": str(tmp_path / "wh"), "checkpoints": str(tmp_path / "ck")},
                             quality={"enabled": False}, cost={"tag_keys": ["team"]})
    tables, ref_settings, ref_tables = with_reference_gold(spark, settings)
    ctx = PipelineContext.create(spark, settings, "follow")
    seed = [price("A", "2026-01-01 00:00", None, "0.10")]
    ingest_batch(ctx, "list_prices", _as_source_batch(spark, "list_prices", seed, 0), BatchInfo("p", 0, "p", T0))
    state = {"n": 0, "prices": -1}

    def add_usage(*rows):
        state["n"] += 1
        df, state["prices"] = _with_price_touches(spark, tables, _as_source_batch(spark, "billing_usage", list(rows),
                                                                                 state["n"]), state["prices"])
        ingest_batch(ctx, "billing_usage", df, BatchInfo("u", state["n"], "follow", T0))

    def catch_up():
        writer = GoldWriter(spark, tables, settings, cost_tables=(), focus=False, follow=True)
        return follow_costs(writer), writer

    def reference():
        recompute_all(spark, ref_tables, ref_settings)

    return ctx, tables, ref_tables, add_usage, catch_up, reference


def _use(rid, hour, qty, job="j1", run="r1", team="x"):
    return usage(rid, "w1", "A", f"2026-01-01 {hour:02d}:00", qty, "ORIGINAL", custom_tags={"team": team},
                 usage_metadata__job_id=job, usage_metadata__job_run_id=run, usage_metadata__cluster_id="c1")


def test_follow_on_tables_catch_up_by_watermark_through_new_rows_a_price_change_and_a_foreign_stamp(spark, pipeline):
    """One account through four steps (one pipeline: each step's set-up is the previous step's
    end), each compared with a recompute from scratch of the same silver:
    1. no watermark yet: everything is recomputed from silver, and each table is stamped;
    2. new rows: only what silver gained is added (focus_costs appends the new records; job_runs
       counts each run once however many records it has); in step, nothing is written;
    3. a price change (an UPDATE closing the open window, an INSERT opening the next) reprices
       the rows already counted: their date is recomputed in the same commit as the new rows;
    4. a table stamped with inputs this configuration does not have (contract prices since
       turned off) may hold net costs: it is recomputed whole, the others by date."""
    ctx, tables, ref_tables, add_usage, catch_up, reference = pipeline
    # 1. first catch-up
    add_usage(_use("u1", 1, "2"), _use("u2", 2, "3", run="r2"))
    moved, writer = catch_up()
    assert moved == dict.fromkeys(FOLLOW_TABLES)  # no watermark yet: everything, from silver
    target = current_watermark(spark, tables)
    assert {t: read_watermark(spark, tables.gold(t)) for t in FOLLOW_TABLES} == dict.fromkeys(FOLLOW_TABLES, target)
    assert writer.followed == (None, target)
    reference()
    _equal(spark, tables, ref_tables)

    # 2. r3 and r4 are new (r4 with two records), r1 is not: job_runs gains 2
    add_usage(_use("u3", 3, "1.5", run="r3"), _use("u4", 4, "-0.5", team="y"), _use("u5", 5, "1", run="r4"),
              _use("u6", 6, "1", run="r4", team="y"))
    focus_before = tables.gold("focus_costs").delta(spark).history(1).head()["version"]
    moved, _ = catch_up()
    assert moved == dict.fromkeys(FOLLOW_TABLES, {T0.date()})
    last = tables.gold("focus_costs").delta(spark).history(1).head()
    assert last["version"] == focus_before + 1 and last["operation"] == "WRITE"  # the new records appended
    assert int(last["operationMetrics"]["numOutputRows"]) == 4
    reference()
    _equal(spark, tables, ref_tables)
    runs = {r["job_runs"] for r in tables.gold("cost_by_job_daily").read(spark).collect()}
    assert runs == {4}  # r1, r2, r3, r4: a distinct count, each run once however many records
    assert catch_up()[0] == {}  # in step: nothing to do, nothing written

    # 3. the open window closed at 02:00 (an UPDATE) and a new price from then (an INSERT):
    # u2-u6 (02:00-06:00), counted at 0.10, now cost 0.30
    change = [price("A", "2026-01-01 00:00", "2026-01-01 02:00", "0.10"),
              price("A", "2026-01-01 02:00", None, "0.30")]
    ingest_batch(ctx, "list_prices", _as_source_batch(spark, "list_prices", change, 1), BatchInfo("p", 1, "p", T0))
    add_usage(_use("u7", 7, "1"))
    versions = {t: tables.gold(t).version(spark) for t in FOLLOW_TABLES}
    moved, _ = catch_up()
    assert all(T0.date() in dates for dates in moved.values())
    assert {t: tables.gold(t).version(spark) for t in FOLLOW_TABLES} == {t: v + 1 for t, v in versions.items()}
    reference()
    _equal(spark, tables, ref_tables)

    # 4. a foreign stamp
    ref = tables.gold("cost_by_tag_daily")
    with stamped(spark, {**current_watermark(spark, tables), "account_prices": 0}):
        spark.sql(f"UPDATE delta.`{ref.path}` SET list_cost = list_cost + 1")
    add_usage(_use("u8", 8, "1"))
    moved, _ = catch_up()
    assert moved["cost_by_tag_daily"] is None and moved["cost_by_job_daily"] == {T0.date()}
    reference()
    _equal(spark, tables, ref_tables)
