-- Idle compute per (usage_date, workspace_id, cluster_id), docs/data-dictionary.md, from the
-- day's rows of cluster_utilization_hourly ({hourly}: node_minutes and idle_node_minutes, the
-- node-minutes whose cpu_user + cpu_system is below cost.idle.cpu_threshold_percent) — never the
-- raw node timeline. The cluster's list cost that day is priced usage whose
-- usage_metadata.cluster_id is the cluster; the idle list cost is that cost times the idle share.
-- Sums go through DECIMAL so they do not depend on row order (incremental == from scratch).
-- One currency per account's price list is assumed: a cluster's cost in two currencies would
-- show under the first code (MIN).
WITH up AS (
  SELECT to_date(hour) AS usage_date, workspace_id, cluster_id,
         SUM(CAST(node_minutes AS DECIMAL(30,10))) AS up_min,
         SUM(CAST(COALESCE(idle_node_minutes, 0D) AS DECIMAL(30,10))) AS idle_min
  FROM {hourly}
  GROUP BY to_date(hour), workspace_id, cluster_id
),
cost AS (
  SELECT usage_date, workspace_id, usage_metadata.cluster_id AS cluster_id,
         MIN(currency_code) AS currency_code,
         CAST(SUM(list_cost_row) AS DECIMAL(38,18)) AS cluster_list_cost
  FROM {priced_usage}
  WHERE usage_metadata.cluster_id IS NOT NULL AND currency_code IS NOT NULL
  GROUP BY usage_date, workspace_id, usage_metadata.cluster_id
),
shares AS (
  SELECT *, CASE WHEN up_min > 0 THEN CAST(idle_min / up_min AS DECIMAL(20,18)) END AS share FROM up
)
SELECT
  u.usage_date, u.workspace_id, u.cluster_id,
  CAST(u.up_min / 60 AS DOUBLE) AS node_hours_up,
  CAST(u.idle_min / 60 AS DOUBLE) AS node_hours_idle,
  CAST(u.share AS DOUBLE) AS idle_share,
  c.currency_code,
  CAST(COALESCE(c.cluster_list_cost, 0) AS DECIMAL(38,18)) AS cluster_list_cost,
  CAST(COALESCE(CAST(COALESCE(c.cluster_list_cost, 0) AS DECIMAL(28,18)) * u.share, 0) AS DECIMAL(38,18))
    AS idle_list_cost,
  current_timestamp() AS _updated_at
FROM shares u
LEFT JOIN cost c
  ON c.usage_date = u.usage_date AND c.workspace_id = u.workspace_id AND c.cluster_id = u.cluster_id
