-- Baseline: the previous `n` days of cost of the same key (missing days count as 0).
-- Sums run over sorted arrays so doubles come out the same whatever the row order.
-- Settings arrive as a one-row frame {params} (n, z, min_cost): data, not SQL text.
WITH params AS (SELECT * FROM {params}),
daily AS (
  SELECT usage_date, workspace_id, sku_name, SUM(list_cost) AS list_cost
  FROM {costs}
  GROUP BY usage_date, workspace_id, sku_name
),
targets AS (
  SELECT d.* FROM daily d JOIN {dates} s ON d.usage_date = s.usage_date
),
prev AS (
  SELECT t.usage_date, t.workspace_id, t.sku_name, t.list_cost,
         COALESCE(p.list_cost, CAST(0 AS DECIMAL(38,18))) AS prev_cost
  FROM targets t
  CROSS JOIN (SELECT explode(sequence(1, n)) AS back FROM params) b
  LEFT JOIN daily p
    ON p.workspace_id = t.workspace_id AND p.sku_name = t.sku_name
   AND p.usage_date = date_sub(t.usage_date, b.back)
),
stats AS (
  SELECT usage_date, workspace_id, sku_name, FIRST(list_cost) AS list_cost,
         SUM(prev_cost) AS prev_sum,
         array_sort(collect_list(CAST(prev_cost AS DOUBLE))) AS xs
  FROM prev
  GROUP BY usage_date, workspace_id, sku_name
),
moments AS (
  SELECT s.*, p.z, p.min_cost,
    CAST(s.prev_sum / p.n AS DECIMAL(38,18)) AS baseline_mean,
    aggregate(s.xs, 0D, (acc, x) -> acc + x) / p.n AS m,
    aggregate(s.xs, 0D, (acc, x) -> acc + x * x) / p.n AS m2
  FROM stats s CROSS JOIN params p
)
SELECT
  usage_date, workspace_id, sku_name,
  CAST(list_cost AS DECIMAL(38,18)) AS list_cost,
  baseline_mean,
  CAST(sqrt(greatest(m2 - m * m, 0D)) AS DECIMAL(38,18)) AS baseline_stddev,
  CASE WHEN sqrt(greatest(m2 - m * m, 0D)) > 1e-9
       THEN (CAST(list_cost AS DOUBLE) - m) / sqrt(greatest(m2 - m * m, 0D)) END AS z_score,
  CASE WHEN sqrt(greatest(m2 - m * m, 0D)) > 1e-9
       THEN (CAST(list_cost AS DOUBLE) - m) / sqrt(greatest(m2 - m * m, 0D)) >= z
            AND CAST(list_cost AS DOUBLE) >= min_cost
       ELSE CAST(list_cost AS DOUBLE) - m >= min_cost
  END AS is_anomaly,
  current_timestamp() AS _updated_at
FROM moments
