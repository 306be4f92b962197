"""Helpers of the telemetry tests: free ports, metric reading, an in-process OTLP receiver, polling."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent import futures
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"


def github_anchors(markdown: str) -> set[str]:
    """Anchors GitHub derives from a page's headings: lower case, punctuation dropped, spaces to '-'."""
    import re

    anchors = set()
    for heading in re.findall(r"^#{1,6} (.+?)\s*$", markdown, re.M):
        anchors.add(re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-"))
    return anchors


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_json(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def points(reader: Any) -> dict[str, list[tuple[dict[str, Any], Any]]]:
    """{metric name: [(attributes, value or histogram point)]} from an InMemoryMetricReader."""
    out: dict[str, list[tuple[dict[str, Any], Any]]] = {}
    data = reader.get_metrics_data()
    if data is None:
        return out
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for p in metric.data.data_points:
                    value = p.value if hasattr(p, "value") else p
                    out.setdefault(metric.name, []).append((dict(p.attributes), value))
    return out


def value(pts: dict, name: str, **labels: Any) -> Any:
    """The one value of `name` whose attributes include `labels` (AssertionError otherwise)."""
    matches = [v for attrs, v in pts.get(name, []) if all(attrs.get(k) == str(x) for k, x in labels.items())]
    assert len(matches) == 1, f"{name}{labels}: {len(matches)} matches in {pts.get(name)}"
    return matches[0]


def wait_until(predicate: Callable[[], Any], timeout_s: float, interval_s: float = 0.25, what: str = "") -> Any:
    """Poll `predicate` until it returns a truthy value; AssertionError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as exc:  # a server still starting
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what or predicate}: last={last!r}")


def stop_process(proc: subprocess.Popen | None) -> None:
    """Terminate a server started by a test, then kill it if it does not go within 15 s."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def http_get(url: str, timeout_s: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 - loopback test URL
        return resp.read().decode()


def prom_query(base: str, promql: str) -> list[dict]:
    """The result vector of an instant query to the Prometheus at `base` (asserting success)."""
    import urllib.parse

    body = json.loads(http_get(f"{base}/api/v1/query?query={urllib.parse.quote(promql)}"))
    assert body["status"] == "success", body
    return body["data"]["result"]


def ensure_binary(names: list[str], script: str) -> dict[str, str]:
    """Paths of `names`; runs `.ci/<script>` when one is missing and fails loudly if still missing."""
    import shutil

    found = {n: shutil.which(n) for n in names}
    if all(found.values()):
        return found  # type: ignore[return-value]
    proc = subprocess.run([str(ROOT / ".ci" / script)], capture_output=True, text=True, timeout=1800)
    found = {n: shutil.which(n) for n in names}
    missing = [n for n, p in found.items() if not p]
    assert not missing, f".ci/{script} did not provide {missing} (rc={proc.returncode}):\n{proc.stderr[-3000:]}"
    return found  # type: ignore[return-value]


class OtlpReceiver:
    """An OTLP/gRPC metrics receiver built from opentelemetry-proto + grpcio (in-process)."""

    def __init__(self, port: int) -> None:
        import grpc
        from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc

        receiver = self

        class Servicer(metrics_service_pb2_grpc.MetricsServiceServicer):
            def Export(self, request, context):  # noqa: N802 - gRPC's name
                with receiver._lock:
                    receiver.requests.append(request)
                return metrics_service_pb2.ExportMetricsServiceResponse()

        self.port = port
        self.requests: list[Any] = []
        self._lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Servicer(), self._server)
        bound = self._server.add_insecure_port(f"127.0.0.1:{port}")
        assert bound == port, f"could not bind 127.0.0.1:{port}"

    def start(self) -> OtlpReceiver:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=None)

    def metric_names(self) -> set[str]:
        with self._lock:
            return {
                m.name
                for r in self.requests
                for rm in r.resource_metrics
                for sm in rm.scope_metrics
                for m in sm.metrics
            }


def write_gold(spark: Any, tables: Any, name: str, rows: list[dict[str, Any]]) -> None:
    """Overwrite gold table `name` with `rows` (dicts; missing columns are NULL), schema from tables.yaml."""
    from pyspark.sql.types import StructType

    from streaming_obs.sqlfiles import table_specs

    schema = StructType.fromDDL(table_specs()["gold"][name]["columns"])
    data = [tuple(row.get(f.name) for f in schema.fields) for row in rows]
    spark.createDataFrame(data, schema).write.format("delta").mode("overwrite").save(tables.gold(name).path)


