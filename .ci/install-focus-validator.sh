#!/usr/bin/env bash
# Install the FinOps Foundation's FOCUS validator (focus-validator on PyPI) in a venv of its own.
#
# Why not the project's venv: focus-validator 2.x (the first to validate FOCUS 1.2, offline with
# --block-download) needs Python >= 3.12 and pins sqlglot < 28 and numpy < 2, while streaming_obs
# pins sqlglot 30 (quality rules) and runs on Python 3.10+. So it lives in
# ${STREAMING_OBS_CACHE:-~/.cache/streaming_obs}/focus-validator/, built with the first Python
# >= 3.12 found, 3.12 first (python3.12, python3.13 on PATH, then pyenv's): numpy < 2 has wheels
# for 3.12 and none for 3.13, where pip compiled it from source (~10 min of a 2-core CI run;
# ~35 s with 3.12). Idempotent: a cache hit costs
# nothing. Prints the path of `focus-validator-offline` on stdout (a wrapper that runs the validator
# from its own package directory, where 2.2.1 looks for its currency list by a relative path, with
# --block-download: the FOCUS 1.2 rules ship with it); progress on stderr.
# Exit codes: 0 installed or cached, 1 install failed, 2 no Python >= 3.12.
set -euo pipefail

FOCUS_VALIDATOR_VERSION="${FOCUS_VALIDATOR_VERSION:-2.2.1}"
VENV="${STREAMING_OBS_CACHE:-$HOME/.cache/streaming_obs}/focus-validator"
BIN="$VENV/bin/focus-validator-offline"

log() { echo "[install-focus-validator] $*" >&2; }

mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
flock 9

if [ -x "$BIN" ] && "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('focus-validator') != '$FOCUS_VALIDATOR_VERSION')" 2>/dev/null; then
  log "cached: $BIN ($FOCUS_VALIDATOR_VERSION)"
  echo "$BIN"
  exit 0
fi

PY=""
for candidate in python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python3 /root/.pyenv/versions/3.12*/bin/python3 \
                 python3.13 "$HOME"/.pyenv/versions/3.13*/bin/python3 /root/.pyenv/versions/3.13*/bin/python3; do
  if command -v "$candidate" >/dev/null 2>&1 || [ -x "$candidate" ]; then
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then PY="$candidate"; break; fi
  fi
done
if [ -z "$PY" ]; then
  log "no Python >= 3.12 found (focus-validator $FOCUS_VALIDATOR_VERSION needs one): install python3.12"
  exit 2
fi

log "installing focus-validator==$FOCUS_VALIDATOR_VERSION with $PY into $VENV"
rm -rf "$VENV"
"$PY" -m venv "$VENV"
# pyarrow < 21: focus-validator pins numpy < 2 and newer pyarrow wheels need numpy 2
if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "focus-validator==$FOCUS_VALIDATOR_VERSION" \
    "pyarrow<21" >&2; then
  log "pip install failed"
  exit 1
fi
SITE="$("$VENV/bin/python" -c 'import focus_validator, os; print(os.path.dirname(os.path.dirname(focus_validator.__file__)))')"
cat >"$BIN" <<WRAP
#!/usr/bin/env bash
# focus-validator, offline, from its package directory (written by .ci/install-focus-validator.sh)
set -euo pipefail
args=()
for a in "\$@"; do
  if [ -e "\$a" ]; then args+=("\$(cd "\$(dirname "\$a")" && pwd)/\$(basename "\$a")"); else args+=("\$a"); fi
done
cd "$SITE"
exec "$VENV/bin/focus-validator" --block-download "\${args[@]}"
WRAP
chmod +x "$BIN"
echo "$BIN"
