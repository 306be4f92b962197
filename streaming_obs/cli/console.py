"""The demo's live console: what it shows and how it is computed, apart from Spark and the runner.

* `SourceTracker` follows each query's last progress (one py4j call per query per tick) and keeps
  per source: batches, restarts, the last batch time, whether it is falling behind its trigger,
  and the freshness from source commit to gold — the newest source commit that the source's own
  query had written before a gold batch that has since completed began.
* `Figures` are read from gold and ops every few seconds by `FigureReader` (a background thread,
  so a slow read never stalls the supervisor loop).
* `render` draws the screen for a terminal; `summary_line` is the one line printed instead every
  N seconds when stdout is not a terminal.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table

from streaming_obs.cli.progress import progress_dict
from streaming_obs.config.models import SOURCE_NAMES
from streaming_obs.logs import get_logger
from streaming_obs.observations import FRESHNESS_FIELD, is_freshness_name

__all__ = ["SourceTracker", "SourceRow", "Figures", "FigureReader", "render", "summary_line", "source_of"]

log = get_logger(__name__)
GOLD = "gold"
#: the source whose own query keeps a gold table (cost_daily)
HOT_SOURCE = "billing_usage"
# Longest first: "job_task_run_timeline" must not be taken for "job_run_timeline".
_BY_LENGTH = sorted(SOURCE_NAMES, key=len, reverse=True)


def source_of(query_name: str | None) -> str | None:
    """The source a query serves (`gold` for the gold query), from its name; None if unknown."""
    if not query_name:
        return None
    if query_name == GOLD or query_name.startswith(GOLD):
        return GOLD
    for s in _BY_LENGTH:
        if query_name == s or query_name.endswith(f"_{s}"):
            return s
    return None


def _epoch(ts: Any) -> float | None:
    if ts is None:
        return None
    if hasattr(ts, "timestamp") and not isinstance(ts, str):
        return (ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)).timestamp()
    try:
        return datetime.fromisoformat(str(ts).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _commit_ts(p: dict[str, Any]) -> float | None:
    for name, value in (p.get("observedMetrics") or {}).items():
        if not is_freshness_name(name):
            continue
        obs = value.asDict() if hasattr(value, "asDict") else value
        return _epoch((obs or {}).get(FRESHNESS_FIELD))
    return None


@dataclass
class SourceRow:
    """What the console shows for one source (or for gold)."""

    source: str
    queries: set[str] = field(default_factory=set)
    batches: int = 0
    restarts: int = 0
    last_batch_s: float | None = None
    behind: bool = False
    freshness_s: float | None = None
    #: (batch end, newest source commit) of the source's most downstream query, newest last
    written: list[tuple[float, float]] = field(default_factory=list)


class SourceTracker:
    """Per source: batches, restarts, last batch time, falling behind, freshness to gold."""

    def __init__(self, default_interval_s: float) -> None:
        self.default_interval_s = default_interval_s
        self.rows: dict[str, SourceRow] = {}
        self._seen: dict[str, Any] = {}  # query name -> last batch id counted
        self._gold_started: float | None = None  # start of the newest completed gold batch
        self._intervals: dict[str, float] = {}

    def interval_of(self, query: Any) -> float:
        """The query's processing-time trigger interval (Spark's own), else the configured one."""
        name = query.name
        if name not in self._intervals:
            try:
                self._intervals[name] = query._jsq.streamingQuery().trigger().intervalMs() / 1000.0
            except Exception:  # not a JVM query (tests) or not a processing-time trigger
                self._intervals[name] = self.default_interval_s
        return self._intervals[name]

    def update(self, queries: list[Any], restarts: dict[str, int] | None = None) -> None:
        """Take in each query's last progress (call about once a second)."""
        restarts = restarts or {}
        per_source: dict[str, int] = {}
        for q in queries:  # every name first: which query is a source's most downstream
            source = source_of(q.name)
            if source is not None:
                self.rows.setdefault(source, SourceRow(source)).queries.add(q.name)
        for q in queries:
            source = source_of(q.name)
            if source is None:
                continue
            row = self.rows[source]
            per_source[source] = per_source.get(source, 0) + restarts.get(q.name, 0)
            p = progress_dict(q.lastProgress)
            batch = p.get("batchId")
            if batch is None or self._seen.get(q.name) == batch:
                continue
            self._seen[q.name] = batch
            duration = ((p.get("durationMs") or {}).get("triggerExecution") or 0) / 1000.0
            if int(p.get("numInputRows") or 0) > 0:
                row.batches += 1
            row.last_batch_s = duration
            row.behind = duration > self.interval_of(q)
            started = _epoch(p.get("timestamp"))
            if started is None:
                continue
            if source == GOLD:
                self._gold_started = started
                continue
            commit = _commit_ts(p)
            if commit is not None and self._most_downstream(q.name, row):
                row.written.append((started + duration, commit))
                del row.written[:-200]
        for source, n in per_source.items():
            self.rows[source].restarts = n

    @staticmethod
    def _most_downstream(name: str, row: SourceRow) -> bool:
        """Gold reads silver: a source's silver query counts when there is one."""
        silver = [n for n in row.queries if n.startswith("silver")]
        return not silver or name in silver

    def freshness(self, now: float | None = None) -> dict[str, float | None]:
        """Seconds from the newest source commit that has reached gold to now, per source."""
        now = now if now is not None else datetime.now(timezone.utc).timestamp()
        out: dict[str, float | None] = {}
        for source, row in self.rows.items():
            if source == GOLD:
                continue
            if source == HOT_SOURCE:
                # the usage query writes cost_daily itself: a finished batch has reached gold
                reached = [c for _end, c in row.written]
            else:
                reached = [c for end, c in row.written if self._gold_started is not None and end <= self._gold_started]
            row.freshness_s = max(0.0, now - max(reached)) if reached else None
            out[source] = row.freshness_s
        return out

    def ordered(self) -> list[SourceRow]:
        """Rows in data-path order, gold last."""
        order = {s: i for i, s in enumerate(SOURCE_NAMES)}
        return sorted(self.rows.values(), key=lambda r: order.get(r.source, len(order)))


