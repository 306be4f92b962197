"""Cost gauges: a periodic read of gold for the figures people alert on.

Every `telemetry.cost_metrics_interval_seconds` a background thread (a
`pyspark.InheritableThread`, so Spark's thread-local properties are handled) runs a few small
aggregations of today's (UTC) gold rows and replaces the gauge snapshot in one step, so a label
set that disappeared (yesterday's workspace, a job that fell out of the top N) stops being
exported. A gold table that does not exist yet reads as empty; a failed read keeps the previous
snapshot and is counted (`streaming_obs_cost_gauges_refresh_failures_total`). Every cost
series carries one currency (a `currency` label); rows without a price are usage, not cost.
Budgets (gold budget_status_daily) are read the same way: a budget taken out of
conf/budgets.yaml disappears from the gauges with the next snapshot.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from streaming_obs.logs import get_logger
from streaming_obs.telemetry.metrics import Instruments

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from streaming_obs.config.models import TelemetryConfig
    from streaming_obs.tables import Tables

__all__ = ["CostGauges", "read_cost_snapshot", "Snapshot"]

_log = get_logger(__name__)

Snapshot = dict[str, list[tuple[float, dict[str, str]]]]
LIST_COST = "streaming_obs.workspace.list_cost_today"
BY_JOB = "streaming_obs.job.list_cost_today"
BY_TAG = "streaming_obs.tag.list_cost_today"
UNPRICED = "streaming_obs.workspace.unpriced_usage_today"
ANOMALIES = "streaming_obs.workspace.cost_anomalies_open"
IDLE = "streaming_obs.workspace.idle_list_cost_today"
BUDGET_SPEND = "streaming_obs.budget.spend_ratio"
BUDGET_FORECAST = "streaming_obs.budget.forecast_ratio"
BUDGET_THRESHOLD = "streaming_obs.budget.threshold_ratio"


def _utc_today() -> date:
    return datetime.now(timezone.utc).date()


def _read(spark: SparkSession, tables: Tables, name: str) -> DataFrame | None:
    ref = tables.gold(name)
    return ref.read(spark) if ref.exists(spark) else None


def _f(value: Any) -> float:
    return 0.0 if value is None else float(value)


def _s(value: Any) -> str:
    return "" if value is None else str(value)


def read_cost_snapshot(
    spark: SparkSession, tables: Tables, *, today: date | None = None, top_n: int = 20, open_days: int = 2
) -> Snapshot:
    """Today's cost gauges from gold: {metric name: [(value, labels), ...]}.

    Args:
        today: the UTC day to report (default: now).
        top_n: jobs, and values per tag key, kept (the rest are not exported: cardinality).
        open_days: anomalies of the last `open_days` days (today included) count as open.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    day = today or _utc_today()
    snap: Snapshot = {LIST_COST: [], BY_JOB: [], BY_TAG: [], UNPRICED: [], ANOMALIES: [], IDLE: [], BUDGET_SPEND: [],
                      BUDGET_FORECAST: [], BUDGET_THRESHOLD: []}
    workspaces: set[str] = set()

    daily = _read(spark, tables, "cost_daily")
    if daily is not None:
        rows = (
            daily.where(F.col("usage_date") == F.lit(day))
            .groupBy("workspace_id", "currency_code", "usage_unit")
            .agg(F.sum("list_cost").alias("cost"), F.sum("unpriced_quantity").alias("unpriced"))
            .collect()
        )
        cost: dict[tuple[str, str], float] = defaultdict(float)
        unpriced: dict[tuple[str, str], float] = defaultdict(float)
        for r in rows:
            ws = _s(r["workspace_id"])
            workspaces.add(ws)
            if r["currency_code"] is not None:
                cost[(ws, r["currency_code"])] += _f(r["cost"])
            unpriced[(ws, _s(r["usage_unit"]))] += _f(r["unpriced"])
        snap[LIST_COST] = [(v, {"workspace_id": w, "currency": c}) for (w, c), v in sorted(cost.items())]
        snap[UNPRICED] = [(v, {"workspace_id": w, "usage_unit": u}) for (w, u), v in sorted(unpriced.items())]

    by_job = _read(spark, tables, "cost_by_job_daily")
    if by_job is not None:
        # Unpriced rows have no currency: they are not cost (see UNPRICED), and a series with
        # currency="" would mix them into the ranking. One currency per series.
        rows = (
            by_job.where((F.col("usage_date") == F.lit(day)) & F.col("currency_code").isNotNull())
            .groupBy("workspace_id", "job_id", "currency_code")
            .agg(F.sum("list_cost").alias("cost"), F.max("job_name").alias("job_name"))
            .orderBy(F.col("cost").desc_nulls_last())
            .limit(top_n)
            .collect()
        )
        snap[BY_JOB] = [
            (
                _f(r["cost"]),
                {
                    "workspace_id": _s(r["workspace_id"]),
                    "job_id": _s(r["job_id"]),
                    "job_name": _s(r["job_name"]),
                    "currency": _s(r["currency_code"]),
                },
            )
            for r in rows
        ]

    by_tag = _read(spark, tables, "cost_by_tag_daily")
    if by_tag is not None:
        ranked = (
            by_tag.where((F.col("usage_date") == F.lit(day)) & F.col("currency_code").isNotNull())
            .groupBy("tag_key", "tag_value", "currency_code")
            .agg(F.sum("list_cost").alias("cost"))
            .withColumn(
                "rank",
                F.row_number().over(Window.partitionBy("tag_key", "currency_code").orderBy(F.col("cost").desc_nulls_last())),
            )
            .where(F.col("rank") <= top_n)
            .collect()
        )
        snap[BY_TAG] = [
            (
                _f(r["cost"]),
                {"tag_key": _s(r["tag_key"]), "tag_value": _s(r["tag_value"]), "currency": _s(r["currency_code"])},
            )
            for r in ranked
        ]

    anomalies = _read(spark, tables, "cost_anomalies")
    counts: dict[str, float] = {ws: 0.0 for ws in workspaces}
    if anomalies is not None:
        since = day - timedelta(days=max(1, open_days) - 1)
        rows = (
            anomalies.where((F.col("usage_date") >= F.lit(since)) & (F.col("usage_date") <= F.lit(day)))
            .where(F.col("is_anomaly"))
            .groupBy("workspace_id")
            .count()
            .collect()
        )
        for r in rows:
            counts[_s(r["workspace_id"])] = float(r["count"])
    snap[ANOMALIES] = [(v, {"workspace_id": w}) for w, v in sorted(counts.items())]
    idle = _read(spark, tables, "idle_compute_daily")
    if idle is not None:
        rows = (
            idle.where((F.col("usage_date") == F.lit(day)) & F.col("currency_code").isNotNull())
            .groupBy("workspace_id", "currency_code")
            .agg(F.sum("idle_list_cost").alias("cost"))
            .collect()
        )
        snap[IDLE] = sorted(((_f(r["cost"]), {"workspace_id": _s(r["workspace_id"]), "currency": _s(r["currency_code"])})
                             for r in rows), key=lambda x: (x[1]["workspace_id"], x[1]["currency"]))
    snap.update(_budget_gauges(spark, tables, day))
    return snap


