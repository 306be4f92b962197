"""Where log lines go: the file gets everything, the terminal warnings only, nothing while muted."""

from __future__ import annotations

import logging
import os
import time

import pytest

from streaming_obs import logs


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level, state = root.handlers[:], root.level, dict(logs._state)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logs._state.update(state)
    logging.captureWarnings(False)


def test_file_gets_info_terminal_gets_warnings_and_nothing_while_muted(tmp_path, capsys, restore_logging):
    path = logs.new_log_file(str(tmp_path / "logs"), "run")
    logs.configure_logging("INFO", log_file=path)
    log = logging.getLogger("streaming_obs.test")
    log.info("quiet detail")
    log.warning("worth seeing")
    with logs.terminal_muted():
        assert logs.is_muted()
        log.error("while the console runs")
        logs.notice("said to the file only")
    assert not logs.is_muted()
    logs.notice("said to the person")
    err = capsys.readouterr().err
    assert "worth seeing" in err and "said to the person" in err
    assert "quiet detail" not in err and "while the console runs" not in err and "said to the file only" not in err
    text = open(path, encoding="utf-8").read()
    for line in ("quiet detail", "worth seeing", "while the console runs", "said to the file only", "said to the person"):
        assert line in text
    assert logs.current_log_file() == path and not logs.is_verbose()


def test_a_terminal_handler_removed_by_someone_else_does_not_mute_the_notices(tmp_path, capsys, restore_logging,
                                                                              monkeypatch):
    """A host program or a test runner rearranging the root logger's handlers mutes nothing:
    only a live console does (`terminal_muted`), and the jar fetch's one line still shows."""
    monkeypatch.setitem(logs._state, "jvm_to_file", False)  # an earlier stop in this process may have set it
    logs.configure_logging("INFO", log_file=str(tmp_path / "x.log"))
    logging.getLogger().handlers[:] = [logs._state["file_handler"]]  # the terminal handler gone
    assert not logs.is_muted() and not logs.jvm_goes_to_file()
    logs.notice("fetching Delta Lake jars, first run only")
    assert capsys.readouterr().err.count("fetching Delta Lake jars, first run only") == 1


def test_verbose_shows_everything_and_is_never_muted(tmp_path, capsys, restore_logging):
    logs.configure_logging("INFO", log_file=str(tmp_path / "x.log"), verbose=True)
    with logs.terminal_muted():
        logging.getLogger("streaming_obs.test").info("detail on the terminal")
    assert "detail on the terminal" in capsys.readouterr().err and logs.is_verbose()


def test_without_a_file_the_terminal_gets_the_configured_level(capsys, restore_logging):
    logs.configure_logging("INFO")
    logging.getLogger("streaming_obs.test").info("info line")
    logs.notice("one notice")
    err = capsys.readouterr().err
    assert "info line" in err and err.count("one notice") == 1
    assert logs.current_log_file() is None


def test_new_log_file_keeps_the_newest_few(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    for i in range(logs.KEEP_LOG_FILES + 5):
        p = d / f"old-{i:02d}.log"
        p.write_text("x")
        os.utime(p, (time.time() - 1000 + i, time.time() - 1000 + i))
    path = logs.new_log_file(str(d), "demo")
    left = sorted(p.name for p in d.glob("*.log"))
    assert len(left) == logs.KEEP_LOG_FILES - 1 and "old-00.log" not in left  # the new one is not created yet
    assert os.path.basename(path).startswith("demo-") and path.endswith(".log")


def test_py4j_record_of_a_batch_ended_by_the_stop_is_dropped_other_errors_stay(tmp_path, capsys, restore_logging):
    from streaming_obs.errors import BatchStopped

    path = str(tmp_path / "x.log")
    logs.configure_logging("INFO", log_file=path)
    py4j = logging.getLogger("py4j.clientserver")
    for exc in (BatchStopped("bronze_jobs", 3, "not started: a stop was asked for"), ValueError("a real failure")):
        try:
            raise exc
        except Exception:
            py4j.exception("There was an exception while executing the Python Proxy on the Python Side.")
    err = capsys.readouterr().err
    assert "a real failure" in err and "BatchStopped" not in err and err.count("Python Proxy") == 1
    assert "BatchStopped" not in open(path, encoding="utf-8").read()


def test_the_jvm_goes_to_the_file_while_muted_or_once_a_stop_cut_batches(tmp_path, restore_logging, monkeypatch):
    monkeypatch.setitem(logs._state, "jvm_to_file", False)
    logs.configure_logging("INFO", log_file=str(tmp_path / "x.log"))
    assert not logs.jvm_goes_to_file()
    with logs.terminal_muted():
        assert logs.jvm_goes_to_file()
    logs.jvm_to_file()
    assert logs.jvm_goes_to_file()
    logs.configure_logging("INFO", log_file=str(tmp_path / "x.log"), verbose=True)
    assert not logs.jvm_goes_to_file()  # --verbose: everything on the terminal


def test_terminal_writes_to_the_current_stderr_and_py4j_root_chatter_is_dropped(monkeypatch, restore_logging):
    import io
    import sys

    logs.configure_logging("INFO")
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    logging.getLogger("streaming_obs.test").info("one")
    first.close()  # a test runner closes the stream it swapped in
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    logging.getLogger("streaming_obs.test").info("two")
    # py4j's retried send, logged on the root logger from inside py4j
    record = logging.LogRecord("root", logging.INFO, os.path.join("site-packages", "py4j", "java_gateway.py"), 1056,
                               "Exception while sending command.", None, None)
    logging.getLogger().handle(record)
    ours = logging.LogRecord("root", logging.INFO, __file__, 1, "kept root line", None, None)
    logging.getLogger().handle(ours)
    out = second.getvalue()
    assert "two" in out and "kept root line" in out
    assert "Exception while sending command" not in out and "Logging error" not in out
