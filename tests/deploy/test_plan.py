"""`deploy --dry-run`: the plan names target, tables and grants, checks prerequisites; prod refuses the simulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from streaming_obs.config import load_settings
from streaming_obs.deploy.plan import deploy_plan
from streaming_obs.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


SP = {"BUNDLE_VAR_service_principal": "00000000-0000-0000-0000-000000000001"}


def test_staging_plan_names_target_tables_and_grants():
    plan = deploy_plan(load_settings("staging", environ={}), bundle_root=ROOT, environ=SP)
    text = plan.render()
    assert plan.target == "staging" and plan.ok, text
    assert "bundle target staging" in text
    assert "streaming_obs_staging.plt_gold.cost_daily" in plan.tables
    assert "GRANT USE SCHEMA, SELECT ON SCHEMA streaming_obs_staging.plt_gold TO `streaming_obs_readers`" in plan.grants
    assert "databricks bundle deploy -t staging --var service_principal=<application id>" in plan.commands
    assert ("billing_usage", "system.billing.usage", "append") in plan.sources
    assert ("list_prices", "system.billing.list_prices", "snapshot") in plan.sources
    names = {c.name: c for c in plan.checks}
    assert names["bundle"].ok and names["unity catalog"].ok and names["checkpoints"].ok
    assert text.endswith("result: ready")


def test_prod_refuses_the_simulator_in_config_and_in_the_plan():
    with pytest.raises(ConfigError, match="prod refuses the simulator"):
        load_settings("prod", environ={}, overrides={"source_kind": "simulator"})
    # Settings built past validation are refused by the plan itself.
    forced = load_settings("prod", environ={}).model_copy(update={"source_kind": "simulator"})
    with pytest.raises(ConfigError, match="prod refuses the simulator"):
        deploy_plan(forced, bundle_root=ROOT)


def test_a_databricks_target_on_the_simulator_is_not_ready():
    staging = load_settings("staging", environ={}).model_copy(update={"source_kind": "simulator"})
    plan = deploy_plan(staging, bundle_root=ROOT, environ={})
    assert not plan.ok
    assert "[FAIL] source:" in plan.render()


def test_checkpoints_on_the_driver_disk_are_not_ready():
    s = load_settings("dev", environ={}, overrides={"storage": {"checkpoints": "/tmp/ckpt"}})
    plan = deploy_plan(s, bundle_root=ROOT, environ={})
    assert not plan.ok and "[FAIL] checkpoints" in plan.render()


def test_missing_bundle_fails_the_bundle_check(tmp_path):
    plan = deploy_plan(load_settings("dev", environ={}), bundle_root=tmp_path, environ={})
    assert not plan.ok and "[FAIL] bundle" in plan.render()


def test_pii_salt_is_a_prerequisite_when_masking(settings):
    masked = settings.model_copy(update={"governance": settings.governance.model_copy(update={"mask_pii": True})})
    assert not deploy_plan(masked, environ={}).ok
    assert deploy_plan(masked, environ={"STREAMING_OBS_PII_SALT": "x" * 20}).ok
    # On Databricks only the bundle can wire the salt (from a secret scope); the shipped bundle
    # does for prod, whose config masks PII, and not for staging, whose config does not.
    prod = load_settings("prod", environ={})
    assert prod.governance.mask_pii
    plan = deploy_plan(prod, bundle_root=ROOT, environ=SP)
    assert plan.ok and "[ok  ] pii salt" in plan.render(), plan.render()
    staging = load_settings("staging", environ={}, overrides={"governance": {"mask_pii": True}})
    plan = deploy_plan(staging, bundle_root=ROOT, environ=SP)
    assert not plan.ok and "[FAIL] pii salt" in plan.render() and "result: ready" not in plan.render()


def test_prod_without_a_service_principal_is_not_ready():
    prod = load_settings("prod", environ={})
    text = deploy_plan(prod, bundle_root=ROOT, environ={}).render()
    assert "[FAIL] run as: no service principal: export BUNDLE_VAR_service_principal" in text
    assert text.endswith("result: NOT ready (fix the FAIL lines)")
    assert deploy_plan(prod, bundle_root=ROOT, environ=SP).ok


def test_no_bundle_says_what_it_needs_and_nothing_about_otlp(tmp_path):
    plan = deploy_plan(load_settings("prod", environ={}), bundle_root=tmp_path, environ=SP)
    bundle = {c.name: c for c in plan.checks}["bundle"]
    assert not bundle.ok and "run there or pass --bundle-root" in bundle.detail
    assert "otlp" not in plan.render()


def test_local_plan_uses_spark_submit(settings):
    plan = deploy_plan(settings, environ={})
    assert plan.target is None and plan.ok, plan.render()
    assert any(c.startswith("./spark-submit.sh") for c in plan.commands)
    assert plan.governance == []


def test_a_service_principal_set_on_the_target_is_enough(tmp_path):
    import shutil

    import yaml

    root = tmp_path / "repo"
    root.mkdir()
    for name in ("databricks.yml", "setup.py"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "resources", root / "resources")
    bundle = yaml.safe_load((root / "databricks.yml").read_text())
    bundle["targets"]["prod"]["variables"] = {"service_principal": "sp-from-target"}
    (root / "databricks.yml").write_text(yaml.safe_dump(bundle, sort_keys=False))
    plan = deploy_plan(load_settings("prod", environ={}), bundle_root=root, environ={})
    assert plan.ok, plan.render()
    assert "[ok  ] run as: service principal sp-from-target" in plan.render()
