# Two commands on a fresh machine with Python 3.10+ and Java 17+:
#   make demo   install what running needs (.[local]) and run the main job on the embedded
#               default (simulator) with a live console; DURATION=90 stops it after 90 s
#   make test   install everything the tests need (.[dev]) and run them with coverage
# CI also runs `make test-e2e`: the product run whole for minutes (the demo, real Prometheus and
# Collector, a standalone cluster, the SIGKILL campaign), kept out of `make test` to hold it
# under 20 minutes on two cores (docs/performance.md#the-test-suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DURATION ?=
PYTEST_ARGS ?=
# test workers (pytest-xdist): a test's time is mostly a Delta commit's latency, so two workers
# on two cores overlap well; a file's tests stay on one worker (module fixtures). In test-e2e,
# tests marked `alone` (the crash campaign: its kills land on timing) run afterwards with nothing
# beside them.
WORKERS ?= 2
KILLS ?= 20

.PHONY: venv demo test test-e2e test-fast property chaos wheel docs mixin bench bench-medium bench-full clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel

# What running needs (pyspark, delta-spark): all `make demo` installs.
$(VENV)/.installed-local: setup.py pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[local]'
	touch $@

# Everything the tests, docs and benchmarks need on top.
$(VENV)/.installed-dev: setup.py pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-local

venv: $(VENV)/.installed-dev

demo: $(VENV)/.installed-local
	$(BIN)/streaming-obs demo --env local $(if $(DURATION),--duration $(DURATION),)

test: venv
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadfile --no-loadscope-reorder -m "not e2e" \
		--cov=streaming_obs --cov-report=term --cov-report=xml --cov-fail-under=90 --durations=25 $(PYTEST_ARGS)

# The end-to-end tier: `streaming-obs demo` in a terminal and in-process, `run` scraped by a real
# Prometheus and pushing to a real Collector, spark-submit to a standalone cluster, then the
# SIGKILL campaign alone. No coverage gate here: `make test` carries it.
test-e2e: venv
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadfile --no-loadscope-reorder -m "e2e and not alone" \
		-p no:cacheprovider --durations=10 $(PYTEST_ARGS)
	$(BIN)/python -m pytest -m "e2e and alone" -p no:cacheprovider --durations=5 $(PYTEST_ARGS)

test-fast: venv
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

# The deep search of the property test (incremental gold equals from-scratch): EXAMPLES random
# interleavings instead of make test's one (40-140 s each here). Run it after a hot-path change.
EXAMPLES ?= 20
property: venv
	PROPERTY_EXAMPLES=$(EXAMPLES) $(BIN)/python -m pytest tests/gold/test_incremental_property.py -q \
		-p no:cacheprovider --hypothesis-show-statistics $(PYTEST_ARGS)

# The long crash campaign: the CI crash test with KILLS SIGKILLs spread over the run instead of
# 3; the report (what each kill hit, outcome) goes to .streaming_obs/chaos/last.json and its
# summary belongs in docs/troubleshooting.md#crash-campaign. CHAOS_SEED=<n> repeats a plan.
chaos: venv
	CHAOS_KILLS=$(KILLS) CHAOS_REPORT=$(CURDIR)/.streaming_obs/chaos/last.json \
		$(BIN)/python -m pytest tests/resilience/test_crash_recovery.py -s -q -p no:cacheprovider $(PYTEST_ARGS)

wheel: venv
	$(BIN)/python -m build --wheel --outdir dist .

docs: venv
	$(BIN)/python scripts/gen_config_doc.py
	bash scripts/build_api_docs.sh

# Regenerate docker/prometheus/alert_rules.yml and docker/grafana/dashboards/streaming_obs.json
# from the jsonnet mixin (mixin/); installs jsonnet (and mixtool) through .ci/install-jsonnet.sh.
mixin:
	bash scripts/build_mixin.sh

bench: venv
	$(BIN)/python -m benchmarks.run --quick

bench-medium: venv
	$(BIN)/python -m benchmarks.run --medium

bench-full: venv
	$(BIN)/python -m benchmarks.run --full

clean:
	rm -rf .streaming_obs build dist *.egg-info .pytest_cache .coverage coverage.xml
