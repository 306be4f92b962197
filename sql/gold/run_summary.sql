-- One row per run from its timeline slices. A run is finished when a slice carries
-- result_state (only the last slice does); run_date is the date of its last period_end_time,
-- so a slice ending exactly at 00:00 belongs to the new day.
SELECT
  workspace_id, job_id, run_id,
  MIN(period_start_time) AS first_start,
  MAX(period_end_time) AS last_end,
  MAX_BY(result_state, period_end_time) FILTER (WHERE result_state IS NOT NULL) AS result_state,
  to_date(MAX(period_end_time)) AS run_date,
  (unix_micros(MAX(period_end_time)) - unix_micros(MIN(period_start_time))) / 1000000.0 AS duration_s
FROM {slices}
GROUP BY workspace_id, job_id, run_id
