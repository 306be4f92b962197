"""The crash campaign: SIGKILL `streaming-obs run --available-now` at moments spread over its
measured length, restart it each time, and compare every layer with an uninterrupted run.

Used by tests/resilience/test_crash_recovery.py (3 kills in CI) and `make chaos KILLS=20` (the
same test with CHAOS_KILLS set). The steps:

1. `make_input`: a small simulated account plus one commit per source of rows that break the
   quality rules (quarantined) or only warn, and a billing record delivered twice.
2. `reference_run`: the uninterrupted run, as a subprocess like every other run. Its timeline is
   read back from its checkpoints: when each query wrote `offsets/<n>` (batch n planned) and
   `commits/<n>` (batch n done).
3. `plan_kills`: one moment per equal slice of the measured run, each turned into "this
   checkpoint event, then d seconds": a restarted run resumes where the last one stopped, so
   its clock means nothing, but it writes the same checkpoint events.
4. `crash_runs`: start, wait for the kill's event, sleep, SIGKILL the process group (the JVM
   too), note from the checkpoints which batches were in flight and which of their writes had
   committed (Delta `txn` actions of the query's writer id), restart; the last run completes.
5. `compare`: every layer of both warehouses (see `compare`).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: columns that say when or by which writer a row was written, not what it is. They differ
#: between two runs over the same input by construction and are left out of the row hashes:
#: _ingest_time (wall clock), _batch_id (batch boundaries are a property of the run, not of the
#: data), _load_id (carries the checkpoint's writer uuid), _bronze_version (bronze's commit
#: version: a restart adds commits, e.g. the bootstrap's), _batch_ts (the batch's trigger time),
#: _updated_at (gold's write time).
BOOKKEEPING = ("_ingest_time", "_batch_id", "_load_id", "_bronze_version", "_batch_ts", "_updated_at")

SMALL = {"workspaces": 2, "jobs": 6, "clusters": 4, "warehouses": 2, "days": 1}


# --------------------------------------------------------------------------------------- input
def make_input(spark, settings, usage_rows: int = 400) -> dict[str, int]:
    """Simulate a small account, then append one commit per source with rows that break rules.

    Returns the rows added per source (bad and redelivered ones).
    """
    from pyspark.sql import functions as F

    from streaming_obs.sources.simulator import simulate_history
    from streaming_obs.tables import Tables

    simulate_history(spark, settings, usage_rows=usage_rows)
    tables = Tables(settings)
    future = F.lit("2099-01-01 00:00:00").cast("timestamp")

    def first(source: str, order: str):
        return tables.source(source).read(spark).orderBy(*[F.col(c) for c in order.split(",")]).limit(1)

    u = first("billing_usage", "record_id")
    n = first("node_timeline", "cluster_id,instance_id,start_time")
    q = first("query_history", "statement_id")
    bad = {
        "billing_usage": [
            u,                                                           # redelivered: silver keeps it once
            u.withColumn("record_id", F.lit(None).cast("string")),       # quarantine: no record_id
            u.withColumn("record_id", F.lit("chaos-end-before-start"))
             .withColumn("usage_end_time", F.col("usage_start_time") - F.expr("INTERVAL 1 HOUR")),
            u.withColumn("record_id", F.lit("chaos-future"))             # quarantine: in the future
             .withColumn("usage_start_time", future).withColumn("usage_end_time", future),
            u.withColumn("record_id", F.lit("chaos-unpriced"))           # warn: no price, kept
             .withColumn("sku_name", F.lit("CHAOS_UNKNOWN_SKU")),
            u.withColumn("record_id", F.lit("chaos-odd-type"))           # warn: unknown record_type
             .withColumn("record_type", F.lit("ADJUSTMENT")),
        ],
        "node_timeline": [
            n.withColumn("cpu_user_percent", F.lit(150.0)),              # quarantine
            n.withColumn("instance_id", F.lit("chaos-node")).withColumn("mem_used_percent", F.lit(140.0)),  # warn
        ],
        "query_history": [
            q.withColumn("statement_id", F.lit("chaos-negative")).withColumn("total_duration_ms", F.lit(-5).cast("bigint")),
            q.withColumn("statement_id", F.lit("chaos-status")).withColumn("execution_status", F.lit("CHAOS")),
        ],
        "jobs": [first("jobs", "job_id").withColumn("job_id", F.lit(None).cast("string"))],
        "job_run_timeline": [first("job_run_timeline", "run_id,period_start_time")
                             .withColumn("run_id", F.lit("chaos-run"))
                             .withColumn("period_end_time", F.col("period_start_time") - F.expr("INTERVAL 1 HOUR"))],
        "clusters": [first("clusters", "cluster_id,change_time").withColumn("change_time", F.lit(None).cast("timestamp"))],
        "warehouses": [first("warehouses", "warehouse_id,change_time").withColumn("warehouse_id", F.lit(None).cast("string"))],
        "list_prices": [first("list_prices", "sku_name,price_start_time")
                        .withColumn("sku_name", F.lit("CHAOS_SKU"))
                        .withColumn("price_end_time", F.col("price_start_time") - F.expr("INTERVAL 1 DAY"))],
        "audit": [first("audit", "event_id").withColumn("event_id", F.lit("chaos-event"))
                  .withColumn("event_time", F.lit(None).cast("timestamp"))],
    }
    added = {}
    for source, frames in bad.items():
        df = frames[0]
        for f in frames[1:]:
            df = df.unionByName(f)
        rows = df.collect()  # small, and fixed before the append (the frames read the table)
        spark.createDataFrame(rows, df.schema).write.format("delta").mode("append").save(tables.source(source).path)
        added[source] = len(rows)
    return added


# ----------------------------------------------------------------------------- the processes
def run_env(root: Path, name: str, system: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment of one `streaming-obs run` over `system`, writing under root/name."""
    env = dict(os.environ)
    env.update({
        "STREAMING_OBS_STORAGE__WAREHOUSE": str(root / name / "wh"),
        "STREAMING_OBS_STORAGE__CHECKPOINTS": str(root / name / "ck"),
        "STREAMING_OBS_SIMULATOR__ROOT": str(system),
        "STREAMING_OBS_SPARK__MASTER": "local[2]",
        "STREAMING_OBS_SPARK__SHUFFLE_PARTITIONS": "2",
        "STREAMING_OBS_TELEMETRY__PROMETHEUS__ENABLED": "false",
        "STREAMING_OBS_LOGGING__LEVEL": "INFO",
        "STREAMING_OBS_LOGGING__DIR": "null",  # everything on stdout, into the attempt's log
        "PYSPARK_PYTHON": sys.executable,
    })
    env.update(extra or {})
    return env


