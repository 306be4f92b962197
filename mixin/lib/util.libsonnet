// Helpers shared by the rules and the dashboards.
{
  // "a, b" for a `by (...)` clause.
  by(labels):: std.join(', ', labels),

  // A runbook URL: <base>#<alert name in lower case> (the anchor GitHub derives from the
  // `### AlertName` heading in docs/troubleshooting.md).
  runbook(config, alert):: '%s#%s' % [config.runbookBase, std.asciiLower(alert)],
}
