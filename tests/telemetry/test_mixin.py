"""The monitoring mixin (mixin/): the files under docker/ are its build output, and the rules
and dashboard follow the conventions of the monitoring-mixins project, Prometheus and Grafana.

jsonnet comes from .ci/install-jsonnet.sh (go-jsonnet from the Go module proxy, cached under
~/.cache/streaming_obs/jsonnet/bin); the fixture runs it and fails, never skips, when jsonnet
cannot be had. mixtool is optional (some module proxies refuse it): its lint runs when it is
installed, and the tests below check the same rules either way.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.telemetry.telemetry_helpers import ROOT, github_anchors

DOCKER = ROOT / "docker"
RULES_FILE = DOCKER / "prometheus" / "alert_rules.yml"
DASHBOARD_FILE = DOCKER / "grafana" / "dashboards" / "streaming_obs.json"
RULES = yaml.safe_load(RULES_FILE.read_text())
DASHBOARD = json.loads(DASHBOARD_FILE.read_text())
ENV_LABEL = "deployment_environment_name"
COST_METRICS = ("streaming_obs_workspace_list_cost_today", "streaming_obs_job_list_cost_today", "streaming_obs_tag_list_cost_today")


@pytest.fixture(scope="session")
def jsonnet_bins() -> dict[str, str]:
    """{binary name: path} printed by .ci/install-jsonnet.sh (jsonnet and jsonnetfmt at least)."""
    proc = subprocess.run(
        ["bash", str(ROOT / ".ci" / "install-jsonnet.sh")], capture_output=True, text=True, timeout=1800
    )
    bins = {Path(line).name: line for line in proc.stdout.split()}
    assert proc.returncode == 0 and "jsonnet" in bins, (
        f".ci/install-jsonnet.sh failed (rc={proc.returncode}); the mixin cannot be built:\n{proc.stderr[-4000:]}"
    )
    return bins


def _build(out: Path) -> None:
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build_mixin.sh"), str(out)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-4000:]


def _alerts() -> list[dict]:
    return [r for g in RULES["groups"] for r in g["rules"] if "alert" in r]


def _records() -> list[dict]:
    return [r for g in RULES["groups"] for r in g["rules"] if "record" in r]


def _walk(node, visit) -> None:
    visit(node)
    if isinstance(node, dict):
        for v in node.values():
            _walk(v, visit)
    elif isinstance(node, list):
        for v in node:
            _walk(v, visit)


def _panels() -> list[dict]:
    return [p for p in DASHBOARD["panels"] if p["type"] != "row"]


# --- build ----------------------------------------------------------------------------------


def test_build_is_reproducible_and_docker_is_in_sync(jsonnet_bins, tmp_path):
    _build(tmp_path / "a")
    _build(tmp_path / "b")
    for rel in ("prometheus/alert_rules.yml", "grafana/dashboards/streaming_obs.json"):
        built = (tmp_path / "a" / rel).read_bytes()
        assert built == (tmp_path / "b" / rel).read_bytes(), f"{rel}: two builds differ"
        assert built == (DOCKER / rel).read_bytes(), f"docker/{rel} is out of date: run `make mixin`"
    assert RULES_FILE.read_text().startswith("# GENERATED from mixin/")


def test_jsonnet_is_formatted(jsonnet_bins):
    files = sorted(str(p) for p in (ROOT / "mixin").rglob("*sonnet"))
    proc = subprocess.run([jsonnet_bins["jsonnetfmt"], "--test", *files], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"run jsonnetfmt -i on: {proc.stdout}{proc.stderr}"


def test_config_overrides_reach_every_rule(jsonnet_bins):
    """_config is the only place selectors live: overriding it changes every expression."""
    code = (
        "local m = (import 'mixin.libsonnet') + { _config+:: { jobSelector: 'job=\"mine\"', "
        "environmentLabel: 'env' } };"
        "{ rules: m.prometheusRules.groups + m.prometheusAlerts.groups, dash: m.grafanaDashboards }"
    )
    proc = subprocess.run(
        [jsonnet_bins["jsonnet"], "-J", str(ROOT / "mixin"), "-e", code], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    text = json.dumps(out)
    assert "streaming_obs\\\"" not in text.replace('job=\\"mine\\"', "")  # the default selector is gone
    assert ENV_LABEL not in text
    for group in out["rules"]:
        for rule in group["rules"]:
            if re.search(r"\bstreaming_obs_[a-z_]+\{", rule["expr"]) or rule["expr"].startswith("up{"):
                assert 'job="mine"' in rule["expr"], rule


_MIXTOOL = Path(os.environ.get("STREAMING_OBS_CACHE", Path.home() / ".cache" / "streaming_obs")) / "jsonnet/bin/mixtool"


@pytest.mark.skipif(
    not _MIXTOOL.exists(),
    reason="mixtool could not be installed from this module proxy; its rules are checked by the tests below",
)
def test_mixtool_lint(jsonnet_bins):
    proc = subprocess.run(
        [jsonnet_bins["mixtool"], "lint", str(ROOT / "mixin" / "mixin.libsonnet")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- dashboard ------------------------------------------------------------------------------


def test_no_hard_coded_datasource_uid_anywhere():
    refs: list = []

    def visit(node):
        if isinstance(node, dict) and "datasource" in node:
            refs.append(node["datasource"])

    _walk(DASHBOARD, visit)
    assert len(refs) > 40
    for ref in refs:
        assert ref == {"type": "prometheus", "uid": "${datasource}"}, ref
    for panel in _panels():
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
    variable = next(v for v in DASHBOARD["templating"]["list"] if v["name"] == "datasource")
    assert variable["type"] == "datasource" and variable["query"] == "prometheus"
    assert "current" not in variable  # a pinned current value would name the uid again
    # the provisioned uid appears nowhere in the dashboard
    provisioned = yaml.safe_load((DOCKER / "grafana/provisioning/datasources/prometheus.yml").read_text())
    text = json.dumps(DASHBOARD)
    for ds in provisioned["datasources"]:
        assert f'"uid": "{ds["uid"]}"' not in text


def test_variables_filter_every_query():
    names = [v["name"] for v in DASHBOARD["templating"]["list"]]
    assert names == ["datasource", "job", "environment", "query", "workspace"]
    for v in DASHBOARD["templating"]["list"][1:]:
        assert v["type"] == "query" and v["includeAll"] and v["multi"] and v["allValue"]
        assert v["datasource"]["uid"] == "${datasource}"
    for panel in _panels():
        for target in panel["targets"]:
            expr = target["expr"]
            assert "$job" in expr and "$environment" in expr, (panel["title"], expr)
            if "workspace_id" in target["legendFormat"] or "workspace_list_cost" in expr:
                assert "$workspace" in expr, (panel["title"], expr)
            if "{{query}}" in target["legendFormat"]:
                assert "$query" in expr, (panel["title"], expr)


def test_money_is_shown_per_currency():
    cost_panels = [p for p in _panels() if any(m in t["expr"] for t in p["targets"] for m in COST_METRICS)]
    assert len(cost_panels) == 5
    currencies = {"USD", "EUR", "GBP", "JPY"}
    for panel in cost_panels:
        assert not panel["fieldConfig"]["defaults"]["unit"].startswith("currency"), panel["title"]
        overrides = {
            o["matcher"]["options"]: o["properties"][0]["value"]
            for o in panel["fieldConfig"]["overrides"]
            if o["matcher"]["id"] == "byRegexp"
        }
        for code in currencies:
            assert overrides[rf".*\({code}\)"] == f"currency{code}", panel["title"]
        for target in panel["targets"]:
            # the legend ends in "(<code>)" so the override matches; currencies are never added up
            assert target["legendFormat"].endswith("({{currency}})"), panel["title"]
            assert not re.search(r"\bsum\s*\(", target["expr"]), target["expr"]
            assert re.search(r"\b(sum|topk) by \(currency\)", target["expr"]) or "by" not in target["expr"]
    text = json.dumps(DASHBOARD)
    assert '"unit": "currencyUSD"' not in text.replace('"value": "currencyUSD"', "")


# --- rules ----------------------------------------------------------------------------------


def test_every_alert_has_a_runbook_that_exists():
    troubleshooting = ROOT / "docs" / "troubleshooting.md"
    anchors = github_anchors(troubleshooting.read_text())
    assert "storage-not-writable" in anchors  # the slug rule matches the page's own links
    for alert in _alerts():
        url = alert["annotations"]["runbook_url"]
        path, _, anchor = url.partition("#")
        assert path.endswith("docs/troubleshooting.md"), url
        assert anchor == alert["alert"].lower(), url
        assert anchor in anchors, f"{alert['alert']}: no heading for #{anchor} in docs/troubleshooting.md"


def test_alert_annotations_follow_the_mixin_guide():
    for alert in _alerts():
        ann = alert["annotations"]
        assert set(ann) == {"summary", "description", "runbook_url"}, alert["alert"]
        assert "{{" not in ann["summary"], f"{alert['alert']}: summary must be static"
        assert ann["summary"][0].isupper() and ann["summary"].endswith("."), alert["alert"]
        if alert["alert"] != "StreamingObsAbsent":  # absent() has no labels to template
            assert "{{" in ann["description"], f"{alert['alert']}: description must be templated"
        assert alert["labels"]["severity"] in ("critical", "warning"), alert["alert"]
        assert re.fullmatch(r"StreamingObs[A-Z][A-Za-z]+", alert["alert"])


def test_no_hard_coded_job_and_every_raw_selector_uses_the_job_selector():
    text = RULES_FILE.read_text()
    assert 'job="streaming_obs"' not in text
    for rule in _records() + _alerts():
        for selector in re.findall(r"\b(?:streaming_obs_[a-z_]+|up)\{([^}]*)\}", rule["expr"]):
            assert 'job=~"(.+/)?streaming_obs"' in selector, rule["expr"]


def test_slo_rules_are_per_environment():
    for rule in _records():
        expr = rule["expr"]
        assert not re.search(r"\b(sum|avg|min|max|count)\s*\(", expr), f"bare aggregation in {rule['record']}"
        for by in re.findall(r"\bby \(([^)]*)\)", expr):
            assert {"job", ENV_LABEL} <= {x.strip() for x in by.split(",")}, rule["record"]
        if rule["record"].startswith("streaming_obs:batch_error_ratio"):
            assert f"on (job, {ENV_LABEL})" in expr


def test_absent_alert_watches_a_series_that_exists_while_alive():
    absent = next(a for a in _alerts() if a["alert"] == "StreamingObsAbsent")
    assert absent["expr"].startswith("absent_over_time(streaming_obs_query_active{")
    assert absent["labels"]["severity"] == "critical"
    tests = yaml.safe_load((DOCKER / "prometheus" / "alert_rules_test.yml").read_text())
    cases = [t for c in tests["tests"] for t in c.get("alert_rule_test", []) if t["alertname"] == "StreamingObsAbsent"]
    assert any(t["exp_alerts"] for t in cases) and any(not t["exp_alerts"] for t in cases)
