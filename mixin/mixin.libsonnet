// The streaming_obs monitoring mixin: alerts, recording rules and a Grafana dashboard.
// Build: `make mixin` (writes docker/prometheus/alert_rules.yml and
// docker/grafana/dashboards/streaming_obs.json); lint: `mixtool lint mixin/mixin.libsonnet`.
(import 'config.libsonnet')
+ (import 'rules/rules.libsonnet')
+ (import 'alerts/alerts.libsonnet')
+ (import 'dashboards/dashboards.libsonnet')
