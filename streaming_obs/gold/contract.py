"""Contract prices (`system.billing.account_prices`, optional): `net_cost` beside `list_cost`.

When `sources.account_prices` is configured, every priced usage row also gets the account's
contract unit price and `net_cost_row` (sql/gold/contract_priced_usage.sql); the cost tables sum
it to `net_cost`. When it is not configured the two columns are NULL, so `net_cost` is NULL in
every cost table: a list-price-only account has no net figure, and NULL says "not known" where
0 or the list cost would claim one. Either way the list columns are computed exactly as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from streaming_obs.sqlfiles import load_sql

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from streaming_obs.config.models import Settings
    from streaming_obs.tables import Tables

__all__ = ["CONTRACT_SOURCE", "contract_prices_on", "with_contract_prices"]

#: the optional source of contract prices
CONTRACT_SOURCE = "account_prices"


def contract_prices_on(settings: Settings) -> bool:
    """True when `sources.account_prices` is configured."""
    return CONTRACT_SOURCE in settings.sources


def with_contract_prices(spark: SparkSession, priced: DataFrame, settings: Settings, tables: Tables,
                         prices: DataFrame | None = None, version: int | None = None) -> DataFrame:
    """Add `contract_unit_price` and `net_cost_row` to list-priced usage.

    Args:
        priced: the output of sql/gold/priced_usage.sql.
        prices: the contract prices to use (default: silver account_prices when configured).
        version: the silver version to read (default: the latest).

    Returns:
        `priced` plus the two columns, NULL when contract prices are not configured.
    """
    if prices is None and not contract_prices_on(settings):
        return (priced.withColumn("contract_unit_price", F.lit(None).cast("decimal(20,10)"))
                .withColumn("net_cost_row", F.lit(None).cast("decimal(38,17)")))
    if prices is None:
        prices = tables.silver(CONTRACT_SOURCE).read(spark, version)
    return spark.sql(load_sql("gold/contract_priced_usage.sql"), priced=priced, account_prices=prices)
