"""Feed the source tables during a timed window without taking Spark's cores.

On Databricks the system tables are written by someone else; the pipeline under test should not
pay for them. Before a window, `plan_steps` runs the product's `SimulatorStream` (Spark) on the
simulated clock and keeps each step's rows as Arrow tables instead of writing them. During the
window, `play` appends them on the wall clock with delta-rs (`deltalake`): one billing-usage
commit per cadence tick and the other tables every few ticks, with no Spark job and no JVM work.
Each append is one Delta commit to the same table Spark created (change data feed on), so the
product's CDF source reads them as inserts like any other commit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from benchmarks import deltalog

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["PlannedStep", "DeltaAppender", "plan_steps", "play", "USAGE"]

USAGE = "billing_usage"
# Spark's default checkpoint interval: a table written by Spark (or by Databricks) gets a log
# checkpoint every 10 commits, so a reader never replays more than 10 JSON commits. delta-rs's
# own default is 100; we checkpoint at Spark's interval so the pipeline reads the log it would.
CHECKPOINT_EVERY = 10
# Steps turned into Arrow per Spark job (a union): fewer jobs than one per step, plans still small.
CHUNK = 10


@dataclass
class PlannedStep:
    """One step of the simulator: its simulated clock and its rows per source table (Arrow)."""

    clock: datetime
    tables: dict[str, pa.Table] = field(default_factory=dict)

    @property
    def usage_rows(self) -> int:
        """Billing-usage rows of the step (0 if it wrote none)."""
        t = self.tables.get(USAGE)
        return 0 if t is None else t.num_rows


def _to_arrow(spark, source: str, frames: list[tuple[int, object]]) -> dict[int, pa.Table]:
    """{step index: Arrow table} of one source's frames, CHUNK steps per Spark job."""
    import pyarrow.compute as pc
    from pyspark.sql import functions as F

    from streaming_obs.sources.schemas import system_schema
    from streaming_obs.sources.simulator.writer import conform

    schema = system_schema(source)
    out: dict[int, pa.Table] = {}
    for i in range(0, len(frames), CHUNK):
        chunk = frames[i:i + CHUNK]
        # the same conform() the Spark writer applies, plus the step index to split on
        df = None
        for k, f in chunk:
            part = conform(f, schema).withColumn("_step", F.lit(k))
            df = part if df is None else df.unionByName(part)
        table = df.toArrow()
        steps = table.column("_step")
        for k, _f in chunk:
            part = table.filter(pc.equal(steps, k)).drop_columns(["_step"])
            if part.num_rows:
                out[k] = part
    return out


def plan_steps(stream, start: datetime, n: int, cadence_s: float, rows_per_second: float,
               others_every: int) -> list[PlannedStep]:
    """Run `n` simulator steps of `cadence_s` simulated seconds each from `start`, keeping their
    rows as Arrow tables (nothing is written). Spark does the generating: call it before the
    timed window. The stream's clock and state advance as if the steps had been written.

    Raises:
        ValueError: the stream has not stepped yet (its first step creates the tables through
            Spark) or a planned step would change a list price (a MERGE, not an append).
    """
    if stream.steps == 0:
        raise ValueError("step the stream once through Spark first (it creates and seeds the tables)")
    k0, every = stream.steps, stream.price_change_every
    if any((k0 + i) % every == every - 1 for i in range(n)):
        raise ValueError("a planned step would change a list price (MERGE); raise price_change_every")
    captured: dict[str, list[tuple[int, object]]] = {}
    current = [0]

    def sink(source: str, df) -> int:
        captured.setdefault(source, []).append((current[0], df))
        return 0  # counted once converted

    stream.rows_per_second, stream.others_every = rows_per_second, others_every
    clocks = []
    old_sink, stream.sink = stream.sink, sink
    try:
        for i in range(n):
            current[0] = i
            clocks.append(start + timedelta(seconds=cadence_s * (i + 1)))
            stream.step(clocks[-1])
    finally:
        stream.sink = old_sink
    plan = [PlannedStep(c) for c in clocks]
    for source, frames in captured.items():
        for k, table in _to_arrow(stream.spark, source, frames).items():
            plan[k].tables[source] = table
    return plan


class DeltaAppender:
    """Appends Arrow tables to existing Delta tables with delta-rs, one commit per append."""

    def __init__(self, paths: dict[str, str], checkpoint_every: int = CHECKPOINT_EVERY) -> None:
        self.paths = paths
        self.checkpoint_every = checkpoint_every
        self._tables: dict[str, object] = {}
        self._schemas: dict[str, pa.Schema] = {}

    def _table(self, source: str):
        from deltalake import DeltaTable

        dt = self._tables.get(source)
        if dt is None:
            dt = self._tables[source] = DeltaTable(self.paths[source])
        else:
            dt.update_incremental()  # Spark may have committed since (scale points, increments)
        return dt

    def schema(self, source: str) -> pa.Schema:
        """The table's schema as delta-rs maps it to Arrow (timestamps in UTC, map entries named
        its way): input is cast to it so delta-rs takes it as the table's own schema."""
        import pyarrow as pa

        if source not in self._schemas:
            self._schemas[source] = pa.schema(self._table(source).schema().to_arrow())
        return self._schemas[source]

    def append(self, source: str, table: pa.Table) -> int:
        """Append `table` as one commit; returns the new version."""
        from deltalake import CommitProperties, PostCommitHookProperties, write_deltalake

        dt = self._table(source)
        data = table.cast(self.schema(source))
        # checkpoints at our interval below; no log clean-up (Spark's writers do that)
        write_deltalake(dt, data, mode="append",
                        post_commithook_properties=PostCommitHookProperties(create_checkpoint=False,
                                                                            cleanup_expired_logs=False),
                        commit_properties=CommitProperties(custom_metadata={"writer": "benchmarks.feed"}))
        dt.update_incremental()
        version = dt.version()
        if self.checkpoint_every and version % self.checkpoint_every == 0:
            dt.create_checkpoint()
        return version


def play(plan: list[PlannedStep], appender: DeltaAppender, cadence_s: float = 1.0, check=None) -> list[dict]:
    """Append the planned steps on the wall clock, step i at `start + i·cadence_s` (a late step
    goes at once, so the schedule does not drift). Usage is appended first in each step, so its
    commit time is the step's; the other tables follow in the same tick.

    Returns one record per step: wall start/end of the step's appends, the usage commit's
    version and commit time (the log file's mtime, as Delta and the freshness chain read it),
    the rows written, and the seconds spent appending. `check()` runs before every step (the
    harness passes the pipeline's liveness check).
    """
    out = []
    t0 = time.monotonic()
    for i, step in enumerate(plan):
        if check is not None:
            check()
        time.sleep(max(0.0, t0 + i * cadence_s - time.monotonic()))
        t_start = time.time()
        rec = {"t_start": t_start, "clock": step.clock.isoformat(), "usage_rows": step.usage_rows, "rows": 0,
               "source_version": None, "t_commit": None, "tables": {}}
        for source in sorted(step.tables, key=lambda s: s != USAGE):
            table = step.tables[source]
            v = appender.append(source, table)
            rec["rows"] += table.num_rows
            rec["tables"][source] = v
            if source == USAGE:
                rec["source_version"] = v
                rec["t_usage_end"] = time.time()
                rec["t_commit"] = deltalog.commit_times(appender.paths[USAGE], v).get(v)
        rec["t_end"] = time.time()
        rec["append_s"] = rec["t_end"] - t_start
        out.append(rec)
    return out
