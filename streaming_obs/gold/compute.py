"""Recompute gold tables from silver for a scope (or everything), and MERGE them.

The SQL of each table lives in sql/gold/; this module decides which silver rows are in scope
and how results are merged. Every recompute is a pure function of silver, so applying it twice
gives the same gold: the incremental path and the from-scratch path share this code and differ
only in the scope.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from streaming_obs.gold.budgets import BUDGET_TABLE
from streaming_obs.gold.budgets import from_scratch as budgets_from_scratch
from streaming_obs.gold.contract import with_contract_prices
from streaming_obs.gold.run_cost import RUN_COST_TABLE, keep_run_costs, usage_of_runs
from streaming_obs.gold.watermark import FOLLOW_TABLES, current_watermark, stamped
from streaming_obs.merge import merge_add, merge_upsert
from streaming_obs.resilience.operation import sql_operation
from streaming_obs.sqlfiles import load_sql, table_specs

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from streaming_obs.config.models import Settings
    from streaming_obs.tables import Tables

__all__ = ["GoldScope", "GoldWriter", "COST_TABLES", "FOCUS_TABLE", "ADDS", "GOLD_STEPS", "gold_step", "gold_steps", "recompute_all",
           "release_checkpoint", "run_gold_sql"]

#: the cost tables, all kept from priced usage
COST_TABLES = ("cost_daily", "cost_by_job_daily", "cost_by_tag_daily", "cost_by_compute_daily")
#: one row per usage record in FOCUS columns, kept with the cost tables
FOCUS_TABLE = "focus_costs"
#: what each cost table adds up over rows (names do not; job_runs, a distinct count, adds the
#: runs new to their key: `GoldWriter.add`).
#: net_cost is NULL on every row without contract prices, and NULL + NULL stays NULL.
ADDS = {
    "cost_daily": ("usage_quantity", "list_cost", "unpriced_quantity", "usage_rows", "net_cost"),
    "cost_by_job_daily": ("usage_quantity", "list_cost", "net_cost"),
    "cost_by_tag_daily": ("list_cost", "usage_quantity", "net_cost"),
    "cost_by_compute_daily": ("list_cost", "usage_quantity", "net_cost"),
}


def run_gold_sql(spark: SparkSession, name: str, **frames: DataFrame) -> DataFrame:
    """Run sql/gold/<name>.sql with DataFrames bound to its {placeholders}.

    Settings that the SQL needs come in as small DataFrames too: named `:parameters` do not
    survive Delta MERGE re-analysing its source plan.
    """
    return spark.sql(load_sql(f"gold/{name}.sql"), **frames)


@dataclass
class GoldScope:
    """What one batch must recompute. `None` for a part means "everything" (from scratch)."""

    usage_dates: set[date] | None = field(default_factory=set)
    #: (workspace_id, run_id): runs whose job_run_cost row and job_run_daily key are recomputed
    #: (touched runs, and every run of a cluster-hour whose pool or task time changed)
    run_refs: DataFrame | None = None
    all_runs: bool = False
    jobs: DataFrame | None = None  # (workspace_id, id) renamed jobs
    clusters: DataFrame | None = None
    warehouses: DataFrame | None = None
    hours: set[datetime] | None = field(default_factory=set)
    query_dates: set[date] | None = field(default_factory=set)
    #: dates whose cost_daily changed: their anomalies and those of the days they are baseline of
    anomaly_dates: set[date] | None = field(default_factory=set)
    #: dates of changed node timeline or usage (a day's idle compute moves with both)
    idle_dates: set[date] | None = field(default_factory=set)
    #: recompute budget_status_daily from scratch (the usage query keeps it incrementally)
    budgets: bool = False

    @classmethod
    def everything(cls) -> GoldScope:
        """The from-scratch scope."""
        return cls(usage_dates=None, all_runs=True, hours=None, query_dates=None, anomaly_dates=None,
                   idle_dates=None, budgets=True)


def _in(col: str, values: set | None) -> Column:
    return F.lit(True) if values is None else F.col(col).isin(sorted(values))


class GoldWriter:
    """Computes and merges gold for a scope, on one session (the batch's, inside foreachBatch)."""

    def __init__(self, spark: SparkSession, tables: Tables, settings: Settings, txn=None,
                 cost_tables: tuple[str, ...] = COST_TABLES, pins: dict[str, int] | None = None,
                 focus: bool = True, follow: bool = False, tag=None) -> None:
        self.spark = spark
        #: the cost tables (and whether focus_costs) this writer recomputes for a scope: in the
        #: stream the usage query keeps cost_daily (gold/hot.py) and the gold query's writer
        #: keeps none by scope; the others it brings up to silver by watermark (`follow`)
        self.cost_tables = cost_tables
        self.focus = focus
        self.follow = follow
        #: the silver versions the follow-on tables written by this writer equal (stamped in
        #: their commits: gold/watermark.py); None until a step pins them
        self.watermark: dict[str, int] | None = None
        #: after a catch-up (gold/follow.py): the usage dates it moved (None: all) and the
        #: watermark it reached, for the in-stream check
        self.followed: tuple[set | None, dict[str, int]] | None = None
        #: each follow-on table's latest stamp (`userMetadata`) before the catch-up: a replayed
        #: batch finds its own earlier commits there (lineage)
        self.stamps: dict[str, str | None] = {}
        self.tables = tables
        self.settings = settings
        self.txn = txn  # callable(step) -> context manager setting txnAppId/txnVersion, or None
        #: callable(step) -> context manager tagging commits only: a follow-on table's writes are
        #: exactly-once by their watermark, and a txn would skip a replay that has more to add
        self.tag = tag
        self.keys = {name: spec["key"] for name, spec in table_specs()["gold"].items()}
        self.merged: dict[str, int] = {}
        #: seconds each step of `apply` took, logged with the gold batch ("batch done", DEBUG)
        self.timings: dict[str, float] = {}
        #: silver versions to read instead of the latest (the gold query pins a batch's inputs so
        #: its in-stream reconciliation compares like with like; later changes come as touches)
        self.pins = dict(pins or {})

    # -- inputs ---------------------------------------------------------------------------
    def silver(self, source: str) -> DataFrame:
        """A silver table, at its pinned version if any."""
        return self.tables.silver(source).read(self.spark, self.pins.get(source))

    def priced_usage(self, usage: DataFrame) -> DataFrame:
        """Usage rows with their list price and, when configured, contract price (gold/contract.py)."""
        priced = run_gold_sql(self.spark, "priced_usage", usage=usage, prices=self.silver("list_prices"))
        return with_contract_prices(self.spark, priced, self.settings, self.tables,
                                    version=self.pins.get("account_prices"))

    def current_names(self, source: str, id_col: str, name_col: str) -> DataFrame:
        sql = load_sql("gold/current_names.sql").replace("{id_col}", id_col).replace("{name_col}", name_col)
        return self.spark.sql(sql, history=self.silver(source))

    # -- output ---------------------------------------------------------------------------
    def merge(self, table: str, df: DataFrame, scope: Column | None, *, keys_override: list[str] | None = None,
              update_only: bool = False) -> None:
        """MERGE a recompute into a gold table; target rows in `scope` missing from `df` are deleted.

        Each MERGE of a batch gets its own txnAppId (table and step), so a replay skips it.
        """
        ref = self.tables.gold(table)
        keys = keys_override or self.keys[table]
        step = f"{table}:{'names' if update_only else 'recompute'}"

        def _do() -> None:
            merge_upsert(self.spark, ref, df, keys, delete_scope=scope, update_only=update_only)

        # a rename moves no figure: it carries no watermark
        self._write(table, step, _do, f"gold recompute {table}", stamp=not update_only)

    def _write(self, table: str, step: str, do: Callable[[], None], what: str, *, stamp: bool = True) -> None:
        """One write to a gold table: under the batch's txn if any, a follow-on table's stamped
        with the watermark this writer reached (figures and watermark in one commit)."""
        ref = self.tables.gold(table)
        wm = self.watermark if stamp and table in FOLLOW_TABLES else None
        batch = self.tag if wm is not None else self.txn
        with sql_operation(what, target=ref.label, sql=f"sql/gold/{table}.sql"):
            if batch is None:
                with stamped(self.spark, wm):
                    do()
            else:
                with batch(step), stamped(self.spark, wm):
                    do()
        self.merged[table] = self.merged.get(table, 0) + 1

    def add(self, table: str, priced: DataFrame, dates: list) -> None:
        """Add new priced rows to a cost table (one MERGE): their aggregate to each key, the
        current name on a new key, and for cost_by_job_daily the runs they add to job_runs (a
        distinct count: `_with_new_runs`)."""
        ref = self.tables.gold(table)
        delta = self.cost_frame(table, priced)
        adds = ADDS[table]
        if table == "cost_by_job_daily":
            delta, adds = self._with_new_runs(delta, priced, dates), adds + ("job_runs",)
        prune = "t.usage_date IN ({})".format(", ".join(f"DATE'{d.isoformat()}'" for d in sorted(dates)))
        self._write(table, f"{table}:add", lambda: merge_add(self.spark, ref, delta, self.keys[table], adds, prune=prune),
                    f"gold add {table}")

    def append_focus(self, priced: DataFrame) -> None:
        """New records appended to focus_costs: every value is a function of the record and its
        price, and a record is priced once (silver keeps it once)."""
        ref = self.tables.gold(FOCUS_TABLE)
        rows = self.focus_frame(priced)
        self._write(FOCUS_TABLE, f"{FOCUS_TABLE}:add", lambda: ref.append(rows), f"gold add {FOCUS_TABLE}")

    def _with_new_runs(self, delta: DataFrame, priced: DataFrame, dates: list) -> DataFrame:
        """`delta` (cost_by_job_daily of the new rows `priced`) with job_runs = the runs the new
        rows add to each key: a (key, run) counts when silver had no row of it before them.

        Silver at the pinned versions is silver before plus the new rows (it is insert-only), so
        "before" is silver's rows of the new rows' runs, on their dates, less the new rows. Read
        by run id (`usage_of_runs`): Delta skips the files whose run ids hold none of them, where
        counting again read every row of the touched days.
        """
        keys = ["usage_date", "workspace_id", "job_id", "currency_code"]

        def key_runs(rows: DataFrame) -> DataFrame:
            # priced: the currency comes with the price (an unpriced row counts under NULL)
            return (rows.where(F.col("usage_metadata.job_id").isNotNull() & F.col("usage_metadata.job_run_id").isNotNull())
                    .select("usage_date", "workspace_id", F.col("usage_metadata.job_id").alias("job_id"), "currency_code",
                            F.col("usage_metadata.job_run_id").alias("run_id")).distinct())

        new = key_runs(priced)
        silver = self.silver("billing_usage").where(F.col("usage_date").isin(sorted(dates)))
        before = self.priced_usage(usage_of_runs(silver, new.select("workspace_id", "run_id"))).join(
            priced.select("record_id"), "record_id", "left_anti")
        seen = key_runs(before)
        on = [F.col(f"n.{k}").eqNullSafe(F.col(f"s.{k}")) for k in (*keys, "run_id")]
        added = (new.alias("n").join(seen.alias("s"), on, "left_anti")
                 .groupBy(*keys).agg(F.count(F.lit(1)).alias("__runs")))
        joined = delta.alias("d").join(added.alias("r"), [F.col(f"d.{k}").eqNullSafe(F.col(f"r.{k}")) for k in keys], "left")
        return joined.select(*[F.col(f"d.{c}") if c != "job_runs" else
                               F.coalesce(F.col("r.__runs"), F.lit(0)).cast("bigint").alias("job_runs")
                               for c in delta.columns])

    # -- tables ---------------------------------------------------------------------------
    def costs(self, dates: set[date] | None) -> None:
        """The writer's cost tables (cost_daily, cost_by_job_daily, cost_by_tag_daily,
        cost_by_compute_daily) and focus_costs for `dates`, from one materialised priced usage."""
        focus = self.focus
        if (dates is not None and not dates) or not (self.cost_tables or focus):
            return
        if self.watermark is None and (focus or set(self.cost_tables) & set(FOLLOW_TABLES)):
            # a follow-on table recomputed here equals silver at these versions: read at them
            # and stamp them, or its next catch-up would add again what this already counted
            self.watermark = current_watermark(self.spark, self.tables)
            self.pins.update(self.watermark)
        usage = self.silver("billing_usage").where(_in("usage_date", dates))
        # Materialised once: the four MERGEs below each re-read silver otherwise (Delta MERGE
        # plans its source afresh and did not use a persist()ed copy): 4-5 reads of the touched
        # days per batch, measured with Spark's scan metrics. A lost block fails the batch, which
        # replays exactly-once.
        priced = self.priced_usage(usage).localCheckpoint(eager=True)
        try:
            scope = _in("usage_date", dates)
            for table in self.cost_tables:
                self.merge(table, self.cost_frame(table, priced), scope)
            if focus:
                self.merge(FOCUS_TABLE, self.focus_frame(priced), scope)
        finally:
            release_checkpoint(priced)

    def focus_frame(self, priced: DataFrame) -> DataFrame:
        """focus_costs rows (one per usage record) from priced usage (gold/focus.py maps them)."""
        from streaming_obs.gold.focus import services_frame

        return run_gold_sql(self.spark, "focus_costs", priced_usage=priced, services=services_frame(self.spark))

    def cost_frame(self, table: str, priced: DataFrame) -> DataFrame:
        """One cost table's rows from priced usage (all of it, or the new rows of a batch)."""
        if table == "cost_daily":
            return run_gold_sql(self.spark, "cost_daily", priced_usage=priced)
        if table == "cost_by_job_daily":
            jobs = self.current_names("jobs", "job_id", "name")
            return run_gold_sql(self.spark, "cost_by_job_daily", priced_usage=priced, jobs_current=jobs)
        if table == "cost_by_tag_daily":
            untagged = self.settings.cost.untagged_value
            keys = self.spark.createDataFrame([(k, untagged) for k in self.settings.cost.tag_keys],
                                              "tag_key STRING, untagged_value STRING")
            return run_gold_sql(self.spark, "cost_by_tag_daily", priced_usage=priced, tag_keys=keys)
        return run_gold_sql(
            self.spark, "cost_by_compute_daily", priced_usage=priced,
            clusters_current=self.current_names("clusters", "cluster_id", "cluster_name"),
            warehouses_current=self.current_names("warehouses", "warehouse_id", "warehouse_name"))

    def renames(self, jobs: DataFrame | None, clusters: DataFrame | None, warehouses: DataFrame | None) -> None:
        """A renamed job or compute updates its current name on every existing gold row."""
        if jobs is not None:
            names = self.current_names("jobs", "job_id", "name").join(jobs.distinct(), ["workspace_id", "id"], "left_semi")
            self.merge("cost_by_job_daily", names.select("workspace_id", F.col("id").alias("job_id"),
                                                         F.col("name").alias("job_name")),
                       None, update_only=True, keys_override=["workspace_id", "job_id"])
        for frame, source, id_col, name_col, ctype in (
            (clusters, "clusters", "cluster_id", "cluster_name", "cluster"),
            (warehouses, "warehouses", "warehouse_id", "warehouse_name", "warehouse"),
        ):
            if frame is None:
                continue
            names = self.current_names(source, id_col, name_col).join(frame.distinct(), ["workspace_id", "id"], "left_semi")
            self.merge("cost_by_compute_daily", names.select(
                "workspace_id", F.lit(ctype).alias("compute_type"), F.col("id").alias("compute_id"),
                F.col("name").alias("compute_name")), None, update_only=True,
                keys_override=["workspace_id", "compute_type", "compute_id"])

    def job_runs(self, run_refs: DataFrame | None, all_runs: bool) -> None:
        """job_run_daily for every (workspace, job) a touched run belongs to, all its run dates.

        A late slice can move a run to another date or make it unfinished again, so the old
        (workspace, job, run_date) row must go: the recompute covers the whole (workspace, job)
        and the MERGE deletes that scope's rows the recompute no longer has. Its figures are a
        sum of job_run_cost's rows (kept just before, in `apply`, for the same touched runs):
        one gold row per finished run, so a job's history costs no silver read here.
        """
        if run_refs is None and not all_runs:
            return
        run_costs = self.tables.gold(RUN_COST_TABLE).read(self.spark)
        scope: Column | None = None
        if not all_runs:
            # the pairs come from silver's slices: a run that is no longer finished has left
            # job_run_cost, and its (workspace, job) must still lose its row
            touched = self.silver("job_run_timeline").join(run_refs.distinct(), ["workspace_id", "run_id"], "left_semi")
            pairs = [tuple(r) for r in touched.select("workspace_id", "job_id").distinct().collect()]
            if not pairs:
                return
            scope = _in_pairs(pairs)
            run_costs = run_costs.where(scope)
        self.merge("job_run_daily", run_gold_sql(self.spark, "job_run_daily", run_costs=run_costs), scope)

    def utilization(self, hours: set[datetime] | None) -> None:
        """cluster_utilization_hourly for the touched hours."""
        if hours is not None and not hours:
            return
        nodes = self.silver("node_timeline").where(_in_hours(hours))
        scope = None if hours is None else F.col("hour").isin(sorted(hours))
        self.merge("cluster_utilization_hourly", run_gold_sql(self.spark, "cluster_utilization_hourly", nodes=nodes,
                                                              params=self._idle_params()),
                   F.lit(True) if hours is None else scope)

    def _idle_params(self) -> DataFrame:
        return self.spark.createDataFrame([(float(self.settings.cost.idle.cpu_threshold_percent),)], "threshold DOUBLE")

    def idle(self, dates: set[date] | None) -> None:
        """idle_compute_daily for `dates`, from their rows of cluster_utilization_hourly (kept
        just before, in `apply`) and the clusters' cost of those days."""
        if dates is not None and not dates:
            return
        hourly = self.tables.gold("cluster_utilization_hourly").read(self.spark)
        if dates is not None:
            hourly = hourly.where(F.to_date("hour").isin(sorted(dates)))
        usage = (self.silver("billing_usage").where(_in("usage_date", dates))
                 .where(F.col("usage_metadata.cluster_id").isNotNull()))
        df = run_gold_sql(self.spark, "idle_compute_daily", hourly=hourly, priced_usage=self.priced_usage(usage))
        self.merge("idle_compute_daily", df, _in("usage_date", dates))

    def queries(self, dates: set[date] | None) -> None:
        """query_daily for the touched query dates."""
        if dates is not None and not dates:
            return
        q = self.silver("query_history").where(_in_dates_of("start_time", dates))
        self.merge("query_daily", run_gold_sql(self.spark, "query_daily", queries=q), _in("query_date", dates))

    def anomalies(self, usage_dates: set[date] | None) -> None:
        """cost_anomalies for the touched dates and the days whose baseline they are part of."""
        if usage_dates is not None and not usage_dates:
            return
        n = self.settings.cost.anomaly.baseline_days
        costs = self.tables.gold("cost_daily").read(self.spark)
        if usage_dates is None:
            dates_df = costs.select("usage_date").distinct()
            targets = None
        else:
            targets = {d + timedelta(days=i) for d in usage_dates for i in range(n + 1)}
            dates_df = self.spark.createDataFrame([(d,) for d in sorted(targets)], "usage_date DATE")
            costs = costs.where(F.col("usage_date").between(min(targets) - timedelta(days=n), max(targets)))
        a = self.settings.cost.anomaly
        params = self.spark.createDataFrame([(n, float(a.z_threshold), float(a.min_list_cost))],
                                            "n INT, z DOUBLE, min_cost DOUBLE")
        df = run_gold_sql(self.spark, "cost_anomalies", costs=costs, dates=dates_df, params=params)
        self.merge("cost_anomalies", df, _in("usage_date", targets))

    def apply(self, scope: GoldScope) -> dict[str, int]:
        """Recompute and merge everything in `scope`: the declared steps, in declared order."""
        for step in gold_steps():
            t0 = time.monotonic()
            GOLD_STEPS[step](self, scope)
            self.timings[step] = round(time.monotonic() - t0, 3)
        return dict(self.merged)


#: The steps that keep gold, by the name tables.yaml declares under each gold table's `steps`.
#: A step reads the part of the scope its tables declare and merges them.
GOLD_STEPS: dict[str, Callable[[GoldWriter, GoldScope], None]] = {}


def gold_step(name: str) -> Callable[[Callable[[GoldWriter, GoldScope], None]], Callable[[GoldWriter, GoldScope], None]]:
    """Register a gold step under `name` (a gold table in tables.yaml names it in `steps`)."""

    def register(fn: Callable[[GoldWriter, GoldScope], None]) -> Callable[[GoldWriter, GoldScope], None]:
        GOLD_STEPS[name] = fn
        return fn

    return register


def gold_steps() -> list[str]:
    """Step names in the order `GoldWriter.apply` runs them: as first declared in tables.yaml.

    Raises:
        KeyError: a table declares a step nobody registered.
    """
    order: list[str] = []
    for name, spec in table_specs()["gold"].items():
        for step in spec["steps"]:
            if step not in GOLD_STEPS:
                raise KeyError(f"sql/ddl/tables.yaml: gold.{name}.steps: no gold step named {step!r}")
            if step not in order:
                order.append(step)
    return order


gold_step("costs")(lambda w, s: w.costs(s.usage_dates))


gold_step("renames")(lambda w, s: w.renames(s.jobs, s.clusters, s.warehouses))
gold_step("run_costs")(lambda w, s: keep_run_costs(w, s.run_refs, s.all_runs))
gold_step("job_runs")(lambda w, s: w.job_runs(s.run_refs, s.all_runs))
gold_step("utilization")(lambda w, s: w.utilization(s.hours))
gold_step("idle")(lambda w, s: w.idle(s.idle_dates))
gold_step("queries")(lambda w, s: w.queries(s.query_dates))
gold_step("anomalies")(lambda w, s: w.anomalies(s.anomaly_dates))


@gold_step("budgets")
def _budgets(writer: GoldWriter, scope: GoldScope) -> None:
    # the usage query keeps budgets batch by batch; here only from scratch
    if scope.budgets:
        writer.merge(BUDGET_TABLE, budgets_from_scratch(writer), F.lit(True))


def release_checkpoint(df: DataFrame) -> bool:
    """Free the blocks of a `localCheckpoint()`ed DataFrame now; True if they were freed.

    `unpersist()` does not reach them (the DataFrame is not in the cache manager) and Spark
    would drop them only once the JVM garbage-collects the RDD: in a long-running stream that
    is one copy of the touched days per batch held for minutes.
    """
    try:
        df._jdf.queryExecution().logical().rdd().unpersist(False)
        return True
    except Exception:  # noqa: BLE001 - not a checkpointed plan (or a Connect session): GC frees it
        return False


def _in_pairs(pairs: list[tuple]) -> Column:
    """(workspace_id, job_id) in `pairs`, null-safe (a run may carry no job id). One flat IN of
    joined keys: a backfill touches thousands of jobs, and an OR per pair nests that deep."""

    def key(ws, job) -> Column:
        return F.concat_ws("\u0001", F.coalesce(ws, F.lit("\u0000")), F.coalesce(job, F.lit("\u0000")))

    wanted = sorted({"\u0001".join("\u0000" if v is None else str(v) for v in pair) for pair in pairs})
    return key(F.col("workspace_id"), F.col("job_id")).isin(wanted)


def _in_hours(hours: set[datetime] | None) -> Column:
    return F.lit(True) if hours is None else F.date_trunc("HOUR", F.col("start_time")).isin(sorted(hours))


def _in_dates_of(ts_col: str, dates: set[date] | None) -> Column:
    return F.lit(True) if dates is None else F.to_date(F.col(ts_col)).isin(sorted(dates))


def recompute_all(spark: SparkSession, tables: Tables, settings: Settings) -> dict[str, int]:
    """Rebuild every gold table from silver (the reference the incremental path must equal)."""
    return GoldWriter(spark, tables, settings).apply(GoldScope.everything())
