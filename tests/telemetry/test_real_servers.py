"""`streaming-obs run`, scraped by a real Prometheus and pushing OTLP into a real OpenTelemetry Collector.

The binaries come from Debian's `prometheus` package (.ci/install-prometheus.sh) and from the
OpenTelemetry Collector Builder (.ci/build-otelcol.sh, manifest docker/otelcol-builder.yaml);
the session fixtures run those scripts when a binary is missing and fail loudly if they cannot.
The pipeline is the real entry point in its own process, configured the way an operator would
(`STREAMING_OBS_*` variables), reading a small simulated history; one run feeds both servers
and is stopped with SIGTERM to its process group, as a scheduler (systemd, a container runtime,
a terminal's job control) stops it: the Python driver and its Spark JVM get the signal at once.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streaming_obs.config import load_settings
from tests.conftest import TEST_SPARK
from tests.runlog import assert_no_query_failed
from tests.telemetry.telemetry_helpers import free_port, http_get, prom_query, stop_process, wait_until

# Starting Spark, 25 queries and the first batches takes minutes on a loaded 2-core box.
pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.timeout(1800)]

RUN_BUDGET_S = 900
#: resilience.stop_timeout_seconds of the run: batches still running then are cut
STOP_TIMEOUT_S = 20
SMALL = {"workspaces": 2, "jobs": 6, "clusters": 4, "warehouses": 1, "days": 1}


def _start(cmd: list[str], log: Path) -> subprocess.Popen:
    out = open(log, "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)


def _collector_config(tmp: Path, grpc_port: int, out_file: Path) -> Path:
    cfg = tmp / "otelcol.yaml"
    cfg.write_text(
        f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
processors:
  batch:
    timeout: 200ms
exporters:
  file:
    path: {out_file}
    flush_interval: 200ms
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [batch]
      exporters: [file]
"""
    )
    return cfg


