"""docker/datadog/: the Agent's OTLP-ingest config, the dashboard and the monitors.

The dashboard and monitors are deserialised with Datadog's own API models (datadog-api-client,
generated from Datadog's OpenAPI spec), strictly: an unknown field, a wrong type or an unknown
enum value fails. On top, every metric and tag they use must be one streaming_obs exports
(docs/metrics.md, OpenTelemetry names, as the Agent keeps them), and every runbook link must hit a
heading of docs/troubleshooting.md.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml
from datadog_api_client import Configuration
from datadog_api_client.model_utils import ModelComposed, ModelNormal, UnparsedObject, validate_and_convert_types
from datadog_api_client.v1.model.dashboard import Dashboard
from datadog_api_client.v1.model.monitor import Monitor

from streaming_obs.telemetry.metrics import SPEC_BY_NAME
from tests.telemetry.telemetry_helpers import ROOT, github_anchors

DD = ROOT / "docker" / "datadog"
DASHBOARD = json.loads((DD / "dashboard.json").read_text())
MONITORS = json.loads((DD / "monitors.json").read_text())
AGENT = yaml.safe_load((DD / "datadog-agent.yaml").read_text())
#: tags every series gets from the resource (unified service tagging), besides its own labels
RESOURCE_TAGS = {"env", "service", "version"}
_METRIC = re.compile(r"(?:avg|sum|min|max|p50|p95|p99|count):(streaming_obs\.[a-z0-9_.]+)\{([^}]*)\}(?: by \{([^}]*)\})?")


def strict(data: dict, model: type) -> list[str]:
    """Problems found deserialising `data` as `model` ([] when it is a valid instance)."""
    try:
        obj = validate_and_convert_types(data, (model,), ["root"], True, True, Configuration())
    except (TypeError, ValueError) as exc:  # ApiTypeError / ApiValueError: a wrong type or value
        return [f"$: {exc}"]
    problems: list[str] = []

    def walk(node, raw, path):
        if isinstance(node, UnparsedObject) or getattr(node, "_unparsed", False):
            problems.append(f"{path}: not a valid {type(node).__name__}")
        if isinstance(node, ModelComposed):  # oneOf (a widget definition, a query...): the match
            walk(node.get_oneof_instance(), raw, path)
        elif isinstance(node, ModelNormal):
            known = set(type(node).attribute_map.values())
            if isinstance(raw, dict):
                problems.extend(f"{path}.{k}: unknown field" for k in raw if k not in known)
            for key, value in node._data_store.items():
                sub_raw = raw.get(type(node).attribute_map.get(key, key)) if isinstance(raw, dict) else None
                walk(value, sub_raw, f"{path}.{key}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, raw[i] if isinstance(raw, list) and i < len(raw) else None, f"{path}[{i}]")

    walk(obj, data, "$")
    return problems


def _queries(node) -> list[str]:
    out: list[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("query", "q") and isinstance(v, str):
                out.append(v)
            else:
                out.extend(_queries(v))
    elif isinstance(node, list):
        for v in node:
            out.extend(_queries(v))
    return out


def metric_problems(query: str, variables: dict[str, str]) -> list[str]:
    """Metrics and tags of a Datadog query that streaming_obs does not export."""
    problems = []
    found = _METRIC.findall(query)
    if not found:
        problems.append(f"no streaming_obs metric in {query}")
    for name, scope, by in found:
        spec = SPEC_BY_NAME.get(name)
        if spec is None:
            problems.append(f"unknown metric {name}")
            continue
        tags = set(spec.labels) | RESOURCE_TAGS
        for item in filter(None, (s.strip() for s in scope.split(","))):
            if item == "*":
                continue
            if item.startswith("$"):
                key = variables.get(item[1:])
                if key is None:
                    problems.append(f"undefined template variable {item}")
                elif key not in tags:
                    problems.append(f"{name} has no tag {key} (template variable {item})")
                continue
            key = item.lstrip("!").split(":", 1)[0]
            if key not in tags:
                problems.append(f"{name} has no tag {key}")
        for key in filter(None, (s.strip() for s in by.split(","))):
            if key not in tags:
                problems.append(f"{name} has no tag {key} to group by")
    return problems


def test_agent_config_receives_otlp_and_keeps_no_secret():
    otlp = AGENT["otlp_config"]
    assert otlp["receiver"]["protocols"]["grpc"]["endpoint"].endswith(":4317")
    assert otlp["receiver"]["protocols"]["http"]["endpoint"].endswith(":4318")
    metrics = otlp["metrics"]
    assert metrics["enabled"] is True
    assert metrics["sums"]["cumulative_monotonic_mode"] == "to_delta"  # we export cumulative sums
    assert metrics["histograms"]["mode"] == "distributions"
    assert metrics["resource_attributes_as_tags"] is False
    text = (DD / "datadog-agent.yaml").read_text()
    assert "api_key" not in text


def test_dashboard_is_a_valid_datadog_dashboard():
    assert strict(DASHBOARD, Dashboard) == []
    variables = {v["name"]: v["prefix"] for v in DASHBOARD["template_variables"]}
    assert set(variables) == {"env", "query", "workspace"}
    queries = _queries(DASHBOARD)
    assert len(queries) >= 20
    for q in queries:
        assert metric_problems(q, variables) == [], q
    # money: cost series keep their currency (never summed across currencies)
    for q in queries:
        if "list_cost_today" in q:
            assert "currency" in q.split(" by ", 1)[1] and q.startswith("max:"), q


def test_monitors_are_valid_datadog_monitors_with_runbooks():
    anchors = github_anchors((ROOT / "docs" / "troubleshooting.md").read_text())
    assert len(MONITORS) >= 10
    names = [m["name"] for m in MONITORS]
    assert len(set(names)) == len(names)
    for monitor in MONITORS:
        assert strict(monitor, Monitor) == [], monitor["name"]
        assert monitor["type"] == "query alert"
        query = monitor["query"]
        assert metric_problems(query, {}) == [], query
        window = re.match(r"(avg|sum|min|max)\(last_(\d+)([mh])\):", query)
        assert window, query
        comparator = re.search(r"(<|>|<=|>=) (-?[\d.]+)$", query)
        assert comparator and float(comparator.group(2)) == monitor["options"]["thresholds"]["critical"], query
        runbook = re.search(r"Runbook: (\S+)#(\S+)", monitor["message"])
        assert runbook and runbook.group(1).endswith("docs/troubleshooting.md"), monitor["name"]
        assert runbook.group(2) in anchors, f"{monitor['name']}: no heading #{runbook.group(2)}"
        assert "app:streaming_obs" in monitor["tags"]
    dead = [m for m in MONITORS if m["options"].get("notify_no_data")]
    assert len(dead) == 1 and "streaming_obs.query.active" in dead[0]["query"]  # push mode: no `up`


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda d: d.update(layout_type="orderd"), "not a valid"),
        (lambda d: d["widgets"][0]["definition"].update(type="timeseriez"), "not a valid"),
        (lambda d: d.update(titel="x"), "unknown field"),
        (lambda d: d["widgets"][1]["definition"]["widgets"][0]["definition"].update(titel="x"), "definition.titel"),
    ],
)
def test_the_strict_check_catches_a_broken_dashboard(change, needle):
    broken = json.loads(json.dumps(DASHBOARD))
    change(broken)
    assert any(needle in p for p in strict(broken, Dashboard))


def test_the_strict_check_catches_a_broken_monitor():
    broken = json.loads(json.dumps(MONITORS[0]))
    broken["options"]["thresholds"]["critical"] = "one"
    assert any("Invalid type" in p for p in strict(broken, Monitor))
    broken = json.loads(json.dumps(MONITORS[0]))
    broken["type"] = "metrics alert"
    assert strict(broken, Monitor)


def test_the_metric_check_catches_unknown_names_and_tags():
    assert metric_problems("max:streaming_obs.list_cost_today{*} by {currency}", {}) == [
        "unknown metric streaming_obs.list_cost_today"
    ]
    assert metric_problems("max:streaming_obs.query.active{*} by {table}", {}) == [
        "streaming_obs.query.active has no tag table to group by"
    ]
    assert metric_problems("max:streaming_obs.query.active{$ws}", {}) == ["undefined template variable $ws"]
