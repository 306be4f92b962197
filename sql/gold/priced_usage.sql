-- Usage rows in scope with their list price (docs/architecture.md#money: the price whose window holds
-- usage_start_time; unit price = pricing.effective_list.default, else pricing.default).
-- Precision: quantity as DECIMAL(28,18) times price as DECIMAL(20,10) is rounded by Spark to
-- 17 decimals per row (error < 1e-17 a row); money columns are DECIMAL(38,18).
-- Unpriced rows keep a NULL currency_code and NULL list_cost_row.
SELECT
  u.*,
  p.currency_code,
  CAST(COALESCE(p.pricing.effective_list.`default`, p.pricing.`default`) AS DECIMAL(20,10)) AS unit_price,
  CAST(u.usage_quantity AS DECIMAL(28,18))
    * CAST(COALESCE(p.pricing.effective_list.`default`, p.pricing.`default`) AS DECIMAL(20,10)) AS list_cost_row
FROM {usage} u
LEFT JOIN {prices} p
  ON u.cloud = p.cloud
 AND u.sku_name = p.sku_name
 AND u.usage_start_time >= p.price_start_time
 AND (p.price_end_time IS NULL OR u.usage_start_time < p.price_end_time)
