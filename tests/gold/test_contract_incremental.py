"""Contract prices keep incremental gold equal to gold recomputed from scratch.

Two usage batches on the same keys with contract prices configured, a contract price change in
between, each followed by a gold batch (the driving is test_incremental_property's): every gold
table built batch by batch equals the recompute over the final silver, focus_costs and the
net_cost of every cost table included (cost_daily's is added in the usage batch: net_cost is in
hot.ADDITIVE, and a contract price change reprices cost_daily like a list price change does).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from streaming_obs.context import PipelineContext
from streaming_obs.flows import BatchInfo, ingest_batch
from streaming_obs.gold import recompute_all
from streaming_obs.gold.flow import write_gold_batch
from streaming_obs.gold.touches import touch_batch
from streaming_obs.tables import GOLD_TABLES
from tests.compare import assert_same_gold, assert_same_rows
from tests.gold.test_incremental_property import _as_source_batch, _with_price_touches, with_reference_gold
from tests.sourcerows import price, row, usage

T0 = datetime(2026, 1, 1)
CONTRACT = {"account_prices": {"table": None, "path": "billing/account_prices", "mode": "cdf"}}


def _contract(sku: str, start: str, end: str | None, value: str) -> dict:
    p = price(sku, start, end, value)
    return row("account_prices", price_start_time=p["price_start_time"], price_end_time=p["price_end_time"],
               account_id="acc", sku_name=sku, cloud="AWS", currency_code="USD", usage_unit="DBU",
               pricing={"default": Decimal(value)})


@pytest.fixture(scope="module")
def built(spark, tmp_path_factory):
    from streaming_obs.config import load_settings

    tmp = tmp_path_factory.mktemp("contract_incr")
    settings = load_settings("local", environ={}, overrides={
        "storage": {"warehouse": str(tmp / "wh"), "checkpoints": str(tmp / "ck")},
        "simulator": {"root": str(tmp / "system")}, "sources": CONTRACT,
        "quality": {"enabled": False}, "cost": {"tag_keys": ["team"]},
    })
    tables, ref_settings, ref_tables = with_reference_gold(spark, settings)
    ctx = PipelineContext.create(spark, settings, "contract")
    info = lambda q, n: BatchInfo(q, n, "contract", T0)  # noqa: E731
    ingest_batch(ctx, "list_prices", _as_source_batch(spark, "list_prices", [
        price("A", "2026-01-01 00:00", None, "0.10"), price("B", "2026-01-01 00:00", None, "0.20")], 0), info("p", 0))
    ingest_batch(ctx, "account_prices", _as_source_batch(spark, "account_prices", [
        _contract("A", "2026-01-01 00:00", None, "0.08")], 0), info("a", 0))
    since: dict[str, int] = {}
    prices_seen = -1
    batches = [
        ([usage("u1", "w1", "A", "2026-01-01 10:00", "5", custom_tags={"team": "x"}, usage_metadata__job_id="j1"),
          usage("u2", "w1", "B", "2026-01-01 11:00", "2", usage_metadata__cluster_id="c1")], []),
        # the same key again, after the contract price of A changed at 12:00
        ([usage("u3", "w1", "A", "2026-01-01 13:00", "3", custom_tags={"team": "x"}, usage_metadata__job_id="j1")],
         [_contract("A", "2026-01-01 00:00", "2026-01-01 12:00", "0.08"), _contract("A", "2026-01-01 12:00", None, "0.07")]),
    ]
    for n, (rows, contract) in enumerate(batches, start=1):
        if contract:
            ingest_batch(ctx, "account_prices", _as_source_batch(spark, "account_prices", contract, n), info("a", n))
        usage_df, prices_seen = _with_price_touches(spark, tables, _as_source_batch(spark, "billing_usage", rows, n),
                                                    prices_seen)
        ingest_batch(ctx, "billing_usage", usage_df, info("q_usage", n))
        touches, since = touch_batch(spark, tables, since)
        write_gold_batch(ctx, touches, info("gold", n))
    recompute_all(spark, ref_tables, ref_settings)
    return spark, tables, ref_tables


@pytest.mark.parametrize("name", GOLD_TABLES)
def test_incremental_equals_recompute_with_contract_prices(built, name):
    spark, tables, ref_tables = built
    assert_same_gold(spark, tables, ref_tables, [name])
    # u1 5 x 0.08 and u3 3 x 0.07 (after the change at 12:00); u2 has no contract price: list 2 x 0.20
    expected = {"cost_daily": Decimal("1.01"), "cost_by_job_daily": Decimal("0.61"), "cost_by_tag_daily": Decimal("1.01"),
                "cost_by_compute_daily": Decimal("1.01")}
    if name in expected:
        assert tables.gold(name).read(spark).agg(F.sum("net_cost")).head()[0] == expected[name], name


def test_cost_daily_net_cost_incremental_equals_recompute(built):
    spark, tables, ref_tables = built
    cols = ["usage_date", "workspace_id", "sku_name", "currency_code", "net_cost"]
    assert_same_rows(tables.gold("cost_daily").read(spark).select(*cols), ref_tables.gold("cost_daily").read(spark).select(*cols),
                     "cost_daily")
