"""Stopping between batches: the stop gate, the supervisor's stop, and Spark's own trigger loop."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from streaming_obs.errors import BatchStopped
from streaming_obs.resilience import supervisor as sv


class _Jsq:
    def __init__(self, ends_after):
        self.calls, self.ends_after = 0, ends_after

    # jsq.streamingQuery().queryExecutionThread().isAlive(), as py4j hands it over
    def streamingQuery(self):  # noqa: N802 - py4j's name
        return self

    def queryExecutionThread(self):  # noqa: N802
        return self

    def isAlive(self):  # noqa: N802
        self.calls += 1
        return self.calls < self.ends_after


class _Query:
    def __init__(self, name, ends_after=3):
        self.name, self._jsq, self.stopped_at, self.isActive = name, _Jsq(ends_after), None, True

    def stop(self):
        self.stopped_at = self._jsq.calls


def test_told_queries_are_awaited_and_only_then_stopped(monkeypatch):
    told = []
    monkeypatch.setattr(sv, "finish_after_current_batch", lambda q: told.append(q.name) or True)
    a, b = _Query("a", ends_after=2), _Query("b", ends_after=4)
    sv.graceful_stop([a, b], timeout_s=30)
    assert told == ["a", "b"]
    assert a.stopped_at == 2 and b.stopped_at == 4  # stop() came after the thread had ended


def test_the_deadline_stops_a_query_that_does_not_end(monkeypatch):
    monkeypatch.setattr(sv, "finish_after_current_batch", lambda q: True)
    stuck = _Query("stuck", ends_after=10**9)
    t0 = time.monotonic()
    cut = []
    assert sv.graceful_stop([stuck], timeout_s=0.5, on_cut=lambda: cut.append(stuck.stopped_at)) == ["stuck"]
    assert stuck.stopped_at is not None and 0.5 <= time.monotonic() - t0 < 3
    assert cut == [None]  # told before the first mid-batch stop


def test_no_cut_is_reported_when_every_query_ends_in_time(monkeypatch):
    monkeypatch.setattr(sv, "finish_after_current_batch", lambda q: True)
    cut = []
    assert sv.graceful_stop([_Query("a", ends_after=2)], timeout_s=30, on_cut=lambda: cut.append(1)) == []
    assert cut == []


def test_listeners_go_after_every_query_ended_and_before_any_stop(monkeypatch):
    monkeypatch.setattr(sv, "finish_after_current_batch", lambda q: True)
    a, b = _Query("a", ends_after=2), _Query("b", ends_after=3)
    seen = []
    late = sv.graceful_stop([a, b], timeout_s=30, before_stop=lambda: seen.append((a.stopped_at, b.stopped_at)))
    assert late == [] and seen == [(None, None)]
    assert a.stopped_at is not None and b.stopped_at is not None


def test_an_error_during_a_stop_is_the_stop_only_when_it_is_an_interruption_or_past_the_deadline():
    stop = threading.Event()
    sup = _sup(stop)
    interrupted = RuntimeError("An error occurred while calling o1.collectToPython.\n: java.lang.InterruptedException")
    assert not sv.batch_ended_by_stop(interrupted)  # no stop asked for: a real failure
    stop.set()
    assert sv.batch_ended_by_stop(interrupted)
    assert not sv.batch_ended_by_stop(ValueError("a quality rule with action fail was broken"))
    sup.cut.set()  # the deadline cut batches: any later error of the run is the cut's doing
    assert sv.batch_ended_by_stop(ValueError("anything, after queries were cut at the deadline"))
    assert not sv.Supervisor(sup.ctx, sup.start, stop_event=stop).cut.is_set()  # a new run starts uncut


def test_batch_stopped_carries_the_marker_spark_reads_as_a_stop():
    import re

    # StreamExecution.PROXY_ERROR (Spark 4.2), matched against the Python traceback's text
    proxy_error = re.compile(r"py4j.protocol.Py4JJavaError: An error occurred while calling((.|\r\n|\r|\n)*)"
                             r"(java.lang.InterruptedException|java.io.InterruptedIOException|"
                             r"java.nio.channels.ClosedByInterruptException)")
    text = str(BatchStopped("bronze_jobs", 7, "not started: a stop was asked for"))
    assert proxy_error.search(text) and len(text) < 300, text


def _sup(stop=None, queries=()):
    ctx = SimpleNamespace(settings=SimpleNamespace(resilience=SimpleNamespace(stop_timeout_seconds=5)), spark=None,
                          telemetry=None)
    sup = sv.Supervisor(ctx, lambda flow: _Query(flow.name, ends_after=1), stop_event=stop or threading.Event())
    for q in queries:
        sup.watched[q.name] = sv._Watched(SimpleNamespace(name=q.name), q)
    return sup


def test_the_gate_does_nothing_until_a_stop_then_no_batch_starts_its_work(monkeypatch):
    told = []
    monkeypatch.setattr(sv, "finish_after_current_batch", lambda q: told.append(q.name) or q.name != "no_hook")
    q, old = _Query("silver_jobs"), _Query("no_hook")
    sup = _sup(queries=[q, old])
    sv.stop_gate(None, "silver_jobs", 3)
    assert told == []
    sup.stop_event.set()
    with pytest.raises(BatchStopped, match="silver_jobs batch 3 not started"):
        sv.stop_gate(None, "silver_jobs", 3)
    sv.stop_gate(None, "not_ours")  # unknown (no session to ask): the batch just runs
    sv.stop_gate(None, "no_hook")  # cannot be told to end: the batch runs, graceful_stop waits for idle
    assert told == ["silver_jobs", "no_hook"]


def test_no_flow_is_launched_after_a_stop_and_the_available_now_wait_ends(monkeypatch):
    monkeypatch.setattr(sv, "finish_after_current_batch", lambda q: True)
    stop = threading.Event()
    sup = _sup(stop)
    sup.launch([SimpleNamespace(name="a")])
    stop.set()
    sup.launch([SimpleNamespace(name="b")])
    assert list(sup.watched) == ["a"]
    assert sup.wait_done(poll_s=0.01) is False and sup.watched["a"].query.stopped_at is not None


def test_finish_after_current_batch_is_false_without_a_jvm_query():
    assert sv.finish_after_current_batch(SimpleNamespace(name="x")) is False


@pytest.mark.slow
def test_spark_ends_a_query_told_while_it_sleeps_without_another_batch(spark, tmp_path):
    """The real hook, used as `graceful_stop` uses it: a query told while it sleeps until its
    next trigger ends on its own, with no exception, no new batch, and every batch it ran
    committed. (Told mid-batch, Spark 4.2 may run the batch's body and then drop its commit as
    the thread ends: that batch is replayed on the next start, which is why the product tells
    only sleeping queries and gates the rest with `stop_gate`.)"""
    done = []
    q = (spark.readStream.format("rate").option("rowsPerSecond", 5).load().writeStream
         .queryName("stop_probe").option("checkpointLocation", str(tmp_path / "ckpt"))
         .trigger(processingTime="4 seconds").foreachBatch(lambda df, b: done.append(b)).start())
    try:
        deadline = time.monotonic() + 90
        while not (done and sv._between_triggers(q)):
            assert time.monotonic() < deadline, "the query never slept before a trigger within 90 s"
            time.sleep(0.05)
        batches_before = list(done)
        assert sv.finish_after_current_batch(q) is True
        assert not q.isActive  # told: no new trigger
        deadline = time.monotonic() + 30
        while not sv._ended(q):
            assert time.monotonic() < deadline, "the query did not end within 30 s"
            time.sleep(0.1)
        assert q.exception() is None
        assert done == batches_before  # it woke, saw the state and ran nothing more
        commits = sorted(int(p.name) for p in (tmp_path / "ckpt" / "commits").iterdir() if p.name.isdigit())
        assert commits and commits[-1] == done[-1]  # every batch that ran also committed
    finally:
        q.stop()


def _gated(name: str, body):
    """A foreachBatch function shaped like the pipeline's (`flows._wrap`): gate, then work."""

    def run(df, batch_id):
        sv.stop_gate(df, name, batch_id)
        try:
            body(df, batch_id)
        except Exception as exc:
            if sv.batch_ended_by_stop(exc):
                raise BatchStopped(name, batch_id, "cut at the stop deadline") from None
            raise

    return run


