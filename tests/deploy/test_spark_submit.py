"""spark-submit.sh: the command it builds, and a real submit of the pipeline to a standalone cluster.

The real submit goes through the whole script (Delta's packages, the wheel, the driver program)
to a real master and worker; the `smoke-test` program is checked in this process
(`test_smoke_test_program_writes_and_reads_delta`). A second real submit to `local[1]` took
~76 s of a test worker and proved nothing the cluster run does not: the script has no branch on
the master but its default.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "spark-submit.sh"
DELTA = "io.delta:delta-spark_4.2_2.13:4.4.0"


def _fake_wheel(tmp_path: Path) -> Path:
    wheel = tmp_path / "streaming_obs-0.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("streaming_obs/deploy/driver.py", "print('driver')\n")
    return wheel


def _dry_run(tmp_path: Path, *args: str, **env: str) -> list[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("STREAMING_OBS_")}
    base.update(STREAMING_OBS_WHEEL=str(_fake_wheel(tmp_path)), STREAMING_OBS_SUBMIT_DRY_RUN="1",
                STREAMING_OBS_PYTHON=sys.executable, STREAMING_OBS_CACHE=str(tmp_path / "cache"), **env)
    out = subprocess.run(["bash", str(SCRIPT), *args], env=base, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return shlex.split(out.stdout)


def _value(cmd: list[str], flag: str) -> str:
    return cmd[cmd.index(flag) + 1]


def _confs(cmd: list[str]) -> dict[str, str]:
    pairs = [cmd[i + 1] for i, c in enumerate(cmd) if c == "--conf"]
    return dict(p.split("=", 1) for p in pairs)


def test_command_carries_delta_the_wheel_and_the_cli_arguments(tmp_path):
    cmd = _dry_run(tmp_path, "--master", "spark://127.0.0.1:7077", "--", "run", "--env", "local", "--available-now")
    assert cmd[0].endswith("/bin/spark-submit")
    assert _value(cmd, "--packages") == DELTA
    assert _value(cmd, "--py-files").endswith("streaming_obs-0.0.0-py3-none-any.whl")
    assert _value(cmd, "--master") == "spark://127.0.0.1:7077" and cmd.count("--master") == 1
    conf = _confs(cmd)
    assert conf["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert conf["spark.sql.catalog.spark_catalog"] == "org.apache.spark.sql.delta.catalog.DeltaCatalog"
    assert conf["spark.sql.session.timeZone"] == "UTC"
    driver = next(c for c in cmd if c.endswith("streaming_obs_driver.py"))
    assert cmd[cmd.index(driver) + 1:] == ["run", "--env", "local", "--available-now"]
    assert "--" not in cmd


def test_defaults_to_local_and_takes_all_arguments_for_the_cli_without_separator(tmp_path):
    cmd = _dry_run(tmp_path, "run", "--env", "local")
    assert _value(cmd, "--master") == "local[*]"
    assert cmd[-3:] == ["run", "--env", "local"]


def test_user_packages_and_py_files_are_merged_and_user_confs_come_last(tmp_path):
    cmd = _dry_run(tmp_path, "--packages", "org.example:x:1", "--py-files", "extra.zip",
                   "--conf", "spark.sql.session.timeZone=Europe/Paris", "--", "status")
    assert _value(cmd, "--packages") == f"{DELTA},org.example:x:1"
    assert _value(cmd, "--py-files").endswith(".whl,extra.zip")
    assert _confs(cmd)["spark.sql.session.timeZone"] == "Europe/Paris"  # spark-submit: last wins


def test_offline_clusters_use_prefetched_jars(tmp_path):
    cmd = _dry_run(tmp_path, "--", "status", STREAMING_OBS_DELTA_JARS="/opt/jars/delta-spark.jar,/opt/jars/delta-storage.jar")
    assert "--packages" not in cmd
    assert _value(cmd, "--jars") == "/opt/jars/delta-spark.jar,/opt/jars/delta-storage.jar"


def test_a_packed_python_environment_goes_to_the_executors(tmp_path):
    cmd = _dry_run(tmp_path, "--", "status", STREAMING_OBS_PYENV_ARCHIVE="/tmp/env.tar.gz")
    assert _value(cmd, "--archives") == "/tmp/env.tar.gz#pyenv"
    assert _confs(cmd)["spark.pyspark.python"] == "./pyenv/bin/python"


def test_no_cli_arguments_is_a_usage_error(tmp_path):
    out = subprocess.run(["bash", str(SCRIPT), "--master", "local[1]", "--"], capture_output=True, text=True,
                         env={**os.environ, "STREAMING_OBS_WHEEL": str(_fake_wheel(tmp_path)),
                              "STREAMING_OBS_CACHE": str(tmp_path / "cache")}, timeout=60)
    assert out.returncode == 2 and "no streaming-obs arguments" in out.stderr


def test_the_driver_finds_env_in_cli_arguments():
    from streaming_obs.deploy.driver import env_from_args

    assert env_from_args(["run", "--env", "staging", "--available-now"]) == "staging"
    assert env_from_args(["run", "--env=prod"]) == "prod"
    assert env_from_args(["run", "-e", "dev"]) == "dev"
    assert env_from_args(["status"], default="local") in ("local", os.environ.get("STREAMING_OBS_ENV", "local"))


def _submit(args: list[str], env: dict[str, str], timeout: float = 1500) -> subprocess.CompletedProcess:
    out = subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        noise = ("\t", ":: ", "\tconfs", "---", "|")
        err = [ln for ln in out.stderr.splitlines() if not ln.startswith(noise)]
        pytest.fail(f"spark-submit.sh {' '.join(args)} exited {out.returncode}\n--- stdout\n{out.stdout[-6000:]}"
                    f"\n--- stderr (ivy report left out)\n" + "\n".join(err[-80:]), pytrace=False)
    return out


# --- the pipeline on a real standalone cluster ----------------------------------------------------

SIM = {"workspaces": 2, "jobs": 8, "clusters": 4, "warehouses": 2, "seed": 7}


def _overrides_as_env(settings) -> dict[str, str]:
    return {
        "STREAMING_OBS_STORAGE__WAREHOUSE": settings.storage.warehouse,
        "STREAMING_OBS_STORAGE__CHECKPOINTS": settings.storage.checkpoints,
        "STREAMING_OBS_SIMULATOR__ROOT": settings.simulator.root,
        "STREAMING_OBS_TELEMETRY__PROMETHEUS__ENABLED": "false",
        "STREAMING_OBS_SPARK__SHUFFLE_PARTITIONS": "2",
        **{f"STREAMING_OBS_SIMULATOR__{k.upper()}": str(v) for k, v in SIM.items()},
    }


# Each usage row with its list price (the window rule of docs/architecture.md#money); sums are done in Python with
# exact decimals, independently of the pipeline's SQL.
PRICED_USAGE = """
SELECT u.usage_date, u.workspace_id, u.sku_name, u.billing_origin_product, u.usage_unit, p.currency_code,
       CAST(u.usage_quantity AS STRING) AS quantity,
       CAST(COALESCE(p.pricing.effective_list.`default`, p.pricing.`default`) AS STRING) AS unit_price
