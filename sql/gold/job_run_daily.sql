-- Finished runs only; list_cost = priced usage whose usage_metadata.job_run_id is the run.
-- allocated_list_cost = the runs' all-purpose share from gold job_run_cost ({run_costs}: the
-- rows of these runs), not part of list_cost, whose meaning is fixed.
WITH costs AS (
  SELECT workspace_id, usage_metadata.job_run_id AS run_id, SUM(list_cost_row) AS cost
  FROM {run_usage}
  GROUP BY workspace_id, usage_metadata.job_run_id
)
SELECT
  r.run_date, r.workspace_id, r.job_id,
  COUNT(*) AS runs_finished,
  COUNT_IF(r.result_state = 'SUCCEEDED') AS runs_succeeded,
  COUNT_IF(r.result_state IN ('FAILED', 'ERROR', 'TIMED_OUT')) AS runs_failed,
  COUNT_IF(r.result_state NOT IN ('SUCCEEDED', 'FAILED', 'ERROR', 'TIMED_OUT')) AS runs_other,
  CAST(percentile(r.duration_s, 0.5) AS DOUBLE) AS duration_p50_s,
  CAST(percentile(r.duration_s, 0.95) AS DOUBLE) AS duration_p95_s,
  CAST(COALESCE(SUM(c.cost), 0) AS DECIMAL(38,18)) AS list_cost,
  current_timestamp() AS _updated_at,
  CAST(COALESCE(SUM(a.allocated_list_cost), 0) AS DECIMAL(38,18)) AS allocated_list_cost
FROM {runs} r
LEFT JOIN costs c ON r.workspace_id = c.workspace_id AND r.run_id = c.run_id
LEFT JOIN {run_costs} a ON r.workspace_id = a.workspace_id AND r.job_id = a.job_id AND r.run_id = a.run_id
WHERE r.result_state IS NOT NULL
GROUP BY r.run_date, r.workspace_id, r.job_id
