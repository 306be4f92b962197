-- cpu = user + system, over all nodes including drivers. Averages go through DECIMAL so the
-- result does not depend on the order rows are summed in (incremental == from scratch).
SELECT
  date_trunc('HOUR', start_time) AS hour, workspace_id, cluster_id,
  CAST(SUM(unix_micros(end_time) - unix_micros(start_time)) / 60000000.0 AS DOUBLE) AS node_minutes,
  CAST(AVG(CAST(cpu_user_percent + cpu_system_percent AS DECIMAL(20,10))) AS DOUBLE) AS avg_cpu_percent,
  MAX(cpu_user_percent + cpu_system_percent) AS max_cpu_percent,
  CAST(AVG(CAST(mem_used_percent AS DECIMAL(20,10))) AS DOUBLE) AS avg_mem_used_percent,
  current_timestamp() AS _updated_at
FROM {nodes}
GROUP BY date_trunc('HOUR', start_time), workspace_id, cluster_id
