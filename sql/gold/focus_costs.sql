-- FOCUS 1.2 CostAndUsage rows, one per usage record (docs/focus.md has the mapping).
-- Input: contract-priced usage (priced_usage.sql + contract_priced_usage.sql) and {services}
-- (billing_origin_product -> ServiceName, ServiceCategory; sql/gold/focus_services.yaml).
-- Every value is a function of the record alone, so a recompute of any scope gives the same rows.
-- Billing period: the calendar month (UTC) of the usage, except for a RETRACTION or RESTATEMENT
-- ingested after that month had closed: it is billed in the month it arrived and carries
-- ChargeClass = 'Correction' (its ChargePeriod stays the corrected usage hour).
WITH typed AS (
  SELECT u.*,
    u.record_type IN ('RETRACTION', 'RESTATEMENT')
      AND u.ingestion_date >= add_months(trunc(u.usage_date, 'MM'), 1) AS closed_period_correction,
    -- the same precedence as cost_by_compute_daily.sql: the pipeline owns a classic pipeline's cluster
    CASE
      WHEN u.usage_metadata.dlt_pipeline_id IS NOT NULL THEN 'pipeline'
      WHEN u.usage_metadata.warehouse_id IS NOT NULL THEN 'warehouse'
      WHEN u.usage_metadata.endpoint_id IS NOT NULL OR u.usage_metadata.endpoint_name IS NOT NULL THEN 'serving_endpoint'
      WHEN u.usage_metadata.cluster_id IS NOT NULL THEN 'cluster'
    END AS compute_type,
    COALESCE(u.usage_metadata.dlt_pipeline_id, u.usage_metadata.warehouse_id, u.usage_metadata.endpoint_id,
             u.usage_metadata.endpoint_name, u.usage_metadata.cluster_id) AS compute_id
  FROM {priced_usage} u
),
costed AS (
  SELECT t.*,
    CAST(COALESCE(t.list_cost_row, 0) AS DECIMAL(38,18)) AS list_cost,
    CAST(COALESCE(t.net_cost_row, t.list_cost_row, 0) AS DECIMAL(38,18)) AS billed_cost,
    CAST(trunc(CASE WHEN t.closed_period_correction THEN t.ingestion_date ELSE t.usage_date END, 'MM') AS TIMESTAMP)
      AS billing_period_start
  FROM typed t
)
SELECT
  c.usage_date, c.workspace_id, c.record_id,
  c.billed_cost AS BilledCost,
  c.account_id AS BillingAccountId,
  c.account_id AS BillingAccountName,
  c.currency_code AS BillingCurrency,
  c.billing_period_start AS BillingPeriodStart,
  CAST(add_months(CAST(c.billing_period_start AS DATE), 1) AS TIMESTAMP) AS BillingPeriodEnd,
  'Usage' AS ChargeCategory,
  CASE WHEN c.closed_period_correction THEN 'Correction' END AS ChargeClass,
  concat(c.sku_name, ' (', COALESCE(c.billing_origin_product, 'unknown product'), ')',
         CASE WHEN c.record_type IN ('RETRACTION', 'RESTATEMENT') THEN concat(' ', lower(c.record_type)) ELSE '' END)
    AS ChargeDescription,
  'Usage-Based' AS ChargeFrequency,
  c.usage_start_time AS ChargePeriodStart,
  c.usage_end_time AS ChargePeriodEnd,
  CAST(c.usage_quantity AS DECIMAL(38,18)) AS ConsumedQuantity,
  c.usage_unit AS ConsumedUnit,
  c.billed_cost AS ContractedCost,
  CAST(COALESCE(c.contract_unit_price, c.unit_price) AS DECIMAL(38,18)) AS ContractedUnitPrice,
  c.billed_cost AS EffectiveCost,
  CAST(NULL AS STRING) AS InvoiceId,
  'Databricks' AS InvoiceIssuerName,
  c.list_cost AS ListCost,
  CAST(c.unit_price AS DECIMAL(38,18)) AS ListUnitPrice,
  c.currency_code AS PricingCurrency,
  CAST(COALESCE(c.contract_unit_price, c.unit_price) AS DECIMAL(38,18)) AS PricingCurrencyContractedUnitPrice,
  c.billed_cost AS PricingCurrencyEffectiveCost,
  CAST(c.unit_price AS DECIMAL(38,18)) AS PricingCurrencyListUnitPrice,
  CAST(c.usage_quantity AS DECIMAL(38,18)) AS PricingQuantity,
  c.usage_unit AS PricingUnit,
  'Databricks' AS ProviderName,
  'Databricks' AS PublisherName,
  c.compute_id AS ResourceId,
  c.compute_type AS ResourceType,
  COALESCE(s.service_category, 'Other') AS ServiceCategory,
  COALESCE(s.service_name, initcap(replace(COALESCE(c.billing_origin_product, 'Databricks'), '_', ' '))) AS ServiceName,
  COALESCE(s.service_subcategory, 'Other (Other)') AS ServiceSubcategory,
  c.sku_name AS SkuId,
  c.usage_type AS SkuMeter,
  CAST(NULL AS STRING) AS SkuPriceDetails,
  CASE WHEN c.unit_price IS NOT NULL THEN concat_ws('|', c.sku_name, c.cloud, c.currency_code, c.usage_unit) END AS SkuPriceId,
  c.workspace_id AS SubAccountId,
  c.workspace_id AS SubAccountName,
  -- doubled braces: spark.sql formats this text to bind the frames, and they become an empty JSON object
  CASE WHEN c.custom_tags IS NULL THEN '{{}}' ELSE to_json(c.custom_tags) END AS Tags,
  c.record_id AS x_RecordId,
  c.record_type AS x_RecordType,
  c.cloud AS x_Cloud,
  c.billing_origin_product AS x_BillingOriginProduct,
  c.usage_type AS x_UsageType,
  c.ingestion_date AS x_IngestionDate,
  c.usage_metadata.job_id AS x_JobId,
  c.usage_metadata.job_run_id AS x_JobRunId,
  c.usage_metadata.cluster_id AS x_ClusterId,
  c.usage_metadata.warehouse_id AS x_WarehouseId,
  c.usage_metadata.dlt_pipeline_id AS x_DltPipelineId,
  COALESCE(c.usage_metadata.endpoint_id, c.usage_metadata.endpoint_name) AS x_ServingEndpointId,
  current_timestamp() AS _updated_at
FROM costed c
LEFT JOIN {services} s ON c.billing_origin_product = s.product
