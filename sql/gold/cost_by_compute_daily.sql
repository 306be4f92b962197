-- A DLT pipeline's usage also names its cluster: the pipeline is the useful owner, so it wins.
WITH typed AS (
  SELECT u.*,
    CASE
      WHEN u.usage_metadata.dlt_pipeline_id IS NOT NULL THEN 'pipeline'
      WHEN u.usage_metadata.warehouse_id IS NOT NULL THEN 'warehouse'
      WHEN u.usage_metadata.endpoint_id IS NOT NULL OR u.usage_metadata.endpoint_name IS NOT NULL THEN 'serving_endpoint'
      WHEN u.usage_metadata.cluster_id IS NOT NULL THEN 'cluster'
      ELSE 'other'
    END AS compute_type,
    CASE
      WHEN u.usage_metadata.dlt_pipeline_id IS NOT NULL THEN u.usage_metadata.dlt_pipeline_id
      WHEN u.usage_metadata.warehouse_id IS NOT NULL THEN u.usage_metadata.warehouse_id
      WHEN u.usage_metadata.endpoint_id IS NOT NULL OR u.usage_metadata.endpoint_name IS NOT NULL
        THEN COALESCE(u.usage_metadata.endpoint_id, u.usage_metadata.endpoint_name)
      WHEN u.usage_metadata.cluster_id IS NOT NULL THEN u.usage_metadata.cluster_id
      ELSE '(none)'
    END AS compute_id
  FROM {priced_usage} u
)
SELECT
  t.usage_date, t.workspace_id, t.compute_type, t.compute_id, t.currency_code,
  FIRST(CASE t.compute_type WHEN 'cluster' THEN c.name WHEN 'warehouse' THEN w.name END) AS compute_name,
  CAST(COALESCE(SUM(t.list_cost_row), 0) AS DECIMAL(38,18)) AS list_cost,
  CAST(SUM(t.usage_quantity) AS DECIMAL(38,18)) AS usage_quantity,
  CAST(SUM(t.net_cost_row) AS DECIMAL(38,18)) AS net_cost,
  current_timestamp() AS _updated_at
FROM typed t
LEFT JOIN {clusters_current} c
  ON t.compute_type = 'cluster' AND t.workspace_id = c.workspace_id AND t.compute_id = c.id
LEFT JOIN {warehouses_current} w
  ON t.compute_type = 'warehouse' AND t.workspace_id = w.workspace_id AND t.compute_id = w.id
GROUP BY t.usage_date, t.workspace_id, t.compute_type, t.compute_id, t.currency_code
