-- Contract prices on list-priced usage (docs/architecture.md#money). The account_prices row of
-- the same cloud, SKU and currency whose window holds usage_start_time gives the contract unit
-- price (pricing.default). net_cost_row = quantity x contract price where the contract names
-- one, else the row's list cost (a SKU without a negotiated price is billed at list), else 0
-- (unpriced usage): never NULL, so a net_cost sum is NULL only when no contract prices are
-- configured at all. Same precision as list_cost_row: DECIMAL(28,18) x DECIMAL(20,10).
SELECT
  u.*,
  CAST(a.pricing.`default` AS DECIMAL(20,10)) AS contract_unit_price,
  COALESCE(
    CAST(u.usage_quantity AS DECIMAL(28,18)) * CAST(a.pricing.`default` AS DECIMAL(20,10)),
    u.list_cost_row,
    CAST(0 AS DECIMAL(38,17))
  ) AS net_cost_row
FROM {priced} u
LEFT JOIN {account_prices} a
  ON u.cloud = a.cloud
 AND u.sku_name = a.sku_name
 AND u.currency_code = a.currency_code
 AND u.usage_start_time >= a.price_start_time
 AND (a.price_end_time IS NULL OR u.usage_start_time < a.price_end_time)
