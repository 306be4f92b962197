"""The Databricks Asset Bundle: structure, and everything it names exists in the wheel and the CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from streaming_obs.deploy.bundle import (
    REQUIRED_TARGETS,
    check_bundle,
    cli_argument_problem,
    load_bundle,
    setup_metadata,
    wheel_tasks,
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_bundle_is_consistent():
    assert check_bundle(ROOT) == []


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
    ],
)
def test_mistakes_in_the_job_are_found(tmp_path, change, needle):
    root = _copy(tmp_path)
    _edit(root / "resources" / "streaming_obs.job.yml", change)
    problems = check_bundle(root)
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