def _threshold_label(t: float) -> str:
    return f"{t:g}"


def _budget_gauges(spark: SparkSession, tables: Tables, day: date) -> Snapshot:
    """Spend and forecast ratios of each configured budget from its latest row of `day`'s month
    (up to `day`), and its thresholds; a budget with no row this month yet is not exported."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    out: Snapshot = {BUDGET_SPEND: [], BUDGET_FORECAST: [], BUDGET_THRESHOLD: []}
    budgets = {b.name: b for b in tables.settings.budgets}
    status = _read(spark, tables, "budget_status_daily") if budgets else None
    if status is None:
        return out
    latest = (
        status.where(F.col("usage_date").between(F.lit(day.replace(day=1)), F.lit(day)))
        .where(F.col("budget_name").isin(sorted(budgets)))
        .withColumn("rank", F.row_number().over(Window.partitionBy("budget_name").orderBy(F.col("usage_date").desc())))
        .where(F.col("rank") == 1)
        .select("budget_name", "currency_code", "spend_ratio", "forecast_ratio")
        .collect()
    )
    for r in sorted(latest, key=lambda r: r["budget_name"]):
        labels = {"budget": r["budget_name"], "currency": _s(r["currency_code"])}
        out[BUDGET_SPEND].append((_f(r["spend_ratio"]), labels))
        out[BUDGET_FORECAST].append((_f(r["forecast_ratio"]), labels))
        out[BUDGET_THRESHOLD] += [(t / 100.0, {**labels, "threshold": _threshold_label(t)})
                                  for t in budgets[r["budget_name"]].thresholds]
    return out


class CostGauges:
    """The background refresher of the cost gauges."""

    def __init__(
        self,
        spark: SparkSession,
        tables: Tables,
        instruments: Instruments,
        config: TelemetryConfig,
        *,
        today: Callable[[], date] | None = None,
    ) -> None:
        self.spark = spark
        self.tables = tables
        self.instruments = instruments
        self.config = config
        self._today = today or _utc_today  # tests pin the day their gold fixture holds
        self._stop = threading.Event()
        self._thread: Any = None
        self._refresh_lock = threading.Lock()
        self._failed_last = False

    def refresh(self) -> bool:
        """Read gold once and publish the snapshot; False (and counted) on failure."""
        with self._refresh_lock:
            try:
                sc = self.spark.sparkContext
                sc.setJobDescription("streaming_obs telemetry: cost gauges")
                snap = read_cost_snapshot(
                    self.spark,
                    self.tables,
                    today=self._today(),
                    top_n=self.config.cost_top_n,
                    open_days=self.config.anomaly_open_days,
                )
            except Exception as exc:
                self.instruments.note_cost_failure()
                if not self._failed_last:  # log the first of a run of failures, not each
                    _log.warning("telemetry: could not read cost gauges from gold", error=str(exc).splitlines()[0][:300])
                self._failed_last = True
                return False
            self._failed_last = False
            self.instruments.set_cost_snapshot(snap, time.time())
            return True

    def start(self) -> None:
        """Start the periodic refresh (first read right away)."""
        from pyspark import InheritableThread

        self._thread = InheritableThread(target=self._run, name="streaming_obs-cost-gauges", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(self.config.cost_metrics_interval_seconds)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop refreshing; a read in progress finishes in the background if it outlives timeout_s."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
