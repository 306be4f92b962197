-- job_run_daily from job_run_cost ({run_costs}: its rows of the (workspace, job) pairs in
-- scope), kept just before in the same batch. job_run_cost holds one row per finished run with
-- the same run_date, result_state and duration as run_summary.sql gives, and its
-- direct_list_cost is this table's list_cost of the run (priced usage whose job_run_id is the
-- run): a run's figures are computed once, and a (workspace, job)'s days are a small aggregate
-- of one gold row per run rather than a re-read of the job's slices and all of its usage.
SELECT
  run_date, workspace_id, job_id,
  COUNT(*) AS runs_finished,
  COUNT_IF(result_state = 'SUCCEEDED') AS runs_succeeded,
  COUNT_IF(result_state IN ('FAILED', 'ERROR', 'TIMED_OUT')) AS runs_failed,
  COUNT_IF(result_state NOT IN ('SUCCEEDED', 'FAILED', 'ERROR', 'TIMED_OUT')) AS runs_other,
  CAST(percentile(duration_s, 0.5) AS DOUBLE) AS duration_p50_s,
  CAST(percentile(duration_s, 0.95) AS DOUBLE) AS duration_p95_s,
  CAST(COALESCE(SUM(direct_list_cost), 0) AS DECIMAL(38,18)) AS list_cost,
  current_timestamp() AS _updated_at,
  CAST(COALESCE(SUM(allocated_list_cost), 0) AS DECIMAL(38,18)) AS allocated_list_cost
FROM {run_costs}
WHERE result_state IS NOT NULL
GROUP BY run_date, workspace_id, job_id
