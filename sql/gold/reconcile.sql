-- Reconciliation: every check's sums against cost_daily's, per (usage_date, workspace_id,
-- currency_code) and measure (docs/architecture.md#reconciliation). Inputs:
--   {reference}  cost_daily rows (usage_date, workspace_id, currency_code, list_cost, usage_quantity, net_cost)
--   {actual}     the same columns plus check_name, for every check
--   {checks}     check_name: every check, so a check with no rows at all still shows its gaps
-- Keys compare null-safely (unpriced usage has a NULL currency_code). A side with no row counts 0.
WITH ref AS (
  SELECT usage_date, workspace_id, currency_code,
         SUM(list_cost) AS list_cost, SUM(usage_quantity) AS usage_quantity, SUM(net_cost) AS net_cost
  FROM {reference}
  GROUP BY usage_date, workspace_id, currency_code
),
expected AS (
  SELECT c.check_name, r.* FROM ref r CROSS JOIN {checks} c
),
act AS (
  SELECT check_name, usage_date, workspace_id, currency_code,
         SUM(list_cost) AS list_cost, SUM(usage_quantity) AS usage_quantity, SUM(net_cost) AS net_cost
  FROM {actual}
  GROUP BY check_name, usage_date, workspace_id, currency_code
),
joined AS (
  SELECT
    COALESCE(e.check_name, a.check_name) AS check_name,
    COALESCE(e.usage_date, a.usage_date) AS usage_date,
    COALESCE(e.workspace_id, a.workspace_id) AS workspace_id,
    CASE WHEN e.check_name IS NOT NULL THEN e.currency_code ELSE a.currency_code END AS currency_code,
    e.list_cost AS e_list_cost, a.list_cost AS a_list_cost,
    e.usage_quantity AS e_usage_quantity, a.usage_quantity AS a_usage_quantity,
    e.net_cost AS e_net_cost, a.net_cost AS a_net_cost
  FROM expected e
  FULL OUTER JOIN act a
    ON e.check_name = a.check_name AND e.usage_date = a.usage_date
   AND e.workspace_id <=> a.workspace_id AND e.currency_code <=> a.currency_code
)
SELECT
  j.check_name, j.usage_date, j.workspace_id, j.currency_code, m.measure,
  m.expected, m.actual,
  COALESCE(m.actual, CAST(0 AS DECIMAL(38,18))) - COALESCE(m.expected, CAST(0 AS DECIMAL(38,18))) AS difference
FROM joined j
LATERAL VIEW stack(3,
  'list_cost', j.e_list_cost, j.a_list_cost,
  'usage_quantity', j.e_usage_quantity, j.a_usage_quantity,
  'net_cost', j.e_net_cost, j.a_net_cost) m AS measure, expected, actual
