"""conf/budgets.yaml: optional, validated like the rest of the config (one line naming file and key)."""

from __future__ import annotations

import os
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from streaming_obs.cli.main import app
from streaming_obs.config import load_settings
from streaming_obs.config.models import DEFAULT_BUDGET_THRESHOLDS
from streaming_obs.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def conf(tmp_path: Path):
    """A config directory (the shipped base.yaml and local.yaml) with `budgets` as budgets.yaml."""

    def make(budgets: object = None, raw: str | None = None) -> Path:
        d = tmp_path / "conf"
        d.mkdir(exist_ok=True)
        for name in ("base.yaml", "local.yaml"):
            shutil.copy(ROOT / "conf" / name, d / name)
        if raw is not None:
            (d / "budgets.yaml").write_text(raw, encoding="utf-8")
        elif budgets is not None:
            (d / "budgets.yaml").write_text(yaml.safe_dump({"budgets": budgets}), encoding="utf-8")
        return d

    return make


def test_no_file_no_budgets(conf):
    assert load_settings("local", config_dir=conf(), environ={}).budgets == []
    assert load_settings("local", environ={}).budgets == []  # the shipped conf has none


def test_a_budget_with_defaults(conf):
    d = conf([{"name": "data", "scope": {"workspace_ids": ["1", "2"], "tags": {"team": "data"}, "skus": ["S"],
                                         "products": ["JOBS"]}, "monthly_amount": 1000}])
    (b,) = load_settings("local", config_dir=d, environ={}).budgets
    assert b.name == "data" and b.monthly_amount == Decimal("1000") and b.currency == "USD"
    assert b.thresholds == list(DEFAULT_BUDGET_THRESHOLDS) == [50.0, 80.0, 100.0]
    assert b.scope.workspace_ids == ["1", "2"] and b.scope.tags == {"team": "data"}
    assert b.scope.skus == ["S"] and b.scope.products == ["JOBS"]


def test_empty_scope_is_the_whole_account_and_thresholds_are_sorted(conf):
    d = conf([{"name": "all", "monthly_amount": "12.5", "currency": "EUR", "thresholds": [100, 90]}])
    (b,) = load_settings("local", config_dir=d, environ={}).budgets
    assert b.scope.workspace_ids == [] and b.scope.tags == {} and b.thresholds == [90.0, 100.0]


def test_empty_file_means_no_budgets(conf):
    assert load_settings("local", config_dir=conf(raw=""), environ={}).budgets == []
    assert load_settings("local", config_dir=conf(raw="budgets:\n"), environ={}).budgets == []


def test_overrides_reach_budgets(conf):
    s = load_settings("local", config_dir=conf(), environ={},
                      overrides={"budgets": [{"name": "x", "monthly_amount": 5}]})
    assert [b.name for b in s.budgets] == ["x"]


ONE = {"name": "b", "monthly_amount": 100}
BAD = {
    "negative amount": ([{**ONE, "monthly_amount": -1}], "budgets.0.monthly_amount", "greater than 0"),
    "zero amount": ([{**ONE, "monthly_amount": 0}], "budgets.0.monthly_amount", "greater than 0"),
    "no amount": ([{"name": "b"}], "budgets.0.monthly_amount", "Field required"),
    "amount not a number": ([{**ONE, "monthly_amount": "lots"}], "budgets.0.monthly_amount", "decimal"),
    "NaN amount": ([{**ONE, "monthly_amount": float("nan")}], "budgets.0.monthly_amount", ""),
    "bad currency": ([{**ONE, "currency": "usd"}], "budgets.0.currency", "pattern"),
    "empty name": ([{**ONE, "name": " "}], "budgets.0.name", "not a valid budget name"),
    "duplicate name": ([ONE, ONE], "budgets.1.name", "budget 'b' is defined twice"),
    "threshold zero": ([{**ONE, "thresholds": [50, 0]}], "budgets.0.thresholds.1", "not a percentage"),
    "threshold repeated": ([{**ONE, "thresholds": [50, 50]}], "budgets.0.thresholds", "repeated"),
    "no thresholds": ([{**ONE, "thresholds": []}], "budgets.0.thresholds", "at least one threshold"),
    "unknown scope key": ([{**ONE, "scope": {"workspace": ["1"]}}], "budgets.0.scope.workspace", "unknown key"),
    "unknown budget key": ([{**ONE, "amount": 3}], "budgets.0.amount", "unknown key"),
    "scope value with a newline": ([{**ONE, "scope": {"skus": ["A", "B\n"]}}], "budgets.0.scope.skus.1", "control"),
    "empty tag value": ([{**ONE, "scope": {"tags": {"team": ""}}}], "budgets.0.scope.tags.team", "tag value"),
    "workspace ids not a list": ([{**ONE, "scope": {"workspace_ids": "1"}}], "budgets.0.scope.workspace_ids", "list"),
}


@pytest.mark.parametrize("case", sorted(BAD), ids=str)
def test_bad_budget_names_the_file_and_key(conf, case):
    budgets, key, problem = BAD[case]
    d = conf(budgets)
    with pytest.raises(ConfigError) as err:
        load_settings("local", config_dir=d, environ={})
    assert err.value.source == f"{d}/budgets.yaml", str(err.value)
    assert err.value.key == key, str(err.value)
    assert problem in err.value.problem, str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("raw,key,problem", [
    ("budget: []\n", "budget", "unknown key"),
    ("budgets: {name: b}\n", "budgets", "must be a list of budgets"),
    ("- name: b\n", "(top)", "mapping"),
    ("budgets: [\n", "line 2", "not valid YAML"),
])
def test_malformed_budgets_file(conf, raw, key, problem):
    d = conf(raw=raw)
    with pytest.raises(ConfigError) as err:
        load_settings("local", config_dir=d, environ={})
    assert err.value.source == f"{d}/budgets.yaml" and err.value.key == key and problem in err.value.problem


def test_cli_prints_one_line(conf):
    d = conf([{**ONE, "monthly_amount": -5}])
    env = {k: None for k in os.environ if k.startswith(("STREAMING_OBS_", "OTEL_"))}
    result = runner.invoke(app, ["validate-config", "--env", "local", "--config-dir", str(d)], env=env)
    assert result.exit_code == 2 and "Traceback" not in result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"error: {d}/budgets.yaml: budgets.0.monthly_amount: "), line


def test_budgets_change_the_config_hash(conf):
    from streaming_obs.config import config_hash

    a = load_settings("local", config_dir=conf(), environ={})
    b = load_settings("local", config_dir=conf([ONE]), environ={})
    assert config_hash(a) != config_hash(b)


def test_validate_config_counts_budgets(conf):
    env = {k: None for k in os.environ if k.startswith(("STREAMING_OBS_", "OTEL_"))}
    d = conf([ONE, {**ONE, "name": "c"}])
    result = runner.invoke(app, ["validate-config", "--env", "local", "--config-dir", str(d)], env=env)
    assert result.exit_code == 0 and result.output.strip().endswith(", 2 budgets"), result.output
