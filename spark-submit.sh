#!/usr/bin/env bash
# Submit streaming_obs to any Spark 4 cluster (standalone, YARN, Kubernetes) or to local[*].
#
#   ./spark-submit.sh [spark-submit options ...] -- <streaming-obs arguments ...>
#   ./spark-submit.sh --master spark://host:7077 -- run --env staging
#   ./spark-submit.sh -- run --env local --available-now          # local[*]
#   ./spark-submit.sh --master spark://host:7077 -- smoke-test /shared/tmp/smoke
#
# Everything before `--` goes to spark-submit, everything after it to the `streaming-obs` CLI
# (without `--`, every argument goes to the CLI). The script:
#   * finds the wheel in dist/ (or $STREAMING_OBS_WHEEL), rebuilding it when a source file is
#     newer, and ships it with --py-files (pure Python: importable from the zip, conf/ and sql/
#     included);
#   * adds the Delta Lake --packages (or --jars from $STREAMING_OBS_DELTA_JARS when the cluster
#     cannot reach Maven Central) and the Delta and UTC --confs; options you pass win, and your
#     own --packages / --py-files are merged with ours;
#   * runs streaming_obs/deploy/driver.py (extracted from the wheel), which creates the
#     SparkSession from the submit's conf and then calls the CLI.
#
# Python: the driver runs $PYSPARK_DRIVER_PYTHON (default: the repo's .venv, else python3); it
# must have the wheel's dependencies installed (`pip install dist/streaming_obs-*.whl`).
# Executors need a Python of the same minor version (spark.pyspark.python, default: the
# driver's), but none of the wheel's dependencies (no Python UDFs). To ship an environment
# anyway, pack one (venv-pack / conda-pack) and set STREAMING_OBS_PYENV_ARCHIVE=/path/env.tar.gz.
#
# Environment: SPARK_HOME (default: the installed pyspark), STREAMING_OBS_WHEEL,
# STREAMING_OBS_PYTHON, STREAMING_OBS_DELTA_PACKAGE, STREAMING_OBS_DELTA_JARS,
# STREAMING_OBS_PYENV_ARCHIVE, STREAMING_OBS_SPARK_LOG_LEVEL (default warn), STREAMING_OBS_CACHE
# (where the driver file is kept), STREAMING_OBS_SUBMIT_DRY_RUN=1 (print the command, run
# nothing), and every STREAMING_OBS_<SECTION>__<KEY> config override (passed to the driver).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DELTA_PACKAGE="${STREAMING_OBS_DELTA_PACKAGE:-io.delta:delta-spark_4.2_2.13:4.4.0}"

die() { echo "spark-submit.sh: $*" >&2; exit 2; }

# --- split arguments at `--` ------------------------------------------------------------------
submit_args=()
cli_args=()
if [[ " $* " == *" -- "* ]]; then
  seen=0
  for arg in "$@"; do
    if [[ $seen -eq 0 && "$arg" == "--" ]]; then seen=1; continue; fi
    if [[ $seen -eq 0 ]]; then submit_args+=("$arg"); else cli_args+=("$arg"); fi
  done
else
  cli_args=("$@")
