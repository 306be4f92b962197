// A few Grafana panel builders (no grafonnet: the dashboard needs five panel kinds).
{
  // Every panel and target queries the datasource the user picks: nothing names a uid.
  datasource:: { type: 'prometheus', uid: '${datasource}' },

  datasourceVariable():: {
    name: 'datasource',
    label: 'Data source',
    type: 'datasource',
    query: 'prometheus',
    refresh: 1,
    hide: 0,
  },

  // A multi-value query variable; `allValue` is the regex "All" stands for.
  queryVariable(name, label, query, allValue):: {
    name: name,
    label: label,
    type: 'query',
    datasource: $.datasource,
    query: { query: query, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
    definition: query,
    refresh: 2,
    includeAll: true,
    multi: true,
    allValue: allValue,
    current: { selected: true, text: ['All'], value: ['$__all'] },
    sort: 1,
    hide: 0,
  },

  target(expr, legend):: { expr: expr, legendFormat: legend, datasource: $.datasource },

  // One override per currency code: series whose display name ends in "(<code>)" get that
  // currency's unit, so EUR is never shown with a dollar sign.
  moneyOverrides(units):: [
    {
      matcher: { id: 'byRegexp', options: '.*\\(%s\\)' % code },
      properties: [{ id: 'unit', value: units[code] }],
    }
    for code in std.objectFields(units)
  ],

  local grid(pos) = { x: pos[0], y: pos[1], w: pos[2], h: pos[3] },
  local withRefIds(targets) = std.mapWithIndex(function(i, t) t { refId: std.char(65 + i) }, targets),

  local base(type, title, targets, unit, pos, overrides) = {
    type: type,
    title: title,
    datasource: $.datasource,
    gridPos: grid(pos),
    targets: withRefIds(targets),
    fieldConfig: {
      defaults: { unit: unit } + (if unit == 'none' && overrides != [] then { decimals: 2 } else {}),
      overrides: overrides,
    },
  },

  row(title, y):: {
    type: 'row',
    title: title,
    collapsed: false,
    gridPos: { x: 0, y: y, w: 24, h: 1 },
    panels: [],
  },

  stat(title, targets, unit, pos, overrides=[]):: base('stat', title, targets, unit, pos, overrides) {
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      colorMode: 'value',
      graphMode: 'area',
      textMode: 'value_and_name',
    },
  },

  timeseries(title, targets, unit, pos, overrides=[]):: base('timeseries', title, targets, unit, pos, overrides) {
    options: { legend: { displayMode: 'list', placement: 'bottom' }, tooltip: { mode: 'multi' } },
  },

  bargauge(title, targets, unit, pos, overrides=[]):: base('bargauge', title, targets, unit, pos, overrides) {
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      orientation: 'horizontal',
      displayMode: 'gradient',
    },
  },
}
