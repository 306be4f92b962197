-- Restated share: per usage month and currency, how much of the list cost first billed
-- (ORIGINAL rows) corrections later took back (RETRACTION rows, as a positive amount) and put
-- back (RESTATEMENT rows). restated_share = retracted / original: the fraction of the month's
-- cost that corrections changed. Input: {priced_usage} (silver usage, list-priced).
SELECT
  trunc(usage_date, 'MM') AS month,
  currency_code,
  CAST(COALESCE(SUM(CASE WHEN record_type = 'RETRACTION' OR record_type = 'RESTATEMENT' THEN 0
                         ELSE list_cost_row END), 0) AS DECIMAL(38,18)) AS original_cost,
  CAST(COALESCE(-SUM(CASE WHEN record_type = 'RETRACTION' THEN list_cost_row END), 0) AS DECIMAL(38,18)) AS retracted_cost,
  CAST(COALESCE(SUM(CASE WHEN record_type = 'RESTATEMENT' THEN list_cost_row END), 0) AS DECIMAL(38,18)) AS restated_cost,
  CAST(COALESCE(SUM(list_cost_row), 0) AS DECIMAL(38,18)) AS list_cost,
  COUNT_IF(record_type IN ('RETRACTION', 'RESTATEMENT')) AS correction_rows
FROM {priced_usage}
WHERE currency_code IS NOT NULL
GROUP BY trunc(usage_date, 'MM'), currency_code
