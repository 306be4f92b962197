-- Each budget's status at the end of each day of {dates} (docs/budgets.md#the-forecast):
--   mtd_cost       cost from the 1st of the month to the day, inclusive
--   rate (per weekday) the mean cost of that weekday over the 28 days before the day (each
--                  weekday 4 times; a day without cost counts 0)
--   forecast_cost  mtd_cost + the rate of each remaining day of the month's weekday
--   interval       forecast_cost -/+ z * sqrt(sum over remaining days of that weekday's sample
--                  variance over its 4 days), the low end never below mtd_cost (the remaining
--                  days cannot cost less than nothing) unless the forecast itself is
-- On the month's last day nothing remains: the forecast is the month's cost, low = high.
-- {costs}: (budget_name, usage_date, day_cost) covering every day the windows read; missing
-- days count 0. Doubles are summed over sorted arrays so they come out the same whatever the
-- row order (the incremental path must equal the recompute bit for bit).
WITH budgets AS (SELECT * FROM {budgets}),
params AS (SELECT * FROM {params}),
costs AS (SELECT budget_name, usage_date, day_cost FROM {costs}),
targets AS (
  SELECT b.budget_name, d.usage_date AS as_of
  FROM (SELECT DISTINCT usage_date FROM {dates}) d CROSS JOIN budgets b
),
trailing AS (
  SELECT budget_name, as_of, explode(sequence(date_sub(as_of, 28), date_sub(as_of, 1))) AS day
  FROM targets
),
trail_costs AS (
  SELECT t.budget_name, t.as_of, dayofweek(t.day) AS wd,
         COALESCE(c.day_cost, CAST(0 AS DECIMAL(38,18))) AS cost
  FROM trailing t
  LEFT JOIN costs c ON c.budget_name = t.budget_name AND c.usage_date = t.day
),
weekday_sums AS (
  SELECT budget_name, as_of, wd,
         CAST(SUM(cost) / 4 AS DECIMAL(38,18)) AS rate,
         array_sort(collect_list(CAST(cost AS DOUBLE))) AS xs
  FROM trail_costs
  GROUP BY budget_name, as_of, wd
),
weekday_means AS (
  SELECT *, aggregate(xs, 0D, (acc, x) -> acc + x) / 4 AS m FROM weekday_sums
),
weekdays AS (
  SELECT budget_name, as_of, wd, rate,
         aggregate(xs, 0D, (acc, x) -> acc + (x - m) * (x - m)) / 3 AS var
  FROM weekday_means
),
remaining AS (
  SELECT budget_name, as_of, dayofweek(day) AS wd
  FROM (SELECT budget_name, as_of, explode(filter(sequence(as_of, last_day(as_of)), x -> x > as_of)) AS day
        FROM targets)
),
rest AS (
  SELECT r.budget_name, r.as_of, COUNT(*) AS days_remaining,
         CAST(SUM(w.rate) AS DECIMAL(38,18)) AS rest_cost,
         aggregate(array_sort(collect_list(w.var)), 0D, (acc, x) -> acc + x) AS rest_var
  FROM remaining r
  JOIN weekdays w ON w.budget_name = r.budget_name AND w.as_of = r.as_of AND w.wd = r.wd
  GROUP BY r.budget_name, r.as_of
),
mtd AS (
  SELECT t.budget_name, t.as_of,
         CAST(COALESCE(SUM(c.day_cost), 0) AS DECIMAL(38,18)) AS mtd_cost,
         CAST(COALESCE(SUM(CASE WHEN c.usage_date = t.as_of THEN c.day_cost END), 0) AS DECIMAL(38,18)) AS day_cost
  FROM targets t
  LEFT JOIN costs c
    ON c.budget_name = t.budget_name AND c.usage_date >= trunc(t.as_of, 'MM') AND c.usage_date <= t.as_of
  GROUP BY t.budget_name, t.as_of
),
forecast AS (
  SELECT m.budget_name, m.as_of, m.day_cost, m.mtd_cost,
         COALESCE(r.days_remaining, 0) AS days_remaining,
         CAST(CAST(m.mtd_cost AS DECIMAL(37,18)) + CAST(COALESCE(r.rest_cost, 0) AS DECIMAL(37,18))
              AS DECIMAL(38,18)) AS forecast_cost,
         CAST(p.z * sqrt(COALESCE(r.rest_var, 0D)) AS DECIMAL(38,18)) AS half_width
  FROM mtd m
  CROSS JOIN params p
  LEFT JOIN rest r ON r.budget_name = m.budget_name AND r.as_of = m.as_of
)
SELECT
  f.budget_name,
  f.as_of AS usage_date,
  b.currency_code,
  b.budget_hash,
  CAST(b.monthly_amount AS DECIMAL(38,18)) AS monthly_amount,
  f.day_cost,
  f.mtd_cost,
  f.forecast_cost,
  CAST(GREATEST(LEAST(f.mtd_cost, f.forecast_cost), CAST(f.forecast_cost AS DECIMAL(37,18)) - CAST(f.half_width AS DECIMAL(37,18)))
       AS DECIMAL(38,18)) AS forecast_low,
  CAST(CAST(f.forecast_cost AS DECIMAL(37,18)) + CAST(f.half_width AS DECIMAL(37,18)) AS DECIMAL(38,18)) AS forecast_high,
  CAST(f.mtd_cost AS DOUBLE) / CAST(b.monthly_amount AS DOUBLE) AS spend_ratio,
  CAST(f.forecast_cost AS DOUBLE) / CAST(b.monthly_amount AS DOUBLE) AS forecast_ratio,
  day(last_day(f.as_of)) AS days_in_month,
  CAST(f.days_remaining AS INT) AS days_remaining,
  array_max(filter(b.thresholds, t -> CAST(f.mtd_cost AS DOUBLE) / CAST(b.monthly_amount AS DOUBLE) * 100 >= t))
    AS threshold_reached,
  current_timestamp() AS _updated_at
FROM forecast f
JOIN budgets b ON b.budget_name = f.budget_name
