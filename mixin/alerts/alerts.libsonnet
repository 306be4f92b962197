// Alerts. Conventions of the monitoring-mixins guide: a static `summary`, a templated
// `description`, a `runbook_url` on every alert (an anchor of docs/troubleshooting.md), the
// job selector from `_config` (nothing hard-coded).
local util = import '../lib/util.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local g = util.by(c.sloGroupLabels),
    local env = '{{ $labels.%s }}' % c.environmentLabel,
    local alert(name, expr, severity, summary, description, forDuration=null, labels={}) =
      {
        alert: name,
        expr: expr,
        labels: { severity: severity } + labels,
        annotations: {
          summary: summary,
          description: description,
          runbook_url: util.runbook(c, name),
        },
      } + (if forDuration == null then {} else { 'for': forDuration }),

    // Multi-window burn-rate alert on a recorded error ratio (long and short window).
    local burn(name, ratio, budget, objective, factor, long, short, forDuration, severity, slo, what) =
      alert(
        name,
        |||
          %(r)s:rate%(long)s > (%(f)s * %(b)s)
          and on (%(g)s) %(r)s:rate%(short)s > (%(f)s * %(b)s)
        ||| % { r: ratio, long: long, short: short, f: factor, b: budget, g: g },
        severity,
        '%s SLO (%s %%) error budget burning %s.' % [std.asciiUpper(what[0]) + what[1:], objective, if factor > 10 then 'fast' else 'slowly'],
        'The error ratio of %s is {{ $value | humanizePercentage }} over %s in %s (job {{ $labels.job }}): at %sx the 30-day budget lasts about %s days.'
        % [what, long, env, factor, std.toString(std.round(30 / factor))],
        forDuration,
        { slo: slo },
      ),

    groups+: [
      {
        name: 'streaming_obs_alerts',
        rules: [
          alert(
            'StreamingObsAbsent',
            // Push mode (OTLP) has no `up`: a dead job just stops sending. query_active is set
            // when a query starts and exported at every interval while the process lives.
            'absent_over_time(streaming_obs_query_active{%s}[%s])' % [c.jobSelector, c.absentFor],
            'critical',
            'No metrics from streaming_obs.',
            'No streaming_obs_query_active series matching {%s} for %s: the job is dead, was never started, or its metrics do not reach Prometheus.' % [std.strReplace(c.jobSelector, '"', "'"), c.absentFor],
            '5m',
          ),
          alert(
            'StreamingObsTargetDown',
            'up{%s} == 0' % c.jobSelector,
            'critical',
            'The metrics endpoint of streaming_obs is down.',
            'Prometheus cannot scrape {{ $labels.instance }} (job {{ $labels.job }}): the driver is stopped, crashed or unreachable.',
            '2m',
          ),
          alert(
            'StreamingObsQueryDown',
            'streaming_obs_query_active{%s} == 0' % c.jobSelector,
            'critical',
            'A streaming query is not running.',
            'Query {{ $labels.query }} in %s terminated and was not restarted for %s (streaming_obs_query_terminations_total carries the error class).' % [env, c.queryDownFor],
            c.queryDownFor,
          ),
          alert(
            'StreamingObsQueryRestarting',
            'sum by (%s, query) (increase(streaming_obs_query_restarts_total{%s}[15m])) >= %d' % [g, c.jobSelector, c.restartsIn15m],
            'warning',
            'A streaming query keeps restarting.',
            'Query {{ $labels.query }} in %s restarted {{ $value }} times in 15 minutes.' % env,
          ),
          alert(
            'StreamingObsQueryStalled',
            |||
              (time() - streaming_obs_batch_last_completed_timestamp_seconds{%(sel)s} > %(s)d)
              and on (%(g)s, query) (streaming_obs_query_active{%(sel)s} == 1)
              and on (%(g)s, query) (streaming_obs_query_idle{%(sel)s} == 0)
            ||| % { sel: c.jobSelector, s: c.stalledSeconds, g: g },
            'warning',
            'A running streaming query completes no batch.',
            'Query {{ $labels.query }} in %s is running and not idle, yet its last batch completed {{ $value | humanizeDuration }} ago.' % env,
            '5m',
          ),
          alert(
            'StreamingObsFreshnessLag',
            'streaming_obs_freshness_lag_seconds{%s} > %d' % [c.jobSelector, c.freshnessLagSeconds],
            'warning',
            'A streaming query is far behind its source.',
            'Query {{ $labels.query }} in %s is {{ $value | humanizeDuration }} behind its source.' % env,
            '10m',
          ),
          alert(
            'StreamingObsQualityScoreLow',
            'streaming_obs:quality_score:ratio_rate1h < %s' % c.qualityScoreMin,
            'warning',
            'The data quality score of a table is low.',
            'Only {{ $value | humanizePercentage }} of the rule evaluations of {{ $labels.layer }}.{{ $labels.table }} in %s passed over the last hour; see plt_ops.quality_results and the quarantine.' % env,
            '15m',
          ),
          alert(
            'StreamingObsCostSpike',
            'streaming_obs_workspace_cost_anomalies_open{%s} > 0' % c.jobSelector,
            'warning',
            'Open cost anomalies.',
            'Workspace {{ $labels.workspace_id }} has {{ $value }} open cost anomalies: a SKU daily list cost is far above its 7-day baseline (gold cost_anomalies).',
            '5m',
          ),
          alert(
            'StreamingObsUnpricedUsage',
            'streaming_obs_workspace_unpriced_usage_today{%s} > 0' % c.jobSelector,
            'warning',
            'Usage without a list price.',
            'Workspace {{ $labels.workspace_id }} used {{ $value }} {{ $labels.usage_unit }} today that match no list price: list cost is understated.',
            '1h',
          ),
          alert(
            'StreamingObsCostNotReconciled',
            // A gold batch that lags the usage query can show a gap for a moment (the check pins
            // its inputs, but a price change in flight still can): only a gap that stays fires.
            'max by (%(g)s, table, measure) (streaming_obs_reconciliation_difference{%(sel)s}) > %(t)s' % { g: g, sel: c.jobSelector, t: c.reconciliationTolerance },
            'warning',
            'Gold cost does not reconcile.',
            'In %s, %s of {{ $labels.table }} differs by {{ $value }} from what it must equal on the dates gold last recomputed: run `streaming-obs reconcile` for the keys.' % [env, '{{ $labels.measure }}'],
            c.reconciliationFor,
          ),
          alert(
            'StreamingObsBudgetForecastOverrun',
            // The forecast moves with every usage batch: only an overrun forecast that stays fires.
            'streaming_obs_budget_forecast_ratio{%s} > %s' % [c.jobSelector, c.budgetForecastRatio],
            'warning',
            'A budget is forecast to overrun this month.',
            'Budget {{ $labels.budget }} ({{ $labels.currency }}) in %s is forecast to end the month at {{ $value | humanizePercentage }} of its amount (gold budget_status_daily has the interval).' % env,
            c.budgetForecastFor,
          ),
          alert(
            'StreamingObsBudgetThresholdReached',
            // One series per configured threshold: each threshold crossed is an alert of its own.
            |||
              streaming_obs_budget_threshold_ratio{%(sel)s}
                <= on (%(g)s, budget, currency) group_left ()
              streaming_obs_budget_spend_ratio{%(sel)s}
            ||| % { sel: c.jobSelector, g: g },
            'warning',
            'A budget crossed an alert threshold.',
            'Budget {{ $labels.budget }} ({{ $labels.currency }}) in %s has spent {{ $labels.threshold }} %% or more of its monthly amount this month.' % env,
            c.budgetThresholdFor,
          ),
          alert(
            'StreamingObsCostGaugesStale',
            // stale, or failing since start (no successful read has ever set the timestamp)
            |||
              (time() - streaming_obs_cost_gauges_last_refresh_timestamp_seconds{%(sel)s} > %(s)d)
              or (
                increase(streaming_obs_cost_gauges_refresh_failures_total{%(sel)s}[15m]) > 0
                unless on (%(g)s) streaming_obs_cost_gauges_last_refresh_timestamp_seconds{%(sel)s}
              )
            ||| % { sel: c.jobSelector, s: c.costGaugesStaleSeconds, g: g },
            'warning',
            'Cost gauges are not refreshed.',
            'The cost gauges of job {{ $labels.job }} in %s have not been read from gold for 15 minutes (see streaming_obs_cost_gauges_refresh_failures_total and the driver log).' % env,
            '5m',
          ),
          alert(
            'StreamingObsTelemetryExportFailing',
            'streaming_obs_telemetry_breaker_state{%s} == 1' % c.jobSelector,
            'warning',
            'OTLP export is failing (circuit open).',
            'Exporter {{ $labels.exporter }} of job {{ $labels.job }} in %s cannot reach its collector; metrics are dropped and counted in streaming_obs_telemetry_dropped_points_total.' % env,
            '10m',
          ),
          burn('StreamingObsBatchSuccessSLOBurnFast', 'streaming_obs:batch_error_ratio', c.batchSuccessBudget, c.batchSuccessObjective, 14.4, '1h', '5m', '2m', 'critical', 'batch_success', 'batch success'),
          burn('StreamingObsBatchSuccessSLOBurnSlow', 'streaming_obs:batch_error_ratio', c.batchSuccessBudget, c.batchSuccessObjective, 6, '6h', '30m', '15m', 'warning', 'batch_success', 'batch success'),
          burn('StreamingObsQualitySLOBurnFast', 'streaming_obs:quality_error_ratio', c.qualityBudget, c.qualityObjective, 14.4, '1h', '5m', '2m', 'critical', 'quality_score', 'data quality'),
          burn('StreamingObsQualitySLOBurnSlow', 'streaming_obs:quality_error_ratio', c.qualityBudget, c.qualityObjective, 6, '6h', '30m', '15m', 'warning', 'quality_score', 'data quality'),
        ],
      },
    ],
  },
}
