"""The driver is SIGKILLed at random moments, three times, and restarted each time; the gold
tables must equal those of an uninterrupted run over the same input. (Three kills land in
different layers on this data; each costs a JVM start, so more would only slow the suite.)"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from streaming_obs.config import SOURCE_NAMES
from streaming_obs.runner import run
from streaming_obs.tables import GOLD_TABLES, Tables

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

KILLS = 3
SMALL = {"workspaces": 2, "jobs": 8, "clusters": 6, "warehouses": 2, "days": 1}


def _env(tmp, name):
    env = dict(os.environ)
    env.update({
        "STREAMING_OBS_STORAGE__WAREHOUSE": str(tmp / name / "wh"),
        "STREAMING_OBS_STORAGE__CHECKPOINTS": str(tmp / name / "ck"),
        "STREAMING_OBS_SIMULATOR__ROOT": str(tmp / "system"),
        "STREAMING_OBS_SPARK__MASTER": "local[2]",
        "STREAMING_OBS_SPARK__SHUFFLE_PARTITIONS": "2",
        "STREAMING_OBS_TELEMETRY__PROMETHEUS__ENABLED": "false",
        "STREAMING_OBS_LOGGING__LEVEL": "INFO",
        "STREAMING_OBS_LOGGING__DIR": "null",  # logs on stdout, where the test watches for "query started"
        "PYSPARK_PYTHON": sys.executable,
    })
    return env


def _start(env, log):
    return subprocess.Popen([sys.executable, "-m", "streaming_obs.cli.main", "run", "--env", "local", "--available-now"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for(path, needle, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and needle in path.read_text(errors="replace"):
            return True
        time.sleep(0.5)
    return False


def test_sigkill_mid_batch_repeatedly_then_gold_equals_uninterrupted(spark, make_settings, tmp_path):
    from streaming_obs.sources.simulator import simulate_history

    base = make_settings(simulator={**SMALL, "root": str(tmp_path / "system")})
    simulate_history(spark, base, usage_rows=1500)

    # (a) uninterrupted, in this process
    a = make_settings(simulator={**SMALL, "root": str(tmp_path / "system")},
                      storage={"warehouse": str(tmp_path / "a" / "wh"), "checkpoints": str(tmp_path / "a" / "ck")})
    run(a, available_now=True, spark=spark, telemetry=False)

    # (b) killed at random moments while it works, then restarted; the last run completes
    env = _env(tmp_path, "b")
    rng = random.Random(7)
    kills = 0
    for attempt in range(6):
        log_path = tmp_path / f"run{attempt}.log"
        with open(log_path, "w") as log:
            proc = _start(env, log)
            started = _wait_for(log_path, "query started", 240)
            if kills >= KILLS:
                assert proc.wait(timeout=900) == 0, log_path.read_text()[-3000:]
                break
            assert started or proc.poll() is not None, log_path.read_text()[-3000:]
            time.sleep(rng.uniform(0.5, 6.0))
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=60)
                kills += 1
    assert kills >= KILLS

    b = make_settings(simulator={**SMALL, "root": str(tmp_path / "system")},
                      storage={"warehouse": str(tmp_path / "b" / "wh"), "checkpoints": str(tmp_path / "b" / "ck")})
    ta, tb = Tables(a), Tables(b)
    for source in SOURCE_NAMES:
        for layer in ("bronze", "silver"):
            ra, rb = getattr(ta, layer)(source), getattr(tb, layer)(source)
            assert ra.read(spark).count() == rb.read(spark).count(), f"{layer}.{source}"
    for name in GOLD_TABLES:
        ga = ta.gold(name).read(spark).drop("_updated_at")
        gb = tb.gold(name).read(spark).drop("_updated_at")
        assert ga.count() > 0, name
        assert ga.exceptAll(gb).count() == 0 and gb.exceptAll(ga).count() == 0, name
