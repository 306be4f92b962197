"""docs/metrics.md, the Grafana dashboard, the alert rules and the compose file agree with each other
and with the metrics the code defines."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from streaming_obs.telemetry import SPECS, prometheus_names
from tests.telemetry.telemetry_helpers import ROOT

DOCKER = ROOT / "docker"
DOCS = (ROOT / "docs" / "metrics.md").read_text()
RULES = yaml.safe_load((DOCKER / "prometheus" / "alert_rules.yml").read_text())
DASHBOARD = json.loads((DOCKER / "grafana" / "dashboards" / "streaming_obs.json").read_text())
#: Series the dashboard and rules may use that streaming_obs does not emit (listed in the docs).
BUILT_IN = {"up", "ALERTS"}
_NAME = re.compile(r"\bstreaming_obs_[a-z0-9_]+")
_RECORDING = re.compile(r"\bstreaming_obs:[a-z0-9_:]+")
_SELECTOR = re.compile(r"\b([A-Za-z_:][A-Za-z0-9_:]*)\{")
_HISTOGRAM_SUFFIX = re.compile(r"_(bucket|sum|count)$")


def documented() -> set[str]:
    return set(re.findall(r"^\| `(streaming_obs_[a-z0-9_]+)` \|", DOCS, re.M))


def _rule_exprs() -> list[str]:
    return [r["expr"] for g in RULES["groups"] for r in g["rules"]]


def _recorded() -> set[str]:
    return {r["record"] for g in RULES["groups"] for r in g["rules"] if "record" in r}


def _dashboard_exprs() -> list[str]:
    out = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                out.append(node["expr"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(DASHBOARD)
    return out


def _check_names(exprs: list[str], where: str) -> None:
    docs = documented()
    histograms = {s.prometheus_name for s in SPECS if s.kind == "histogram"}
    for expr in exprs:
        for name in _NAME.findall(expr):
            base = _HISTOGRAM_SUFFIX.sub("", name)
            ok = name in docs or (base in histograms and base in docs)
            assert ok, f"{where}: {name} in `{expr}` is not listed in docs/metrics.md"
        for rule in _RECORDING.findall(expr):
            assert rule in _recorded(), f"{where}: recording rule {rule} is not defined"
            assert rule.split(":")[1] in DOCS, f"{where}: recording rule {rule} is not documented"
        for selector in _SELECTOR.findall(expr):
            if selector in ("by", "without", "on", "ignoring", "group_left", "group_right"):
                continue
            base = _HISTOGRAM_SUFFIX.sub("", selector)
            known = selector in docs or base in histograms or selector in _recorded() or selector in BUILT_IN
            assert known, f"{where}: unknown series {selector} in `{expr}`"


def test_docs_list_exactly_the_metrics_the_code_defines():
    assert documented() == set(prometheus_names())
    # no label name in a metric name; counters carry an OTel unit ("{row}", "s"...)
    for spec in SPECS:
        assert "_by_" not in spec.name and "currency" not in spec.name, spec.name
        if spec.kind in ("counter", "observable_counter"):
            assert spec.unit, f"counter {spec.name} has no unit"
            assert "{" not in spec.prometheus_name, spec.prometheus_name
    for spec in SPECS:
        assert f"`{spec.name}`" in DOCS, f"OpenTelemetry name {spec.name} missing from docs/metrics.md"
    for required in (
        "streaming_obs_batch_input_rows_total",
        "streaming_obs_batch_duration_seconds",
        "streaming_obs_freshness_lag_seconds",
        "streaming_obs_quality_rows_total",
        "streaming_obs_query_restarts_total",
        "streaming_obs_query_active",
        "streaming_obs_workspace_list_cost_today",
        "streaming_obs_workspace_unpriced_usage_today",
        "streaming_obs_workspace_cost_anomalies_open",
    ):
        assert required in documented()
    for built_in in BUILT_IN:
        assert f"`{built_in}`" in DOCS


def test_dashboard_uses_only_documented_metrics():
    exprs = _dashboard_exprs()
    assert len(exprs) > 30
    _check_names(exprs, "dashboard")


def test_dashboard_covers_health_cost_quality_and_slos():
    titles = {p["title"] for p in DASHBOARD["panels"]}
    for row in ("Service levels", "Pipeline health", "Cost (today, UTC, list prices)", "Data quality"):
        assert row in titles
    text = json.dumps(DASHBOARD)
    for needle in (
        "streaming_obs_job_list_cost_today",
        "streaming_obs_tag_list_cost_today",
        "streaming_obs:batch_error_ratio:rate1h",
        "streaming_obs:quality_error_ratio:rate1h",
        "streaming_obs:freshness_within_slo:ratio_1h",
        "streaming_obs_query_recovery_time_seconds_bucket",
    ):
        assert needle in text
    # the datasource is a variable, never the provisioned uid (tests/telemetry/test_mixin.py
    # checks every reference)
    used = {p["datasource"]["uid"] for p in DASHBOARD["panels"] if "datasource" in p}
    assert used == {"${datasource}"}


def test_alert_rules_use_only_documented_metrics_and_cover_the_required_alerts():
    _check_names(_rule_exprs(), "alert_rules.yml")
    alerts = {r["alert"] for g in RULES["groups"] for r in g["rules"] if "alert" in r}
    required = {
        "StreamingObsQueryDown",
        "StreamingObsQueryRestarting",
        "StreamingObsFreshnessLag",
        "StreamingObsQualityScoreLow",
        "StreamingObsCostSpike",
        "StreamingObsUnpricedUsage",
        "StreamingObsBatchSuccessSLOBurnFast",
        "StreamingObsBatchSuccessSLOBurnSlow",
        "StreamingObsQualitySLOBurnFast",
        "StreamingObsQualitySLOBurnSlow",
    }
    assert required <= alerts
    tests = yaml.safe_load((DOCKER / "prometheus" / "alert_rules_test.yml").read_text())
    fired = {t["alertname"] for case in tests["tests"] for t in case.get("alert_rule_test", []) if t.get("exp_alerts")}
    assert alerts <= fired, f"alerts without a firing promtool case: {sorted(alerts - fired)}"
    for alert in alerts:
        assert alert in DOCS
    exprs = " ".join(_rule_exprs())
    assert "0.005" in exprs and "0.02" in exprs  # 99.5 % and 98 % SLOs


def _relative_sources(volumes: list[str], base: Path) -> list[Path]:
    out = []
    for v in volumes:
        source = v.split(":", 1)[0]
        if source.startswith((".", "/")):
            out.append((base / source).resolve())
    return out


def test_compose_parses_and_references_existing_files():
    compose = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"app", "otel-collector", "prometheus", "grafana"} <= set(services)
    build = services["app"]["build"]
    context = (DOCKER / build["context"]).resolve()
    assert context == ROOT
    assert (context / build["dockerfile"]).is_file()
    for name, svc in services.items():
        for path in _relative_sources(svc.get("volumes", []), DOCKER):
            assert path.exists(), f"service {name} mounts missing {path}"
        for volume in svc.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in compose.get("volumes", {}), f"named volume {source} not declared"
    env = services["app"]["environment"]
    assert env["STREAMING_OBS_TELEMETRY__OTLP__ENDPOINT"].endswith("otel-collector:4317")
    prom = yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text())
    targets = [t for job in prom["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    assert "app:9464" in targets
    for rule_file in prom["rule_files"]:
        assert (DOCKER / "prometheus" / rule_file).is_file()
    collector = yaml.safe_load((DOCKER / "otel-collector" / "config.yaml").read_text())
    assert collector["service"]["pipelines"]["metrics"]["receivers"] == ["otlp"]


def test_builder_manifest_pins_one_release_train():
    manifest = yaml.safe_load((DOCKER / "otelcol-builder.yaml").read_text())
    mods = [m["gomod"] for key in ("receivers", "processors", "exporters") for m in manifest[key]]
    assert any("otlpreceiver" in m for m in mods) and any("fileexporter" in m for m in mods)
    versions = {m.split()[1] for m in mods}
    assert versions == {"v0.165.0"}
    script = (ROOT / ".ci" / "build-otelcol.sh").read_text()
    assert 'OCB_VERSION="${OCB_VERSION:-v0.165.0}"' in script