def write_cost_fixture(spark: Any, tables: Any, today: Any) -> None:
    """Small gold tables for the cost gauges: two workspaces, USD and EUR, unpriced usage, anomalies."""
    from datetime import timedelta
    from decimal import Decimal as D

    yesterday = today - timedelta(days=1)
    base = {"usage_date": today, "billing_origin_product": "JOBS"}
    write_gold(
        spark,
        tables,
        "cost_daily",
        [
            {
                **base,
                "workspace_id": "ws1",
                "sku_name": "JOBS",
                "usage_unit": "DBU",
                "currency_code": "USD",
                "list_cost": D("10"),
                "unpriced_quantity": D("0"),
                "usage_quantity": D("20"),
            },
            {
                **base,
                "workspace_id": "ws1",
                "sku_name": "SQL",
                "usage_unit": "DBU",
                "currency_code": "USD",
                "list_cost": D("0.5"),
                "unpriced_quantity": D("0"),
                "usage_quantity": D("1"),
            },
            {
                **base,
                "workspace_id": "ws1",
                "sku_name": "NEW_SKU",
                "usage_unit": "DBU",
                "currency_code": None,
                "list_cost": D("0"),
                "unpriced_quantity": D("3"),
                "usage_quantity": D("3"),
            },
            {
                **base,
                "workspace_id": "ws2",
                "sku_name": "JOBS",
                "usage_unit": "DBU",
                "currency_code": "USD",
                "list_cost": D("2"),
                "unpriced_quantity": D("0"),
                "usage_quantity": D("4"),
            },
            {  # a second price list: its own series, never summed with USD
                **base,
                "workspace_id": "ws2",
                "sku_name": "JOBS_EU",
                "usage_unit": "DBU",
                "currency_code": "EUR",
                "list_cost": D("7"),
                "unpriced_quantity": D("0"),
                "usage_quantity": D("7"),
            },
            {
                **base,
                "usage_date": yesterday,
                "workspace_id": "ws1",
                "sku_name": "JOBS",
                "usage_unit": "DBU",
                "currency_code": "USD",
                "list_cost": D("100"),
                "unpriced_quantity": D("7"),
                "usage_quantity": D("200"),
            },
        ],
    )
    write_gold(
        spark,
        tables,
        "cost_by_job_daily",
        [
            {
                "usage_date": today,
                "workspace_id": "ws1",
                "job_id": "j1",
                "currency_code": "USD",
                "job_name": "etl",
                "list_cost": D("5"),
            },
            {
                "usage_date": today,
                "workspace_id": "ws1",
                "job_id": "j2",
                "currency_code": "USD",
                "job_name": "ml",
                "list_cost": D("3"),
            },
            {
                "usage_date": today,
                "workspace_id": "ws2",
                "job_id": "j3",
                "currency_code": "USD",
                "job_name": "bi",
                "list_cost": D("1"),
            },
            # unpriced: no currency, so not cost (would otherwise top the ranking as currency="")
            {
                "usage_date": today,
                "workspace_id": "ws2",
                "job_id": "j4",
                "currency_code": None,
                "job_name": "new-sku",
                "list_cost": D("50"),
            },
        ],
    )
    write_gold(
        spark,
        tables,
        "cost_by_tag_daily",
        [
            {
                "usage_date": today,
                "workspace_id": "ws1",
                "tag_key": "team",
                "tag_value": "a",
                "currency_code": "USD",
                "list_cost": D("4"),
            },
            {
                "usage_date": today,
                "workspace_id": "ws2",
                "tag_key": "team",
                "tag_value": "a",
                "currency_code": "USD",
                "list_cost": D("2"),
            },
            {
                "usage_date": today,
                "workspace_id": "ws1",
                "tag_key": "team",
                "tag_value": "b",
                "currency_code": "USD",
                "list_cost": D("2"),
            },
            {
                "usage_date": today,
                "workspace_id": "ws1",
                "tag_key": "team",
                "tag_value": "(untagged)",
                "currency_code": "USD",
                "list_cost": D("1"),
            },
            {
                "usage_date": today,
                "workspace_id": "ws1",
                "tag_key": "project",
                "tag_value": "x",
                "currency_code": "USD",
                "list_cost": D("9"),
            },
        ],
    )
    write_gold(
        spark,
        tables,
        "cost_anomalies",
        [
            {"usage_date": today, "workspace_id": "ws1", "sku_name": "JOBS", "is_anomaly": True, "z_score": 4.0},
            {"usage_date": yesterday, "workspace_id": "ws1", "sku_name": "SQL", "is_anomaly": True, "z_score": 3.5},
            {"usage_date": today - timedelta(days=3), "workspace_id": "ws2", "sku_name": "JOBS", "is_anomaly": True},
            {"usage_date": today, "workspace_id": "ws2", "sku_name": "JOBS", "is_anomaly": False, "z_score": 0.1},
        ],
    )
    write_gold(
        spark,
        tables,
        "idle_compute_daily",
        [
            {"usage_date": today, "workspace_id": "ws1", "cluster_id": "c1", "currency_code": "USD", "idle_list_cost": D("3.5")},
            {"usage_date": today, "workspace_id": "ws1", "cluster_id": "c2", "currency_code": "USD", "idle_list_cost": D("1.5")},
            {"usage_date": today, "workspace_id": "ws2", "cluster_id": "c3", "currency_code": "USD", "idle_list_cost": D("2")},
            {"usage_date": today, "workspace_id": "ws2", "cluster_id": "c4", "currency_code": None, "idle_list_cost": D("0")},
            {"usage_date": yesterday, "workspace_id": "ws1", "cluster_id": "c1", "currency_code": "USD", "idle_list_cost": D("100")},
        ],
    )
    # budgets (BUDGETS below): today's row is the latest of the month; last month's and a budget
    # no longer configured are not exported
    b = {"budget_name": "data-team", "currency_code": "USD"}
    write_gold(
        spark,
        tables,
        "budget_status_daily",
        [
            {**b, "usage_date": today, "mtd_cost": D("85"), "spend_ratio": 0.85, "forecast_ratio": 1.1},
            {**b, "usage_date": today - timedelta(days=40), "spend_ratio": 0.99, "forecast_ratio": 0.99},
            {"budget_name": "sql", "currency_code": "EUR", "usage_date": today, "spend_ratio": 0.1, "forecast_ratio": 0.4},
            {"budget_name": "gone", "currency_code": "USD", "usage_date": today, "spend_ratio": 5.0, "forecast_ratio": 5.0},
        ],
    )


#: the budgets of the cost fixture's settings
BUDGETS = [{"name": "data-team", "monthly_amount": 100},
           {"name": "sql", "monthly_amount": 50, "currency": "EUR", "thresholds": [75, 100]}]
