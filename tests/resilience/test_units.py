"""Pure pieces of resilience: failure classification, graceful stop, app ids, retry choice."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from streaming_obs.errors import CheckpointError, PipelineError
from streaming_obs.resilience.idempotency import checkpoint_app_id
from streaming_obs.resilience.retry import is_retryable, retry_delta_conflicts
from streaming_obs.resilience.failures import classify_failure
from streaming_obs.resilience.supervisor import Supervisor, graceful_stop


@pytest.mark.parametrize(("text", "needle"), [
    ("QualityViolationError: rule usage_end_after_start failed", "action 'fail'"),
    ("[DELTA_FILE_NOT_FOUND] file part-0001 not found", "VACUUM"),
    ("java.io.FileNotFoundException: part-0001.parquet", "VACUUM"),
    ("ConfigError: conf/local.yaml: trigger: bad", "configuration"),
    ("CheckpointError: checkpoint /x is not writable", "checkpoint"),
])
def test_failures_that_cannot_heal_are_named(text, needle):
    cause, remedy = classify_failure(text)
    assert needle in cause + remedy


def test_transient_failures_are_restartable():
    assert classify_failure("ConcurrentAppendException: files were added") is None
    assert classify_failure("java.net.SocketTimeoutException: read timed out") is None


def test_retry_only_expected_conflicts():
    assert is_retryable(RuntimeError("io.delta.exceptions.ConcurrentAppendException: x"))
    assert is_retryable(RuntimeError("java.io.IOException: connection reset"))
    assert not is_retryable(ValueError("bad value"))
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("ConcurrentAppendException")
        return "ok"

    assert retry_delta_conflicts(flaky, attempts=5) == "ok" and len(calls) == 3
    with pytest.raises(ValueError):
        retry_delta_conflicts(lambda: (_ for _ in ()).throw(ValueError("no")), attempts=5)


def test_app_id_is_stable_per_checkpoint_and_new_after_reset(tmp_path):
    a = checkpoint_app_id(str(tmp_path / "q"), "bronze_x")
    assert a == checkpoint_app_id(str(tmp_path / "q"), "bronze_x") and a.startswith("bronze_x:")
    assert checkpoint_app_id(str(tmp_path / "q2"), "bronze_x") != a
    assert checkpoint_app_id("s3://bucket/ck/q", "bronze_x") == "streaming_obs:bronze_x"


def test_checkpoint_under_a_file_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CheckpointError, match="bronze_x is not writable"):
        checkpoint_app_id(str(blocker / "q"), "bronze_x")


class _Query:
    def __init__(self, active_batches=2, exc=None):
        self.name, self._left, self._exc, self.stopped = "q", active_batches, exc, False
        self.isActive = True

    @property
    def status(self):
        self._left -= 1
        return {"isTriggerActive": self._left > 0}

    def stop(self):
        self.stopped, self.isActive = True, False

    def exception(self):
        return self._exc


def test_graceful_stop_waits_for_the_running_batch():
    q = _Query(active_batches=3)
    graceful_stop([q], timeout_s=10)
    assert q.stopped and q._left <= 0


def test_graceful_stop_shares_one_deadline_and_stops_idle_queries_first():
    """A query that never goes idle is stopped at the one deadline; the others do not wait for it."""
    import time

    busy, idle, finishing = _Query(active_batches=10**9), _Query(active_batches=0), _Query(active_batches=3)
    order = []
    for q, name in ((busy, "busy"), (idle, "idle"), (finishing, "finishing")):
        q.stop = (lambda q=q, name=name: (order.append(name), setattr(q, "isActive", False)))
    t0 = time.monotonic()
    graceful_stop([busy, idle, finishing], timeout_s=1.0)
    elapsed = time.monotonic() - t0
    assert order == ["idle", "finishing", "busy"]
    assert 1.0 <= elapsed < 3.0  # the busy one held the stop for one deadline, not one per query


def _ctx(max_restarts=1):
    resilience = SimpleNamespace(backoff_initial_seconds=0.01, backoff_max_seconds=0.01, max_restarts=max_restarts)
    return SimpleNamespace(settings=SimpleNamespace(resilience=resilience, env="local"), telemetry=None)


def test_supervisor_restarts_then_gives_up():
    started = []

    def start(flow):
        q = _Query(exc=RuntimeError("ConcurrentAppendException: boom"))
        q.isActive = False
        started.append(q)
        return q

    sup = Supervisor(_ctx(max_restarts=1), start)
    sup.launch([SimpleNamespace(name="bronze_x")])
    import time

    sup.check()
    time.sleep(0.05)
    sup.check()
    assert len(started) == 2 and sup.watched["bronze_x"].restarts == 1
    with pytest.raises(PipelineError, match="failed 2 times; giving up"):
        sup.check()


def test_supervisor_stops_at_once_on_a_fatal_failure():
    def start(flow):
        q = _Query(exc=RuntimeError("QualityViolationError: rule x failed, key k"))
        q.isActive = False
        return q

    sup = Supervisor(_ctx(max_restarts=5), start)
    sup.launch([SimpleNamespace(name="bronze_x")])
    with pytest.raises(PipelineError, match="action 'fail' was broken"):
        sup.check()


def test_supervisor_marks_clean_finish_done():
    def start(flow):
        q = _Query()
        q.isActive = False
        return q

    sup = Supervisor(_ctx(), start)
    sup.launch([SimpleNamespace(name="a"), SimpleNamespace(name="b")])
    sup.check()
    assert sup.all_done() and len(sup.queries) == 2
    sup.stop_all(1)


def _failing(text, progress=()):
    q = _Query(exc=RuntimeError(text))
    q.isActive = False
    q.recentProgress = [{"numInputRows": n} for n in progress]
    return q


def test_an_added_column_restarts_but_a_schema_change_that_persists_is_fatal():
    schema = "[DELTA_SCHEMA_CHANGED_WITH_VERSION] Detected schema change in version 7. Please try restarting"
    queue = [_failing(schema, progress=[5]), _failing(schema), _failing(schema)]
    sup = Supervisor(_ctx(max_restarts=5), lambda flow: queue.pop(0))
    sup.launch([SimpleNamespace(name="bronze_x")])
    sup.check()  # first schema change after batches with rows: restart
    assert sup.watched["bronze_x"].restarts == 1
    import time

    time.sleep(0.05)
    sup.check()  # restarted
    with pytest.raises(PipelineError, match="changed incompatibly"):
        sup.check()  # the restart failed on the schema again with no batch: stop, do not loop


def test_incompatible_schema_and_vacuum_messages_say_what_to_do():
    assert "troubleshooting" in classify_failure("DELTA_STREAMING_INCOMPATIBLE_SCHEMA_CHANGE_USE_SCHEMA_LOG")[1]
    sup = Supervisor(_ctx(), lambda flow: _failing("[DELTA_FILE_NOT_FOUND_DETAILED] part-1 not found"))
    sup.ctx.settings.env = "prod"
    sup.launch([SimpleNamespace(name="bronze_audit")])
    with pytest.raises(PipelineError, match="streaming-obs reset-checkpoint audit --env prod --yes"):
        sup.check()


def test_local_path_of_plain_file_and_object_store_uris(tmp_path):
    from streaming_obs.resilience.paths import local_path

    assert local_path(str(tmp_path / "ck")) == str(tmp_path / "ck")
    assert local_path(f"file:{tmp_path}/ck") == str(tmp_path / "ck")
    assert local_path(f"file://{tmp_path}/ck") == str(tmp_path / "ck")
    assert local_path("relative/ck") == os.path.abspath("relative/ck")
    for remote in ("s3://bucket/ck", "abfss://c@acct.dfs.core.windows.net/ck", "dbfs://ck"):
        assert local_path(remote) is None


def test_restart_hint_names_real_conflicts_only():
    from streaming_obs.resilience.failures import restart_hint

    conflict = "Py4JJavaError: io.delta.exceptions.ConcurrentAppendException: [DELTA_CONCURRENT_APPEND] Files were added"
    assert "another writer keeps conflicting" in restart_hint(conflict)
    # Delta's "source cached during MERGE" error has Concurrent in its class name but no other writer.
    cached = ("Py4JJavaError: ...ConcurrentOperationCachedSourceException: "
              "[DELTA_MERGE_SOURCE_CACHED_DURING_EXECUTION] The MERGE operation failed")
    assert restart_hint(cached) == ""
    assert "checkpoint reset" in restart_hint("StreamingQueryException: [DELTA_SCHEMA_CHANGED] ...")


def test_our_errors_say_whether_a_restart_helps():
    from streaming_obs import errors

    fatal = [getattr(errors, n) for n in errors.__all__ if getattr(errors, n).fatal]
    assert {c.__name__ for c in fatal} >= {"QualityFailError", "QualityViolationError", "ConfigError", "CheckpointError"}
    assert all(c.cause and c.remedy for c in fatal)
    foreach_batch = ("StreamingQueryException: [FOREACH_BATCH_USER_FUNCTION_ERROR] ... Traceback (most recent call "
                     "last):\n  File \"x.py\", line 1, in f\nstreaming_obs.errors.{}: boom\n")
    assert classify_failure(foreach_batch.format("QualityViolationError")) == (
        errors.QualityViolationError.cause, errors.QualityViolationError.remedy)
    assert classify_failure(foreach_batch.format("QualityRuleError")) is None  # not fatal: restarted