@pytest.fixture(scope="module")
def pipeline_run(spark, prometheus_bins, otelcol_bin, tmp_path_factory):
    """Start Prometheus and the Collector, run the pipeline, and record what Prometheus saw."""
    tmp = tmp_path_factory.mktemp("real_servers")
    app_port, prom_port, otlp_port = free_port(), free_port(), free_port()
    otlp_file = tmp / "otlp.jsonl"
    prom_cfg = tmp / "prometheus.yml"
    prom_cfg.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: streaming_obs\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{app_port}']}}]\n"
    )
    prom_url = f"http://127.0.0.1:{prom_port}"
    settings = load_settings("local", environ={}, overrides={
        "spark": TEST_SPARK, "simulator": {**SMALL, "root": str(tmp / "system")},
        "storage": {"warehouse": str(tmp / "wh"), "checkpoints": str(tmp / "ckpt")},
    })
    from streaming_obs.sources.simulator import simulate_history

    simulate_history(spark, settings, usage_rows=300)
    env = dict(os.environ)
    env.update({
        "STREAMING_OBS_STORAGE__WAREHOUSE": str(tmp / "wh"),
        "STREAMING_OBS_STORAGE__CHECKPOINTS": str(tmp / "ckpt"),
        "STREAMING_OBS_SIMULATOR__ROOT": str(tmp / "system"),
        "STREAMING_OBS_SPARK__MASTER": "local[2]",
        "STREAMING_OBS_SPARK__SHUFFLE_PARTITIONS": "2",
        "STREAMING_OBS_TRIGGER__INTERVAL_SECONDS": "1",
        # Queries still mid-batch at this deadline are stopped there (exactly-once replays them).
        "STREAMING_OBS_RESILIENCE__STOP_TIMEOUT_SECONDS": str(STOP_TIMEOUT_S),
        "STREAMING_OBS_TELEMETRY__EXPORT_INTERVAL_SECONDS": "1",
        "STREAMING_OBS_TELEMETRY__COST_METRICS_INTERVAL_SECONDS": "5",
        "STREAMING_OBS_TELEMETRY__PROMETHEUS__ENABLED": "true",
        "STREAMING_OBS_TELEMETRY__PROMETHEUS__HOST": "127.0.0.1",
        "STREAMING_OBS_TELEMETRY__PROMETHEUS__PORT": str(app_port),
        "STREAMING_OBS_TELEMETRY__OTLP__ENABLED": "true",
        "STREAMING_OBS_TELEMETRY__OTLP__ENDPOINT": f"http://127.0.0.1:{otlp_port}",
        "STREAMING_OBS_TELEMETRY__OTLP__PROTOCOL": "grpc",
        "PYSPARK_PYTHON": sys.executable,
    })
    collector = prometheus = app = None
    result: dict = {}
    try:
        collector = _start(
            [otelcol_bin, f"--config={_collector_config(tmp, otlp_port, otlp_file)}"], tmp / "otelcol.log"
        )
        prometheus = _start(
            [
                prometheus_bins["prometheus"],
                f"--config.file={prom_cfg}",
                f"--storage.tsdb.path={tmp / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            tmp / "prometheus.log",
        )
        wait_until(lambda: "Ready" in http_get(f"{prom_url}/-/ready"), 60, what="Prometheus ready")
        assert collector.poll() is None, (tmp / "otelcol.log").read_text()

        app_log = tmp / "app.log"
        t0 = time.monotonic()
        # its own session and process group, with the run's log files under tmp
        app = subprocess.Popen([sys.executable, "-m", "streaming_obs.cli.main", "run", "--env", "local"],
                               env=env, cwd=tmp, start_new_session=True,
                               stdout=open(app_log, "w"), stderr=subprocess.STDOUT)  # noqa: SIM115
        rows: list = []
        while time.monotonic() - t0 < RUN_BUDGET_S:
            assert app.poll() is None, f"streaming-obs run ended early: {app_log.read_text()[-3000:]}"
            rows = prom_query(prom_url, "streaming_obs_batch_input_rows_total")
            if any(r["metric"].get("query") == "bronze_billing_usage" and float(r["value"][1]) > 0 for r in rows):
                break
            time.sleep(1)
        else:
            raise AssertionError(f"no bronze input rows in Prometheus within {RUN_BUDGET_S}s: {rows}")
        result["input_rows"] = rows
        result["seconds_to_rows"] = time.monotonic() - t0
        result["up"] = prom_query(prom_url, 'up{job="streaming_obs"}')
        result["active"] = prom_query(prom_url, "streaming_obs_query_active")
        def series(name: str, query: str | None = None):
            # each query's series appears once its own batch reported: wait for the one asserted
            found = prom_query(prom_url, name)
            if query and not any(r["metric"].get("query") == query for r in found):
                return None
            return found

        for key, name, query in (
            ("quality", "streaming_obs_quality_rows_total", None),
            ("freshness", "streaming_obs_freshness_lag_seconds", "bronze_billing_usage"),
        ):
            result[key] = wait_until(lambda n=name, q=query: series(n, q), 60, what=f"{name} in Prometheus")
        # A scheduler stops the job with SIGTERM to the process group (the JVM gets it too): the
        # running batches commit or are cut at the stop's deadline, telemetry flushes, exit 0.
        t_stop = time.monotonic()
        os.killpg(app.pid, signal.SIGTERM)
        result["exit_code"] = app.wait(180)
        result["stop_seconds"] = time.monotonic() - t_stop
        result["app_log"] = app_log.read_text()
        run_logs = sorted((tmp / ".streaming_obs" / "logs").glob("run-*.log"))
        result["run_log"] = run_logs[-1].read_text() if run_logs else ""
        print(f"pipeline: bronze rows in Prometheus after {result['seconds_to_rows']:.1f}s; "
              f"stopped in {result['stop_seconds']:.1f}s with exit code {result['exit_code']}")

        def otlp_lines():
            if not otlp_file.exists():
                return None
            lines = [json.loads(x) for x in otlp_file.read_text().splitlines() if x.strip()]
            names = {
                m["name"]
                for line in lines
                for rm in line["resourceMetrics"]
                for sm in rm["scopeMetrics"]
                for m in sm["metrics"]
            }
            return lines if "streaming_obs.batch.input_rows" in names else None

        result["otlp"] = wait_until(otlp_lines, 30, what="the collector's file exporter to write our metrics")
        yield result
    finally:
        stop_process(app)
        stop_process(prometheus)
        stop_process(collector)


def test_sigterm_stops_the_run_gracefully(pipeline_run):
    out = pipeline_run["app_log"]
    assert pipeline_run["exit_code"] == 0, out[-3000:]
    assert re.search(r"run \w+ done in [0-9.]+s \(stopped on request\)", out), out[-2000:]  # the summary line
    # the stop's deadline, then the ops records, telemetry's flush and Spark's own stop
    assert pipeline_run["stop_seconds"] <= STOP_TIMEOUT_S + 60, pipeline_run["stop_seconds"]
    for sign in ("Traceback", "Exception in thread", "[error"):
        assert sign not in out, out[-3000:]
    assert "INFO" in pipeline_run["run_log"]  # Spark's log went to the run's log file
    assert_no_query_failed(pipeline_run["run_log"])


def test_real_prometheus_scrapes_the_running_pipeline(pipeline_run):
    rows = pipeline_run["input_rows"]
    assert any(r["metric"].get("query") == "bronze_billing_usage" and float(r["value"][1]) > 0 for r in rows)
    assert [float(r["value"][1]) for r in pipeline_run["up"]] == [1.0]
    assert any(float(r["value"][1]) == 1.0 for r in pipeline_run["active"])
    passed = [r for r in pipeline_run["quality"] if r["metric"].get("outcome") == "passed"]
    assert passed and float(passed[0]["value"][1]) > 0
    fresh = {r["metric"]["query"]: float(r["value"][1]) for r in pipeline_run["freshness"]}
    assert fresh.get("bronze_billing_usage", -1) >= 0, fresh
    for r in rows + pipeline_run["quality"] + pipeline_run["freshness"]:
        print(f"Prometheus: {r['metric']} = {r['value'][1]}")


def _points(lines: list[dict], name: str) -> list[tuple[dict, float]]:
    out = []
    for line in lines:
        for rm in line["resourceMetrics"]:
            for sm in rm["scopeMetrics"]:
                for metric in sm["metrics"]:
                    if metric["name"] != name:
                        continue
                    body = metric.get("sum") or metric.get("gauge") or {}
                    for dp in body.get("dataPoints", []):
                        attrs = {a["key"]: next(iter(a["value"].values())) for a in dp.get("attributes", [])}
                        out.append((attrs, float(dp.get("asInt", dp.get("asDouble", 0)))))
    return out


def test_real_collector_receives_otlp_from_the_pipeline(pipeline_run):
    lines = pipeline_run["otlp"]
    resource = {
        a["key"]: next(iter(a["value"].values())) for a in lines[-1]["resourceMetrics"][0]["resource"]["attributes"]
    }
    assert resource["service.name"] == "streaming_obs"
    assert resource["deployment.environment.name"] == "local"
    rows = _points(lines, "streaming_obs.batch.input_rows")
    assert max(v for attrs, v in rows if attrs.get("query") == "bronze_billing_usage") > 0
    quality = _points(lines, "streaming_obs.quality.rows")
    assert any(a.get("outcome") == "passed" and v > 0 for a, v in quality)
    written = _points(lines, "streaming_obs.batch.rows_written")
    assert written and max(v for _, v in written) > 0
    print(f"Collector file exporter: {len(lines)} OTLP requests; rows_written points {written[-3:]}")