fi
[[ ${#cli_args[@]} -gt 0 ]] || die "no streaming-obs arguments; e.g. ./spark-submit.sh --master local[2] -- run --env local --available-now"

# --- Python and Spark -------------------------------------------------------------------------
if [[ -n "${STREAMING_OBS_PYTHON:-}" ]]; then PYTHON="$STREAMING_OBS_PYTHON"
elif [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"
else PYTHON="$(command -v python3 || true)"; fi
[[ -n "$PYTHON" ]] || die "no Python found; set STREAMING_OBS_PYTHON"

if [[ -z "${SPARK_HOME:-}" ]]; then
  if ! SPARK_HOME="$("$PYTHON" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))' 2>/dev/null)"; then
    SPARK_HOME="$(dirname "$(dirname "$(command -v spark-submit || echo /nonexistent/bin/x)")")"
  fi
fi
SPARK_SUBMIT="$SPARK_HOME/bin/spark-submit"
[[ -x "$SPARK_SUBMIT" ]] || die "spark-submit not found (SPARK_HOME=$SPARK_HOME); install pyspark or set SPARK_HOME"
export SPARK_HOME

# --- the wheel: given, fresh in dist/, or built now -------------------------------------------
wheel_is_stale() {
  [[ -d "$ROOT/streaming_obs" ]] || return 1  # not a source checkout: nothing to compare
  [[ -n "$(find "$ROOT/streaming_obs" "$ROOT/conf" "$ROOT/sql" "$ROOT/setup.py" -type f \
            -newer "$1" ! -name '*.pyc' -print -quit 2>/dev/null)" ]]
}

build_wheel() {
  echo "spark-submit.sh: building the wheel into $ROOT/dist" >&2
  # A stale build/lib would carry deleted modules into the wheel.
  rm -rf "$ROOT/build/lib" "$ROOT/build/bdist."*
  if "$PYTHON" -c 'import build' 2>/dev/null; then
    "$PYTHON" -m build --wheel --no-isolation --outdir "$ROOT/dist" "$ROOT" >&2
  else
    "$PYTHON" -m pip wheel --no-deps --no-build-isolation -w "$ROOT/dist" "$ROOT" >&2
  fi
}

WHEEL="${STREAMING_OBS_WHEEL:-}"
if [[ -z "$WHEEL" ]]; then
  WHEEL="$(ls -t "$ROOT"/dist/streaming_obs-*.whl 2>/dev/null | head -n 1 || true)"
  if [[ -z "$WHEEL" ]] || wheel_is_stale "$WHEEL"; then
    build_wheel
    WHEEL="$(ls -t "$ROOT"/dist/streaming_obs-*.whl | head -n 1)"
  fi
fi
[[ -f "$WHEEL" ]] || die "wheel not found: $WHEEL"
WHEEL="$(cd "$(dirname "$WHEEL")" && pwd)/$(basename "$WHEEL")"

# --- the driver file, taken from the wheel so that it always matches it ------------------------
# Kept in a cache keyed by the wheel's hash (not a temp dir), so that the script can `exec`
# spark-submit: signals then reach Spark exactly as if spark-submit had been run directly.
CACHE="${STREAMING_OBS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/streaming_obs}/submit"
WHEEL_SHA="$("$PYTHON" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest()[:16])' "$WHEEL")"
WORK="$CACHE/$WHEEL_SHA"
LOG_LEVEL="${STREAMING_OBS_SPARK_LOG_LEVEL:-warn}"
mkdir -p "$WORK"
if [[ ! -f "$WORK/streaming_obs_driver.py" ]]; then
  "$PYTHON" - "$WHEEL" "$WORK/streaming_obs_driver.py" <<'PY'
import os, sys, zipfile
tmp = sys.argv[2] + f".{os.getpid()}"
with zipfile.ZipFile(sys.argv[1]) as z, open(tmp, "wb") as out:
    out.write(z.read("streaming_obs/deploy/driver.py"))
os.replace(tmp, sys.argv[2])
PY
fi
# Spark's default for submitted apps is INFO on the console; WARN unless asked otherwise.
if [[ ! -f "$WORK/log4j2-$LOG_LEVEL.properties" ]]; then
  cat > "$WORK/log4j2-$LOG_LEVEL.properties.$$" <<LOG4J
rootLogger.level = $LOG_LEVEL
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
LOG4J
  mv "$WORK/log4j2-$LOG_LEVEL.properties.$$" "$WORK/log4j2-$LOG_LEVEL.properties"
fi

# --- merge the user's --packages / --py-files / --jars with ours --------------------------------
packages="$DELTA_PACKAGE"
jars="${STREAMING_OBS_DELTA_JARS:-}"
py_files="$WHEEL"
has_master=0
rest=()
i=0
while [[ $i -lt ${#submit_args[@]} ]]; do
  arg="${submit_args[$i]}"
  next="${submit_args[$((i + 1))]:-}"
  case "$arg" in
    --packages) packages="$packages,$next"; i=$((i + 2)); continue ;;
    --packages=*) packages="$packages,${arg#*=}" ;;
    --py-files) py_files="$py_files,$next"; i=$((i + 2)); continue ;;
    --py-files=*) py_files="$py_files,${arg#*=}" ;;
    --jars) jars="${jars:+$jars,}$next"; i=$((i + 2)); continue ;;
    --jars=*) jars="${jars:+$jars,}${arg#*=}" ;;
    --master|--master=*) has_master=1; rest+=("$arg") ;;
    *) rest+=("$arg") ;;
  esac
  i=$((i + 1))
done

cmd=("$SPARK_SUBMIT" --name streaming_obs)
[[ $has_master -eq 1 ]] || cmd+=(--master "${SPARK_MASTER:-local[*]}")
if [[ -n "${STREAMING_OBS_DELTA_JARS:-}" ]]; then
  # Offline clusters: the Delta jars were fetched beforehand; keep only the user's packages.
  packages="${packages#"$DELTA_PACKAGE"}"; packages="${packages#,}"
fi
[[ -z "$packages" ]] || cmd+=(--packages "$packages")
[[ -z "$jars" ]] || cmd+=(--jars "$jars")
cmd+=(
  --py-files "$py_files"
  --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension
  --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog
  --conf spark.sql.session.timeZone=UTC
  --conf "spark.driver.extraJavaOptions=-Duser.timezone=UTC -Dlog4j2.configurationFile=file:$WORK/log4j2-$LOG_LEVEL.properties"
  --conf spark.executor.extraJavaOptions=-Duser.timezone=UTC
  --conf spark.ui.showConsoleProgress=false
  --conf "spark.pyspark.driver.python=${PYSPARK_DRIVER_PYTHON:-$PYTHON}"
)
if [[ -n "${STREAMING_OBS_PYENV_ARCHIVE:-}" ]]; then
  cmd+=(--archives "${STREAMING_OBS_PYENV_ARCHIVE}#pyenv" --conf spark.pyspark.python=./pyenv/bin/python)
else
  cmd+=(--conf "spark.pyspark.python=${PYSPARK_PYTHON:-$PYTHON}")
fi
# The user's options last, so that theirs win.
cmd+=(${rest[@]+"${rest[@]}"} "$WORK/streaming_obs_driver.py" "${cli_args[@]}")

if [[ "${STREAMING_OBS_SUBMIT_DRY_RUN:-0}" == "1" ]]; then
  printf '%q ' "${cmd[@]}"; echo
  exit 0
fi
# The script's own settings are not config keys: the driver must not see them as overrides.
unset STREAMING_OBS_WHEEL STREAMING_OBS_PYTHON STREAMING_OBS_DELTA_PACKAGE STREAMING_OBS_DELTA_JARS \
  STREAMING_OBS_PYENV_ARCHIVE STREAMING_OBS_SUBMIT_DRY_RUN STREAMING_OBS_SPARK_LOG_LEVEL STREAMING_OBS_CACHE
exec "${cmd[@]}"
