-- The list cost each budget counts, per usage date: priced usage rows in the budget's currency
-- that match every part of its scope ({budgets}: one row per budget, the scope as arrays and a
-- map; an empty part matches everything). Unpriced rows have no currency: never budget cost.
-- Budgets arrive as data, never formatted in (named parameters do not survive MERGE re-analysis).
SELECT
  b.budget_name,
  u.usage_date,
  CAST(COALESCE(SUM(u.list_cost_row), 0) AS DECIMAL(38,18)) AS day_cost
FROM {priced_usage} u
JOIN {budgets} b
  ON u.currency_code = b.currency_code
WHERE (size(b.workspace_ids) = 0 OR array_contains(b.workspace_ids, u.workspace_id))
  AND (size(b.skus) = 0 OR array_contains(b.skus, u.sku_name))
  AND (size(b.products) = 0 OR array_contains(b.products, u.billing_origin_product))
  AND size(map_filter(b.tags, (k, v) -> NOT (u.custom_tags[k] <=> v))) = 0
GROUP BY b.budget_name, u.usage_date
