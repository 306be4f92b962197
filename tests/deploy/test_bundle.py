"""The Databricks Asset Bundle: structure, and everything it names exists in the wheel and the CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from streaming_obs.deploy.bundle import (
    REQUIRED_TARGETS,
    check_bundle,
    load_bundle,
    setup_metadata,
    wheel_tasks,
)

ROOT = Path(__file__).resolve().parents[2]


def cli_argument_problem(args):
    """The CLI's own parser, as its `deploy` command hands it to the bundle check."""
    import typer

    from streaming_obs.cli.deploy import argument_problem
    from streaming_obs.cli.main import app

    return argument_problem(typer.main.get_command(app), args)


def test_the_bundle_is_consistent():
    assert check_bundle(ROOT, cli_check=cli_argument_problem) == []


def test_targets_run_the_wheel_entry_point_on_their_own_conf():
    bundle = load_bundle(ROOT)
    name, scripts = setup_metadata(ROOT)
    assert set(REQUIRED_TARGETS) <= set(bundle["targets"])
    for target in REQUIRED_TARGETS:
        (task,) = wheel_tasks(bundle, target)
        assert task.package_name == name == "streaming_obs"
        assert scripts[task.entry_point] == "streaming_obs.cli.main:main"
        assert task.parameters == ("run", "--env", target)
        assert (ROOT / "conf" / f"{target}.yaml").is_file()
    job = bundle["resources"]["jobs"]["streaming_obs"]
    assert job["continuous"] == {"pause_status": "UNPAUSED"}
    assert job["max_concurrent_runs"] == 1


def test_the_cli_accepts_the_job_parameters():
    problem = cli_argument_problem(["run", "--env", "prod"])
    assert problem is None
    assert "No such option" in (cli_argument_problem(["run", "--env", "prod", "--no-such-flag"]) or "")
    assert "No such command" in (cli_argument_problem(["runn", "--env", "prod"]) or "")


def test_the_job_is_valid_for_databricks_own_job_model():
    from databricks.bundles.jobs import Job

    from streaming_obs.deploy.bundle import resolve

    bundle = load_bundle(ROOT)
    for target in REQUIRED_TARGETS:
        job = resolve(bundle["resources"]["jobs"]["streaming_obs"], bundle, target)
        job.pop("__file__")
        parsed = Job.from_dict(job)
        assert parsed.tasks[0].python_wheel_task.entry_point == "streaming-obs"


