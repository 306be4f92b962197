// Recording rules: the SLIs of the two SLOs (batch success, data quality) over the four windows
// of the burn-rate alerts, plus per-table quality, freshness and availability. Every rule keeps
// the job and environment labels (`_config.sloGroupLabels`): each environment has its own SLO.
local util = import '../lib/util.libsonnet';

{
  prometheusRules+:: {
    local c = $._config,
    local g = util.by(c.sloGroupLabels),
    local windows = ['5m', '30m', '1h', '6h'],

    // failed batches/s: terminations with an error class. A counter appears only after its
    // first increment, so "or <batches> * 0" yields 0 (with the group labels) while nothing
    // has failed yet, instead of no data.
    local failures(w) =
      |||
        sum by (%(g)s) (rate(streaming_obs_query_terminations_total{%(sel)s, error_class!="none"}[%(w)s]))
        or sum by (%(g)s) (rate(streaming_obs_batches_total{%(sel)s}[%(w)s])) * 0
      ||| % { g: g, sel: c.jobSelector, w: w },

    // failed / (completed + failed); the "or failures * 0" keeps the ratio defined (= 1) when
    // every batch failed and no batch completed.
    local batchRatio(w) =
      |||
        streaming_obs:batch_failures:rate%(w)s
        / on (%(g)s) clamp_min(
          (sum by (%(g)s) (rate(streaming_obs_batches_total{%(sel)s}[%(w)s])) or streaming_obs:batch_failures:rate%(w)s * 0)
          + on (%(g)s) streaming_obs:batch_failures:rate%(w)s,
          1e-9
        )
      ||| % { g: g, sel: c.jobSelector, w: w },

    local qualityRatio(w) =
      |||
        (
          sum by (%(g)s) (rate(streaming_obs_quality_rows_total{%(sel)s, outcome!="passed"}[%(w)s]))
          or sum by (%(g)s) (rate(streaming_obs_quality_rows_total{%(sel)s}[%(w)s])) * 0
        )
        / on (%(g)s) clamp_min(sum by (%(g)s) (rate(streaming_obs_quality_rows_total{%(sel)s}[%(w)s])), 1e-9)
      ||| % { g: g, sel: c.jobSelector, w: w },

    groups+: [
      {
        name: 'streaming_obs_slo_recording',
        rules:
          [{ record: 'streaming_obs:batch_failures:rate' + w, expr: failures(w) } for w in windows]
          + [{ record: 'streaming_obs:batch_error_ratio:rate' + w, expr: batchRatio(w) } for w in windows]
          + [{ record: 'streaming_obs:quality_error_ratio:rate' + w, expr: qualityRatio(w) } for w in windows]
          + [
            {
              record: 'streaming_obs:quality_score:ratio_rate1h',
              expr: |||
                sum by (%(g)s, layer, table) (rate(streaming_obs_quality_rows_total{%(sel)s, outcome="passed"}[1h]))
                / sum by (%(g)s, layer, table) (rate(streaming_obs_quality_rows_total{%(sel)s}[1h]))
              ||| % { g: g, sel: c.jobSelector },
            },
            {
              record: 'streaming_obs:freshness_within_slo:ratio_1h',
              expr: |||
                avg by (%(g)s, query) (
                  avg_over_time((streaming_obs_freshness_lag_seconds{%(sel)s} < bool %(slo)d)[1h:1m])
                )
              ||| % { g: g, sel: c.jobSelector, slo: c.freshnessSloSeconds },
            },
            {
              record: 'streaming_obs:query_availability:ratio_1h',
              expr: |||
                avg by (%(g)s, query) (avg_over_time(streaming_obs_query_active{%(sel)s}[1h]))
              ||| % { g: g, sel: c.jobSelector },
            },
          ],
      },
    ],
  },
}
