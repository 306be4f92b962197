"""promtool: the alert rules' unit tests and the compose stack's Prometheus config.

promtool comes with Debian's `prometheus` package; the session fixture installs it through
.ci/install-prometheus.sh when missing and fails (does not skip) if that does not work.
"""

from __future__ import annotations

import subprocess

from tests.telemetry.telemetry_helpers import ROOT

PROM_DIR = ROOT / "docker" / "prometheus"


def _promtool(bins: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([bins["promtool"], *args], capture_output=True, text=True, timeout=120, cwd=PROM_DIR)


def test_promtool_test_rules(prometheus_bins):
    proc = _promtool(prometheus_bins, "test", "rules", "alert_rules_test.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_promtool_check_rules_and_config(prometheus_bins):
    rules = _promtool(prometheus_bins, "check", "rules", "alert_rules.yml")
    assert rules.returncode == 0, rules.stdout + rules.stderr
    config = _promtool(prometheus_bins, "check", "config", "prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr
    assert "SUCCESS" in config.stdout