def _copy(tmp_path: Path) -> Path:
    dst = tmp_path / "repo"
    dst.mkdir()
    for name in ("databricks.yml", "setup.py"):
        shutil.copy(ROOT / name, dst / name)
    shutil.copytree(ROOT / "resources", dst / "resources")
    return dst


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _task(d):
    return d["resources"]["jobs"]["streaming_obs"]["tasks"][0]


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda d: _task(d)["python_wheel_task"].update(entry_point="streaming_obs"), "is not a console script"),
        (lambda d: _task(d)["python_wheel_task"].update(package_name="other"), "is not the wheel"),
        (lambda d: _task(d)["python_wheel_task"].update(parameters=["run", "--env", "prod"]), "but target 'dev'"),
        (lambda d: _task(d)["python_wheel_task"].update(parameters=["run"]), "do not pass --env"),
        (lambda d: _task(d)["python_wheel_task"].update(parameters=["run", "--env", "${bundle.target}", "--bogus"]),
         "No such option"),
        (lambda d: _task(d)["python_wheel_task"].update(parameters=["run", "--env", "${bundle.target}", "--available-now"]),
         "must not pass --available-now"),
        (lambda d: d["resources"]["jobs"]["streaming_obs"].update(continuous={"pause_status": "PAUSED"}), "UNPAUSED"),
        (lambda d: d["resources"]["jobs"]["streaming_obs"].update(max_concurrent_runs=2), "max_concurrent_runs"),
        (lambda d: _task(d).update(libraries=[{"whl": "./other/*.whl"}]), "not the wheel built into dist/"),
        (lambda d: _task(d)["python_wheel_task"].update(entrypoint="x"), "Unexpected field 'entrypoint'"),
        (lambda d: d["resources"]["jobs"]["streaming_obs"]["job_clusters"][0]["new_cluster"].update(
            num_workers="${var.nope}"), "unknown reference ${var.nope}"),
        (lambda d: d["resources"]["jobs"]["streaming_obs"]["health"]["rules"].pop(0),
         "no health rule on STREAMING_BACKLOG_SECONDS"),
        (lambda d: d["resources"]["jobs"]["streaming_obs"].pop("health"), "no health rule on RUN_DURATION_SECONDS"),
        (lambda d: [d["resources"]["jobs"]["streaming_obs"].pop(k) for k in ("email_notifications", "webhook_notifications")],
         "no on_failure email or webhook notification"),
        (lambda d: d["resources"]["jobs"]["streaming_obs"].update(permissions=[{"level": "CAN_VIEW", "group_name": "g"}]),
         "grant nobody CAN_MANAGE"),
        (lambda d: d["resources"]["jobs"]["streaming_obs"]["health"]["rules"][0].update(op="BIGGER"), "BIGGER"),
        (lambda d: d["resources"]["jobs"]["streaming_obs"]["job_clusters"][0]["new_cluster"]["spark_env_vars"].update(
            STREAMING_OBS_PII_SALT="{{secrets/s/pii_salt}}"), "does not mask PII"),
    ],
)
def test_mistakes_in_the_job_are_found(tmp_path, change, needle):
    root = _copy(tmp_path)
    _edit(root / "resources" / "streaming_obs.job.yml", change)
    problems = check_bundle(root, cli_check=cli_argument_problem)
    assert any(needle in p for p in problems), problems


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda d: d["targets"].pop("staging"), "target 'staging' is missing"),
        (lambda d: d["targets"]["prod"].update(mode="development"), "prod must use mode: production"),
        (lambda d: d["targets"]["staging"].update(default=True), "exactly one target"),
        (lambda d: d.update(artifacts={}), "no artifact of type whl"),
        (lambda d: d["targets"].update(qa={"mode": "production"}), "conf/qa.yaml"),
    ],
)
def test_mistakes_in_the_targets_are_found(tmp_path, change, needle):
    root = _copy(tmp_path)
    _edit(root / "databricks.yml", change)
    problems = check_bundle(root)
    assert any(needle in p for p in problems), problems


def test_the_job_has_health_rules_notifications_and_permissions_from_variables():
    from streaming_obs.deploy.bundle import job_env_vars, resolve

    bundle = load_bundle(ROOT)
    job = resolve(bundle["resources"]["jobs"]["streaming_obs"], bundle, "prod")
    rules = {r["metric"]: r for r in job["health"]["rules"]}
    assert rules["STREAMING_BACKLOG_SECONDS"] == {"metric": "STREAMING_BACKLOG_SECONDS", "op": "GREATER_THAN", "value": 900}
    assert rules["RUN_DURATION_SECONDS"]["value"] == 604800
    assert job["email_notifications"]["on_failure"] == [] and job["webhook_notifications"]["on_failure"] == []
    assert {(p["level"], p["group_name"]) for p in job["permissions"]} == {
        ("CAN_MANAGE", "streaming_obs_admins"), ("CAN_VIEW", "streaming_obs_readers")}
    # Only prod masks PII (conf/prod.yaml), so only prod asks for the salt secret.
    for target in REQUIRED_TARGETS:
        assert ("STREAMING_OBS_PII_SALT" in job_env_vars(bundle, target)) == (target == "prod"), target
        assert "STREAMING_OBS_ENV" in job_env_vars(bundle, target)


