"""Fixtures of the deploy tests: the built wheel, and a real standalone Spark cluster."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TINY_BATCH_CONF
from tests.deploy.standalone import StandaloneCluster

ROOT = Path(__file__).resolve().parents[2]


def _built_wheel(out: Path) -> Path:
    """Build the wheel from this checkout into `out` (no isolation: setuptools is installed)."""
    # A private copy of the sources: setuptools' build/ directory must not be shared with
    # whoever else builds from the same checkout at the same time.
    src = out / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", ".streaming_obs", "*.egg-info", "__pycache__", ".pytest_cache",
        ".hypothesis", "docs", "benchmarks", "tests", ".cache"))
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(src)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = out.glob("streaming_obs-*.whl")
    return wheel


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory) -> Path:
    """The wheel of this checkout, built once per test run."""
    return _built_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory):
    """A Spark standalone master and one worker (2 cores, 2g) on 127.0.0.1, stopped afterwards."""
    cluster = StandaloneCluster(tmp_path_factory.mktemp("cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def submit_env(tmp_path) -> dict[str, str]:
    """Environment for spark-submit.sh runs: loopback only, config overrides into tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMING_OBS_")}
    # the tests' tiny-batch Spark confs (tests/conftest.py), as every pipeline a test starts gets them
    env["STREAMING_OBS_SPARK__CONF"] = json.dumps(TINY_BATCH_CONF)
    env.update(
        SPARK_LOCAL_IP="127.0.0.1",
        SPARK_LOCAL_HOSTNAME="localhost",
        STREAMING_OBS_PYTHON=sys.executable,
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        STREAMING_OBS_CACHE=str(tmp_path / "cache"),
    )
    env.pop("SPARK_HOME", None)
    return env
