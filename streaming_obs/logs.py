"""Structured logging: structlog over the standard library's `logging`. Library code only asks
for loggers (`get_logger`); `configure_logging` is for entry points.

Every logger of the package is a structlog logger wrapping the stdlib logger of its module, so
its lines go where the entry point sends stdlib logging (Spark's and the dependencies' lines
too); without an entry point, Python's defaults apply (warnings and up on stderr). Log with an
event and key-values: ``log.warning("quality rule skipped", table=t, rule=r)``.

Where lines go, once an entry point has configured logging with a log file:
* the file gets everything from the configured level (INFO) up, Python's and Spark's alike;
* the terminal (stderr) gets WARNING and up, everything with `verbose`, nothing at all while a
  live console owns it (`terminal_muted`);
* `notice` says one line to the person at the terminal (a first-run download, the log path).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import structlog

__all__ = ["get_logger", "configure_logging", "current_log_file", "is_verbose", "notice", "terminal_muted",
           "new_log_file", "is_muted", "to_file", "jvm_to_file", "jvm_goes_to_file"]

_state: dict = {"file": None, "verbose": False, "terminal": None, "file_handler": None, "jvm_to_file": False,
                "muted": False}
#: log files kept per directory (older ones are removed when a new one starts)
KEEP_LOG_FILES = 20


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger over the standard-library logger `name` (no global setup: its
    processors are whatever the entry point configured, structlog's defaults before that)."""
    return structlog.wrap_logger(logging.getLogger(name))


def current_log_file() -> str | None:
    """The log file of this process, if an entry point configured one."""
    return _state["file"]


def is_verbose() -> bool:
    """True when the entry point asked for everything on the terminal (`--verbose`)."""
    return _state["verbose"]


def notice(message: str) -> None:
    """One line for the person at the terminal (stderr), also kept in the log file."""
    to_file(logging.INFO, "streaming_obs.notice", message)
    if is_muted():
        return  # a live console owns the terminal; the line is in the file
    print(message, file=sys.stderr, flush=True)


def is_muted() -> bool:
    """True while a live console owns the terminal (inside `terminal_muted`).

    An explicit flag, not "our terminal handler is missing from the root logger": a host
    program or a test runner that rearranges the root's handlers has not muted anything, and
    the one-line notices (the jar fetch) must still reach the person."""
    return bool(_state["muted"])


def jvm_to_file() -> None:
    """From now on the JVM's stderr goes to the log file only (unless `--verbose`).

    Said once the stop's deadline cuts batches short: Spark then logs errors of the work it
    abandons (a broadcast not stored, a shuffle block not fetched). One line has told the person
    what was cut; the details belong in the file.
    """
    _state["jvm_to_file"] = True


def jvm_goes_to_file() -> bool:
    """True when the JVM's stderr should reach the log file only (`jvm_to_file`, `terminal_muted`)."""
    return is_muted() or (_state["jvm_to_file"] and not _state["verbose"])


def to_file(level: int, name: str, message: str) -> None:
    """Write one line to the log file only (nothing when there is no log file)."""
    handler = _state["file_handler"]
    if handler is not None:
        handler.handle(logging.LogRecord(name, level, __file__, 0, message, None, None))


def new_log_file(directory: str, command: str) -> str:
    """A fresh log file path `<directory>/<command>-<UTC time>.log`; keeps the newest few."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = d / f"{command}-{stamp}-{os.getpid()}.log"
    old = sorted(d.glob("*.log"), key=lambda p: p.stat().st_mtime)
    for stale in old[: max(0, len(old) - (KEEP_LOG_FILES - 1))]:
        with contextlib.suppress(OSError):
            stale.unlink()
    return str(path)


def configure_logging(level: str = "INFO", json_format: bool = False, *, log_file: str | None = None,
                      verbose: bool = False) -> None:
    """Configure structlog and the root logger. Call once, from the CLI entry point only.

    Args:
        level: the level of the file (or of the terminal when there is no file).
        json_format: JSON lines instead of key=value.
        log_file: where everything at `level` and up goes; then the terminal shows WARNING and
            up only, unless `verbose`.
        verbose: the terminal shows everything at `level` too (and Spark's INFO log).
    """
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer = structlog.processors.JSONRenderer() if json_format else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, structlog.processors.format_exc_info,
                    renderer],
    )
    terminal = _StderrHandler()
    terminal.setFormatter(formatter)
    handlers: list[logging.Handler] = [terminal]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(formatter)
        file_handler.setLevel(level)
        handlers.append(file_handler)
        terminal.setLevel(level if verbose else max(logging.WARNING, logging.getLevelName(level)))
    for handler in handlers:
        handler.addFilter(_Py4jRootChatter())
    root = logging.getLogger()
    root.handlers[:] = handlers
    root.setLevel(level)
    # Python warnings (a deprecation in a dependency) are log lines too: into the file with the rest.
    logging.captureWarnings(True)
    # py4j chatters at INFO for every call into the JVM.
    logging.getLogger("py4j").setLevel(logging.WARNING)
    _quiet_batch_stops()
    _state.update(file=log_file, verbose=verbose, terminal=terminal,
                  file_handler=handlers[1] if log_file else None)


class _StderrHandler(logging.StreamHandler):
    """The terminal: whatever `sys.stderr` is when a line is written, not when logging was set
    up (a caller that swaps and closes stderr, a test runner for one, must not break logging)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # StreamHandler.__init__ assigns it
        pass


class _Py4jRootChatter(logging.Filter):
    """py4j logs a retried send (`Exception while sending command.`, with a traceback) at INFO
    on the *root* logger, so the `py4j` level cannot quiet it: dropped below WARNING."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "root" and record.levelno < logging.WARNING
                    and f"{os.sep}py4j{os.sep}" in (record.pathname or ""))


class _BatchStoppedFilter(logging.Filter):
    """py4j logs every exception a Python `foreachBatch` raises, with its traceback, at ERROR.
    A batch ended by a requested stop (`BatchStopped`) is no error, and the supervisor has
    logged it already (one INFO line): py4j's record is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return exc is None or type(exc).__name__ != "BatchStopped"


def _quiet_batch_stops() -> None:
    target = logging.getLogger("py4j.clientserver")
    if not any(isinstance(f, _BatchStoppedFilter) for f in target.filters):
        target.addFilter(_BatchStoppedFilter())


@contextlib.contextmanager
def terminal_muted() -> Iterator[None]:
    """While inside, log lines go to the log file only: a live console owns the terminal."""
    handler = _state["terminal"]
    root = logging.getLogger()
    if handler is None or _state["file"] is None or _state["verbose"] or handler not in root.handlers:
        yield
        return
    root.removeHandler(handler)
    _state["muted"] = True
    try:
        yield
    finally:
        _state["muted"] = False
        root.addHandler(handler)