FROM delta.`{usage}` u
LEFT JOIN delta.`{prices}` p
  ON u.cloud = p.cloud AND u.sku_name = p.sku_name
 AND u.usage_start_time >= p.price_start_time
 AND (p.price_end_time IS NULL OR u.usage_start_time < p.price_end_time)
"""
KEY = ("usage_date", "workspace_id", "sku_name", "billing_origin_product", "usage_unit", "currency_code")


def _recompute_cost_daily(rows) -> dict[tuple, tuple[Decimal, Decimal, Decimal]]:
    out: dict[tuple, list[Decimal]] = {}
    for r in rows:
        acc = out.setdefault(tuple(r[k] for k in KEY), [Decimal(0), Decimal(0), Decimal(0)])
        q = Decimal(r.quantity)
        acc[0] += q
        if r.unit_price is None:
            acc[2] += q
        else:
            acc[1] += q * Decimal(r.unit_price)
    return {k: tuple(v) for k, v in out.items()}


def _gold_rows(df) -> dict[tuple, tuple[Decimal, Decimal, Decimal]]:
    return {tuple(r[k] for k in KEY): (Decimal(r.usage_quantity), Decimal(r.list_cost), Decimal(r.unpriced_quantity))
            for r in df.collect()}


@pytest.mark.slow
@pytest.mark.e2e
def test_pipeline_on_a_standalone_cluster_fills_gold(standalone_cluster, built_wheel, submit_env, make_settings, spark,
                                                     tmp_path):
    from streaming_obs.sources.simulator import simulate_history
    from streaming_obs.tables import Tables

    settings = make_settings(simulator=SIM)
    simulate_history(spark, settings, days=1, usage_rows=150, seed=SIM["seed"])
    # Executors get a bare interpreter (same Python, nothing installed): the pipeline must not
    # need its dependencies outside the driver (docs/deployment.md).
    bare = tmp_path / "bare-python"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=120)

    env = {**submit_env, **_overrides_as_env(settings), "STREAMING_OBS_WHEEL": str(built_wheel)}
    out = _submit(["--master", standalone_cluster.url, "--conf", "spark.ui.enabled=false",
                   "--conf", "spark.executor.memory=1g", "--conf", "spark.cores.max=2",
                   "--conf", f"spark.pyspark.python={bare / 'bin' / 'python'}",
                   "--", "run", "--env", "local", "--available-now"], env)
    assert "done in" in out.stdout

    # It ran on the cluster, not on an embedded local master.
    apps = standalone_cluster.state()["completedapps"] + standalone_cluster.state()["activeapps"]
    assert any(a["name"] == "streaming_obs" for a in apps), apps

    tables = Tables(settings)
    gold = _gold_rows(tables.gold("cost_daily").read(spark))
    assert gold, "plt_gold.cost_daily is empty"
    expect = _recompute_cost_daily(spark.sql(PRICED_USAGE.format(
        usage=tables.source("billing_usage").path, prices=tables.source("list_prices").path)).collect())
    assert gold.keys() == expect.keys()
    tol = Decimal("1e-9")
    for key, (q, cost, unpriced) in expect.items():
        gq, gcost, gunpriced = gold[key]
        assert abs(gq - q) < tol and abs(gcost - cost) < tol and abs(gunpriced - unpriced) < tol, key


def test_the_driver_reports_a_bad_environment_in_one_line(capsys):
    from streaming_obs.deploy.driver import main

    assert main(["run", "--env", "no_such_env"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no_such_env.yaml" in err and err.count("\n") == 1


def test_smoke_test_program_writes_and_reads_delta(spark, tmp_path):
    from streaming_obs.deploy.driver import smoke_test

    result = smoke_test(spark, str(tmp_path / "smoke"), rows=100)
    assert result["rows"] == 100 and result["sum"] == 4950 and result["delta_version"] == 0
    assert result["master"] == spark.sparkContext.master and result["executors"] >= 1
