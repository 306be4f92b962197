// Settings of the streaming_obs mixin. Override any of them when importing the mixin:
//   (import 'streaming_obs/mixin.libsonnet') + { _config+:: { jobSelector: 'job="my_job"' } }
{
  _config+:: {
    // Selects streaming_obs series. Pull mode: the Prometheus scrape job's name. Push mode
    // (OTLP -> Collector -> Prometheus exporter): the Collector sets job to
    // "<service.namespace>/<service.name>", or just service.name. The default takes both.
    jobSelector: 'job=~"(.+/)?streaming_obs"',

    // The label carrying deployment.environment.name (local, dev, staging, prod). The
    // Collector's Prometheus exporter writes it on every series with
    // resource_to_telemetry_conversion; a scrape job sets it as a target label.
    environmentLabel: 'deployment_environment_name',

    // Labels every SLO recording rule and alert keeps: one SLO per job and environment.
    sloGroupLabels: ['job', self.environmentLabel],

    // SLO targets (error budgets over 30 days) and multi-window, multi-burn-rate alerting as in
    // the Google SRE workbook: page on 1h & 5m at 14.4x, ticket on 6h & 30m at 6x.
    batchSuccessBudget: 0.005,  // batch success >= 99.5 %
    batchSuccessObjective: '99.5',  // the same, as shown in summaries
    qualityBudget: 0.02,  // data quality score >= 98 %
    qualityObjective: '98',
    freshnessSloSeconds: 900,  // freshness SLI: lag under 15 minutes

    // Thresholds of the alerts (starting points: tune per account).
    absentFor: '15m',  // no series at all for this long: the job is dead (push mode has no `up`)
    queryDownFor: '5m',
    restartsIn15m: 3,
    stalledSeconds: 900,
    freshnessLagSeconds: 1800,
    qualityScoreMin: 0.98,
    costGaugesStaleSeconds: 900,
    // streaming_obs_reconciliation_difference above this (money or usage units) for this long
    reconciliationTolerance: '1e-06',
    reconciliationFor: '15m',
    // budgets (conf/budgets.yaml): forecast over this share of the amount for this long; a
    // threshold crossed for this long
    budgetForecastRatio: 1,
    budgetForecastFor: '30m',
    budgetThresholdFor: '5m',

    // Where runbook_url points: docs/troubleshooting.md, one anchor per alert. Relative by
    // default (this repository has no canonical host); set it to the page's URL where your
    // copy is browsable, e.g. 'https://git.example.com/data/streaming_obs/blob/main/docs/troubleshooting.md'.
    runbookBase: 'docs/troubleshooting.md',

    // Grafana.
    dashboardUid: 'streaming-obs',
    dashboardTags: ['streaming_obs', 'databricks'],
    dashboardTimezone: 'utc',
    dashboardRefresh: '30s',
    // Money: one Grafana unit per currency code (the series carry a `currency` label). Codes
    // not listed here are shown as a plain number with the code as suffix.
    currencyUnits: {
      USD: 'currencyUSD',
      EUR: 'currencyEUR',
      GBP: 'currencyGBP',
      JPY: 'currencyJPY',
      INR: 'currencyINR',
      CHF: 'currencyCHF',
      AUD: 'prefix:A$',
      CAD: 'prefix:C$',
      BRL: 'currencyBRL',
      KRW: 'currencyKRW',
    },
  },
}
