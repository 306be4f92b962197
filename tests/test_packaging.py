"""The wheel carries conf/ and sql/ and works from a fresh virtual environment outside the repo."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(REPO)],
                   check=True, capture_output=True, text=True, cwd=out)
    (whl,) = out.glob("streaming_obs-*.whl")
    return whl


def test_wheel_carries_conf_and_sql_as_package_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for env in ("base", "local", "dev", "staging", "prod"):
        assert f"streaming_obs/conf/{env}.yaml" in names
    assert "streaming_obs/conf/quality_rules.yaml" in names
    assert "streaming_obs/sql/ddl/tables.yaml" in names
    assert "streaming_obs/sql/gold/cost_daily.sql" in names
    assert "streaming_obs/sql/ddl/system/billing_usage.ddl" in names
    assert "streaming_obs/log4j2.properties" in names  # Spark's log config (session.py)
    meta = next(n for n in names if n.endswith("METADATA"))
    text = zipfile.ZipFile(wheel).read(meta).decode()
    assert "Requires-Dist: pydantic" in text and "Requires-Dist: tenacity" in text
    assert 'pyspark==4.2.0; extra == "local"' in text  # clusters bring their own Spark
    from streaming_obs._version import __version__

    assert f"Version: {__version__}" in text
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)


def test_installed_wheel_runs_outside_the_repo(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = venv / "bin" / "pip"
    exe = venv / "bin" / "streaming-obs"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMING_OBS_")}
    # A PYTHONPATH onto a checkout (with its build's egg-info) would make pip think the wheel
    # is already installed.
    env.pop("PYTHONPATH", None)
    # Runtime deps only (no Spark): validate-config must not need Spark.
    subprocess.run([str(pip), "install", "--quiet", str(wheel)], check=True, capture_output=True, text=True, env=env)
    helped = subprocess.run([str(exe), "--help"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert helped.returncode == 0, helped.stderr
    for command in ("bootstrap", "validate-config", "simulate", "run", "demo", "status"):
        assert command in helped.stdout
    checked = subprocess.run([str(exe), "validate-config", "--env", "local"], capture_output=True, text=True,
                             cwd=tmp_path, env=env)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("config ok: env=local")
    # No bundle in an installed wheel: one line says what deploy needs (and nothing about OTLP).
    deploy = subprocess.run([str(exe), "deploy", "--env", "prod", "--dry-run"], capture_output=True, text=True,
                            cwd=tmp_path, env=env)
    assert deploy.returncode == 2 and deploy.stdout == ""
    (line,) = deploy.stderr.strip().splitlines()
    assert line.startswith("error: deploy --env prod needs the bundle: no databricks.yml in ") and "--bundle-root" in line
    bad = subprocess.run([str(exe), "validate-config", "--env", "local"], capture_output=True, text=True,
                         cwd=tmp_path, env={**env, "STREAMING_OBS_SCHEMAS__GOLD": "gold;drop"})
    assert bad.returncode == 2
    assert bad.stderr.strip() == ("error: $STREAMING_OBS_SCHEMAS__GOLD: schemas.gold: 'gold;drop' is not a valid "
                                  "identifier: use letters, digits and '_'")
