#!/usr/bin/env bash
# Install go-jsonnet (`jsonnet`, `jsonnetfmt`) and mixtool from the Go module proxy, and cache them.
#
# Idempotent: binaries live in ${STREAMING_OBS_CACHE:-~/.cache/streaming_obs}/jsonnet/bin/, where
# the tests and `make mixin` look for them; a cache hit costs nothing. Concurrent callers serialise
# on a lock file. Prints the absolute paths on stdout, one a line (jsonnet, jsonnetfmt, then
# mixtool when it installed); progress goes to stderr. Needs Go on PATH (or in /usr/local/go/bin)
# and access to the Go module proxy.
#
# jsonnet builds the mixin and is required. mixtool only lints it, and some module proxies
# refuse it (mixtool has no release tags); a failed mixtool install is a warning unless
# STREAMING_OBS_REQUIRE_MIXTOOL=1. tests/telemetry/test_mixin.py repeats mixtool's lint rules
# in Python, so the rules are checked either way.
# Exit codes: 0 installed or cached, 1 install failed, 2 no Go.
set -euo pipefail

# go-jsonnet pinned: the generated files must not change with the tool's release.
JSONNET_VERSION="${JSONNET_VERSION:-v0.22.0}"
MIXTOOL_VERSION="${MIXTOOL_VERSION:-latest}"
BIN="${STREAMING_OBS_CACHE:-$HOME/.cache/streaming_obs}/jsonnet/bin"

log() { echo "[install-jsonnet] $*" >&2; }

if ! command -v go >/dev/null 2>&1; then
  for candidate in /usr/local/go/bin /usr/lib/go/bin "$HOME/go/bin"; do
    if [ -x "$candidate/go" ]; then PATH="$candidate:$PATH"; break; fi
  done
fi

mkdir -p "$BIN"
exec 9>"$BIN/.lock"
flock 9

install_one() { # <binary> <module path>@<version>; returns 1 when `go install` fails
  local name="$1" pkg="$2"
  if [ -x "$BIN/$name" ]; then log "cached: $BIN/$name"; return 0; fi
  if ! command -v go >/dev/null 2>&1; then
    log "Go is not installed: install Go (https://go.dev/dl/) and re-run"
    exit 2
  fi
  log "go install $pkg"
  local tmp
  tmp="$(mktemp -d "$BIN/.gobin.XXXXXX")"
  # A private GOBIN then a rename: a half-written binary is never seen under its final name.
  if ! GOBIN="$tmp" nice -n 10 go install "$pkg" >&2; then
    rm -rf "$tmp"; log "go install $pkg failed"; return 1
  fi
  for f in "$tmp"/*; do mv -f "$f" "$BIN/"; done
  rmdir "$tmp"
}

install_one jsonnet "github.com/google/go-jsonnet/cmd/jsonnet@$JSONNET_VERSION" || exit 1
install_one jsonnetfmt "github.com/google/go-jsonnet/cmd/jsonnetfmt@$JSONNET_VERSION" || exit 1
echo "$BIN/jsonnet"
echo "$BIN/jsonnetfmt"
if install_one mixtool "github.com/monitoring-mixins/mixtool/cmd/mixtool@$MIXTOOL_VERSION"; then
  echo "$BIN/mixtool"
elif [ "${STREAMING_OBS_REQUIRE_MIXTOOL:-0}" = 1 ]; then
  exit 1
else
  log "WARNING: mixtool not installed (the module proxy refused it?): mixin lint runs without it"
fi
