#!/usr/bin/env bash
# Build the API reference from the docstrings with pdoc (HTML, Google docstring style).
#
#   scripts/build_api_docs.sh [OUTPUT_DIR]        # default docs/api (git-ignored build output)
#
# Every public module of streaming_obs is imported to read its docstrings, so the package and
# its dependencies must be installed (pip install -e ".[dev]"). Needs pdoc (a dev dependency).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/docs/api}"
if [[ -n "${PYTHON:-}" ]]; then :
elif [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"
else PYTHON=python3; fi
"$PYTHON" -c 'import pdoc' 2>/dev/null || { echo "pdoc is not installed: pip install pdoc" >&2; exit 2; }
rm -rf "$OUT"
cd "$ROOT"
# pdoc skips the submodules of a package whose __all__ does not name them: list those
# explicitly (private `_x` modules and the conf/sql data packages left out).
mapfile -t MODULES < <("$PYTHON" - <<'PY'
import importlib, pkgutil, streaming_obs
print("streaming_obs")
for m in pkgutil.walk_packages(streaming_obs.__path__, "streaming_obs."):
    parts = m.name.split(".")
    if any(p.startswith("_") for p in parts) or parts[1] in ("conf", "sql"):
        continue
    parent = importlib.import_module(m.name.rsplit(".", 1)[0])
    if hasattr(parent, "__all__") and parts[-1] not in parent.__all__:
        print(m.name)
PY
)
"$PYTHON" -m pdoc --docformat google --no-show-source \
  --footer-text "streaming_obs $("$PYTHON" -c 'import streaming_obs; print(streaming_obs.__version__)')" \
  -o "$OUT" "${MODULES[@]}"
echo "API reference: $OUT/index.html"
