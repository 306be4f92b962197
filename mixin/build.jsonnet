// What `make mixin` writes under docker/ (`jsonnet -S -m docker mixin/build.jsonnet`):
// the Prometheus rule file (recording rules + alerts) and the Grafana dashboard.
local mixin = import 'mixin.libsonnet';
local header = '# GENERATED from mixin/ by `make mixin`: edit the jsonnet, not this file.\n';

{
  'prometheus/alert_rules.yml':
    header + std.manifestYamlDoc(
      { groups: mixin.prometheusRules.groups + mixin.prometheusAlerts.groups },
      indent_array_in_object=true,
      quote_keys=false,
    ) + '\n',
  'grafana/dashboards/streaming_obs.json':
    std.manifestJsonEx(mixin.grafanaDashboards['streaming_obs.json'], '  ') + '\n',
}