@dataclass
class Figures:
    """What the console reads from gold and ops."""

    workspaces: list[tuple[str, str, float]] = field(default_factory=list)  # workspace, currency, cost
    jobs: list[tuple[str, str, str, float]] = field(default_factory=list)  # workspace, job id, name, cost
    quality: float | None = None
    quarantined_by: list[tuple[str, str, int]] = field(default_factory=list)  # rule, table, rows
    anomalies: list[tuple[str, str, str, float, float]] = field(default_factory=list)  # date, ws, sku, cost, z
    #: budget, currency, month to date, amount, forecast, forecast low, forecast high (latest row this month)
    budgets: list[tuple[str, str, float, float, float, float, float]] = field(default_factory=list)
    #: workspace, cluster, currency, idle share, idle list cost (the last 7 days, top by idle cost)
    idle: list[tuple[str, str, str, float, float]] = field(default_factory=list)
    #: workspace, job id, run id, currency, list cost, allocated share (finished today, top by cost)
    runs: list[tuple[str, str, str, str, float, float]] = field(default_factory=list)
    read_at: datetime | None = None
    error: str | None = None

    @property
    def cost_today(self) -> float:
        """Today's list cost over every workspace (all currencies added; the demo has one)."""
        return sum(c for _, _, c in self.workspaces)


