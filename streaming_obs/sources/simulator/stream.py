"""Continuous mode: every few seconds, append what the account produced since the last step."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Callable

from pyspark.sql import functions as F

from streaming_obs.config.models import SOURCE_NAMES
from streaming_obs.logs import get_logger
from streaming_obs.sources.simulator import writer
from streaming_obs.sources.simulator.audit import audit_frame
from streaming_obs.sources.simulator.catalog import SKUS, UNPRICED_SKU
from streaming_obs.sources.simulator.compute import (
    ap_sessions_between,
    cluster_row,
    job_cluster_row,
    node_sessions,
    node_timeline_frame,
    warehouse_row,
)
from streaming_obs.sources.simulator.history import as_utc, universe_for
from streaming_obs.sources.simulator.lakeflow import job_row, run_timeline_rows, runs_between, task_timeline_rows
from streaming_obs.sources.simulator.query import MAX_STATEMENT_SECONDS, query_history_frame
from streaming_obs.sources.simulator.rand import UTC, day_start, floor_hour, sub_rng
from streaming_obs.sources.simulator.usage import (
    CORRECTION_PERIOD,
    corrections_frame,
    initial_price_rows,
    price_row,
    usage_frame,
    usage_slots,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from streaming_obs.config.models import Settings

__all__ = ["SimulatorStream"]

log = get_logger(__name__)
_DAY = timedelta(days=1)
_HOUR = timedelta(hours=1)


class SimulatorStream:
    """Appends one flush worth of new data to every simulated system table per `step`.

    A step covering (last, now] writes: the usage of the current hour at `rows_per_second`
    (a `late_share` of it belonging to 1-3 days earlier, and RETRACTION + RESTATEMENT pairs for
    some rows of the previous step), the run and task slices and node minutes that ended, the
    job clusters that started, query-history rows and audit events whose time passed; every
    `rename_every` steps a job, a cluster and a warehouse change (new SCD2 rows) and every
    `price_change_every` steps a list price changes (UPDATE of the open row + a new row).

    With `others_every` = k > 1 the tables other than usage are written on every k-th step only,
    each time covering everything since their last write (the same rows, in fewer commits), so
    usage lands in small, frequent commits as a busy account's billing feed does.

    Missing tables are created on the first step, and the dimension tables (jobs, clusters,
    warehouses, list prices) seeded, so the stream also works without `simulate_history`.
    The data depends only on the seed and the `now` of each step.
    """

    def __init__(
        self,
        spark: SparkSession,
        settings: Settings,
        *,
        rows_per_second: float | None = None,
        seed: int | None = None,
        start: datetime | None = None,
        late_share: float = 0.1,
        rename_every: int = 60,
        price_change_every: int = 120,
        others_every: int = 1,
        catch_up_seconds: float | None = None,
        sink: Callable[[str, DataFrame], int] | None = None,
    ) -> None:
        sim = settings.simulator
        self.spark = spark
        self.settings = settings
        self.seed = sim.seed if seed is None else int(seed)
        self.rows_per_second = float(sim.rows_per_second if rows_per_second is None else rows_per_second)
        if self.rows_per_second <= 0:
            raise ValueError("rows_per_second must be > 0")
        self.flush_seconds = float(sim.flush_seconds)
        self.late_share = late_share
        self.rename_every = max(1, rename_every)
        self.price_change_every = max(1, price_change_every)
        #: the tables other than usage are written every `others_every` steps (covering every
        #: step since their last write): usage then lands in more, smaller commits
        self.others_every = max(1, others_every)
        #: the first step's usage rows are at most `rows_per_second` x this (None: no cap). The
        #: demo's history ends at the hour and its first step covers the minutes since: at
        #: rows_per_second for all of them that was ~50 000 rows at 42 minutes past, one batch that
        #: held the first cost for minutes. The step's quantity stays about the same (fewer rows).
        self.catch_up_seconds = catch_up_seconds
        self.last_others: datetime | None = as_utc(start) if start is not None else None
        self._others_steps = 0
        self.universe = universe_for(settings, self.seed)
        self.last: datetime | None = as_utc(start) if start is not None else None
        self.steps = 0
        self.totals: dict[str, int] = defaultdict(int)
        self._carry = 0.0
        self._prev_usage: tuple[list[tuple], int, str] | None = None
        #: where a step's data goes: None appends it to the Delta tables through Spark; a callable
        #: `(source, DataFrame) -> rows` takes it instead (the benchmark turns steps into Arrow
        #: ahead of a timed window and appends them later without Spark, see benchmarks/feed.py).
        #: The first step's table creation and the price changes (a MERGE) always use Spark.
        self.sink = sink

    # -- one step ---------------------------------------------------------------------------

    def step(self, now: datetime | None = None) -> dict[str, int]:
        """Append the data of (last step, now] to usage (and, on every `others_every`-th step, of
        their last write to now to the other tables); returns rows written per table."""
        now = as_utc(now) if now is not None else datetime.now(UTC)
        lo = self.last if self.last is not None else now - timedelta(seconds=self.flush_seconds)
        counts = dict.fromkeys(SOURCE_NAMES, 0)
        if now <= lo:
            return counts
        if self.steps == 0:
            self._bootstrap(counts)
        uni = self.universe
        others = self.steps % self.others_every == 0
        lo_o = self.last_others if self.last_others is not None else lo
        runs = runs_between(uni, day_start(min(lo, lo_o)) - _DAY, now)
        aps = ap_sessions_between(uni, day_start(min(lo, lo_o)) - _DAY, now)
        rows: dict[str, list] = {}
        frames: dict[str, DataFrame | None] = {}
        if others:
            rows = {
                "job_run_timeline": run_timeline_rows(uni, runs, lo_o, now),
                "job_task_run_timeline": task_timeline_rows(uni, runs, lo_o, now),
                "clusters": [job_cluster_row(uni, r) for r in runs if r.new_cluster and lo_o < r.start <= now],
            }
            frames = {
                "node_timeline": node_timeline_frame(self.spark, uni, node_sessions(runs, aps), lo_o, now),
                "query_history": query_history_frame(
                    self.spark, uni, floor_hour(lo_o - timedelta(seconds=MAX_STATEMENT_SECONDS + 60)), now, lo_o, now
                ),
                "audit": audit_frame(self.spark, uni, floor_hour(lo_o), now, lo_o, now),
            }
            if self._others_steps % self.rename_every == self.rename_every - 1:
                self._renames(now, rows)
        frames["billing_usage"] = self._usage(lo, now, runs, aps)
        for name, data in rows.items():
            if self.sink is None:
                counts[name] += writer.write_rows(self.spark, self.settings, name, data)
            elif data:
                counts[name] += self.sink(name, writer.rows_df(self.spark, data, name))
        for name, df in frames.items():
            if df is not None:
                counts[name] += (writer.write_df(self.spark, self.settings, name, df) if self.sink is None
                                 else self.sink(name, df))
        if others:
            self.last_others = now
            self._others_steps += 1
        if self.steps % self.price_change_every == self.price_change_every - 1:
            counts["list_prices"] += self._price_change(now)
        self.last = now
        self.steps += 1
        for name, n in counts.items():
            self.totals[name] += n
        log.debug("simulator step", step=self.steps, to=now.isoformat(), rows=counts)
        return counts

    def _bootstrap(self, counts: dict[str, int]) -> None:
        from delta.tables import DeltaTable

        uni = self.universe
        seeds = {
            "list_prices": lambda: initial_price_rows(uni),
            "jobs": lambda: [job_row(uni, j, j.create_time) for j in uni.jobs],
            "clusters": lambda: [cluster_row(uni, c, c.create_time) for c in uni.clusters],
            "warehouses": lambda: [warehouse_row(uni, w, w.create_time) for w in uni.warehouses],
        }
        for name in SOURCE_NAMES:
            path = writer.table_path(self.settings, name)
            if name in seeds and not DeltaTable.isDeltaTable(self.spark, path):
                counts[name] += writer.write_rows(self.spark, self.settings, name, seeds[name]())
            writer.ensure_table(self.spark, path, name)

    # -- usage ------------------------------------------------------------------------------

    def _usage(self, lo: datetime, now: datetime, runs, aps) -> DataFrame | None:
        uni = self.universe
        elapsed = (now - lo).total_seconds()
        want = self.rows_per_second * elapsed + self._carry
        if self.steps == 0 and self.catch_up_seconds is not None:
            want = min(want, max(1.0, self.rows_per_second * self.catch_up_seconds))
        n = int(want)
        self._carry = want - n
        today: date = now.date()
        salt = f"stream:{now.isoformat()}"
        parts: list[DataFrame] = []
        n_late = int(round(n * self.late_share))
        hour = floor_hour(now)
        plans = [(hour, n - n_late, salt)]
        if n_late:
            back = sub_rng(self.seed, "late-day", now.isoformat()).randint(1, 3)
            plans.append((hour - back * _DAY, n_late, salt + ":late"))
        current: tuple[list[tuple], int, str] | None = None
        for h, count, s in plans:
            if count <= 0:
                continue
            h_runs = runs if h == hour else runs_between(uni, day_start(h) - _DAY, h + _HOUR)
            h_aps = aps if h == hour else ap_sessions_between(uni, day_start(h) - _DAY, h + _HOUR)
            slots = _scaled(usage_slots(uni, h, h + _HOUR, h_runs, h_aps), elapsed / 3600)
            if not slots:
                continue
            slots = _scaled(slots, max(1.0, len(slots) / count))
            df = usage_frame(self.spark, uni, slots, count, salt=s, ingestion=today, partitions=1)
            if df is not None:
                parts.append(df)
                if h == hour:
                    current = (slots, count, s)
        if self._prev_usage is not None and self._prev_usage[1] > CORRECTION_PERIOD // 2:
            slots, count, s = self._prev_usage
            prev = usage_frame(self.spark, uni, slots, count, salt=s, ingestion=today, partitions=1)
            if prev is not None:
                parts.append(corrections_frame(prev, self.seed, salt=s, ingestion=today))
        self._prev_usage = current
        if not parts:
            return None
        out = parts[0]
        for p in parts[1:]:
            out = out.unionByName(p)
        return out

    # -- SCD2 changes and prices ------------------------------------------------------------

    def _renames(self, now: datetime, rows: dict[str, list[dict]]) -> None:
        uni = self.universe
        rng = sub_rng(self.seed, "stream-renames", now.isoformat())
        if uni.jobs:
            j = rng.choice(uni.jobs)
            rows["jobs"] = [job_row(uni, j, now, f"{j.name}_r{self.steps}")]
        if uni.clusters:
            c = rng.choice(uni.clusters)
            rows["clusters"].append(cluster_row(uni, c, now, f"{c.name} r{self.steps}"))
        if uni.warehouses:
            w = rng.choice(uni.warehouses)
            rows["warehouses"] = [warehouse_row(uni, w, now, f"{w.name} r{self.steps}")]

    def _price_change(self, now: datetime) -> int:
        uni = self.universe
        rng = sub_rng(self.seed, "stream-price", now.isoformat())
        sku = rng.choice(sorted(n for n, s in SKUS.items() if s.price is not None and n != UNPRICED_SKU))
        path = writer.table_path(self.settings, "list_prices")
        open_rows = (
            self.spark.read.format("delta").load(path)
            .where((F.col("sku_name") == sku) & F.col("price_end_time").isNull())
            .collect()
        )
        if not open_rows:
            return 0
        current = max(open_rows, key=lambda r: r["price_start_time"])
        old = current["pricing"]["default"]
        factor = Decimal(str(rng.choice([0.95, 0.97, 1.02, 1.05, 1.08])))
        new_price = (old * factor).quantize(Decimal("0.0001"))
        start = as_utc(current["price_start_time"])
        closes = [price_row(uni, sku, start, old, None, end=now)]
        return writer.merge_prices(self.spark, self.settings, closes, [price_row(uni, sku, now, new_price)])

    # -- loop -------------------------------------------------------------------------------

    def run(self, duration_s: float | None = None, stop_event: threading.Event | None = None) -> dict[str, int]:
        """Step every `settings.simulator.flush_seconds` until `duration_s` passed or `stop_event`
        is set (without either: until interrupted). Returns the rows written per table."""
        stop_event = stop_event or threading.Event()
        t_end = None if duration_s is None else time.monotonic() + duration_s
        while not stop_event.is_set():
            t0 = time.monotonic()
            if t_end is not None and t0 >= t_end:
                break
            self.step()
            wait = self.flush_seconds - (time.monotonic() - t0)
            if t_end is not None:
                wait = min(wait, t_end - time.monotonic())
            if wait > 0 and stop_event.wait(wait):
                break
        return dict(self.totals)


def _scaled(slots: list[tuple], factor: float) -> list[tuple]:
    """Slots with their quantity (field 4) multiplied by `factor`."""
    if factor == 1.0:
        return slots
    f = Decimal(str(round(factor, 9)))
    return [s[:4] + ((s[4] * f).quantize(Decimal("0.000001")),) + s[5:] for s in slots]
