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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tenacity import wait_exponential

from streaming_obs.errors import PipelineError
from streaming_obs.logs import get_logger
from streaming_obs.resilience.failures import INCOMPATIBLE, SCHEMA_FIX, classify_failure, error_class_of, restart_hint

if TYPE_CHECKING:
    from pyspark.sql.streaming import StreamingQuery

    from streaming_obs.context import PipelineContext
    from streaming_obs.batch import Flow

__all__ = ["Supervisor", "graceful_stop", "finish_after_current_batch", "stop_gate", "input_rows"]

log = get_logger(__name__)

def graceful_stop(queries: list[StreamingQuery], timeout_s: float) -> None:
    """Stop queries between batches, all within one deadline.

    Each query is told to make its current batch its last (`finish_after_current_batch`): a
    running batch completes and commits, an idle query ends at its next trigger without starting
    one, and nothing is interrupted, so no batch dies half-way with InterruptedException noise.
    That takes at most one trigger interval plus the longest batch. Then every query is awaited
    and `stop()` only cleans up. Queries that ignore the request (a Spark without the internal
    hook) are stopped as soon as no trigger of theirs is running, as before. At the deadline the
    rest are stopped mid-batch, which exactly-once makes safe: the batch is replayed on the next
    start and its idempotent writes skip what already committed.
    """
    pending = list(queries)
    told = {id(q) for q in pending if finish_after_current_batch(q)}
    deadline = time.monotonic() + timeout_s
    while pending:
        late = time.monotonic() >= deadline
        for query in list(pending):
            if _ended(query) or late or (id(query) not in told and _idle(query)):
                _stop(query)
                pending.remove(query)
        if pending:
            time.sleep(0.2)


def finish_after_current_batch(query: StreamingQuery) -> bool:
    """Make the query's current (or next) trigger its last, without interrupting anything.

    Spark's `stop()` sets the query's state to TERMINATED and interrupts its thread at once,
    mid-batch as often as not. Setting only the state lets the trigger loop end by itself: it
    checks the state before each trigger and after each batch. The state lives on the JVM
    object, so this reaches it through py4j; False when this Spark has no such hook.
    """
    try:
        from pyspark import SparkContext

        jvm = SparkContext._jvm
        state = query._jsq.streamingQuery().state()
        package = state.get().getClass().getPackage().getName()
        terminated = jvm.java.lang.Class.forName(f"{package}.TERMINATED$").getField("MODULE$").get(None)
        state.set(terminated)
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
    except Exception as exc:  # the JVM is going away: say so, a stop that failed is worth a line
        log.warning("stop raised", query=query.name, error=str(exc)[:200])


#: the running supervisor, whose stop event `stop_gate` reads at the start of every batch
_current: dict[str, Supervisor | None] = {"supervisor": None}


def stop_gate(batch_df, query_name: str) -> None:  # noqa: ANN001 - a pyspark DataFrame
    """First thing in every batch: if a stop was asked for, let this batch be the query's last.

    The batch has begun (Spark logged its offsets), so it completes and commits; the query then
    ends instead of starting another. Nothing is raised: an exception here would end the query
    "with error" and fill the terminal with a Java stack trace. Where the hook is unavailable
    the batch simply runs and `graceful_stop` falls back to stopping the query when idle.
    """
    sup = _current["supervisor"]
    if sup is None or not sup.stop_event.is_set():
        return
    query = sup.query_named(query_name)
    if query is not None:
        finish_after_current_batch(query)


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

    def __post_init__(self) -> None:
        _current["supervisor"] = self

    def launch(self, flows: list[Flow]) -> None:
        """Start every flow now (none once a stop was asked for: starting takes seconds each)."""
        for flow in flows:
            if self.stop_event.is_set():
                break
            w = _Watched(flow)
            w.query = self.start(flow)
            self.watched[flow.name] = w

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
                w.query = self.start(w.flow)

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

    def stop_all(self, timeout_s: float) -> None:
        """Graceful stop of every query, all within `timeout_s` (launch order: upstream first)."""
        self.stop_event.set()  # a batch starting from now on is its query's last (`stop_gate`)
        graceful_stop(self.queries, timeout_s)


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