def read_figures(spark: Any, tables: Any, today: Any | None = None) -> Figures:
    """Today's cost by workspace and top jobs, quality, the last quarantining rules, anomalies."""
    from pyspark.sql import functions as F

    today = today or datetime.now(timezone.utc).date()
    fig = Figures()
    costs = tables.gold("cost_daily").read(spark).where(F.col("usage_date") == F.lit(today))
    fig.workspaces = [(str(r["workspace_id"]), str(r["currency_code"] or ""), float(r["c"] or 0)) for r in
                      costs.groupBy("workspace_id", "currency_code").agg(F.sum("list_cost").alias("c"))
                      .orderBy(F.desc("c")).limit(5).collect()]
    jobs = tables.gold("cost_by_job_daily").read(spark).where(F.col("usage_date") == F.lit(today))
    fig.jobs = [(str(r["workspace_id"]), str(r["job_id"]), str(r["job_name"] or ""), float(r["c"] or 0)) for r in
                jobs.groupBy("workspace_id", "job_id", "job_name").agg(F.sum("list_cost").alias("c"))
                .orderBy(F.desc("c")).limit(5).collect()]
    q = tables.ops("quality_results")
    if q.exists(spark):
        qr = q.read(spark)
        agg = qr.agg(F.sum("passed").alias("p"), F.sum("failed").alias("f")).head()
        if agg and agg["p"] is not None and (agg["p"] + agg["f"]) > 0:
            fig.quality = agg["p"] / (agg["p"] + agg["f"])
        fig.quarantined_by = quarantined_by(qr)
    anomalies = tables.gold("cost_anomalies")
    if anomalies.exists(spark):
        fig.anomalies = [(str(r["usage_date"]), str(r["workspace_id"]), str(r["sku_name"]), float(r["list_cost"] or 0),
                          float(r["z_score"] or 0)) for r in
                         anomalies.read(spark).where("is_anomaly").orderBy(F.desc("usage_date"), F.desc("z_score"))
                         .limit(4).collect()]
    fig.budgets = read_budgets(spark, tables, today)
    fig.idle = read_idle(spark, tables, today)
    fig.runs = read_expensive_runs(spark, tables, today)
    fig.read_at = datetime.now(timezone.utc)
    return fig


def quarantined_by(results: Any, limit: int = 3) -> list[tuple[str, str, int]]:
    """The rules that quarantined rows most recently: (rule, table, rows in its latest batch).

    `rows_quarantined` of a quality_results row is the batch's total, repeated on every rule's
    row; a rule's own count is `failed` on a rule whose action is quarantine."""
    from pyspark.sql import functions as F

    last = (results.where((F.col("action") == "quarantine") & (F.col("failed") > 0)).groupBy("rule", "table_name")
            .agg(F.max("recorded_at").alias("at"), F.max_by("failed", "recorded_at").alias("n"))
            .orderBy(F.desc("at"), "rule").limit(limit).collect())
    return [(str(r["rule"]), str(r["table_name"]), int(r["n"] or 0)) for r in last]


