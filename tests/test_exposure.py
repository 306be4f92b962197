"""What the local set-up exposes: Spark on loopback with the UI off, the compose stack on loopback
with its Grafana password from the environment, and local data readable by its owner only."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
import yaml

from streaming_obs.resilience.paths import make_private_dirs
from streaming_obs.session import local_conf

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker" / "docker-compose.yml"


def test_local_spark_binds_loopback_with_the_ui_off(make_settings):
    conf = local_conf(make_settings())
    assert conf["spark.driver.bindAddress"] == "127.0.0.1"
    assert conf["spark.driver.host"] == "127.0.0.1"
    assert conf["spark.ui.enabled"] == "false"
    assert conf["spark.hadoop.fs.permissions.umask-mode"] == "077"
    # shipped defaults, not a test override: local.yaml leaves the UI off
    from streaming_obs.config import load_settings

    shipped = load_settings("local", environ={})
    assert shipped.spark.ui is False and local_conf(shipped)["spark.driver.bindAddress"] == "127.0.0.1"


def test_a_cluster_master_keeps_a_reachable_driver_and_user_conf_wins(make_settings):
    cluster = local_conf(make_settings(spark={"master": "spark://head:7077"}))
    assert "spark.driver.bindAddress" not in cluster and "spark.driver.host" not in cluster
    mine = local_conf(make_settings(spark={"conf": {"spark.driver.host": "10.0.0.5", "spark.ui.enabled": "true"}}))
    assert mine["spark.driver.host"] == "10.0.0.5" and mine["spark.ui.enabled"] == "true"


def _published(port: str | dict) -> tuple[str | None, str]:
    if isinstance(port, dict):
        return port.get("host_ip"), str(port.get("published"))
    parts = str(port).split(":")
    return (parts[0] if len(parts) == 3 else None), parts[-2] if len(parts) >= 2 else parts[0]


def test_compose_publishes_on_loopback_only():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    published = 0
    for name, svc in services.items():
        for port in svc.get("ports", []):
            host_ip, host_port = _published(port)
            assert host_ip == "127.0.0.1", f"{name} publishes {port} on every interface"
            published += 1
        assert svc.get("network_mode") != "host", name
    assert published >= 4


def test_compose_takes_the_grafana_password_from_the_environment():
    env = yaml.safe_load(COMPOSE.read_text())["services"]["grafana"]["environment"]
    password = env["GF_SECURITY_ADMIN_PASSWORD"]
    # ${VAR:?message}: compose refuses to start when the variable is unset or empty
    assert re.fullmatch(r"\$\{GRAFANA_ADMIN_PASSWORD:\?[^}]+\}", password), password
    assert "admin/admin" not in COMPOSE.read_text() and "admin / admin" not in COMPOSE.read_text()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_make_private_dirs_creates_every_level_0700(tmp_path):
    old = os.umask(0o022)
    try:
        target = tmp_path / "a" / "b" / "c"
        make_private_dirs(str(target))
        for p in (tmp_path / "a", tmp_path / "a" / "b", target):
            assert _mode(p) == 0o700, (p, oct(_mode(p)))
        make_private_dirs(str(target))  # idempotent
        (tmp_path / "mine").mkdir(mode=0o755)
        os.chmod(tmp_path / "mine", 0o755)
        make_private_dirs(str(tmp_path / "mine"))
        assert _mode(tmp_path / "mine") == 0o755  # an existing directory is the user's choice
    finally:
        os.umask(old)


def test_checkpoint_marker_is_private(tmp_path):
    from streaming_obs.resilience.idempotency import checkpoint_app_id

    old = os.umask(0o022)
    try:
        ckpt = tmp_path / "ckpt" / "q"
        checkpoint_app_id(str(ckpt), "q")
        assert _mode(ckpt) == 0o700 and _mode(tmp_path / "ckpt") == 0o700
        assert [oct(_mode(f)) for f in ckpt.iterdir()] == ["0o600"]
    finally:
        os.umask(old)


@pytest.mark.timeout(600)
def test_local_data_is_created_0700_and_0600(spark, make_settings, tmp_path):
    """Bootstrap (warehouse, quarantine), a simulator-style source table and a streaming checkpoint,
    all written by the real Spark/Delta of the test session, under the common 022 umask."""
    from streaming_obs.bootstrap import bootstrap
    from streaming_obs.tables import Tables

    old = os.umask(0o022)  # the Python side's umask must not matter: Hadoop's applies
    try:
        settings = make_settings()
        bootstrap(spark, Tables(settings))
        source = tmp_path / "system" / "billing" / "usage"
        spark.range(5).write.format("delta").save(str(source))
        query = (
            spark.readStream.format("delta").load(str(source))
            .writeStream.format("delta")
            .option("checkpointLocation", str(tmp_path / "ckpt" / "copy"))
            .trigger(availableNow=True)
            .start(str(tmp_path / "wh" / "copy"))
        )
        try:
            query.awaitTermination(300)
        finally:
            query.stop()
    finally:
        os.umask(old)
    roots = [tmp_path / "wh", tmp_path / "ckpt", tmp_path / "system"]
    assert any((tmp_path / "wh").rglob("*quarantine*")), "bootstrap made the quarantine table"
    loose = []
    files = 0
    for root in roots:
        for path in [root, *root.rglob("*")]:
            want = 0o700 if path.is_dir() else 0o600
            files += path.is_file()
            if _mode(path) != want:
                loose.append(f"{path.relative_to(tmp_path)} {oct(_mode(path))}")
    assert files > 10
    assert not loose, loose[:20]
