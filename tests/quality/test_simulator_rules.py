"""The packaged rules on the simulator's system tables: zero drops, zero quarantines."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pyspark.sql import functions as F

from streaming_obs.config.models import SOURCE_NAMES
from streaming_obs.quality import DISPOSITION_COL, FAILED_COL
from streaming_obs.sources.simulator import UNPRICED_SKU, simulate_history
from streaming_obs.tables import Tables

END = datetime(2025, 7, 1, tzinfo=timezone.utc)

# Warnings the simulated account legitimately raises, per rule. The simulator deliberately has one
# SKU without a list price; it also draws worker memory above 100% (reported to its owner: drop
# that entry once memory is capped).
EXPECTED_WARNINGS = {"usage_sku_has_price", "node_mem_used_percent_range"}


@pytest.mark.slow
def test_default_rules_on_simulated_history_quarantine_nothing(default_engine, make_settings, spark):
    settings = make_settings(simulator={"workspaces": 2, "jobs": 10, "clusters": 4, "warehouses": 2})
    simulate_history(spark, settings, days=1, seed=5, usage_rows=300, end=END)
    tables = Tables(settings)
    lookups = {"silver.list_prices": tables.source("list_prices").read(spark)}
    warned: dict[str, int] = {}
    for source in SOURCE_NAMES:
        df = tables.source(source).read(spark)
        for layer in ("bronze", "silver"):
            table = f"{layer}.{source}"
            if not default_engine.rules_for(table):
                continue
            ev = default_engine.evaluate(df, table, lookups, now=END + timedelta(minutes=1))
            by_rule = (ev.select(F.explode(FAILED_COL).alias("rule"), DISPOSITION_COL,
                                 F.col("sku_name") if source == "billing_usage" else F.lit(None).alias("sku_name"))
                       .groupBy("rule", DISPOSITION_COL, "sku_name").count().collect())
            for r in by_rule:
                assert r[DISPOSITION_COL] == "keep", (table, r.asDict())
                assert r["rule"] in EXPECTED_WARNINGS, (table, r.asDict())
                if r["rule"] == "usage_sku_has_price":
                    assert r["sku_name"] == UNPRICED_SKU
                warned[r["rule"]] = warned.get(r["rule"], 0) + r["count"]
    assert warned.get("usage_sku_has_price", 0) > 0  # the unpriced SKU is seen, counted, kept
