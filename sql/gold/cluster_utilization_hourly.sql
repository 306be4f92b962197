-- cpu = user + system, over all nodes including drivers. Averages go through DECIMAL so the
-- result does not depend on the order rows are summed in (incremental == from scratch).
-- idle_node_minutes: node-minutes whose cpu is below the threshold of {params} (cost.idle; NULL
-- cpu is not idle); idle_compute_daily adds them up per day.
SELECT
  date_trunc('HOUR', n.start_time) AS hour, n.workspace_id, n.cluster_id,
  CAST(SUM(unix_micros(n.end_time) - unix_micros(n.start_time)) / 60000000.0 AS DOUBLE) AS node_minutes,
  CAST(SUM(CASE WHEN n.cpu_user_percent + n.cpu_system_percent < p.threshold
                THEN unix_micros(n.end_time) - unix_micros(n.start_time) ELSE 0 END) / 60000000.0 AS DOUBLE)
    AS idle_node_minutes,
  CAST(AVG(CAST(n.cpu_user_percent + n.cpu_system_percent AS DECIMAL(20,10))) AS DOUBLE) AS avg_cpu_percent,
  MAX(n.cpu_user_percent + n.cpu_system_percent) AS max_cpu_percent,
  CAST(AVG(CAST(n.mem_used_percent AS DECIMAL(20,10))) AS DOUBLE) AS avg_mem_used_percent,
  current_timestamp() AS _updated_at
FROM {nodes} n
CROSS JOIN {params} p
GROUP BY date_trunc('HOUR', n.start_time), n.workspace_id, n.cluster_id