def read_budgets(spark: Any, tables: Any, today: Any) -> list[tuple[str, str, float, float, float, float, float]]:
    """Each configured budget's latest row of this month (gold budget_status_daily), by forecast share."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    names = sorted(b.name for b in tables.settings.budgets)
    ref = tables.gold("budget_status_daily")
    if not names or not ref.exists(spark):
        return []
    rows = (ref.read(spark).where(F.col("usage_date").between(F.lit(today.replace(day=1)), F.lit(today)))
            .where(F.col("budget_name").isin(names))
            .withColumn("rank", F.row_number().over(Window.partitionBy("budget_name").orderBy(F.desc("usage_date"))))
            .where("rank = 1").orderBy(F.desc("forecast_ratio"), "budget_name").collect())
    return [(str(r["budget_name"]), str(r["currency_code"]), float(r["mtd_cost"]), float(r["monthly_amount"]),
             float(r["forecast_cost"]), float(r["forecast_low"]), float(r["forecast_high"])) for r in rows]


def read_idle(spark: Any, tables: Any, today: Any, days: int = 7) -> list[tuple[str, str, str, float, float]]:
    """The clusters with the most idle list cost over the last `days` days (gold idle_compute_daily)."""
    from datetime import timedelta

    from pyspark.sql import functions as F

    ref = tables.gold("idle_compute_daily")
    if not ref.exists(spark):
        return []
    rows = (ref.read(spark).where(F.col("usage_date").between(F.lit(today - timedelta(days=days - 1)), F.lit(today)))
            .where(F.col("currency_code").isNotNull())
            .groupBy("workspace_id", "cluster_id", "currency_code")
            .agg(F.sum("idle_list_cost").alias("cost"), F.sum("node_hours_idle").alias("idle"),
                 F.sum("node_hours_up").alias("up"))
            .where(F.col("cost") > 0).orderBy(F.desc("cost"), "workspace_id", "cluster_id").limit(5).collect())
    return [(str(r["workspace_id"]), str(r["cluster_id"]), str(r["currency_code"]),
             float(r["idle"] or 0) / float(r["up"]) if r["up"] else 0.0, float(r["cost"])) for r in rows]


def read_expensive_runs(spark: Any, tables: Any, today: Any, n: int = 5) -> list[tuple[str, str, str, str, float, float]]:
    """The `n` most expensive runs that finished today, all compute (gold job_run_cost)."""
    from pyspark.sql import functions as F

    ref = tables.gold("job_run_cost")
    if not ref.exists(spark):
        return []
    rows = (ref.read(spark).where(F.col("run_date") == F.lit(today)).where(F.col("list_cost") > 0)
            .orderBy(F.desc("list_cost"), "workspace_id", "run_id").limit(n).collect())
    return [(str(r["workspace_id"]), str(r["job_id"]), str(r["run_id"]), str(r["currency_code"] or ""),
             float(r["list_cost"]), float(r["allocated_list_cost"])) for r in rows]


def runs_table(runs: list[tuple[str, str, str, str, float, float]]) -> Table:
    """The most expensive runs today: list cost, of it the share allocated from all-purpose clusters."""
    rt = Table(title="most expensive runs today (list cost, all compute)", expand=True)
    for col in ("job/run", "list cost", "allocated"):
        rt.add_column(col, justify="left" if col == "job/run" else "right")
    for ws, job, run_id, cur, cost, allocated in runs:
        rt.add_row(f"{ws}/{job}/{run_id}"[:48], f"{_money(cost)} {cur}".strip(), _money(allocated) if allocated else "")
    return rt


def idle_table(idle: list[tuple[str, str, str, float, float]]) -> Table:
    """The idle clusters panel: idle share and estimated idle list cost over the last 7 days."""
    it = Table(title="idle clusters, last 7 days (estimated list cost)", expand=True)
    for col in ("cluster", "idle", "idle cost"):
        it.add_column(col, justify="left" if col == "cluster" else "right")
    for ws, cluster, cur, share, cost in idle:
        it.add_row(f"{ws}/{cluster}"[:40], f"{share:.0%}", f"{_money(cost)} {cur}")
    return it


def budget_table(budgets: list[tuple[str, str, float, float, float, float, float]]) -> Table:
    """The budgets panel: spent and forecast against each budget's amount this month."""
    over = sum(1 for _, _, _, amount, forecast, _, _ in budgets if forecast > amount)
    bt = Table(title=f"budgets this month: {len(budgets)}, {over} forecast over", expand=True)
    for col in ("budget", "spent", "of budget", "forecast", "forecast range"):
        bt.add_column(col, justify="left" if col == "budget" else "right")
    for name, cur, mtd, amount, forecast, low, high in budgets:
        share = f"{mtd / amount:.0%}" if amount else "-"
        flag = " !" if forecast > amount else ""
        bt.add_row(name[:24], f"{_money(mtd)} {cur}", share, f"{forecast / amount:.0%}{flag}" if amount else "-",
                   f"{_money(low)} - {_money(high)}")
    return bt


class FigureReader:
    """Reads `Figures` every `every_s` seconds on a thread of its own until stopped."""

    def __init__(self, spark: Any, tables: Any, every_s: float = 10.0) -> None:
        self.spark, self.tables, self.every_s = spark, tables, every_s
        self.figures = Figures()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="console-figures", daemon=True)

    def start(self) -> FigureReader:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.read_once()
            self._stop.wait(self.every_s)

    def read_once(self) -> None:
        """Read the figures now (the final screen shows what the stop's last batches committed)."""
        try:
            self.figures = read_figures(self.spark, self.tables)
        except Exception as exc:  # a table being created right now: keep the last figures
            self.figures.error = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
            log.info("console figures not read", error=str(exc)[:300])

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop reading; returns once a read in progress has finished (before Spark stops)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)


def _s(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.0f}s" if v >= 10 else f"{v:.1f}s"


def _money(v: float) -> str:
    return f"{v:,.2f}"


