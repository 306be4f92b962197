-- Silver already holds the latest row per (workspace_id, statement_id) by update_time.
SELECT
  to_date(start_time) AS query_date, workspace_id,
  COALESCE(compute.warehouse_id, '(none)') AS warehouse_id,
  COUNT(*) AS queries,
  COUNT_IF(execution_status = 'FAILED') AS failed,
  CAST(percentile(total_duration_ms, 0.5) AS DOUBLE) AS duration_p50_ms,
  CAST(percentile(total_duration_ms, 0.95) AS DOUBLE) AS duration_p95_ms,
  CAST(COALESCE(SUM(read_bytes), 0) AS BIGINT) AS read_bytes,
  current_timestamp() AS _updated_at
FROM {queries}
GROUP BY to_date(start_time), workspace_id, COALESCE(compute.warehouse_id, '(none)')
