-- Idle compute per (usage_date, workspace_id, cluster_id), docs/data-dictionary.md:
-- a node-minute of node_timeline (drivers included) is idle when cpu_user_percent +
-- cpu_system_percent is below {params}.threshold (NULL cpu: not idle); the day is the date of
-- its start_time. The cluster's list cost that day is priced usage whose
-- usage_metadata.cluster_id is the cluster; the idle list cost is that cost times the idle share.
-- Sums are of integer microseconds and decimals, so they do not depend on row order
-- (incremental == from scratch). One currency per account's price list is assumed: a cluster's
-- cost in two currencies would show under the first code (MIN).
WITH params AS (SELECT * FROM {params}),
up AS (
  SELECT to_date(n.start_time) AS usage_date, n.workspace_id, n.cluster_id,
         SUM(unix_micros(n.end_time) - unix_micros(n.start_time)) AS up_us,
         SUM(CASE WHEN n.cpu_user_percent + n.cpu_system_percent < p.threshold
                  THEN unix_micros(n.end_time) - unix_micros(n.start_time) ELSE 0 END) AS idle_us
  FROM {nodes} n CROSS JOIN params p
  GROUP BY to_date(n.start_time), n.workspace_id, n.cluster_id
),
cost AS (
  SELECT usage_date, workspace_id, usage_metadata.cluster_id AS cluster_id,
         MIN(currency_code) AS currency_code,
         CAST(SUM(list_cost_row) AS DECIMAL(38,18)) AS cluster_list_cost
  FROM {priced_usage}
  WHERE usage_metadata.cluster_id IS NOT NULL AND currency_code IS NOT NULL
  GROUP BY usage_date, workspace_id, usage_metadata.cluster_id
)
SELECT
  u.usage_date, u.workspace_id, u.cluster_id,
  CAST(u.up_us AS DOUBLE) / 3600000000D AS node_hours_up,
  CAST(u.idle_us AS DOUBLE) / 3600000000D AS node_hours_idle,
  CASE WHEN u.up_us > 0 THEN CAST(u.idle_us AS DOUBLE) / CAST(u.up_us AS DOUBLE) END AS idle_share,
  c.currency_code,
  CAST(COALESCE(c.cluster_list_cost, 0) AS DECIMAL(38,18)) AS cluster_list_cost,
  CAST(CASE WHEN u.up_us > 0
            THEN CAST(COALESCE(c.cluster_list_cost, 0) AS DECIMAL(28,18))
                 * CAST(CAST(u.idle_us AS DECIMAL(20,0)) / CAST(u.up_us AS DECIMAL(20,0)) AS DECIMAL(20,18))
            ELSE 0 END AS DECIMAL(38,18)) AS idle_list_cost,
  current_timestamp() AS _updated_at
FROM up u
LEFT JOIN cost c
  ON c.usage_date = u.usage_date AND c.workspace_id = u.workspace_id AND c.cluster_id = u.cluster_id
