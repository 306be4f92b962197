"""`python -m benchmarks.run --quick|--full`: every figure of issue #8 in one run, one process.

Phases, all on one SparkSession (local[2]) and the same simulated account:
1. history: the simulator writes `days` of every system table (`history_rows` usage rows);
2. backfill: the continuous pipeline (the product's `runner.run`, in a thread) starts on that
   backlog and drains it → throughput, source to gold; it then stays up for the whole run;
4. scale point: fixed batches of `batch_rows` usage rows, each followed by one update of the
   daily baseline on the same data → per-batch time, rows read, wall and work ratios;
5. silver is grown (older days) to each further scale target, and step 4 repeats;
6. freshness: the simulator appends at 1 000, then 10 000 usage rows/s → source → gold latency;
7. the pipeline stops; maintenance (OPTIMIZE, Z-order, VACUUM) is measured on silver and gold.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import time
from datetime import datetime, timezone

from benchmarks.stats import ratio, summarize

SIZES = {
    # `make bench`: Silver 3·10^4 → 3·10^5 usage rows, freshness windows of 70 one-second usage
    # commits (≥ MIN_COMMITS each), maintenance of gold only (silver's Z-order alone takes minutes).
    "quick": {"history_rows": 30_000, "days": 1, "scale": [300_000], "batch_rows": 2_000, "steps": 1,
              "fresh_s": 70, "rates": [1_000, 10_000], "maintain": ("gold",)},
    # Silver 10^5 → 10^6, 70 s windows, silver and gold maintained: ~25 minutes on 2 idle cores.
    "medium": {"history_rows": 100_000, "days": 2, "scale": [1_000_000], "batch_rows": 2_000, "steps": 1,
               "fresh_s": 70, "rates": [1_000, 10_000], "maintain": ("silver", "gold")},
    # A few minutes, to check the harness itself (numbers mean little); one window long enough to
    # check the feeder reaches MIN_COMMITS.
    "smoke": {"history_rows": 5_000, "days": 1, "scale": [20_000], "batch_rows": 500, "steps": 1,
              "fresh_s": 55, "rates": [1_000], "maintain": ("gold",)},
    # The issue's sizes: silver 10^5 → 10^6 → 10^7, longer windows, more steps.
    "full": {"history_rows": 100_000, "days": 7, "scale": [1_000_000, 10_000_000], "batch_rows": 2_000,
             "steps": 4, "fresh_s": 120, "rates": [1_000, 10_000], "maintain": ("silver", "gold")},
}
# The gold query's trigger in the bench: the product's default (trigger.gold_interval_seconds).
# Round 2's first run used 5 s, and gold then kept a core busy; the idle detection
# (`gold_quiet_s`, `gold_caught_up`) waits for gold to catch up at any trigger.
GOLD_TRIGGER_S = 30
# During the freshness windows the feeder commits usage every FEED_CADENCE_S and the tables
# other than usage every OTHERS_EVERY steps (each time everything since their last write).
FEED_CADENCE_S = 1.0
OTHERS_EVERY = 5
# A freshness percentile needs at least this many source commits (issue #12); fewer are
# reported as "not a percentile" and the targets then say n/a, not pass or miss.
MIN_COMMITS = 50
UNIVERSE = {"workspaces": 2, "jobs": 40, "clusters": 30, "warehouses": 4}
USAGE_PATH = {"bronze_billing_usage", "gold"}


def _epoch(iso: str) -> float:
    """Epoch seconds of a progress timestamp such as 2026-11-27T17:05:32.123Z."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def log(msg: str) -> None:
    """One progress line on stderr."""
    print(f"[bench {datetime.now(timezone.utc):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def bench_settings(work: str, trigger_s: int):
    """Local settings in `work`: local[2], UI on (its REST API gives the SQL metrics)."""
    from streaming_obs.config import load_settings

    return load_settings("local", environ={}, overrides={
        "spark": {"master": "local[2]", "shuffle_partitions": 2, "ui": True, "app_name": "streaming_obs_bench",
                  "conf": {"spark.driver.memory": "4g", "spark.sql.ui.retainedExecutions": "100000",
                           "spark.ui.retainedJobs": "2000", "spark.ui.retainedStages": "2000"}},
        "storage": {"warehouse": os.path.join(work, "warehouse"), "checkpoints": os.path.join(work, "checkpoints")},
        "simulator": {"root": os.path.join(work, "system"), **UNIVERSE},
        # the gold query's own trigger; "idle" waits for gold to catch up too
        "trigger": {"interval_seconds": trigger_s, "gold_interval_seconds": GOLD_TRIGGER_S},
        "telemetry": {"prometheus": {"enabled": False}},
    })


class Bench:
    """State shared by the phases: session, meters, results."""

    def __init__(self, mode: str, work: str, trigger_s: int) -> None:
        from benchmarks.machine import DriverMemory, machine_facts
        from benchmarks.pipeline import ProgressLog
        from benchmarks.sqlmetrics import SqlMetrics
        from streaming_obs.session import get_spark
        from streaming_obs.tables import Tables

        self.mode, self.size, self.work, self.trigger_s = mode, SIZES[mode], work, trigger_s
        self.settings = bench_settings(work, trigger_s)
        self.tables = Tables(self.settings)
        self.t0 = time.monotonic()
        started = datetime.now(timezone.utc)
        self.spark = get_spark(self.settings)
        self.mem, self.sql, self.progress = DriverMemory(self.spark), SqlMetrics(self.spark), ProgressLog(self.spark)
        self.res: dict = {"meta": {"mode": mode, "started": started.strftime("%Y-%m-%d %H:%M:%S"),
                                   "trigger_interval_s": trigger_s, "sizes": self.size, "universe": UNIVERSE,
                                   "machine_start": machine_facts(self.spark)},
                          "memory": {}, "throughput": {"live": {}}, "freshness": {}, "scale": []}
        self.bg = None
        self.feeder = None
        self.quiet_s = 2 * trigger_s + 3
        self.gold_quiet_s = 2 * GOLD_TRIGGER_S + 3

    def phase(self, name: str):
        """Context manager: per-phase peak memory and a log line."""
        bench = self

        class _Phase:
            def __enter__(self):
                log(f"{name} ...")
                bench.mem.reset()
                self.t = time.monotonic()
                return self

            def __exit__(self, *exc):
                bench.res["memory"][name] = bench.mem.peak()
                log(f"{name} done in {time.monotonic() - self.t:.1f}s")
                return False

        return _Phase()

    # -- phases -------------------------------------------------------------------------------
    def history(self) -> None:
        from streaming_obs.sources.simulator import DEFAULT_END, simulate_history

        with self.phase("history"):
            t = time.monotonic()
            counts = simulate_history(self.spark, self.settings, days=self.size["days"], seed=42,
                                      usage_rows=self.size["history_rows"], end=DEFAULT_END)
            self.res["history"] = {"counts": counts, "seconds": time.monotonic() - t}

    def backfill(self) -> None:
        """Drain the history backlog with `run --available-now` (the product's backfill mode: the
        source layers, then gold once), timed; then start the continuous pipeline for the rest."""
        from benchmarks.pipeline import Background, Feeder
        from streaming_obs.runner import run
        from streaming_obs.sources.simulator import DEFAULT_END

        counts = self.res["history"]["counts"]
        with self.phase("backfill"):
            t = time.monotonic()
            result = run(self.settings, available_now=True, spark=self.spark, telemetry=False)
            drain = time.monotonic() - t
        # bootstrap and query start-up included; Spark's own start is not (the session is up)
        self.res["throughput"]["backfill"] = {
            "usage_rows": counts["billing_usage"], "rows": sum(counts.values()), "seconds": drain,
            "usage_rows_per_s": counts["billing_usage"] / drain, "rows_per_s": sum(counts.values()) / drain,
            "batches": result.batches}
        log(f"backfill: {counts['billing_usage']:,} usage rows ({sum(counts.values()):,} in all) in {drain:.1f}s")
        with self.phase("start"):
            self.bg = Background(self.spark, self.settings)
            self.bg.start(warmup_s=0)
        self.feeder = Feeder(self.spark, self.settings, DEFAULT_END)

    def scale_point(self) -> None:
        """Fixed batches at the current silver size, each followed by one baseline update."""
        from benchmarks.baseline import DailyBaseline
        from benchmarks.deltalog import commit_times, latest_version
        from benchmarks.pipeline import described, wait_idle

        silver_rows = self.tables.silver("billing_usage").read(self.spark).count()
        label = f"scale@{silver_rows:.1e}"
        src = self.tables.source("billing_usage").path
        rows = self.size["batch_rows"]
        with self.phase(label):
            # One unmeasured step first: it warms the stream up and is the previous update that
            # the baseline's overlap window re-reads. The baseline then starts in sync (clones).
            v_before = latest_version(src)
            self.feeder.fixed(rows)
            wait_idle(self.tables, self.bg, quiet_s=self.quiet_s, timeout_s=1800, gold_quiet_s=self.gold_quiet_s)
            root = os.path.join(self.work, f"baseline_{len(self.res['scale'])}")
            base = DailyBaseline(self.spark, self.settings, root, overlap=1)
            with described(self.spark, "bench:baseline-setup"):
                setup = base.setup([v_before, latest_version(src)])
            stream, baseline = [], []
            for k in range(self.size["steps"]):
                m0, t0 = self.sql.mark(), time.time()
                step = self.feeder.fixed(rows)
                t_idle = wait_idle(self.tables, self.bg, quiet_s=self.quiet_s, timeout_s=1800, gold_quiet_s=self.gold_quiet_s)
                m1 = self.sql.mark()
                batches = self.progress.since(t0, USAGE_PATH)
                t_commit = commit_times(src, step["source_version"])[step["source_version"]]
                stream.append({"update_s": t_idle - t_commit, "step": step,
                               "batch_s": sum(b["durations"].get("triggerExecution", 0) for b in batches) / 1000,
                               "gold_s": sum(b["durations"].get("triggerExecution", 0) for b in batches
                                             if b["name"] == "gold") / 1000,
                               "batches": [(b["name"], b["batch"], b["rows"], b["durations"]) for b in batches],
                               **self.sql.window(m0, m1)})
                m2 = self.sql.mark()
                with described(self.spark, "bench:baseline"):
                    b = base.update()
                m3 = self.sql.mark()
                baseline.append({**b, "update_s": b["seconds"], **self.sql.window(m2, m3, include="bench:baseline")})
                log(f"{label} step {k}: stream {stream[-1]['update_s']:.1f}s/{stream[-1]['rows_read']} rows read, "
                    f"baseline {b['seconds']:.1f}s/{baseline[-1]['rows_read']} rows read")
        point = {
            "silver_rows": silver_rows, "batch_rows": rows, "baseline_setup": setup,
            "stream": {k: summarize(s[k] for s in stream if s[k] is not None)
                       for k in ("batch_s", "gold_s", "update_s", "rows_read", "files_read", "bytes_read", "exec_ms")},
            "baseline": {k: summarize(s[k] for s in baseline if s[k] is not None)
                         for k in ("update_s", "silver_merge_s", "gold_recompute_s", "rows_read", "files_read",
                                   "bytes_read", "exec_ms")},
            "stream_steps": stream, "baseline_steps": baseline,
        }
        point["wall_ratio"] = ratio(point["baseline"]["update_s"]["p50"], point["stream"]["update_s"]["p50"])
        point["work_ratio_rows"] = ratio(point["baseline"]["rows_read"]["p50"], point["stream"]["rows_read"]["p50"])
        point["work_ratio_bytes"] = ratio(point["baseline"]["bytes_read"]["p50"], point["stream"]["bytes_read"]["p50"])
        self.res["scale"].append(point)

    def freshness(self, rate: int) -> None:
        from benchmarks.deltalog import latest_version
        from benchmarks.freshness import measure_freshness
        from benchmarks.pipeline import described, wait_idle

        t = self.tables
        v0 = [latest_version(r.path) for r in (t.source("billing_usage"), t.bronze("billing_usage"),
                                                t.silver("billing_usage"))]
        with self.phase(f"freshness@{rate}"):
            # usage in its own commit every second, the other tables every OTHERS_EVERY steps:
            # rows generated in Spark before the window, appended by delta-rs during it
            steps, feed = self.feeder.rate(rate, self.size["fresh_s"], self.bg, cadence_s=FEED_CADENCE_S,
                                           others_every=OTHERS_EVERY)
            t_idle = wait_idle(t, self.bg, quiet_s=self.quiet_s, timeout_s=1800, gold_quiet_s=self.gold_quiet_s)
        with described(self.spark, "bench:measure"):
            fr = measure_freshness(self.spark, t, v0[0] + 1, v0[1] + 1, v0[2] + 1)
        recs = fr["records"]
        usage = sum(s["usage_rows"] for s in steps)
        span = steps[-1]["t_end"] - steps[0]["t_start"]
        entry = self.res["freshness"][str(rate)] = {
            "to_gold": summarize(r["to_gold"] for r in recs), "to_silver": summarize(r["to_silver"] for r in recs),
            "to_bronze": summarize(r["to_bronze"] for r in recs), "unfinished": fr["unfinished"],
            "records": recs, "steps": len(steps), "source_commits": fr["source_commits"], "usage_rows": usage,
            "window_s": span, "rows_per_commit": summarize(s["usage_rows"] for s in steps),
            "min_commits": MIN_COMMITS, "percentile": len(recs) >= MIN_COMMITS, "feeder": feed}
        # gold batch times across the window: they grow as the current day fills up
        entry["gold_batches"] = [
            (e["received"] - steps[0]["t_start"], e["durations"].get("triggerExecution", 0) / 1000, e["rows"])
            for e in self.progress.since(steps[0]["t_start"], {"gold"})]
        self.res["throughput"]["live"][str(rate)] = {
            "usage_rows": usage, "seconds": t_idle - steps[0]["t_start"], "offered_rows_per_s": usage / span,
            "gold_rows_per_s": usage / (t_idle - steps[0]["t_start"]), "drain_s": t_idle - steps[-1]["t_end"]}
        g = entry["to_gold"]
        log(f"freshness@{rate}: p50 {g['p50']} p95 {g['p95']} max {g['max']} over {g['n']} commits "
            f"({fr['source_commits']} source commits; feeder: {feed['plan_s']:.1f}s generating before the window, "
            f"{feed['append_s']:.1f}s appending in {feed['window_s']:.1f}s, {feed['late_steps']} late steps)")
        if not entry["percentile"]:
            log(f"freshness@{rate}: NOT A PERCENTILE: {len(recs)} source commits reached gold, "
                f"{MIN_COMMITS} needed (issue #12)")

    def grow(self, target: int) -> None:
        from benchmarks.pipeline import wait_idle
        from benchmarks.scale import pad_silver_usage

        with self.phase(f"grow@{target:.0e}"):
            info = pad_silver_usage(self.spark, self.tables, target, mode="days")
            t = time.monotonic()
            # gold recomputes every day the new rows touch: one big batch, measured apart
            wait_idle(self.tables, self.bg, quiet_s=self.quiet_s, timeout_s=3600, gold_quiet_s=self.gold_quiet_s)
            info["gold_catch_up_s"] = time.monotonic() - t
        self.res.setdefault("grow", []).append(info)
        log(f"silver grown: {info}")

    def stop_pipeline(self) -> None:
        from benchmarks.stats import percentile

        self.bg.stop()
        prof: dict = {}
        for e in self.progress.events:
            if e["rows"]:
                prof.setdefault(e["name"], []).append(e["durations"])
        self.res["profile"] = {
            name: {"batches": len(ds), **{k: percentile([d.get(k, 0) for d in ds], 50)
                                          for k in ("triggerExecution", "addBatch", "latestOffset", "queryPlanning",
                                                    "getBatch", "walCommit", "commitOffsets")}}
            for name, ds in sorted(prof.items())}

    def increment(self, rows: int = 3_000) -> None:
        """`streaming-obs run --available-now` in a fresh process (Spark start included) after
        one step of `rows` usage rows (and the other tables' step) on the history so far."""
        import subprocess

        from benchmarks.deltalog import latest_version

        silver_rows = self.tables.silver("billing_usage").read(self.spark).count()
        step = self.feeder.fixed(rows)
        env = {**os.environ, "STREAMING_OBS_STORAGE__WAREHOUSE": self.settings.storage.warehouse,
               "STREAMING_OBS_STORAGE__CHECKPOINTS": self.settings.storage.checkpoints,
               "STREAMING_OBS_SIMULATOR__ROOT": self.settings.simulator.root,
               "STREAMING_OBS_SPARK__MASTER": "local[2]", "STREAMING_OBS_SPARK__SHUFFLE_PARTITIONS": "2",
               "STREAMING_OBS_LOGGING__DIR": os.path.join(self.work, "logs")}
        cost = self.tables.gold("cost_daily").path
        v0 = latest_version(cost)
        with self.phase("increment"):
            t = time.monotonic()
            proc = subprocess.run([sys.executable, "-m", "streaming_obs.cli.main", "run", "--env", "local",
                                   "--available-now"], env=env, capture_output=True, text=True, timeout=1800)
            wall = time.monotonic() - t
        if proc.returncode != 0:
            raise RuntimeError(f"increment run failed ({proc.returncode}): {proc.stderr[-2000:]}")
        self.res["increment"] = {"usage_rows": step["usage_rows"], "rows": step["rows"], "silver_rows": silver_rows,
                                 "seconds": wall, "cost_daily_commits": latest_version(cost) - v0}
        log(f"increment of {step['usage_rows']} usage rows over {silver_rows:,} silver rows: {wall:.1f}s")

    def maintenance(self) -> None:
        from benchmarks.maint import measure_maintenance

        with self.phase("maintenance"):
            self.res["maintenance"] = measure_maintenance(self.spark, self.tables, layers=self.size["maintain"])

    def finish(self, out_dir: str) -> list[str]:
        from benchmarks.machine import cores_used, machine_facts
        from benchmarks.report import write_results

        # where a usage batch's time goes: the product's own per-step timings ("batch done")
        for query, key in (("bronze_billing_usage", "usage_batch_steps"), ("gold", "gold_batch_steps")):
            steps: dict[str, list[float]] = {}
            for event in _STEPS.events:
                if event.get("query") == query and event.get("rows_in"):
                    for name, secs in (event.get("steps") or {}).items():
                        steps.setdefault(name, []).append(secs)
            self.res[key] = {k: summarize(v) for k, v in steps.items()}

        meta = self.res["meta"]
        meta["finished"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        meta["wall_s"] = time.monotonic() - self.t0
        meta["machine_end"] = machine_facts(self.spark)
        meta["driver_cores_used"] = cores_used(meta["machine_start"], meta["machine_end"])
        peaks = [v.get("jvm_peak_rss_bytes") or 0 for v in self.res["memory"].values()]
        meta["peak_driver_rss_bytes"] = max(peaks, default=None)
        return write_results(self.res, out_dir)


class _StepLog(logging.Handler):
    """Keeps the `batch done` events (DEBUG, with per-step seconds) of the flows logger."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.events: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, dict) and record.msg.get("event") == "batch done":
            self.events.append(dict(record.msg))


_STEPS = _StepLog()


def main(argv: list[str] | None = None) -> int:
    """CLI entry: run the quick or full benchmark and write benchmarks/results/."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_const", const="quick", dest="mode", help="under 10 minutes (default)")
    g.add_argument("--medium", action="store_const", const="medium", dest="mode", help="silver up to 10^6 rows")
    g.add_argument("--full", action="store_const", const="full", dest="mode", help="silver up to 10^7 rows")
    g.add_argument("--smoke", action="store_const", const="smoke", dest="mode", help="check the harness only")
    p.add_argument("--out", default=None,
                   help="results directory (default benchmarks/results, or benchmarks/results/<mode> for the others)")
    p.add_argument("--work-dir", default=None, help="scratch directory for tables (deleted first)")
    p.add_argument("--trigger", type=int, default=1, help="trigger interval of every query, seconds")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = p.parse_args(argv)
    mode = args.mode or "quick"
    results = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
    args.out = args.out or (results if mode == "quick" else os.path.join(results, mode))
    work = os.path.abspath(args.work_dir or os.path.join("/tmp", f"streaming_obs_bench_{mode}"))
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # structlog through the stdlib (as the CLI sets it up), so the flows' DEBUG "batch done"
    # events with their per-step seconds reach _STEPS; everything at WARNING goes to a file.
    from streaming_obs.logs import configure_logging

    configure_logging("WARNING", log_file=os.path.join(work, "bench.log"))
    bench = Bench(mode, work, args.trigger)
    flows_log = logging.getLogger("streaming_obs.flows")
    flows_log.setLevel(logging.DEBUG)
    flows_log.addHandler(_STEPS)
    try:
        bench.history()
        bench.backfill()
        bench.scale_point()
        # Scale points before freshness: the live windows pile 10^5+ rows onto the current day,
        # and every later batch recomputes that day; the scale curve is about history length.
        for target in bench.size["scale"]:
            bench.grow(target)
            bench.scale_point()
        for rate in bench.size["rates"]:
            try:
                bench.freshness(rate)
            except Exception as exc:  # keep the rest of the run: record what broke
                log(f"freshness@{rate} failed: {exc!r}")
                bench.res["freshness"][str(rate)] = {"error": repr(exc)[:2000]}
        bench.stop_pipeline()
        try:
            bench.increment()
        except Exception as exc:  # keep the rest of the run: record what broke
            log(f"increment failed: {exc!r}")
            bench.res["increment"] = {"error": repr(exc)[:2000]}
        bench.maintenance()
    except KeyboardInterrupt:
        raise
    except BaseException:
        if bench.bg is not None and bench.bg.thread.is_alive():
            bench.bg.stop_event.set()
        bench.res["meta"]["error"] = repr(sys.exc_info()[1])[:2000]
        bench.finish(args.out)
        raise
    paths = bench.finish(args.out)
    log(f"wrote {', '.join(paths)} in {bench.res['meta']['wall_s']:.0f}s")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
