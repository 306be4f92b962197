"""Stopping between batches: the stop gate, the supervisor's stop, and Spark's own trigger loop."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

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
    sv.graceful_stop([stuck], timeout_s=0.5)
    assert stuck.stopped_at is not None and 0.5 <= time.monotonic() - t0 < 3


def _sup(stop=None, queries=()):
    ctx = SimpleNamespace(settings=SimpleNamespace(resilience=SimpleNamespace(stop_timeout_seconds=5)), spark=None,
                          telemetry=None)
    sup = sv.Supervisor(ctx, lambda flow: _Query(flow.name, ends_after=1), stop_event=stop or threading.Event())
    for q in queries:
        sup.watched[q.name] = sv._Watched(SimpleNamespace(name=q.name), q)
    return sup


def test_the_gate_does_nothing_until_a_stop_then_ends_the_query_after_this_batch(monkeypatch):
    told = []
    monkeypatch.setattr(sv, "finish_after_current_batch", lambda q: told.append(q.name) or True)
    q = _Query("silver_jobs")
    sup = _sup(queries=[q])
    sv.stop_gate(None, "silver_jobs")
    assert told == []
    sup.stop_event.set()
    sv.stop_gate(None, "silver_jobs")
    sv.stop_gate(None, "not_ours")  # unknown (no session to ask): the batch just runs
    assert told == ["silver_jobs"]


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
def test_spark_ends_a_query_after_its_batch_without_an_interrupt(spark, tmp_path):
    """The real hook: a query whose batches take a while is told to stop mid-batch; the batch
    completes and commits, the query ends on its own, with no exception."""
    done = []

    def slow_batch(df, batch_id):
        time.sleep(1.5)
        done.append(batch_id)

    q = (spark.readStream.format("rate").option("rowsPerSecond", 5).load().writeStream
         .queryName("stop_probe").option("checkpointLocation", str(tmp_path / "ckpt"))
         .trigger(processingTime="1 second").foreachBatch(slow_batch).start())
    try:
        deadline = time.monotonic() + 60
        while not (done and q.status["isTriggerActive"]):  # inside a batch after the first
            assert time.monotonic() < deadline, "no batch within 60 s"
            time.sleep(0.1)
        batches_before = len(done)
        assert sv.finish_after_current_batch(q) is True
        assert not q.isActive  # told: no new trigger, whatever runs now finishes
        deadline = time.monotonic() + 30
        while not sv._ended(q):
            assert time.monotonic() < deadline, "the query did not end within 30 s"
            time.sleep(0.1)
        assert q.exception() is None
        # The trigger was planning or running one batch: it either ran it whole or skipped it
        # (offsets logged, no commit: the next start replays it); never a second one.
        assert len(done) in (batches_before, batches_before + 1)
        commits = sorted(int(p.name) for p in (tmp_path / "ckpt" / "commits").iterdir() if p.name.isdigit())
        assert commits and commits[-1] == done[-1]  # every batch that ran also committed
    finally:
        q.stop()
