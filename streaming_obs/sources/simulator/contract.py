"""Contract prices: system.billing.account_prices (optional, written only when configured).

The simulated account negotiated a discount on its biggest classic SKUs (jobs and all-purpose
compute) and none on the others, so net cost is below list cost for some SKUs only and equal
for the rest: the mix a real contract shows. One open window per SKU since PRICE_ORIGIN.
"""

from __future__ import annotations

from decimal import Decimal

from streaming_obs.sources.simulator.catalog import CLOUD, CURRENCY, PRICE_ORIGIN, SKUS, Universe

__all__ = ["CONTRACT_DISCOUNT", "contract_price_rows"]

#: discount off the list price by SKU-name fragment; SKUs that match none have no contract price
CONTRACT_DISCOUNT = {"JOBS_COMPUTE": Decimal("0.20"), "ALL_PURPOSE": Decimal("0.15")}


def contract_price_rows(uni: Universe) -> list[dict]:
    """The account_prices rows of the simulated account."""
    rows = []
    for sku in SKUS.values():
        off = next((d for frag, d in CONTRACT_DISCOUNT.items() if frag in sku.name and "SERVERLESS" not in sku.name), None)
        if sku.price is None or off is None:
            continue
        rows.append({
            "price_start_time": PRICE_ORIGIN, "price_end_time": None, "account_id": uni.account_id,
            "sku_name": sku.name, "cloud": CLOUD, "currency_code": CURRENCY, "usage_unit": sku.unit,
            "pricing": {"default": (sku.price * (1 - off)).quantize(Decimal("0.0001"))},
        })
    return rows