def test_variables_set_per_target_reach_the_job(tmp_path):
    from streaming_obs.deploy.bundle import resolve

    root = _copy(tmp_path)
    _edit(root / "databricks.yml", lambda d: d["targets"]["prod"].update(variables={
        "failure_emails": ["oncall@example.com"], "failure_webhooks": [{"id": "dest-1"}], "backlog_seconds_threshold": 300}))
    bundle = load_bundle(root)
    job = resolve(bundle["resources"]["jobs"]["streaming_obs"], bundle, "prod")
    assert job["email_notifications"]["on_failure"] == ["oncall@example.com"]
    assert job["webhook_notifications"]["on_failure"] == [{"id": "dest-1"}]
    assert job["health"]["rules"][0]["value"] == 300
    assert check_bundle(root) == []


def _wire_salt(d) -> None:
    d["targets"]["prod"]["resources"] = {"jobs": {"streaming_obs": {"job_clusters": [{
        "job_cluster_key": "streaming_obs",
        "new_cluster": {"spark_env_vars": {"STREAMING_OBS_PII_SALT": "{{secrets/${var.secret_scope}/pii_salt}}"}}}]}}}


def test_the_salt_is_wired_exactly_where_pii_is_masked(tmp_path, monkeypatch):
    from streaming_obs.config import load_settings
    from streaming_obs.deploy.bundle import job_env_vars
    from streaming_obs.deploy.plan import deploy_plan

    root = _copy(tmp_path)
    # conf/prod.yaml masks PII; a bundle whose prod target does not wire the salt is refused
    _edit(root / "databricks.yml", lambda d: d["targets"]["prod"].pop("resources"))
    problems = check_bundle(root)
    assert any("conf/prod.yaml masks PII but the job does not set $STREAMING_OBS_PII_SALT" in p for p in problems)
    sp = {"BUNDLE_VAR_service_principal": "sp"}
    prod = load_settings("prod", environ={})
    assert not deploy_plan(prod, bundle_root=root, environ=sp).ok
    # The override databricks.yml carries: prod alone gets the secret, merged into the job
    # cluster by its key.
    _edit(root / "databricks.yml", _wire_salt)
    assert check_bundle(root) == []
    bundle = load_bundle(root)
    assert "STREAMING_OBS_PII_SALT" in job_env_vars(bundle, "prod")
    assert "STREAMING_OBS_PII_SALT" not in job_env_vars(bundle, "staging")
    assert {"STREAMING_OBS_ENV", "OTEL_EXPORTER_OTLP_ENDPOINT"} <= job_env_vars(bundle, "prod")
    plan = deploy_plan(prod, bundle_root=root, environ=sp)
    assert plan.ok, plan.render()
    assert "[ok  ] pii salt" in plan.render()


def test_the_salt_override_in_databricks_yml_is_the_one_tested():
    shipped = yaml.safe_load((ROOT / "databricks.yml").read_text())
    wired = {"targets": {"prod": {}}}
    _wire_salt(wired)
    assert shipped["targets"]["prod"]["resources"] == wired["targets"]["prod"]["resources"]


def test_a_target_on_a_local_conf_is_refused(tmp_path):
    root = _copy(tmp_path)
    _edit(root / "databricks.yml", lambda d: d["targets"].update(local={"mode": "development"}))
    problems = check_bundle(root)
    assert any("source_kind 'simulator'" in p for p in problems), problems


@pytest.mark.slow
def test_the_built_wheel_carries_what_the_bundle_names(built_wheel):
    import configparser
    import zipfile

    with zipfile.ZipFile(built_wheel) as z:
        names = set(z.namelist())
        ep_file = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        eps = configparser.ConfigParser()
        eps.read_string(z.read(ep_file).decode())
    for target in REQUIRED_TARGETS:
        assert f"streaming_obs/conf/{target}.yaml" in names
    assert "streaming_obs/deploy/driver.py" in names
    assert {f"streaming_obs/sql/governance/{p.name}" for p in (ROOT / "sql" / "governance").glob("*.sql")} <= names
    scripts = dict(eps["console_scripts"])
    assert check_bundle(ROOT, console_scripts=scripts) == []
    assert check_bundle(ROOT, console_scripts={}) != []