def _rate_query(spark, name, ckpt, fn, rows_per_second=5):
    return (spark.readStream.format("rate").option("rowsPerSecond", rows_per_second).load().writeStream
            .queryName(name).option("checkpointLocation", str(ckpt)).trigger(processingTime="1 second")
            .foreachBatch(fn).start())


def _ids(ckpt, log):
    return sorted(int(p.name) for p in (ckpt / log).iterdir() if p.name.isdigit())


def _until(cond, what, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.mark.slow
def test_a_batch_that_begins_after_the_stop_ends_at_the_gate_as_a_clean_stop_and_replays(spark, tmp_path):
    """Spark reads the gate's BatchStopped as the query being stopped: no error, no commit; the
    next start runs that batch."""
    ran, ckpt = [], tmp_path / "ckpt"
    sup = _sup(threading.Event())
    q = _rate_query(spark, "gate_probe", ckpt, _gated("gate_probe", lambda df, b: ran.append(b)))
    try:
        sup.watched["gate_probe"] = sv._Watched(SimpleNamespace(name="gate_probe"), q)
        _until(lambda: ran, "no batch within 60 s")
        sup.stop_event.set()  # the next batch reaches the gate
        _until(lambda: sv._ended(q), "the query did not end at its next batch")
        assert q.exception() is None  # a stop, not a failure
        offsets, commits = _ids(ckpt, "offsets"), _ids(ckpt, "commits")
        assert commits[-1] == ran[-1] and offsets[-1] == commits[-1] + 1  # logged, not run, not committed
    finally:
        q.stop()
    sup.stop_event.clear()
    q = _rate_query(spark, "gate_probe", ckpt, _gated("gate_probe", lambda df, b: ran.append(b)))
    try:
        _until(lambda: offsets[-1] in ran, "the gated batch was not replayed")
    finally:
        q.stop()


@pytest.mark.slow
def test_a_stopped_supervisor_does_not_gate_a_query_started_after_it(spark, tmp_path):
    """A run's supervisor stays `_current` once its run ended, stopped. A query of the same name
    started later in the same process, outside it (a test, a notebook calling `start_flow`), must
    run its batches and report its failures: before, its batches ended at the gate as "a stop was
    asked for" and gold was silently not rebuilt (the gold-checkpoint upgrade test's rare failure)."""
    ran, errors = [], []
    sup = _sup(threading.Event())
    old = _rate_query(spark, "gate_reuse", tmp_path / "old", _gated("gate_reuse", lambda df, b: None))
    sup.watched["gate_reuse"] = sv._Watched(SimpleNamespace(name="gate_reuse"), old)
    old.stop()
    sup.stop_event.set()  # the run ended with a stop; the supervisor is still the current one
    assert sv._current["supervisor"] is sup

    def body(df, batch_id):
        ran.append(batch_id)
        if len(ran) == 2:
            try:
                raise RuntimeError("java.lang.InterruptedException: a real failure of this query")
            except RuntimeError as exc:
                errors.append(sv.batch_ended_by_stop(exc))

    q = _rate_query(spark, "gate_reuse", tmp_path / "new", _gated("gate_reuse", body))
    try:
        _until(lambda: len(ran) >= 2, "the later query's batches were gated")
        assert errors == [False]  # its failure is a failure, not the old run's stop
    finally:
        q.stop()
    assert q.exception() is None


@pytest.mark.slow
def test_stop_all_lets_the_running_batch_finish_then_removes_listeners_then_stops(spark, tmp_path):
    entered, done, events = [], [], []

    def slow(df, batch_id):
        entered.append(batch_id)
        time.sleep(2)
        df.count()  # a Spark job after the stop came: it must not be interrupted
        done.append(batch_id)

    sup = _sup(threading.Event())
    busy = _rate_query(spark, "busy_probe", tmp_path / "busy", _gated("busy_probe", slow))
    idle = _rate_query(spark, "idle_probe", tmp_path / "idle", _gated("idle_probe", lambda df, b: None), 1)
    try:
        for q in (busy, idle):
            sup.watched[q.name] = sv._Watched(SimpleNamespace(name=q.name), q)
        _until(lambda: done and len(entered) > len(done), "no batch after the first within 60 s")  # mid-work
        assert sv._between_triggers(busy) is False  # in its batch: not to be told, it would self-interrupt
        _until(lambda: sv._between_triggers(idle), "the idle query never slept far from its next trigger")
        sup.before_stop = lambda: events.append(("listeners removed", busy.isActive, sv._ended(busy)))
        t0 = time.monotonic()
        sup.stop_all(60)
        assert time.monotonic() - t0 < 30
        assert busy.exception() is None and idle.exception() is None
        assert events == [("listeners removed", False, True)]  # after the batch ended, before stop()
        assert done == entered  # the batch in flight ran whole; no other started
        assert _ids(tmp_path / "busy", "commits")[-1] == done[-1]
    finally:
        busy.stop()
        idle.stop()


@pytest.mark.slow
def test_a_batch_still_running_at_the_deadline_is_cut_quietly(spark, tmp_path, monkeypatch):
    from streaming_obs import logs

    monkeypatch.setitem(logs._state, "jvm_to_file", False)
    started = []

    def endless(df, batch_id):
        started.append(batch_id)
        while True:  # Spark jobs until stop() interrupts one
            df.count()
            time.sleep(0.2)

    sup = _sup(threading.Event())
    q = _rate_query(spark, "stuck_probe", tmp_path / "stuck", _gated("stuck_probe", endless))
    try:
        sup.watched[q.name] = sv._Watched(SimpleNamespace(name=q.name), q)
        _until(lambda: started, "no batch within 60 s")
        sup.stop_all(2)
        assert sv._ended(q) and logs.jvm_goes_to_file()  # Spark's errors about the cut work: to the file
        assert q.exception() is None  # cut by the stop: ended as stopped, not failed
        assert _ids(tmp_path / "stuck", "commits") == [] or _ids(tmp_path / "stuck", "commits")[-1] < started[-1]
    finally:
        q.stop()


@pytest.mark.slow
def test_a_cut_batch_that_fails_after_spark_stopped_waiting_still_ends_as_a_stop(spark, tmp_path, monkeypatch):
    """Spark's `stop()` waits `spark.sql.streaming.stopTimeout` for the batch's thread, then
    gives up while the batch's Python side runs on; its error, when it comes, is still the cut's."""
    from streaming_obs import logs

    monkeypatch.setitem(logs._state, "jvm_to_file", False)
    started = []
    sup = _sup(threading.Event())

    def late(df, batch_id):
        started.append(batch_id)
        while not sup.stop_event.is_set():
            time.sleep(0.1)
        time.sleep(4)  # no JVM call: the interrupt cannot reach it; outlives deadline and stopTimeout
        raise ValueError("not an interruption, and after stop() gave up waiting")

    q = _rate_query(spark, "late_probe", tmp_path / "late", _gated("late_probe", late))
    before = spark.conf.get("spark.sql.streaming.stopTimeout")
    spark.conf.set("spark.sql.streaming.stopTimeout", "1000")
    try:
        sup.watched[q.name] = sv._Watched(SimpleNamespace(name=q.name), q)
        _until(lambda: started, "no batch within 60 s")
        assert sup.stop_all(1) == ["late_probe"] and sup.cut.is_set()
        _until(lambda: sv._ended(q), "the batch's thread did not end")
        assert q.exception() is None  # ended as stopped, not failed
    finally:
        spark.conf.set("spark.sql.streaming.stopTimeout", before)
        q.stop()


def test_launch_stops_starting_flows_once_the_duration_is_over():
    sup, seen = _sup(), []
    sup.launch([SimpleNamespace(name="a")], until=time.monotonic() + 60, on_started=lambda s: seen.append(list(s.watched)))
    sup.launch([SimpleNamespace(name="b"), SimpleNamespace(name="c")], until=time.monotonic() - 1)
    assert list(sup.watched) == ["a"] and seen == [["a"]]  # the console saw it come


def test_cost_first_waits_for_the_usage_querys_first_rows_or_its_deadline_or_a_stop():
    from streaming_obs import runner

    class _Usage:
        def __init__(self, after):
            self.calls, self.after = 0, after

        @property
        def recentProgress(self):  # noqa: N802 - pyspark's name
            self.calls += 1
            return [{"numInputRows": 5}] if self.calls > self.after else [{"numInputRows": 0}]

    def sup_with(query):
        sup = _sup(threading.Event())
        sup.check = lambda: None
        sup.watched["bronze_billing_usage"] = sv._Watched(SimpleNamespace(name="bronze_billing_usage"), query)
        return sup

    ticks = []
    sup = sup_with(_Usage(after=2))
    t0 = time.monotonic()
    runner._until_cost(sup, time.monotonic() + 30, sup.stop_event, ticks.append)
    assert sup.watched["bronze_billing_usage"].query.calls == 3 and len(ticks) == 2 and time.monotonic() - t0 < 5
    sup = sup_with(_Usage(after=10**9))
    t0 = time.monotonic()
    runner._until_cost(sup, time.monotonic() + 1.5, sup.stop_event, None)
    assert 1.5 <= time.monotonic() - t0 < 4  # no rows yet: the others start at the deadline
    sup.stop_event.set()
    t0 = time.monotonic()
    runner._until_cost(sup, time.monotonic() + 30, sup.stop_event, None)
    assert time.monotonic() - t0 < 1


def test_a_failed_in_stream_check_is_logged_unless_the_stop_cut_the_batch(monkeypatch, settings):
    """The in-stream check never fails cost, but it must not swallow the stop's interrupt: the cut
    batch would carry on past the stop's deadline and outlive Spark's wait for its thread (the
    query then ends with an error once the SparkContext is gone)."""
    from streaming_obs.gold import hot

    def interrupted(*_a, **_k):
        raise RuntimeError("An error occurred while calling o9.update.\n: java.lang.InterruptedException")

    monkeypatch.setattr(hot, "stream_check", interrupted)
    monkeypatch.setitem(sv._current, "supervisor", None)  # restored after: no stopped run leaks out
    ctx = SimpleNamespace(settings=settings, tables=None, telemetry=None)
    stop = threading.Event()
    _sup(stop)
    assert hot.reconcile_touched(ctx, None, set(), None) is True  # no stop: logged, cost goes on
    stop.set()
    with pytest.raises(RuntimeError, match="InterruptedException"):
        hot.reconcile_touched(ctx, None, set(), None)
