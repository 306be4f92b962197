"""Shared fixtures: one local SparkSession with Delta for the whole run, fresh paths per test."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from streaming_obs.config import Settings, load_settings

os.environ.setdefault("PYSPARK_PYTHON", os.sys.executable)

#: The tests' batches are tens of rows: compiling a plan costs more than running it, so the
#: test session and every pipeline a test starts in a process of its own (through this variable,
#: which they inherit) evaluate expressions interpreted, without whole-stage codegen (~15 % less
#: CPU on a gold test). The product keeps Spark's codegen (conf/local.yaml says why).
TINY_BATCH_CONF = {"spark.sql.codegen.wholeStage": "false", "spark.sql.codegen.factoryMode": "NO_CODEGEN"}
os.environ.setdefault("STREAMING_OBS_SPARK__CONF", json.dumps(TINY_BATCH_CONF))
TEST_SPARK = {"master": "local[2]", "shuffle_partitions": 2, "conf": TINY_BATCH_CONF}


def _deep_merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


@pytest.fixture(scope="session")
def spark():
    """The one SparkSession of the test run (local[2], 2 shuffle partitions, UI off)."""
    from streaming_obs.session import get_spark

    session = get_spark(load_settings("local", overrides={"spark": TEST_SPARK}, environ={}))
    yield session
    session.stop()


def settings_in(root: Path, **overrides: Any) -> Settings:
    """Local test settings whose warehouse, checkpoints and simulator live under `root` (for
    module fixtures, which cannot take the per-test `make_settings`)."""
    base = {
        "spark": TEST_SPARK,
        "storage": {"warehouse": str(root / "wh"), "checkpoints": str(root / "ckpt")},
        "simulator": {"root": str(root / "system")},
        "trigger": {"interval_seconds": 1},
        "telemetry": {"prometheus": {"enabled": False}},
    }
    return load_settings("local", overrides=_deep_merge(base, overrides), environ={})


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Factory of local settings whose warehouse, checkpoints and simulator live in tmp_path."""

    def _make(**overrides: Any) -> Settings:
        return settings_in(tmp_path, **overrides)

    return _make


@pytest.fixture
def settings(make_settings) -> Settings:
    """Local settings in a fresh temp directory."""
    return make_settings()


#: the longest files (each one or more whole pipeline runs): collected first, so that with
#: `make test`'s two workers (xdist, a file per worker, `--no-loadscope-reorder`: xdist would
#: otherwise start the files with the most tests first) neither is left alone with one at the end
LONGEST_FIRST = (
    "tests/gold/test_incremental_property.py",
    # the end-to-end tier's (make test-e2e)
    "tests/cli/test_terminal.py",
    "tests/deploy/test_spark_submit.py",
    "tests/telemetry/test_real_servers.py",
    # make test's next longest: a short tail on two workers
    "tests/gold/test_gold_fixture.py",
    "tests/gold/test_job_run_cost.py",
    "tests/gold/test_gold_checkpoint_upgrade.py",
    "tests/gold/test_contract_incremental.py",
    "tests/gold/test_finance.py",
    "tests/gold/test_follow.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {path: n for n, path in enumerate(LONGEST_FIRST)}

    def key(item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return rank.get(path, len(rank))

    items.sort(key=key)  # stable: the rest keep their order
