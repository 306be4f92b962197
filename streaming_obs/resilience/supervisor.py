"""The supervisor: starts flows, watches them, restarts what can heal, stops what cannot.

A failed query is restarted from its checkpoint with exponential backoff (tenacity's wait
strategy) up to `resilience.max_restarts`; then the run fails with the cause. A source that gained
a column is such a case: Delta stops the stream once and the restart reads the new schema.
Failures no restart can heal — a quality rule with action `fail`, bad config, a source vacuumed
behind the checkpoint, an unusable checkpoint — stop everything at once with a clear message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tenacity import wait_exponential

from streaming_obs.errors import BatchStopped, PipelineError
from streaming_obs.logs import get_logger, jvm_to_file, notice
from streaming_obs.resilience.failures import INCOMPATIBLE, SCHEMA_FIX, classify_failure, error_class_of, restart_hint

if TYPE_CHECKING:
    from pyspark.sql.streaming import StreamingQuery

    from streaming_obs.context import PipelineContext
    from streaming_obs.batch import Flow

__all__ = ["Supervisor", "graceful_stop", "finish_after_current_batch", "stop_gate", "input_rows",
           "batch_ended_by_stop"]

log = get_logger(__name__)

def graceful_stop(queries: list[StreamingQuery], timeout_s: float, *,
                  before_stop: Callable[[], None] | None = None,
                  on_cut: Callable[[], None] | None = None) -> list[str]:
    """Stop queries between batches, all within one deadline; returns the ones cut at the deadline.

    Nothing is interrupted and no batch is cut short:
    * a batch that reaches its first line after the stop was asked for ends there, before any
      work, and its query with it (`stop_gate`);
    * a batch already doing its work completes and commits; its query then sleeps until its
      next trigger (or, falling behind, starts one and meets the gate);
    * a sleeping query is told to end (`finish_after_current_batch`) while it provably sleeps
      (`_between_triggers`), so it ends when it wakes instead of starting a trigger. Telling a
      query that is planning a batch would make Spark interrupt that batch's thread.
    That takes at most one trigger interval plus the longest running batch. Each query is
    awaited by its thread (not `awaitTermination`, which answers "not active" right after the
    state flip, while the batch still runs). Then `before_stop` runs (the runner removes the
    listeners there: every query has ended, none is stopped yet, the session still runs) and
    `stop()` only releases what each query holds. A query still mid-batch at the deadline is
    stopped there: its batch ends quietly as `BatchStopped` (`batch_ended_by_stop`) and replays
    exactly-once on the next start. A query whose thread cannot be inspected is told once no
    trigger of its runs (a narrow race, the best there is); one that cannot be told (a Spark
    without the internal hook) is stopped then. `on_cut` runs before the first mid-batch stop:
    the supervisor marks its run as cut there, for good (see `batch_ended_by_stop`).
    """
    deadline = time.monotonic() + timeout_s
    told: set[int] = set()
    stopped: set[int] = set()
    pending = list(queries)
    while pending and time.monotonic() < deadline:
        still = []
        for query in pending:
            if _ended(query):
                continue
            if id(query) not in told and _asleep(query):
                if finish_after_current_batch(query):
                    told.add(id(query))
                elif _idle(query):  # no hook: the old way, stop it while no trigger runs
                    _stop(query)
                    stopped.add(id(query))
                    continue
            still.append(query)
        pending = still
        if pending:
            time.sleep(0.2)
    if before_stop is not None:
        try:
            before_stop()
        except Exception as exc:  # noqa: BLE001 - removing a listener must not keep queries running
            log.warning("before-stop step failed", error=str(exc)[:300])
    late = [q.name for q in pending]
    if late:
        log.info("stop deadline passed: stopping mid-batch", queries=late, timeout_s=timeout_s)
        notice(f"still mid-batch after {timeout_s:.0f}s: {', '.join(late)}; stopped there, the next start "
               "replays those batches (exactly-once)")
        jvm_to_file()  # what Spark says about the work it abandons goes to the log file
        if on_cut is not None:
            on_cut()
    for query in queries:  # ended ones: `stop()` only releases what they hold
        if id(query) not in stopped and query not in pending:
            _stop(query)
    if pending:  # each `stop()` waits for its thread: cut them all at once, not one after another
        with ThreadPoolExecutor(max_workers=len(pending), thread_name_prefix="stop") as pool:
            list(pool.map(_stop, pending))
    return late


def _asleep(query: StreamingQuery) -> bool:
    asleep = _between_triggers(query)
    return _idle(query) if asleep is None else asleep  # cannot look at the thread: best guess


def _between_triggers(query: StreamingQuery, margin_s: float = 1.0) -> bool | None:
    """True while the query's thread sleeps until its next trigger, far enough from it that the
    state can be flipped before the thread wakes; False otherwise; None when it cannot be told.

    A processing-time trigger sleeps in `SystemClock.waitTillTime` until the next multiple of
    its interval (Spark aligns triggers to the epoch). The time is read before the thread's
    stack: if the thread sleeps then, it wakes at that next boundary at the earliest, so a flip
    made more than `margin_s` before it cannot meet a trigger in progress. No gap to race.
    """
    try:
        now_ms = time.time() * 1000
        execution = query._jsq.streamingQuery()
        trigger = execution.trigger()
        if trigger.getClass().getSimpleName() != "ProcessingTimeTrigger":
            return False  # available-now and friends never sleep between batches
        interval_ms = max(1, int(trigger.intervalMs()))
        boundary_ms = (now_ms // interval_ms + 1) * interval_ms
        frames = execution.queryExecutionThread().getStackTrace()
        top = " ".join(str(frames[i]) for i in range(min(4, len(frames))))
        if "SystemClock.waitTillTime" not in top:
            return False
        return boundary_ms - time.time() * 1000 > min(margin_s * 1000, interval_ms / 4)
    except Exception as exc:  # noqa: BLE001 - Spark Connect, another runtime: cannot tell
        log.info("trigger state unavailable", query=getattr(query, "name", None), error=str(exc)[:200])
        return None


#: what an interrupted or cancelled batch's error says (py4j carries the JVM's text over)
_INTERRUPTION_MARKERS = ("java.lang.InterruptedException", "java.io.InterruptedIOException",
                         "java.nio.channels.ClosedByInterruptException", "SPARK_JOB_CANCELLED",
                         "cancelled part of cancelled job group", "was stopped")


def batch_ended_by_stop(exc: BaseException) -> bool:
    """True when a batch's error is the requested stop at work (an interrupt, a cancelled job),
    not a failure of the batch: the batch wrapper then ends it quietly as `BatchStopped`.

    Once the stop's deadline cut batches (`Supervisor.cut`), every later batch error of that run
    is the cut's doing, whatever it says, and however late it surfaces: Spark's `stop()` gives up
    waiting for a batch's thread after `spark.sql.streaming.stopTimeout`, while the batch's Python
    side may still be running and fail only afterwards (seen under load in CI).
    """
    sup = _current["supervisor"]
    if sup is None or not sup.stop_event.is_set() or not sup.owns_running_batch():
        return False
    text = f"{type(exc).__name__}: {exc}"
    return sup.cut.is_set() or any(m in text for m in _INTERRUPTION_MARKERS)


def finish_after_current_batch(query: StreamingQuery) -> bool:
    """Make the query's current (or next) trigger its last, without interrupting anything.

    Spark's `stop()` sets the query's state to TERMINATED and interrupts its thread at once,
    mid-batch as often as not. Setting only the state lets the trigger loop end by itself: it
    checks the state before each trigger and after each batch. One catch: a trigger that sees
    the state while it is still planning its batch (Spark 4.2 checks right before running it)
    interrupts its own thread, so the batch's first blocking call would fail; `stop_gate`, the
    first thing every batch runs, ends such a batch before that call. The state lives on the
    JVM object, so this reaches it through py4j; False when this Spark has no such hook.
    """
    try:
        from pyspark import SparkContext

        jvm = SparkContext._jvm
        state = query._jsq.streamingQuery().state()
        current = state.get().getClass()
        if current.getSimpleName() == "TERMINATED$":  # told already (or stopped)
            return True
        terminated = jvm.java.lang.Class.forName(f"{current.getPackage().getName()}.TERMINATED$")
        state.set(terminated.getField("MODULE$").get(None))
        return True
    except Exception as exc:  # Spark Connect, another runtime, a renamed class: fall back
        log.info("finish-after-batch hook unavailable", query=getattr(query, "name", None), error=str(exc)[:200])
        return False


def _ended(query: StreamingQuery) -> bool:
    """True once the query's thread has finished (whether it ended cleanly or failed).

    Not `awaitTermination`: it answers "not active", which is true as soon as the state says
    terminated, while the thread is still finishing its batch.
    """
    jsq = getattr(query, "_jsq", None)
    if jsq is None:  # not a JVM query: its own flag is all there is
        return not query.isActive
    try:
        return not jsq.streamingQuery().queryExecutionThread().isAlive()
    except Exception as exc:  # noqa: BLE001 - no such hook here: ask the session's active list
        log.info("query thread check unavailable", query=getattr(query, "name", None), error=str(exc)[:200])
    try:  # not `awaitTermination`: "not active" is true right after the state flip, mid-batch
        from pyspark.sql import SparkSession

        spark = SparkSession.getActiveSession()
        return spark is None or spark.streams.get(str(query.id)) is None
    except Exception:  # noqa: BLE001 - the JVM is gone: nothing left running
        return True


def _idle(query: StreamingQuery) -> bool:
    try:
        return not query.isActive or not query.status.get("isTriggerActive", False)
    except Exception:  # the query ended between the two calls
        return True


def _stop(query: StreamingQuery) -> None:
    try:
        query.stop()
    except Exception as exc:
        if "TimeoutException" in f"{type(exc).__name__}: {exc}":
            # spark.sql.streaming.stopTimeout passed with the cut batch still running: it ends
            # on its own as a stop (`batch_ended_by_stop`) and the next start replays it
            log.info("stop stopped waiting for the batch's thread", query=query.name, error=str(exc)[:200])
            return
        log.warning("stop raised", query=query.name, error=str(exc)[:200])  # worth a line: the JVM going away


#: the running supervisor, whose stop event `stop_gate` reads at the start of every batch
_current: dict[str, Supervisor | None] = {"supervisor": None}


def stop_gate(batch_df, query_name: str, batch_id: int = -1) -> None:  # noqa: ANN001 - a pyspark DataFrame
    """First thing in every batch: once a stop was asked for, no batch starts its work.

    The query is told to end (`finish_after_current_batch`) and the batch ends here with
    `BatchStopped`, which Spark reads as the query being stopped: no error, no stack trace, no
    commit, so the next start runs the batch again (it did nothing, so exactly-once holds
    trivially). This is also where a batch lands whose trigger saw the stop while planning and
    interrupted its own thread (see `finish_after_current_batch`): it ends before its first
    blocking call would fail. Where the hook is unavailable the batch simply runs and
    `graceful_stop` stops the query when idle.

    Raises:
        BatchStopped: a stop was asked for.
    """
    sup = _current["supervisor"]
    if sup is None or not sup.stop_event.is_set() or not sup.owns_running_batch():
        return
    query = sup.query_named(query_name)
    if query is not None and finish_after_current_batch(query):
        log.info("batch not started: a stop was asked for", query=query_name, batch_id=batch_id)
        raise BatchStopped(query_name, batch_id, "not started: a stop was asked for")


@dataclass
class _Watched:
    flow: Flow
    query: StreamingQuery | None = None
    restarts: int = 0
    next_start: float = 0.0
    done: bool = False
    # Delta stops a stream once per source schema change and the restart reads the new schema.
    # A restart that fails on a schema change again before any batch means the change is one a
    # restart cannot read: incompatible.
    schema_strikes: int = 0


@dataclass
class Supervisor:
    """Keeps a set of flows running until stopped."""

    ctx: PipelineContext
    start: Callable[[Flow], StreamingQuery]
    watched: dict[str, _Watched] = field(default_factory=dict)
    stop_event: threading.Event = field(default_factory=threading.Event)
    #: set for good once the stop's deadline cut batches mid-way (`batch_ended_by_stop`)
    cut: threading.Event = field(default_factory=threading.Event)
    #: runs once every query ended, before any `stop()`: the runner removes the listeners there
    before_stop: Callable[[], None] | None = None
    #: ids of the queries this supervisor started, and the flow being started (its first batch
    #: may begin before `start` returns the query): a stopped supervisor stays `_current` after
    #: its run, and must not gate a query someone else starts later in the same process
    ids: set[str] = field(default_factory=set)
    starting: str | None = None

    def __post_init__(self) -> None:
        _current["supervisor"] = self

    def launch(self, flows: list[Flow], *, until: float | None = None,
               on_started: Callable[[Supervisor], None] | None = None) -> None:
        """Start every flow now; none once a stop was asked for or `until` (a `time.monotonic()`
        instant: the end of `--duration`) passed, for starting takes seconds each. `on_started`
        is called after each start (the live console shows the queries as they come)."""
        for flow in flows:
            if self.stop_event.is_set() or (until is not None and time.monotonic() >= until):
                break
            w = _Watched(flow)
            w.query = self._start(flow)
            self.watched[flow.name] = w
            if on_started is not None:
                on_started(self)

    def _start(self, flow: Flow) -> StreamingQuery:
        self.starting = flow.name
        try:
            query = self.start(flow)
            if getattr(query, "id", None) is not None:
                self.ids.add(str(query.id))
        finally:
            self.starting = None
        return query

    def owns_running_batch(self) -> bool:
        """Whether the batch running on this thread is one of this supervisor's queries.

        Spark sets `sql.streaming.queryId` on a query's thread, which a `foreachBatch` function
        runs on. Where it cannot be read (not in a batch, another runtime), or while a flow is
        being started, the answer is yes, as it was before queries were told apart.
        """
        if self.starting is not None:
            return True
        try:
            from pyspark import SparkContext

            sc = SparkContext._active_spark_context
            query_id = sc.getLocalProperty("sql.streaming.queryId") if sc is not None else None
        except Exception:  # noqa: BLE001 - the JVM going away: as before
            return True
        if query_id is None:
            return True
        watched = {str(q.id) for q in self.queries if getattr(q, "id", None) is not None}
        return query_id in self.ids or query_id in watched

    def query_named(self, name: str) -> StreamingQuery | None:
        """The running query of that name: ours, else the session's (a batch may begin before
        `start` has returned the query object)."""
        w = self.watched.get(name)
        if w is not None and w.query is not None:
            return w.query
        spark = getattr(self.ctx, "spark", None)
        try:
            return next((q for q in spark.streams.active if q.name == name), None) if spark is not None else None
        except Exception:  # the session is stopping
            return None

    @property
    def queries(self) -> list[StreamingQuery]:
        return [w.query for w in self.watched.values() if w.query is not None]

    def check(self) -> None:
        """One round of watching: restart failed queries whose backoff expired.

        Raises:
            PipelineError: a query failed in a way restarts cannot heal, or ran out of restarts.
        """
        cfg = self.ctx.settings.resilience
        wait = wait_exponential(multiplier=cfg.backoff_initial_seconds, max=cfg.backoff_max_seconds)
        now = time.monotonic()
        for name, w in self.watched.items():
            q = w.query
            if q is not None and not q.isActive:
                exc = q.exception()
                if exc is None:
                    w.done = True
                    continue
                text = f"{type(exc).__name__}: {exc}"
                fatal = classify_failure(text) or _schema_verdict(w, q, text)
                error_class = error_class_of(None, text)
                log.error("query failed", query=name, error_class=error_class, fatal=bool(fatal), error=text[:1000])
                if fatal:
                    remedy = fatal[1].format(command=_reset_command(name, self.ctx.settings.env))
                    raise PipelineError(f"query {name} stopped: {fatal[0]}; {remedy}. Cause: {_first_line(exc)}")
                if w.restarts >= cfg.max_restarts:
                    raise PipelineError(
                        f"query {name} failed {w.restarts + 1} times; giving up. Last cause: {_first_line(exc)}"
                        + restart_hint(text))
                w.restarts += 1
                w.query = None
                w.next_start = now + wait(_RetryState(w.restarts))
                if self.ctx.telemetry is not None:
                    self.ctx.telemetry.record_restart(name, error_class)
            if w.query is None and not w.done and now >= w.next_start and not self.stop_event.is_set():
                log.warning("restarting query", query=name, attempt=w.restarts)
                w.query = self._start(w.flow)

    def wait_done(self, poll_s: float = 0.2) -> bool:
        """Watch until every query finished (available-now); False if a stop came first.

        On a stop the queries end between batches (`stop_all`) and the caller starts no more.
        """
        while not self.all_done():
            if self.stop_event.is_set():
                self.stop_all(self.ctx.settings.resilience.stop_timeout_seconds)
                return False
            self.check()
            time.sleep(poll_s)
        return True

    def all_done(self) -> bool:
        """True when every query finished without error (available-now runs)."""
        return all(w.done for w in self.watched.values())

    def stop_all(self, timeout_s: float) -> list[str]:
        """Graceful stop of every query, all within `timeout_s` (launch order: upstream first);
        returns the queries whose batch the deadline cut (`graceful_stop`)."""
        self.stop_event.set()  # from now on no batch starts its work (`stop_gate`)
        return graceful_stop(self.queries, timeout_s, before_stop=self.before_stop, on_cut=self.cut.set)


@dataclass
class _RetryState:
    attempt_number: int



def _schema_verdict(w: _Watched, query: StreamingQuery, text: str) -> tuple[str, str] | None:
    """Fatal when a schema-change failure follows another with no batch in between."""
    if "DELTA_SCHEMA_CHANGED" not in text:
        w.schema_strikes = 0
        return None
    try:
        progressed = any(input_rows(p) > 0 for p in query.recentProgress)
    except Exception:  # a query object without progress history: count it as none
        progressed = False
    w.schema_strikes = 1 if progressed else w.schema_strikes + 1
    return (INCOMPATIBLE, SCHEMA_FIX) if w.schema_strikes >= 2 else None


def input_rows(progress) -> int:
    """numInputRows of a progress, whether PySpark gives an object or a dict."""
    try:
        return int(progress.numInputRows)
    except AttributeError:
        return int(progress["numInputRows"])


def _reset_command(query: str, env: str) -> str:
    if query.startswith("bronze_"):
        return f"run `streaming-obs reset-checkpoint {query.removeprefix('bronze_')} --env {env} --yes`"
    return f"rebuild {query} from its source as described there"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:500] if text else type(exc).__name__