def spawn(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """`streaming-obs run --env local --available-now` in a process group of its own."""
    log = open(log_path, "w")  # noqa: SIM115 - the child owns it; closed by the OS at exit
    return subprocess.Popen([sys.executable, "-m", "streaming_obs.cli.main", "run", "--env", "local", "--available-now"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the run and its JVM (same process group); wait for the run to be gone."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=60)


# ------------------------------------------------------------------------------- checkpoints
@dataclass(frozen=True)
class Event:
    """A query started (log line), or wrote a checkpoint file: `offsets/<n>` (batch n
    planned) or `commits/<n>` (batch n done)."""

    query: str
    kind: str  # started, offsets, commits
    batch: int = -1

    @property
    def name(self) -> str:
        return f"{self.query}/{self.kind}" + (f"/{self.batch}" if self.kind != "started" else "")


_STARTED = re.compile(r"^(\S+Z) .*query started .*query=(\S+)")


def _log_files(ck: Path, query: str, kind: str) -> list[Path]:
    d = ck / query / kind
    return [p for p in d.iterdir() if p.name.isdigit()] if d.is_dir() else []


def events(ck: Path) -> dict[Event, float]:
    """Every checkpoint event under the root `ck`, with its file's mtime."""
    out = {}
    if not ck.is_dir():
        return out
    for q in sorted(p.name for p in ck.iterdir() if p.is_dir()):
        for kind in ("offsets", "commits"):
            for f in _log_files(ck, q, kind):
                out[Event(q, kind, int(f.name))] = f.stat().st_mtime
    return out


def starts(log_path: Path) -> dict[str, float]:
    """When each query started in one run (its first `query started` line), epoch seconds."""
    from datetime import datetime

    out: dict[str, float] = {}
    if not log_path.exists():
        return out
    for line in log_path.read_text(errors="replace").splitlines():
        m = _STARTED.match(line)
        if m and m.group(2) not in out:
            out[m.group(2)] = datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp()
    return out


def timeline(ck: Path, log_path: Path, started: float) -> list[tuple[float, Event]]:
    """A finished run's events in order, as seconds after the process started."""
    evs = [(t - started, e) for e, t in events(ck).items()]
    evs += [(t - started, Event(q, "started")) for q, t in starts(log_path).items()]
    return sorted(evs, key=lambda x: (x[0], x[1].name))


def state(ck: Path) -> dict[str, tuple[int, int]]:
    """(last planned batch, last committed batch) per query; -1 for none."""
    out = {}
    for q in sorted(p.name for p in ck.iterdir() if p.is_dir()) if ck.is_dir() else []:
        offs = [int(f.name) for f in _log_files(ck, q, "offsets")]
        coms = [int(f.name) for f in _log_files(ck, q, "commits")]
        if offs or coms:
            out[q] = (max(offs, default=-1), max(coms, default=-1))
    return out


def in_flight(st: dict[str, tuple[int, int]]) -> dict[str, int]:
    """Queries whose last planned batch has not committed: {query: batch}."""
    return {q: o for q, (o, c) in st.items() if o > c}


def in_flight_at(tl: list[tuple[float, Event]], at: float) -> frozenset[tuple[str, int]]:
    """The (query, batch) pairs in flight `at` seconds into a finished run."""
    planned: dict[str, int] = {}
    done: dict[str, int] = {}
    for t, e in tl:
        if t > at:
            break
        if e.kind == "offsets":
            planned[e.query] = max(planned.get(e.query, -1), e.batch)
        elif e.kind == "commits":
            done[e.query] = max(done.get(e.query, -1), e.batch)
    return frozenset((q, b) for q, b in planned.items() if b > done.get(q, -1))


def txns(warehouse: Path) -> dict[str, dict[str, int]]:
    """Delta `txn` actions (appId -> highest version) per table under the warehouse.

    Read straight from `_delta_log/*.json`: which writes of a batch committed (the app id is
    `<query's writer id>:<step>`, the version the batch id)."""
    out: dict[str, dict[str, int]] = {}
    for log_dir in warehouse.glob("*/*/_delta_log"):
        table = f"{log_dir.parent.parent.name}.{log_dir.parent.name}"
        for f in sorted(log_dir.glob("*.json")):
            for line in f.read_text().splitlines():
                if '"txn"' in line:
                    t = json.loads(line).get("txn")
                    if t:
                        seen = out.setdefault(table, {})
                        seen[t["appId"]] = max(seen.get(t["appId"], -1), int(t["version"]))
    return out


def committed_steps(warehouse: Path, ck: Path, query: str, batch: int) -> list[str]:
    """The writes of (query, batch) that committed before the kill: `table:step`."""
    marker = ck / query / "_streaming_obs_app_id"
    if not marker.exists():
        return []
    app = marker.read_text().strip()
    return sorted(f"{table}:{app_id[len(app) + 1:]}" for table, seen in txns(warehouse).items()
                  for app_id, v in seen.items() if app_id.startswith(app + ":") and v == batch)


# ----------------------------------------------------------------------------------- the plan
@dataclass
class KillPoint:
    """Kill `delay` seconds after `anchor` (an Event name, or 'start': the process start).

    `expect` is what was in flight at that moment of the reference run."""

    at: float  # seconds into the reference run
    anchor: str
    delay: float
    expect: list[str] = field(default_factory=list)


def plan_kills(tl: list[tuple[float, Event]], length: float, kills: int, rng: random.Random, *,
               distinct: bool = False) -> list[KillPoint]:
    """One moment per equal slice of the measured run, as (the last event before it, seconds
    after it).

    `distinct` (CI, few kills): start after the first query started, and redraw a moment whose
    in-flight batches of the reference equal an earlier kill's, so that few kills still land in
    different flows and batches. The long campaign draws over the whole run, start-up included.
    """
    lo = next((t for t, e in tl if e.kind == "started"), 0.0) if distinct else 0.0
    # A restart resumes: each attempt has less left to do than the reference had at that moment,
    # so a moment late in the reference run may never come (the run ends first). Draw the few CI
    # kills from the first 60 % of the run; the long campaign keeps the whole run and reports
    # how many of its kills landed.
    end = lo + 0.6 * (length - lo) if distinct else length
    span = (end - lo) / kills
    points: list[KillPoint] = []
    used: set[frozenset] = set()
    for i in range(kills):
        for _ in range(50):
            at = lo + span * (i + rng.uniform(0.05, 0.95))
            fl = in_flight_at(tl, at)
            if not distinct or (fl and fl not in used):
                break
        used.add(fl)
        before = [(t, e) for t, e in tl if t <= at]
        anchor, t = (before[-1][1].name, before[-1][0]) if before else ("start", 0.0)
        points.append(KillPoint(round(at, 2), anchor, round(at - t, 2), sorted(f"{q}#{b}" for q, b in fl)))
    return points


# ----------------------------------------------------------------------------- the campaign
@dataclass
class Attempt:
    """One start of the crashed run."""

    index: int
    plan: KillPoint | None
    seconds: float = 0.0
    killed: bool = False
    exit_code: int | None = None
    anchored_on: str = ""
    in_flight: dict[str, int] = field(default_factory=dict)
    committed: dict[str, list[str]] = field(default_factory=dict)
    committed_batches: dict[str, int] = field(default_factory=dict)

    def place(self) -> frozenset:
        """Where the kill landed: the batches in flight and which of their writes committed."""
        return frozenset((q, b, tuple(self.committed.get(q, ()))) for q, b in self.in_flight.items())

    def hit(self) -> str:
        """One line: what the kill interrupted."""
        if not self.killed:
            return f"attempt {self.index}: ran to the end (exit {self.exit_code}) in {self.seconds:.0f}s"
        where = "; ".join(f"{q}#{b}" + (f" [{', '.join(self.committed[q])} committed]" if self.committed.get(q) else "")
                          for q, b in sorted(self.in_flight.items())) or "between batches"
        return (f"attempt {self.index}: killed at {self.seconds:.1f}s ({self.anchored_on} +{self.plan.delay}s; "
                f"reference: {', '.join(self.plan.expect) or 'between batches'}): {where}")


def wait_reference(env, log_path: Path, timeout: float) -> float:
    """Run to the end; returns seconds (raises with the log's tail on failure)."""
    t0 = time.time()
    proc = spawn(env, log_path)
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        raise AssertionError(f"reference run over {timeout}s:\n{log_path.read_text()[-3000:]}") from None
    if rc != 0:
        raise AssertionError(f"reference run exit {rc}:\n{log_path.read_text()[-3000:]}")
    return time.time() - t0


def crash_runs(env, ck: Path, warehouse: Path, logs: Path, plan: list[KillPoint], timeout: float,
               report=print) -> list[Attempt]:
    """Start the run once per kill point, kill it there, then once more to the end."""
    attempts: list[Attempt] = []
    for i, point in enumerate([*plan, None]):
        log_path = logs / f"attempt{i}.log"
        before = set(events(ck))
        t0 = time.time()
        proc = spawn(env, log_path)
        a = Attempt(i, point)
        attempts.append(a)
        if point is None:
            try:
                a.exit_code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                kill_group(proc)
                raise AssertionError(f"final run over {timeout}s:\n{log_path.read_text()[-3000:]}") from None
            a.seconds = time.time() - t0
            report(a.hit())
            assert a.exit_code == 0, log_path.read_text()[-3000:]
            break
        anchored = _wait_anchor(proc, ck, log_path, point, before, t0, timeout)
        if anchored is not None:
            a.anchored_on, anchor_t = anchored
            time.sleep(max(0.0, anchor_t + point.delay - time.time()))
        if proc.poll() is None:
            kill_group(proc)
            a.killed = True
        else:
            a.exit_code = proc.returncode
            assert a.exit_code == 0, log_path.read_text()[-3000:]
        a.seconds = time.time() - t0
        st = state(ck)
        a.in_flight = in_flight(st) if a.killed else {}
        a.committed_batches = {q: c for q, (_, c) in st.items()}
        a.committed = {q: committed_steps(warehouse, ck, q, b) for q, b in a.in_flight.items()}
        report(a.hit())
    return attempts


def _wait_anchor(proc, ck: Path, log_path: Path, point: KillPoint, before: set[Event], t0: float,
                 timeout: float) -> tuple[str, float] | None:
    """(what, when) the kill's anchor happened in this attempt, or None if the run ended first.

    A checkpoint file that an earlier attempt already wrote cannot appear again: then the
    anchor is the start of that file's query in this attempt (which resumes where it was)."""
    if point.anchor == "start":
        return "start", t0
    query, kind = point.anchor.split("/")[:2]
    by_file = kind != "started" and not any(e.name == point.anchor for e in before)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if by_file:
            now = events(ck)
            hit = [t for e, t in now.items() if e.name == point.anchor]
            if hit:
                return point.anchor, hit[0]
        else:
            t = starts(log_path).get(query)
            if t is not None:
                return f"{query}/started", t
        if proc.poll() is not None:
            return None
        time.sleep(0.1)
    raise AssertionError(f"kill anchor {point.anchor} not reached in {timeout}s")


# ------------------------------------------------------------------------------- comparison
def _hashes(df, exclude=BOOKKEEPING) -> Counter:
    """Multiset of row hashes over the columns not in `exclude` (sorted by name)."""
    from pyspark.sql import functions as F

    cols = sorted(c for c in df.columns if c not in exclude)
    h = F.sha2(F.to_json(F.struct(*[F.col(f"`{c}`") for c in cols])), 256)
    return Counter({r[0]: r[1] for r in df.select(h.alias("h")).groupBy("h").count().collect()})


def _diff_rows(df, exclude, hashes: set[str], limit: int = 3) -> list[str]:
    from pyspark.sql import functions as F

    cols = sorted(c for c in df.columns if c not in exclude)
    h = F.sha2(F.to_json(F.struct(*[F.col(f"`{c}`") for c in cols])), 256)
    rows = df.where(h.isin(list(hashes)[:50])).select(F.to_json(F.struct(*[F.col(f"`{c}`") for c in cols]))).limit(limit)
    return [r[0][:300] for r in rows.collect()]


def _multiset_diff(name: str, ca: Counter, cb: Counter) -> str | None:
    if ca == cb:
        return None
    missing, extra = ca - cb, cb - ca
    return f"{name}: {sum(missing.values())} rows missing, {sum(extra.values())} extra"


def _raw_key(raw: str) -> str:
    """A quarantined raw row without its bookkeeping fields, as canonical JSON."""
    d = json.loads(raw)
    return json.dumps({k: v for k, v in d.items() if k not in BOOKKEEPING}, sort_keys=True)


def compare(spark, a, b) -> tuple[list[str], dict[str, int]]:
    """Every layer of settings `a` (uninterrupted) against `b` (crashed and restarted).

    - bronze and silver: multisets of row hashes over every column but BOOKKEEPING;
    - gold: equal as multisets without `_updated_at`, and each table's key unique;
    - quarantine: multiset of (query, batch, source table, failed rules, raw row without its
      bookkeeping fields); quality_results: one row per (query, batch, table, rule) with equal
      counts; batch_runs: one `ok` row per (query, batch) with equal rows_in; lineage: one row
      per (query, batch, target table, source table) with equal source versions (bronze's are
      the source's; silver's are bronze versions, which a restart shifts: left out) and rows
      (but for the gold query's renames of the usage query's tables: the operation only).

    Returns (mismatches, rows compared per table).
    """
    from pyspark.sql import functions as F

    from streaming_obs.config import SOURCE_NAMES
    from streaming_obs.sqlfiles import table_specs
    from streaming_obs.tables import GOLD_TABLES, Tables

    ta, tb = Tables(a), Tables(b)
    bad: list[str] = []
    sizes: dict[str, int] = {}
    for layer in ("bronze", "silver"):
        for source in SOURCE_NAMES:
            ra, rb = getattr(ta, layer)(source).read(spark), getattr(tb, layer)(source).read(spark)
            name = f"{layer}.{source}"
            if set(ra.columns) != set(rb.columns):
                bad.append(f"{name}: columns differ: {sorted(set(ra.columns) ^ set(rb.columns))}")
                continue
            ha, hb = _hashes(ra), _hashes(rb)
            sizes[name] = sum(ha.values())
            msg = _multiset_diff(name, ha, hb)
            if msg:
                bad.append(msg + f"; e.g. missing {_diff_rows(ra, BOOKKEEPING, set(ha - hb))}"
                           f" extra {_diff_rows(rb, BOOKKEEPING, set(hb - ha))}")
    for name in GOLD_TABLES:
        ga = ta.gold(name).read(spark).drop("_updated_at")
        gb = tb.gold(name).read(spark).drop("_updated_at")
        sizes[f"gold.{name}"] = ga.count()
        ha, hb = _hashes(ga), _hashes(gb)
        msg = _multiset_diff(f"gold.{name}", ha, hb)
        if msg:
            bad.append(msg + f"; e.g. missing {_diff_rows(ga, (), set(ha - hb))} extra {_diff_rows(gb, (), set(hb - ha))}")
        key = table_specs()["gold"][name]["key"]
        if key:
            dup = gb.groupBy(*key).count().where("count > 1").count()
            if dup:
                bad.append(f"gold.{name}: {dup} keys twice")

    def ops(t: Tables, table: str):
        return t.ops(table).read(spark)

    # quarantine
    def quarantine(t: Tables) -> Counter:
        rows = ops(t, "quarantine").select("query_name", "batch_id", "source_table", "failed_rules", "raw_row").collect()
        return Counter((r[0], r[1], r[2], tuple(sorted(r[3] or [])), _raw_key(r[4])) for r in rows)

    qa, qb = quarantine(ta), quarantine(tb)
    sizes["ops.quarantine"] = sum(qa.values())
    if qa != qb:
        bad.append(f"ops.quarantine: missing {list((qa - qb).elements())[:3]} extra {list((qb - qa).elements())[:3]}")
    dup = [k for k, n in qb.items() if n > 1]
    if dup:
        bad.append(f"ops.quarantine: {len(dup)} rows quarantined twice, e.g. {dup[:2]}")

    def keyed(t: Tables, table: str, key: list[str], values: list[str], where=None) -> tuple[dict, list]:
        df = ops(t, table)
        if where is not None:
            df = df.where(where)
        rows = df.select(*key, *values).collect()
        out, dups = {}, []
        for r in rows:
            k = tuple(r[c] for c in key)
            v = tuple(r[c] for c in values)
            if k in out:
                dups.append(k)
            out[k] = v
        return out, dups

    checks = {
        "quality_results": (["query_name", "batch_id", "table_name", "rule"],
                            ["action", "passed", "failed", "rows_in", "rows_kept", "rows_dropped", "rows_quarantined"],
                            None),
        "batch_runs": (["query_name", "batch_id"], ["rows_in", "target_table"], F.col("status") == "ok"),
        "lineage": (["query_name", "batch_id", "target_table", "source_table"],
                    ["rows_written", "operation"], None),
    }
    # The gold query only renames rows of the usage query's tables: how many it touches depends
    # on how many the usage query had written by then, which a restart legitimately changes.
    # Its commits there are compared by operation, not by rows written.
    from streaming_obs.gold.compute import COST_TABLES, FOCUS_TABLE

    usage_owned = {ta.gold(name).label for name in (*COST_TABLES, FOCUS_TABLE)}

    def comparable(table: str, rows: dict) -> dict:
        if table != "lineage":
            return rows
        return {k: ((None, v[1]) if k[0] == "gold" and k[2] in usage_owned else v) for k, v in rows.items()}

    for table, (key, values, where) in checks.items():
        ka, _ = keyed(ta, table, key, values, where)
        kb, dups = keyed(tb, table, key, values, where)
        ka, kb = comparable(table, ka), comparable(table, kb)
        sizes[f"ops.{table}"] = len(ka)
        if dups:
            bad.append(f"ops.{table}: {len(dups)} keys twice, e.g. {dups[:3]}")
        missing = sorted(set(ka) - set(kb), key=str)
        extra = sorted(set(kb) - set(ka), key=str)
        differ = sorted((k for k in set(ka) & set(kb) if ka[k] != kb[k]), key=str)
        if missing or extra or differ:
            bad.append(f"ops.{table}: {len(missing)} missing (e.g. {missing[:3]}), {len(extra)} extra "
                       f"(e.g. {extra[:3]}), {len(differ)} differ (e.g. {[(k, ka[k], kb[k]) for k in differ[:2]]})")
    return bad, sizes


def summary(attempts: list[Attempt]) -> dict:
    """What the kills hit: queries and (query, batch) pairs in flight, and writes half done."""
    killed = [a for a in attempts if a.killed]
    hits = [(q, b) for a in killed for q, b in a.in_flight.items()]
    return {
        "kills": len(killed),
        "kills_in_a_batch": sum(1 for a in killed if a.in_flight),
        "distinct_batch_sets": len({frozenset(a.in_flight.items()) for a in killed if a.in_flight}),
        "distinct_places": len({a.place() for a in killed if a.in_flight}),
        "queries_hit": sorted({q for q, _ in hits}),
        "batches_hit": sorted({f"{q}#{b}" for q, b in hits}),
        "half_done": sorted({f"{q}#{a.in_flight[q]}" for a in killed for q in a.in_flight if a.committed.get(q)}),
        "attempts": [asdict(a) for a in attempts],
    }
