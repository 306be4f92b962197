-- One row per finished run ({runs}: run_summary rows of the runs in scope, finished only).
-- direct_list_cost: priced usage whose usage_metadata.job_run_id is the run ({run_usage}), the
--   same figure as job_run_daily.list_cost.
-- allocated_list_cost: the run's share of all-purpose compute. A cluster-hour's pool is the
--   priced usage of that cluster (usage_metadata.cluster_id) with no job_run_id and no pipeline,
--   in the hour of usage_start_time ({pool_usage}, filtered below). The pool is split across the
--   job runs with task time on the cluster in that hour ({task_time}, which must hold every run
--   of each cluster-hour it names, finished or not), by task time. Each share is rounded to 18
--   decimals and the rounding remainder goes to the largest share (ties: the smallest run_id),
--   so the shares of a cluster-hour add up to its pool exactly. A pool with no task time in its
--   hour stays unallocated (it is interactive use, not a job's).
-- Decimal arithmetic: the ratio is DECIMAL(19,18) and the pool DECIMAL(28,18), so their
-- product is DECIMAL(38,26) with no precision lost before the final rounding; sums are cast to
-- DECIMAL(37,18) so an addition is DECIMAL(38,18) (Spark would drop a digit at 38).
-- One currency per price list is assumed (as idle_compute_daily does): MIN(currency_code).
WITH pool AS (
  SELECT workspace_id, usage_metadata.cluster_id AS cluster_id,
         date_trunc('HOUR', usage_start_time) AS hour,
         MIN(currency_code) AS currency_code,
         CAST(SUM(list_cost_row) AS DECIMAL(38,18)) AS pool_cost
  FROM {pool_usage}
  WHERE usage_metadata.cluster_id IS NOT NULL AND usage_metadata.job_run_id IS NULL
    AND usage_metadata.dlt_pipeline_id IS NULL AND currency_code IS NOT NULL
  GROUP BY workspace_id, usage_metadata.cluster_id, date_trunc('HOUR', usage_start_time)
),
shares AS (
  SELECT t.workspace_id, t.cluster_id, t.hour, t.run_id, p.currency_code, p.pool_cost,
         CAST(CAST(CAST(p.pool_cost AS DECIMAL(28,18))
                   * CAST(CAST(t.task_micros AS DECIMAL(20,0))
                          / CAST(SUM(t.task_micros) OVER w AS DECIMAL(20,0)) AS DECIMAL(19,18))
              AS DECIMAL(38,18)) AS DECIMAL(37,18)) AS share,
         ROW_NUMBER() OVER (PARTITION BY t.workspace_id, t.cluster_id, t.hour
                            ORDER BY t.task_micros DESC, t.run_id) AS rnk
  FROM {task_time} t
  JOIN pool p ON p.workspace_id = t.workspace_id AND p.cluster_id = t.cluster_id AND p.hour = t.hour
  WHERE t.task_micros > 0
  WINDOW w AS (PARTITION BY t.workspace_id, t.cluster_id, t.hour)
),
fixed AS (
  SELECT workspace_id, run_id, currency_code,
         CASE WHEN rnk = 1
              THEN share + CAST(CAST(pool_cost AS DECIMAL(37,18))
                                 - CAST(SUM(share) OVER (PARTITION BY workspace_id, cluster_id, hour) AS DECIMAL(37,18))
                                 AS DECIMAL(37,18))
              ELSE CAST(share AS DECIMAL(38,18)) END AS allocated_cost
  FROM shares
),
alloc AS (
  SELECT workspace_id, run_id, MIN(currency_code) AS currency_code,
         CAST(SUM(allocated_cost) AS DECIMAL(38,18)) AS allocated_list_cost, COUNT(*) AS cluster_hours
  FROM fixed
  GROUP BY workspace_id, run_id
),
direct AS (
  SELECT workspace_id, usage_metadata.job_run_id AS run_id, MIN(currency_code) AS currency_code,
         CAST(COALESCE(SUM(list_cost_row), 0) AS DECIMAL(38,18)) AS direct_list_cost
  FROM {run_usage}
  GROUP BY workspace_id, usage_metadata.job_run_id
)
SELECT
  r.run_date, r.workspace_id, r.job_id, r.run_id, r.result_state,
  r.first_start AS run_start, r.last_end AS run_end, CAST(r.duration_s AS DOUBLE) AS duration_s,
  COALESCE(d.currency_code, a.currency_code) AS currency_code,
  COALESCE(d.direct_list_cost, CAST(0 AS DECIMAL(38,18))) AS direct_list_cost,
  COALESCE(a.allocated_list_cost, CAST(0 AS DECIMAL(38,18))) AS allocated_list_cost,
  CAST(COALESCE(d.direct_list_cost, 0) AS DECIMAL(37,18))
    + CAST(COALESCE(a.allocated_list_cost, 0) AS DECIMAL(37,18)) AS list_cost,
  a.run_id IS NOT NULL AS allocated,
  COALESCE(a.cluster_hours, 0) AS allocated_cluster_hours,
  current_timestamp() AS _updated_at
FROM {runs} r
LEFT JOIN direct d ON d.workspace_id = r.workspace_id AND d.run_id = r.run_id
LEFT JOIN alloc a ON a.workspace_id = r.workspace_id AND a.run_id = r.run_id
WHERE r.result_state IS NOT NULL
