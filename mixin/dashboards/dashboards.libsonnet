// The Grafana dashboard "streaming_obs: pipeline, cost, quality, SLOs".
// Importable anywhere: every query goes to the `${datasource}` variable (no datasource uid is
// written down), and the job, environment, query and workspace variables filter every panel.
local p = import '../lib/panels.libsonnet';

{
  grafanaDashboards+:: {
    local c = $._config,
    local envLabel = c.environmentLabel,
    // every series: the mixin's job selector, narrowed by the job and environment variables
    local sel = '%s, job=~"$job", %s=~"$environment"' % [c.jobSelector, envLabel],
    local q = sel + ', query=~"$query"',
    local ws = sel + ', workspace_id=~"$workspace"',
    // recorded SLIs carry job and environment (rules/rules.libsonnet)
    local slo = 'job=~"$job", %s=~"$environment"' % envLabel,
    local sloLegend = '{{%s}}' % envLabel,
    local money(unit_map) = p.moneyOverrides(unit_map),

    local variables = [
      p.datasourceVariable(),
      p.queryVariable('job', 'job', 'label_values(streaming_obs_query_active{%s}, job)' % c.jobSelector, '.+'),
      p.queryVariable(
        'environment',
        'environment',
        'label_values(streaming_obs_query_active{%s, job=~"$job"}, %s)' % [c.jobSelector, envLabel],
        // ".*" also matches series without the label (a scrape job that sets none)
        '.*'
      ),
      p.queryVariable('query', 'query', 'label_values(streaming_obs_query_active{%s}, query)' % sel, '.*'),
      p.queryVariable(
        'workspace', 'workspace', 'label_values(streaming_obs_workspace_list_cost_today{%s}, workspace_id)' % sel, '.*'
      ),
    ],

    local panels = [
      p.row('Service levels', 0),
      p.stat('Batch success rate (1h)', [p.target('1 - streaming_obs:batch_error_ratio:rate1h{%s}' % slo, sloLegend)], 'percentunit', [0, 1, 5, 5]),
      p.stat('Data quality score (1h)', [p.target('1 - streaming_obs:quality_error_ratio:rate1h{%s}' % slo, sloLegend)], 'percentunit', [5, 1, 5, 5]),
      p.stat(
        'Freshness within SLO (1h)',
        [p.target('min by (%s) (streaming_obs:freshness_within_slo:ratio_1h{%s, query=~"$query"})' % [envLabel, slo], 'worst query ' + sloLegend)],
        'percentunit',
        [10, 1, 5, 5]
      ),
      p.stat(
        'Availability (1h)',
        [p.target('min by (%s) (streaming_obs:query_availability:ratio_1h{%s, query=~"$query"})' % [envLabel, slo], 'worst query ' + sloLegend)],
        'percentunit',
        [15, 1, 4, 5]
      ),
      p.stat(
        'Time to recover (p90, 7d)',
        [p.target('histogram_quantile(0.9, sum by (le) (increase(streaming_obs_query_recovery_time_seconds_bucket{%s}[7d])))' % q, 'p90')],
        's',
        [19, 1, 5, 5]
      ),
      p.timeseries(
        'Error budget burn (batch success)',
        [
          p.target('streaming_obs:batch_error_ratio:rate1h{%s} / %s' % [slo, c.batchSuccessBudget], '1h burn rate ' + sloLegend),
          p.target('streaming_obs:batch_error_ratio:rate6h{%s} / %s' % [slo, c.batchSuccessBudget], '6h burn rate ' + sloLegend),
        ],
        'x',
        [0, 6, 12, 7]
      ),
      p.timeseries(
        'Error budget burn (quality)',
        [
          p.target('streaming_obs:quality_error_ratio:rate1h{%s} / %s' % [slo, c.qualityBudget], '1h burn rate ' + sloLegend),
          p.target('streaming_obs:quality_error_ratio:rate6h{%s} / %s' % [slo, c.qualityBudget], '6h burn rate ' + sloLegend),
        ],
        'x',
        [12, 6, 12, 7]
      ),

      p.row('Pipeline health', 13),
      p.stat(
        'Queries running',
        [
          p.target('sum(streaming_obs_query_active{%s})' % q, 'running'),
          p.target('count(streaming_obs_query_active{%s} == 0) or vector(0)' % q, 'stopped'),
        ],
        'none',
        [0, 14, 4, 8]
      ),
      p.bargauge('Query status', [p.target('streaming_obs_query_active{%s}' % q, '{{query}}')], 'none', [4, 14, 8, 8]),
      p.timeseries('Freshness lag', [p.target('streaming_obs_freshness_lag_seconds{%s}' % q, '{{query}}')], 's', [12, 14, 12, 8]),
      p.timeseries(
        'Input rows / s',
        [p.target('sum by (query) (rate(streaming_obs_batch_input_rows_total{%s}[5m]))' % q, '{{query}}')],
        'rowsps',
        [0, 22, 8, 8]
      ),
      p.timeseries(
        'Processing rate',
        [
          p.target('streaming_obs_batch_processed_rows_per_second{%s}' % q, '{{query}} processed'),
          p.target('streaming_obs_batch_input_rows_per_second{%s}' % q, '{{query}} arriving'),
        ],
        'rowsps',
        [8, 22, 8, 8]
      ),
      p.timeseries(
        'Rows written',
        [p.target('sum by (table) (rate(streaming_obs_batch_rows_written_total{%s}[5m]))' % q, '{{table}}')],
        'rowsps',
        [16, 22, 8, 8]
      ),
      p.timeseries(
        'Batch duration p95',
        [p.target('histogram_quantile(0.95, sum by (le, query) (rate(streaming_obs_batch_duration_seconds_bucket{%s, phase="total"}[5m])))' % q, '{{query}}')],
        's',
        [0, 30, 8, 8]
      ),
      p.timeseries(
        'Time per phase',
        [
          p.target(
            'sum by (phase) (rate(streaming_obs_batch_duration_seconds_sum{%(q)s, phase!="total", phase!="triggerExecution"}[5m]))'
            % { q: q }
            + ' / clamp_min(sum by (phase) (rate(streaming_obs_batch_duration_seconds_count{%(q)s, phase!="total", phase!="triggerExecution"}[5m])), 1e-9)'
              % { q: q },
            '{{phase}}'
          ),
        ],
        's',
        [8, 30, 8, 8]
      ),
      p.timeseries(
        'Batches / min',
        [p.target('sum by (query) (rate(streaming_obs_batches_total{%s}[5m])) * 60' % q, '{{query}}')],
        'none',
        [16, 30, 8, 8]
      ),
      p.timeseries(
        'Source backlog (versions)',
        [p.target('streaming_obs_source_backlog_versions{%s}' % q, '{{query}} ← {{source}}')],
        'none',
        [0, 38, 8, 8]
      ),
      p.timeseries(
        'State rows',
        [
          p.target('sum by (query) (streaming_obs_state_rows{%s})' % q, '{{query}}'),
          p.target('sum by (query) (streaming_obs_state_memory_bytes{%s}) / 1e6' % q, '{{query}} MB'),
        ],
        'short',
        [8, 38, 8, 8]
      ),
      p.timeseries(
        'Restarts and failures',
        [
          p.target('sum by (query, error_class) (increase(streaming_obs_query_restarts_total{%s}[15m]))' % q, 'restart {{query}} {{error_class}}'),
          p.target('sum by (query, error_class) (increase(streaming_obs_query_terminations_total{%s, error_class!="none"}[15m]))' % q, 'failed {{query}} {{error_class}}'),
        ],
        'none',
        [16, 38, 8, 8]
      ),
      p.timeseries(
        'Telemetry export',
        [
          p.target('streaming_obs_telemetry_breaker_state{%s}' % sel, 'breaker {{exporter}} (0 closed, 1 open)'),
          p.target('rate(streaming_obs_telemetry_dropped_points_total{%s}[5m])' % sel, 'dropped points/s {{exporter}}'),
          p.target('rate(streaming_obs_telemetry_dropped_events_total{%s}[5m])' % sel, 'dropped listener events/s'),
        ],
        'none',
        [0, 46, 12, 6]
      ),
      p.stat('Cost gauges age', [p.target('time() - streaming_obs_cost_gauges_last_refresh_timestamp_seconds{%s}' % sel, 'age')], 's', [12, 46, 6, 6]),
      p.stat(
        'Cost gauge read failures (1h)',
        [p.target('increase(streaming_obs_cost_gauges_refresh_failures_total{%s}[1h])' % sel, 'failures')],
        'none',
        [18, 46, 6, 6]
      ),

      // Money: every series holds one currency (label `currency`); panels never add currencies
      // up and show each in its own unit (field overrides keyed on the legend's "(<code>)").
      p.row('Cost (today, UTC, list prices)', 52),
      p.stat(
        'List cost today',
        [p.target('sum by (currency) (streaming_obs_workspace_list_cost_today{%s})' % ws, 'total ({{currency}})')],
        'none',
        [0, 53, 6, 7],
        money(c.currencyUnits)
      ),
      p.stat('Open cost anomalies', [p.target('sum(streaming_obs_workspace_cost_anomalies_open{%s})' % ws, 'open')], 'none', [6, 53, 6, 7]),
      p.stat(
        'Unpriced usage today',
        [p.target('sum by (usage_unit) (streaming_obs_workspace_unpriced_usage_today{%s})' % ws, '{{usage_unit}}')],
        'none',
        [12, 53, 6, 7]
      ),
      p.bargauge(
        'Cost by workspace',
        [p.target('sort_desc(streaming_obs_workspace_list_cost_today{%s})' % ws, '{{workspace_id}} ({{currency}})')],
        'none',
        [18, 53, 6, 7],
        money(c.currencyUnits)
      ),
      p.timeseries(
        'Cost by workspace over the day',
        [p.target('streaming_obs_workspace_list_cost_today{%s}' % ws, '{{workspace_id}} ({{currency}})')],
        'none',
        [0, 60, 8, 9],
        money(c.currencyUnits)
      ),
      p.bargauge(
        'Top jobs by cost',
        [p.target('topk by (currency) (10, streaming_obs_job_list_cost_today{%s})' % ws, '{{job_name}} {{workspace_id}}/{{job_id}} ({{currency}})')],
        'none',
        [8, 60, 8, 9],
        money(c.currencyUnits)
      ),
      p.bargauge(
        'Cost by tag (all workspaces)',
        [p.target('sort_desc(streaming_obs_tag_list_cost_today{%s})' % sel, '{{tag_key}}={{tag_value}} ({{currency}})')],
        'none',
        [16, 60, 8, 9],
        money(c.currencyUnits)
      ),
      p.bargauge('Anomalies by workspace', [p.target('streaming_obs_workspace_cost_anomalies_open{%s}' % ws, '{{workspace_id}}')], 'none', [0, 69, 12, 6]),
      p.bargauge(
        'Unpriced usage by workspace',
        [p.target('streaming_obs_workspace_unpriced_usage_today{%s}' % ws, '{{workspace_id}} {{usage_unit}}')],
        'none',
        [12, 69, 12, 6]
      ),

      p.row('Data quality', 75),
      p.bargauge(
        'Quality score by table (1h)',
        [p.target('sort(streaming_obs:quality_score:ratio_rate1h{%s})' % slo, '{{layer}}.{{table}} %s' % sloLegend)],
        'percentunit',
        [0, 76, 8, 9]
      ),
      p.timeseries(
        'Rule violations / min',
        [p.target('sum by (table, rule, outcome) (rate(streaming_obs_quality_rows_total{%s, outcome!="passed"}[5m])) * 60' % sel, '{{table}} {{rule}} {{outcome}}')],
        'none',
        [8, 76, 8, 9]
      ),
      p.timeseries(
        'Rows kept, dropped, quarantined',
        [p.target('sum by (kind) (rate(streaming_obs_quality_table_rows_total{%s, kind!="in"}[5m])) * 60' % sel, '{{kind}}')],
        'none',
        [16, 76, 8, 9]
      ),

      // Budgets (conf/budgets.yaml, docs/budgets.md) and idle compute.
      p.row('Budgets (this month, UTC) and idle compute', 85),
      p.bargauge(
        'Budget spent',
        [p.target('sort_desc(streaming_obs_budget_spend_ratio{%s})' % sel, '{{budget}} ({{currency}})')],
        'percentunit',
        [0, 86, 8, 8]
      ),
      p.bargauge(
        'Budget forecast at month end',
        [p.target('sort_desc(streaming_obs_budget_forecast_ratio{%s})' % sel, '{{budget}} ({{currency}})')],
        'percentunit',
        [8, 86, 8, 8]
      ),
      p.bargauge(
        'Idle cluster cost today (estimate)',
        [p.target('sort_desc(streaming_obs_workspace_idle_list_cost_today{%s})' % ws, '{{workspace_id}} ({{currency}})')],
        'none',
        [16, 86, 8, 8],
        money(c.currencyUnits)
      ),
    ],

    'streaming_obs.json': {
      uid: c.dashboardUid,
      title: 'streaming_obs: pipeline, cost, quality, SLOs',
      tags: c.dashboardTags,
      timezone: c.dashboardTimezone,
      schemaVersion: 39,
      version: 1,
      editable: true,
      refresh: c.dashboardRefresh,
      time: { from: 'now-6h', to: 'now' },
      templating: { list: variables },
      annotations: {
        list: [
          {
            name: 'Alerts',
            datasource: p.datasource,
            enable: true,
            expr: 'ALERTS{alertstate="firing", alertname=~"StreamingObs.*", job=~"$job"}',
            iconColor: 'red',
            titleFormat: '{{alertname}}',
          },
        ],
      },
      panels: std.mapWithIndex(function(i, panel) panel { id: i + 1 }, panels),
    },
  },
}
