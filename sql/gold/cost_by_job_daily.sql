-- Usage with a job_id only (jobs on all-purpose compute have a NULL job_id and are left out).
SELECT
  u.usage_date, u.workspace_id, u.usage_metadata.job_id AS job_id, u.currency_code,
  FIRST(j.name) AS job_name,
  COUNT(DISTINCT u.usage_metadata.job_run_id) AS job_runs,
  CAST(SUM(u.usage_quantity) AS DECIMAL(38,18)) AS usage_quantity,
  CAST(COALESCE(SUM(u.list_cost_row), 0) AS DECIMAL(38,18)) AS list_cost,
  CAST(SUM(u.net_cost_row) AS DECIMAL(38,18)) AS net_cost,
  current_timestamp() AS _updated_at
FROM {priced_usage} u
LEFT JOIN {jobs_current} j
  ON u.workspace_id = j.workspace_id AND u.usage_metadata.job_id = j.id
WHERE u.usage_metadata.job_id IS NOT NULL
GROUP BY u.usage_date, u.workspace_id, u.usage_metadata.job_id, u.currency_code
