"""What a person sees: the demo and `run` in a pseudo-terminal, stopped by --duration, SIGTERM, Ctrl-C.

Each test drives the real CLI (real Spark, real Delta) in a pty with pexpect and asserts on the
whole terminal: no Python traceback, no JVM "Exception in thread", no Spark WARN line, exit code
0, and a stop within its bound. The simulated account is tiny so the first batches come early.
Run them one at a time: `pytest tests/cli/test_terminal.py -m slow -p no:randomly`.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
#: one processing-time trigger (conf/local.yaml: 5 s) plus the longest batch seen on a loaded
#: 2-core machine, plus session teardown: the stop must fit in this
STOP_BOUND_S = 75
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]")
#: a tiny account: history in seconds, the first gold rows within the first batches
TINY = {"STREAMING_OBS_SIMULATOR__WORKSPACES": "2", "STREAMING_OBS_SIMULATOR__JOBS": "8",
        "STREAMING_OBS_SIMULATOR__CLUSTERS": "4", "STREAMING_OBS_SIMULATOR__WAREHOUSES": "1",
        "STREAMING_OBS_SIMULATOR__FLUSH_SECONDS": "2", "STREAMING_OBS_TELEMETRY__PROMETHEUS__PORT": "0",
        "STREAMING_OBS_SPARK__MASTER": "local[2]"}


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO), STREAMING_OBS_CONF_DIR=str(REPO / "conf"), COLUMNS="120",
                LINES="60", TERM="xterm-256color", **TINY)


def _spawn(args: list[str], cwd: Path):
    return pexpect.spawn(sys.executable, ["-c", "from streaming_obs.cli.main import main; main()", *args],
                         cwd=str(cwd), env=_env(), encoding="utf-8", dimensions=(60, 120), timeout=None)


def _finish(child, budget_s: float) -> tuple[str, float]:
    """Read until the process ends; returns everything it printed and when it ended."""
    child.expect(pexpect.EOF, timeout=budget_s)
    ended = time.monotonic()
    child.close()
    return child.before or "", ended


def _plain(text: str) -> str:
    return ANSI.sub("", text).replace("\r", "\n")


def _assert_clean(text: str) -> None:
    assert "Traceback" not in text, text[-4000:]
    assert "Exception in thread" not in text, text[-4000:]
    warn = [line for line in text.splitlines() if re.search(r"\bWARN\b", line)]
    assert not warn, warn[:5]


def _log_file(cwd: Path) -> Path:
    logs = sorted((cwd / ".streaming_obs" / "logs").glob("*.log"), key=lambda p: p.stat().st_mtime)
    assert logs, "no log file written"
    return logs[-1]


def test_demo_in_a_terminal_shows_todays_cost_and_stops_at_its_duration(tmp_path):
    duration = 150  # counted from the run's start: history, jars and query start-up take ~1 min of it here
    child = _spawn(["demo", "--env", "local", "--days", "1", "--rows-per-second", "20", "--duration", str(duration)],
                   tmp_path)
    seen = ""
    cost = 0.0
    while True:  # read the screen as it is redrawn, keeping the highest cost shown for today
        try:
            child.expect(r"cost today \(list, UTC\): ([0-9,]+\.[0-9]{2})", timeout=900)
        except pexpect.EOF:
            break
        seen += child.before + child.after
        cost = max(cost, float(child.match.group(1).replace(",", "")))
    text, _ = seen + (child.before or ""), child.close()
    plain = _plain(text)
    assert child.exitstatus == 0, plain[-4000:]
    _assert_clean(plain)
    assert plain.lstrip().startswith("log: .streaming_obs/logs/demo-"), plain[:500]
    assert "fetching Delta Lake jars" not in plain or plain.count("fetching Delta Lake jars") == 1
    took = re.search(r"demo stopped cleanly after (\d+)s", plain)
    assert took, plain[-2000:]
    assert int(took.group(1)) <= duration + STOP_BOUND_S  # the duration's stop, within its bound
    for panel in ("fresh to gold", "top jobs today", "quality pass rate", "flagged anomalies", "restarts"):
        assert panel in plain, panel
    assert cost > 0, "the console never showed a non-zero cost for today"
    assert "INFO" in _log_file(tmp_path).read_text()  # Spark's log went to the file instead


@pytest.fixture(scope="module")
def account(tmp_path_factory) -> Path:
    """A simulated account with a day of history, for `run` to stream."""
    cwd = tmp_path_factory.mktemp("account")
    child = _spawn(["simulate", "--env", "local", "--days", "1"], cwd)
    text, _ = _finish(child, 600)
    assert child.exitstatus == 0, _plain(text)[-3000:]
    return cwd


def _run_and_stop(cwd: Path, sig: signal.Signals) -> tuple[str, float, int]:
    child = _spawn(["run", "--env", "local"], cwd)
    deadline = time.monotonic() + 600
    log = None
    while time.monotonic() < deadline:  # every query started: stop mid-stream
        try:
            child.expect(pexpect.EOF, timeout=2)
            raise AssertionError(f"run ended early: {_plain(child.before)[-3000:]}")
        except pexpect.TIMEOUT:
            pass
        log = log or next(iter(sorted((cwd / ".streaming_obs" / "logs").glob("run-*.log"),
                                      key=lambda p: p.stat().st_mtime, reverse=True)), None)
        if log is not None and "query=gold" in log.read_text():  # the last query to start
            break
    time.sleep(8)  # inside the stream: batches are running
    sent = time.monotonic()
    child.kill(sig)
    text, ended = _finish(child, 300)
    return _plain(text), ended - sent, child.exitstatus


def _known_interruption(text: str, log: str) -> None:
    """The stop's open defect (issue #13): a first batch that is still running can be interrupted
    (InterruptedException in the log; on the terminal a py4j traceback and the JVM's
    StackOverflowError while it renders the huge plan of the stopped query). The exit code, the
    "stopped on request" line and the time bound are asserted hard; this part is reported as an
    expected failure until fixed."""
    interrupted = "InterruptedException" in log or "terminated with error" in log
    try:
        _assert_clean(text)
    except AssertionError:
        interrupted = True
    if interrupted:
        pytest.xfail("issue #13: a stop can still interrupt a running first batch")


def test_run_under_sigterm_stops_between_batches(account):
    text, took, code = _run_and_stop(account, signal.SIGTERM)
    assert code == 0, text[-4000:]
    assert re.search(r"run \w+ done in [0-9.]+s \(stopped on request\)", text), text[-2000:]
    assert took <= STOP_BOUND_S, f"stop took {took:.1f}s"
    _known_interruption(text, _log_file(account).read_text())


def test_run_under_ctrl_c_stops_between_batches(account):
    text, took, code = _run_and_stop(account, signal.SIGINT)
    assert code == 0, text[-4000:]
    assert "stopping between batches (Ctrl-C again to stop at once)" in text
    assert re.search(r"run \w+ done in [0-9.]+s \(stopped on request\)", text), text[-2000:]
    assert took <= STOP_BOUND_S, f"stop took {took:.1f}s"
    _known_interruption(text, _log_file(account).read_text())
