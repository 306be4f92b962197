"""The CLI's shared conventions: --env choices and envvar, one default env, dry-run/apply, completion."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from streaming_obs.cli.main import app
from streaming_obs.config.loader import RESERVED_VARS

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
SP = {"BUNDLE_VAR_service_principal": "00000000-0000-0000-0000-000000000001"}


def _commands(group, prefix=()):
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, (*prefix, name))
        else:
            yield (*prefix, name), cmd


def test_every_env_option_has_the_four_choices_the_envvar_and_default_local():
    commands = dict(_commands(typer.main.get_command(app)))
    with_env = {name: cmd for name, cmd in commands.items() if any(p.name == "env" for p in cmd.params)}
    assert {("deploy",), ("govern",), ("run",), ("status",), ("quarantine", "list")} <= set(with_env)
    for name, cmd in with_env.items():
        (env,) = [p for p in cmd.params if p.name == "env"]
        assert env.default == "local", name
        assert env.envvar == "STREAMING_OBS_ENV", name
        positional = ["x" for p in cmd.params if p.param_type_name == "argument" and p.required]
        out = runner.invoke(app, [*name, *positional, "--env", "qa"])
        assert out.exit_code == 2, (name, out.output)
        assert "'qa' is not one of 'local', 'dev', 'staging', 'prod'" in " ".join(out.output.split()), name


def test_streaming_obs_env_selects_the_environment():
    out = runner.invoke(app, ["validate-config"], env={"STREAMING_OBS_ENV": "staging"})
    assert out.exit_code == 0 and "config ok: env=staging" in out.output
    bad = runner.invoke(app, ["validate-config"], env={"STREAMING_OBS_ENV": "qa"})
    assert bad.exit_code == 2 and "'qa' is not one of" in " ".join(bad.output.split())


def test_every_variable_spark_submit_reads_is_reserved():
    read = set(re.findall(r"STREAMING_OBS_[A-Z][A-Z_]*[A-Z]", (ROOT / "spark-submit.sh").read_text()))
    # <SECTION>__<KEY> in the script's comments are config overrides, not knobs.
    knobs = {v for v in read if "__" not in v}
    assert {"STREAMING_OBS_DELTA_PACKAGE", "STREAMING_OBS_WHEEL", "STREAMING_OBS_PYTHON",
            "STREAMING_OBS_SPARK_LOG_LEVEL", "STREAMING_OBS_DELTA_JARS"} <= knobs
    assert knobs <= RESERVED_VARS
    exported = {k: "x" for k in knobs}
    out = runner.invoke(app, ["validate-config", "--env", "local"], env=exported)
    assert out.exit_code == 0, out.output


def test_shell_completion_is_offered():
    out = runner.invoke(app, ["--help"])
    assert "--install-completion" in out.output and "--show-completion" in out.output


def test_deploy_defaults_to_a_local_dry_run():
    out = runner.invoke(app, ["deploy"])
    assert out.exit_code == 0, out.output
    assert out.output.startswith("deploy plan: env local -> spark-submit.sh")
    applied = runner.invoke(app, ["deploy", "--apply"])
    assert applied.exit_code == 0 and "env local has no bundle to deploy" in applied.output


@pytest.fixture
def fake_databricks(tmp_path):
    """A `databricks` executable first on PATH that records its arguments and working directory."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.txt"
    script = bin_dir / "databricks"
    script.write_text(f'#!/bin/sh\necho "$PWD $*" >> {log}\nexit ${{FAKE_DATABRICKS_EXIT:-0}}\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}, log


def test_deploy_dry_run_touches_nothing_and_apply_runs_the_bundle_deploy(fake_databricks, monkeypatch):
    path, log = fake_databricks
    monkeypatch.chdir(ROOT)
    dry = runner.invoke(app, ["deploy", "--env", "staging"], env={**path, **SP})
    assert dry.exit_code == 0, dry.output
    assert dry.output.rstrip().endswith("result: ready") and not log.exists()
    applied = runner.invoke(app, ["deploy", "--env", "staging", "--apply"], env={**path, **SP})
    assert applied.exit_code == 0, applied.output
    assert log.read_text().splitlines() == [f"{ROOT} bundle deploy -t staging"]
    assert "deployed bundle target staging" in applied.output
    failed = runner.invoke(app, ["deploy", "--env", "staging", "--apply"], env={**path, **SP, "FAKE_DATABRICKS_EXIT": "3"})
    assert failed.exit_code == 2 and "error: databricks bundle deploy -t staging exited 3" in failed.output


def test_apply_refuses_a_plan_that_is_not_ready(fake_databricks, monkeypatch):
    path, log = fake_databricks
    monkeypatch.chdir(ROOT)
    out = runner.invoke(app, ["deploy", "--env", "prod", "--apply"], env=path)  # no service principal
    assert out.exit_code == 1 and "result: NOT ready" in out.output
    assert not log.exists()


def test_apply_without_the_databricks_cli_says_so(monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    out = runner.invoke(app, ["deploy", "--env", "dev", "--apply"], env={"PATH": str(tmp_path)})
    assert out.exit_code == 2
    assert out.output.strip().splitlines()[-1].startswith("error: --apply needs the databricks CLI on PATH")


def test_deploy_outside_a_checkout_says_in_one_line_what_it_needs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = runner.invoke(app, ["deploy", "--env", "prod", "--dry-run"], env=SP)
    assert out.exit_code == 2
    assert out.output.strip().splitlines() == [
        f"error: deploy --env prod needs the bundle: no databricks.yml in {tmp_path} or above; run it from a "
        "checkout of the streaming_obs repository or pass --bundle-root DIR"]
    found = runner.invoke(app, ["deploy", "--env", "staging", "--bundle-root", str(ROOT)], env=SP)
    assert found.exit_code == 0, found.output


def test_govern_defaults_to_dry_run_and_apply_reaches_spark(monkeypatch):
    import importlib

    session_module = importlib.import_module("streaming_obs.session")
    governance = importlib.import_module("streaming_obs.deploy.governance")

    dry = runner.invoke(app, ["govern", "--env", "staging"])
    assert dry.exit_code == 0 and "ALTER TABLE" in dry.output and "applied" not in dry.output
    local = runner.invoke(app, ["govern"])
    assert local.exit_code == 2 and len(local.output.strip().splitlines()) == 1 and "Unity Catalog" in local.output
    calls = []
    session = object()
    monkeypatch.setattr(session_module, "get_spark", lambda settings: session)
    monkeypatch.setattr(governance, "govern", lambda settings, spark, dry_run, echo: calls.append((spark, dry_run)) or ["a", "b"])
    applied = runner.invoke(app, ["govern", "--env", "staging", "--apply"])
    assert applied.exit_code == 0 and "applied 2 statements" in applied.output
    assert calls == [(session, False)]


def test_the_first_signal_asks_for_a_stop_between_batches_the_second_stops_at_once(monkeypatch, capsys):
    import importlib
    import signal
    import threading

    main = importlib.import_module("streaming_obs.cli.pipeline")  # the run/demo command group
    at_once = []
    monkeypatch.setattr(main, "_stop_now", lambda: at_once.append(True))
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    stop = threading.Event()
    try:
        main._on_signals(stop)
        handler = signal.getsignal(signal.SIGINT)
        assert signal.getsignal(signal.SIGTERM) is handler
        handler(signal.SIGTERM, None)
        assert stop.is_set() and not at_once
        handler(signal.SIGINT, None)
        assert at_once == [True]
    finally:
        for sig, previous in saved.items():
            signal.signal(sig, previous)
    assert "stopping between batches (Ctrl-C again to stop at once)" in capsys.readouterr().err
