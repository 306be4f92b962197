"""A real Prometheus server scrapes the product's Prometheus endpoint, in seconds.

`make test`'s own check that what the endpoint serves is what Prometheus ingests: names, labels,
counter values and the target's health, with the product's telemetry in this process and no
pipeline. The whole run (`streaming-obs run` scraped by Prometheus and pushing OTLP to a real
Collector, stopped by SIGTERM) is in the end-to-end tier (test_real_servers.py, `make test-e2e`).
"""

from __future__ import annotations

import json
import subprocess

import pytest

from streaming_obs.telemetry import Telemetry
from streaming_obs.telemetry.metrics import SPEC_BY_NAME
from tests.telemetry.telemetry_helpers import free_port, http_get, prom_query, stop_process, wait_until


@pytest.fixture
def scraped(make_settings, prometheus_bins, tmp_path):
    """(telemetry with its endpoint on a free port, Prometheus' base URL) with Prometheus scraping it every second."""
    port = free_port()
    settings = make_settings(telemetry={"prometheus": {"enabled": True, "host": "127.0.0.1", "port": port},
                                        "otlp": {"enabled": False}})
    tel = Telemetry.start(None, settings, cost_gauges=False)
    prom_port = free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text("global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                   "scrape_configs:\n"
                   "  - job_name: streaming_obs\n"
                   f"    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n")
    log = open(tmp_path / "prometheus.log", "w")  # noqa: SIM115 - closed below
    prom = subprocess.Popen([prometheus_bins["prometheus"], f"--config.file={cfg}",
                             f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{prom_port}"
    try:
        wait_until(lambda: "Ready" in http_get(f"{base}/-/ready"), 60, what="Prometheus ready")
        yield tel, base
    finally:
        stop_process(prom)
        log.close()
        tel.shutdown(timeout_s=5)


def test_prometheus_ingests_the_endpoints_series_with_their_labels_and_values(scraped):
    tel, base = scraped
    tel.register_query("bronze_billing_usage", layer="bronze", source="system.billing.usage",
                       target="plt_silver.billing_usage")
    tel.record_batch_write("bronze_billing_usage", "plt_silver.billing_usage", 120)
    tel.record_batch_write("bronze_billing_usage", "plt_silver.billing_usage", 30)
    # the names docs/metrics.md lists, derived as the exporter derives them
    rows_written = SPEC_BY_NAME["streaming_obs.batch.rows_written"].prometheus_name
    info = SPEC_BY_NAME["streaming_obs.query.info"].prometheus_name

    def ingested():
        found = prom_query(base, f'{rows_written}{{query="bronze_billing_usage"}}')
        return found if found and float(found[0]["value"][1]) == 150 else None

    series = wait_until(ingested, 60, what=f"{rows_written} = 150 in Prometheus")
    assert series[0]["metric"]["table"] == "plt_silver.billing_usage"
    assert series[0]["metric"]["job"] == "streaming_obs"
    meta = prom_query(base, f'{info}{{query="bronze_billing_usage"}}')
    assert [(m["metric"]["layer"], m["metric"]["target"], float(m["value"][1])) for m in meta] == [
        ("bronze", "plt_silver.billing_usage", 1.0)]
    assert [float(r["value"][1]) for r in prom_query(base, 'up{job="streaming_obs"}')] == [1.0]
    # the scrape is healthy: Prometheus took every sample the endpoint served
    targets = json.loads(http_get(f"{base}/api/v1/targets"))["data"]["activeTargets"]
    assert [(t["health"], t["lastError"]) for t in targets] == [("up", "")]

