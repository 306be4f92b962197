"""Drive the product: the pipeline in a background thread, the simulator in the foreground.

The pipeline is the product's own `runner.run` (continuous, all 25 queries); the harness only
adds a StreamingQueryListener to keep every batch's progress and watches checkpoints and Delta
logs on disk to know when the pipeline has caught up.
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

from benchmarks import deltalog

__all__ = ["ProgressLog", "Background", "Feeder", "wait_idle", "described", "layer_paths"]


@contextmanager
def described(spark, label: str):
    """Tag the Spark work of this thread (`spark.job.description`) so SQL metrics can be split."""
    sc = spark.sparkContext
    sc.setLocalProperty("spark.job.description", label)
    try:
        yield
    finally:
        sc.setLocalProperty("spark.job.description", None)


def _listener_class():
    from pyspark.sql.streaming import StreamingQueryListener

    class _Listener(StreamingQueryListener):
        def __init__(self, sink: list) -> None:
            self.sink = sink

        def onQueryStarted(self, event) -> None:  # noqa: N802 (pyspark's names)
            pass

        def onQueryProgress(self, event) -> None:  # noqa: N802
            p = json.loads(event.progress.json)
            self.sink.append({"name": p.get("name"), "batch": p.get("batchId"), "timestamp": p.get("timestamp"),
                              "rows": p.get("numInputRows", 0), "durations": p.get("durationMs", {}),
                              "received": time.time()})

        def onQueryIdle(self, event) -> None:  # noqa: N802
            pass

        def onQueryTerminated(self, event) -> None:  # noqa: N802
            pass

    return _Listener


class ProgressLog:
    """Every query progress event of the session, in arrival order."""

    def __init__(self, spark) -> None:
        self.events: list[dict] = []
        self.listener = _listener_class()(self.events)
        spark.streams.addListener(self.listener)

    def since(self, t: float, names: set[str] | None = None) -> list[dict]:
        """Progress of batches that carried rows, received after epoch time `t`."""
        return [e for e in list(self.events)
                if e["received"] >= t and e["rows"] and (names is None or e["name"] in names)]


class Background:
    """The continuous pipeline (`runner.run`) in a thread; `stop()` re-raises its failure."""

    def __init__(self, spark, settings) -> None:
        self.spark, self.settings = spark, settings
        self.stop_event = threading.Event()
        self.error: BaseException | None = None
        self.result = None
        self.sup = None
        self.thread = threading.Thread(target=self._main, name="bench-pipeline", daemon=True)

    def _main(self) -> None:
        from streaming_obs.runner import run

        def tick(sup) -> None:
            self.sup = sup

        try:
            self.result = run(self.settings, available_now=False, spark=self.spark, stop_event=self.stop_event,
                              telemetry=False, on_tick=tick)
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def start(self, warmup_s: float = 5.0) -> None:
        """Start and wait until every query is running."""
        self.thread.start()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and self.error is None:
            # a copy: the pipeline's thread adds queries to `watched` while they start
            watched = list(self.sup.watched.values()) if self.sup is not None else []
            if watched and all(w.query is not None and w.query.isActive for w in watched):
                break
            time.sleep(0.5)
        if self.error is not None:
            raise self.error
        time.sleep(warmup_s)

    def check(self) -> None:
        """Raise if the pipeline thread died."""
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        """Graceful stop; raises what the pipeline raised."""
        self.stop_event.set()
        self.thread.join(timeout=600)
        if self.error is not None:
            raise self.error


def layer_paths(tables) -> list[str]:
    """Bronze, silver and gold table paths: their versions move while the pipeline works."""
    from streaming_obs.config.models import SOURCE_NAMES
    from streaming_obs.tables import GOLD_TABLES

    return ([tables.bronze(s).path for s in SOURCE_NAMES] + [tables.silver(s).path for s in SOURCE_NAMES]
            + [tables.gold(g).path for g in GOLD_TABLES])


def checkpoints(tables) -> list[str]:
    """Checkpoint directories of the 25 queries."""
    from streaming_obs.config.models import SOURCE_NAMES

    names = [f"bronze_{s}" for s in SOURCE_NAMES] + ["gold"]
    return [tables.checkpoint(n) for n in names]


def gold_inputs(tables) -> list[str]:
    """Paths of the tables the gold query reads (the silver inputs and cost_daily)."""
    from streaming_obs.gold.touches import GOLD_INPUTS, input_table

    return [input_table(tables, name).path for name in GOLD_INPUTS]


def gold_caught_up(tables, ids: dict[str, str | None] | None = None) -> bool:
    """True when the gold query's last committed batch covers every input's latest version."""
    batches = deltalog.checkpoint_batches(tables.checkpoint("gold"))
    if not batches:
        return False
    covered = {off.get("reservoirId"): deltalog.covered_version(off) for off in batches[-1]["offsets"] if off}
    ids = ids if ids is not None else {}
    for path in gold_inputs(tables):
        if path not in ids:
            ids[path] = deltalog.table_id(path)
        if covered.get(ids[path], -1) < deltalog.latest_version(path):
            return False
    return True


def wait_idle(tables, bg: Background | None, *, quiet_s: float, timeout_s: float,
              gold_quiet_s: float | None = None) -> float:
    """Block until no batch is in flight and no bronze/silver/gold table moved for `quiet_s`,
    and the gold query has caught up with its inputs (or nothing moved for `gold_quiet_s`: an
    input's commit that carries no data, such as OPTIMIZE, starts no gold batch).

    `quiet_s` must exceed the source trigger interval (a query notices new data at its next
    trigger, and writes its offsets, i.e. is in flight, at once). Returns the time of the last
    table commit seen (epoch s), which is when the pipeline really finished.
    """
    paths, ckpts = layer_paths(tables), checkpoints(tables)
    ids: dict[str, str | None] = {}
    deadline = time.monotonic() + timeout_s
    state, since = None, time.monotonic()
    while time.monotonic() < deadline:
        if bg is not None:
            bg.check()
        busy = any(deltalog.in_flight(c) for c in ckpts)
        now_state = tuple(deltalog.latest_version(p) for p in paths)
        if busy or now_state != state:
            state, since = now_state, time.monotonic()
        elif time.monotonic() - since >= quiet_s and (
                gold_quiet_s is None or time.monotonic() - since >= gold_quiet_s or gold_caught_up(tables, ids)):
            return max(max(deltalog.commit_times(p, max(0, deltalog.latest_version(p))).values(), default=0.0)
                       for p in paths)
        time.sleep(0.25)
    raise TimeoutError(f"pipeline did not go idle within {timeout_s:.0f}s")


class Feeder:
    """The product's SimulatorStream on a simulated clock that starts where history ended.

    `fixed(rows)` appends one step of exactly `rows` usage rows (plus the other tables' step)
    through Spark; `rate(r, seconds)` feeds a timed window at `r` usage rows per wall second
    without Spark: the steps are generated (Spark) before the window and appended with delta-rs
    during it (benchmarks/feed.py), so the pipeline under test keeps the cores.
    """

    def __init__(self, spark, settings, start, seed: int = 7, others_every: int = 1) -> None:
        from benchmarks.feed import DeltaAppender
        from streaming_obs.config.models import SOURCE_NAMES
        from streaming_obs.sources.simulator import SimulatorStream
        from streaming_obs.tables import Tables

        self.spark, self.settings = spark, settings
        self.stream = SimulatorStream(spark, settings, rows_per_second=1.0, seed=seed, start=start,
                                      rename_every=10_000, price_change_every=10_000, others_every=others_every)
        self.clock = start
        self.steps: list[dict] = []
        self.appender = DeltaAppender({n: Tables(settings).source(n).path for n in SOURCE_NAMES})

    def _step(self, seconds: float, rows_per_second: float) -> dict:
        from benchmarks.deltalog import latest_version
        from streaming_obs.tables import Tables

        self.stream.rows_per_second = rows_per_second
        self.clock = self.clock + timedelta(seconds=seconds)
        t0 = time.time()
        with described(self.spark, "bench:simulator"):
            counts = self.stream.step(self.clock)
        rec = {"t_start": t0, "t_end": time.time(), "usage_rows": counts.get("billing_usage", 0),
               "rows": sum(counts.values()),
               "source_version": latest_version(Tables(self.settings).source("billing_usage").path)}
        self.steps.append(rec)
        return rec

    def fixed(self, rows: int, seconds: float = 5.0) -> dict:
        """One step of `rows` usage rows covering `seconds` of simulated time (through Spark)."""
        return self._step(seconds, rows / seconds)

    def rate(self, rows_per_second: float, seconds: float, bg: Background | None = None,
             cadence_s: float = 1.0, others_every: int = 5) -> tuple[list[dict], dict]:
        """Feed `seconds` of wall time: a usage commit every `cadence_s` of `rows_per_second ×
        cadence_s` rows, the other tables every `others_every` steps (everything since their
        last write, the same rows in fewer commits).

        The rows are the simulator's, generated through Spark before the window starts (the
        pipeline is idle then); during the window delta-rs appends them with no Spark job.
        Returns the per-step records of `feed.play` and the feeder's cost: seconds of Spark
        generation before the window, seconds spent appending during it.
        """
        from benchmarks.feed import plan_steps, play

        n = max(1, round(seconds / cadence_s))
        t = time.monotonic()
        saved = self.stream.others_every
        try:
            with described(self.spark, "bench:simulator"):
                plan = plan_steps(self.stream, self.clock, n, cadence_s, rows_per_second, others_every)
        finally:
            # later Spark steps write the other tables every step again (from their last write)
            self.stream.others_every = saved
        plan_s = time.monotonic() - t
        self.clock = plan[-1].clock
        recs = play(plan, self.appender, cadence_s, check=bg.check if bg is not None else None)
        self.steps.extend(recs)
        span = recs[-1]["t_end"] - recs[0]["t_start"]
        busy = sum(r["append_s"] for r in recs)
        cost = {"plan_s": plan_s, "append_s": busy, "window_s": span, "busy_share": busy / span if span else None,
                "commits": {"usage": sum(1 for r in recs if r["source_version"] is not None),
                            "other": sum(len(r["tables"]) for r in recs)
                            - sum(1 for r in recs if r["source_version"] is not None)},
                # steps that started more than half a cadence after their slot (the feeder fell behind)
                "late_steps": sum(1 for i, r in enumerate(recs) if r["t_start"] - recs[0]["t_start"] - i * cadence_s
                                  > cadence_s / 2)}
        return recs, cost
