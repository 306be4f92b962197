#!/usr/bin/env bash
# Build the monitoring mixin (mixin/) into the files docker/ ships: the Prometheus rule file
# and the Grafana dashboard. `make mixin` runs it; tests/telemetry/test_mixin.py runs it into a
# temp dir and checks docker/ is in sync.
#
# Usage: scripts/build_mixin.sh [OUT_DIR]   (default: docker/)
# jsonnet and (when available) mixtool come from .ci/install-jsonnet.sh, which caches them.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/docker}"

mapfile -t BINS < <(bash "$ROOT/.ci/install-jsonnet.sh")
JSONNET="${BINS[0]}"
MIXTOOL=""
for b in "${BINS[@]}"; do [ "$(basename "$b")" = mixtool ] && MIXTOOL="$b"; done

mkdir -p "$OUT/prometheus" "$OUT/grafana/dashboards"
"$JSONNET" -J "$ROOT/mixin" -S -m "$OUT" "$ROOT/mixin/build.jsonnet" >/dev/null
if [ -n "$MIXTOOL" ]; then
  "$MIXTOOL" lint "$ROOT/mixin/mixin.libsonnet" >&2
else
  echo "[build_mixin] mixtool not available: skipped 'mixtool lint' (test_mixin.py checks its rules)" >&2
fi
echo "[build_mixin] wrote $OUT/prometheus/alert_rules.yml and $OUT/grafana/dashboards/streaming_obs.json" >&2