def render(tracker: SourceTracker, fig: Figures, *, elapsed_s: float, metrics_url: str | None,
           stopping: bool = False, restarts_total: int = 0) -> Group:
    """The whole screen."""
    tracker.freshness()
    st = Table(title="sources: batches, restarts, freshness (source commit → gold)", expand=True, pad_edge=False)
    for col, just in (("source", "left"), ("batches", "right"), ("restarts", "right"), ("last batch", "right"),
                      ("behind", "center"), ("fresh to gold", "right")):
        st.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in tracker.ordered():
        st.add_row(r.source, str(r.batches), str(r.restarts), _s(r.last_batch_s), "yes" if r.behind else "",
                   "" if r.source == GOLD else _s(r.freshness_s))
    wt = Table(title=f"cost today (list, UTC): {_money(fig.cost_today)}", expand=True)
    wt.add_column("workspace")
    wt.add_column("list cost", justify="right")
    for ws, cur, c in fig.workspaces:
        wt.add_row(ws, f"{_money(c)} {cur}".strip())
    jt = Table(title="top jobs today", expand=True)
    for col in ("job", "name", "list cost"):
        jt.add_column(col, justify="right" if col == "list cost" else "left")
    for ws, job, name, c in fig.jobs:
        jt.add_row(f"{ws}/{job}", name[:28], _money(c))
    qt = Table(title=f"quality pass rate: {'-' if fig.quality is None else f'{fig.quality:.2%}'}", expand=True)
    qt.add_column("last quarantined by")
    qt.add_column("table")
    qt.add_column("rows", justify="right")
    for rule, table, n in fig.quarantined_by:
        qt.add_row(rule, table, str(n))
    at = Table(title=f"flagged anomalies: {len(fig.anomalies)}", expand=True)
    for col in ("date", "workspace", "sku", "z"):
        at.add_column(col)
    for d, ws, sku, _c, z in fig.anomalies:
        at.add_row(d, ws, sku[:24], f"{z:.1f}")
    pair1, pair2 = Table.grid(expand=True), Table.grid(expand=True)
    pair1.add_column(ratio=1)
    pair1.add_column(ratio=1)
    pair1.add_row(wt, jt)
    pair2.add_column(ratio=1)
    pair2.add_column(ratio=1)
    pair2.add_row(qt, at)
    state = ("stopping between batches ... (Ctrl-C again: stop at once)" if stopping
             else "Ctrl-C stops cleanly between batches")
    footer = (f"running {elapsed_s:.0f}s   restarts {restarts_total}   metrics: {metrics_url or 'off'}   {state}"
              + (f"\nlast read of gold failed: {fig.error}" if fig.error else ""))
    parts = [st, pair1, pair2]
    if fig.budgets or fig.idle:
        pair3 = Table.grid(expand=True)
        pair3.add_column(ratio=1)
        pair3.add_column(ratio=1)
        pair3.add_row(budget_table(fig.budgets) if fig.budgets else "", idle_table(fig.idle) if fig.idle else "")
        parts.append(pair3)
    if fig.runs:
        parts.append(runs_table(fig.runs))
    return Group(*parts, Panel(footer))


def summary_line(tracker: SourceTracker, fig: Figures, *, elapsed_s: float, restarts_total: int = 0) -> str:
    """One line for a log or a pipe: cost, freshness, quality, anomalies, batches, restarts."""
    fresh = {k: v for k, v in tracker.freshness().items() if v is not None}
    worst = max(fresh.items(), key=lambda kv: kv[1]) if fresh else None
    behind = sorted(r.source for r in tracker.rows.values() if r.behind)
    batches = sum(r.batches for r in tracker.rows.values())
    currency = next((cur for _, cur, _ in fig.workspaces if cur), "")
    parts = [
        f"[{elapsed_s:5.0f}s] cost today {_money(fig.cost_today)} {currency}".rstrip()
        + f" ({len(fig.workspaces)} workspaces)",
        "freshness to gold " + (f"max {_s(worst[1])} ({worst[0]})" if worst else "-"),
        "quality " + ("-" if fig.quality is None else f"{fig.quality:.2%}"),
        f"anomalies {len(fig.anomalies)}",
    ]
    if fig.budgets:
        over = [name for name, _, _, amount, forecast, _, _ in fig.budgets if forecast > amount]
        parts.append(f"budgets {len(fig.budgets)}, forecast over: " + (", ".join(over) if over else "none"))
    parts += [
        f"batches {batches}, restarts {restarts_total}",
        "behind: " + (", ".join(behind) if behind else "none"),
    ]
    return " | ".join(parts)
