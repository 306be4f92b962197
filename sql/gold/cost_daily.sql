SELECT
  usage_date, workspace_id, sku_name, billing_origin_product, usage_unit, currency_code,
  CAST(SUM(usage_quantity) AS DECIMAL(38,18)) AS usage_quantity,
  CAST(COALESCE(SUM(list_cost_row), 0) AS DECIMAL(38,18)) AS list_cost,
  CAST(COALESCE(SUM(CASE WHEN unit_price IS NULL THEN usage_quantity END), 0) AS DECIMAL(38,18)) AS unpriced_quantity,
  COUNT(*) AS usage_rows,
  CAST(SUM(net_cost_row) AS DECIMAL(38,18)) AS net_cost,
  current_timestamp() AS _updated_at
FROM {priced_usage}
GROUP BY usage_date, workspace_id, sku_name, billing_origin_product, usage_unit, currency_code
