-- Task time of job runs per (workspace_id, cluster_id, hour, run_id), in microseconds, from
-- job_task_run_timeline slices ({slices}). A slice is cut at every clock hour it spans (the
-- source already slices hourly; the cut keeps the figure right if a slice is not aligned) and
-- counted on every cluster of its compute_ids (a task on two clusters used both). run_id is the
-- job run (the slice's job_run_id), so parallel tasks of one run add up: task time, not wall time.
-- Integer microseconds keep the sums exact, whatever order they are added in.
WITH cut AS (
  SELECT s.workspace_id, s.job_run_id AS run_id, c.cluster_id, h.hour,
         s.period_start_time, s.period_end_time
  FROM {slices} s
  LATERAL VIEW explode(array_distinct(s.compute_ids)) c AS cluster_id
  LATERAL VIEW explode(sequence(date_trunc('HOUR', s.period_start_time),
                                date_trunc('HOUR', s.period_end_time - INTERVAL 1 MICROSECOND),
                                INTERVAL 1 HOUR)) h AS hour
  WHERE s.job_run_id IS NOT NULL AND c.cluster_id IS NOT NULL
    AND s.period_end_time > s.period_start_time
)
SELECT workspace_id, cluster_id, hour, run_id,
       SUM(unix_micros(LEAST(period_end_time, hour + INTERVAL 1 HOUR))
           - unix_micros(GREATEST(period_start_time, hour))) AS task_micros
FROM cut
GROUP BY workspace_id, cluster_id, hour, run_id
