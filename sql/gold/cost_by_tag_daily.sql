-- One row set per configured tag key; a missing tag counts under the configured untagged value.
-- Config values arrive as data ({tag_keys}: tag_key, untagged_value), never formatted in: named
-- parameters are lost when Delta MERGE re-analyses its source plan.
WITH tagged AS (
  SELECT u.usage_date, u.workspace_id, k.tag_key,
         COALESCE(u.custom_tags[k.tag_key], k.untagged_value) AS tag_value,
         u.currency_code, u.list_cost_row, u.net_cost_row, u.usage_quantity
  FROM {priced_usage} u
  CROSS JOIN {tag_keys} k
)
SELECT
  usage_date, workspace_id, tag_key, tag_value, currency_code,
  CAST(COALESCE(SUM(list_cost_row), 0) AS DECIMAL(38,18)) AS list_cost,
  CAST(SUM(usage_quantity) AS DECIMAL(38,18)) AS usage_quantity,
  CAST(SUM(net_cost_row) AS DECIMAL(38,18)) AS net_cost,
  current_timestamp() AS _updated_at
FROM tagged
GROUP BY usage_date, workspace_id, tag_key, tag_value, currency_code
