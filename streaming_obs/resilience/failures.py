"""Why a streaming query failed, read from what Spark hands back, and whether a restart helps.

A failure inside `foreachBatch` reaches the supervisor (and the telemetry listener) as text: the
JVM's exception with the Python traceback inside it, so the exception object is gone and its
type is read back from the text (`error_class_of` names a failure for metrics and logs).
Whether a restart can heal it is said by our own error classes (`StreamingObsError.fatal`, with
`cause` and `remedy`); Spark's and Delta's errors are known here by their error classes and
Java names.
"""

from __future__ import annotations

import re

from streaming_obs import errors
from streaming_obs.resilience.retry import DELTA_CONFLICTS

__all__ = ["INCOMPATIBLE", "SCHEMA_FIX", "classify_failure", "error_class_of", "restart_hint"]

_VACUUMED = "source files were removed (VACUUM) behind the checkpoint"
# {command} is filled in per query: bronze flows have a reset command, the others a manual step.
_RESET = "stop the pipeline, then {command} (docs/troubleshooting.md#vacuumed-source)"

#: Cause and remedy of a source schema change no restart can read.
INCOMPATIBLE = "the source schema changed incompatibly (a column dropped, renamed or retyped)"
SCHEMA_FIX = "see docs/troubleshooting.md#source-schema-change"

#: Spark's and Delta's failures no restart heals: (marker in the error text, cause, remedy).
_JVM_FATAL = (
    ("DELTA_FILE_NOT_FOUND", _VACUUMED, _RESET),
    ("FILE_NOT_EXIST", _VACUUMED, _RESET),
    ("FileNotFoundException", _VACUUMED, _RESET),
    ("DELTA_VERSIONS_NOT_CONTIGUOUS", "the source's history has a gap behind the checkpoint", _RESET),
    ("INCOMPATIBLE_SCHEMA_CHANGE", INCOMPATIBLE, SCHEMA_FIX),
    ("AccessDeniedException", "a path is not writable", "fix permissions of the warehouse/checkpoint root"),
)

#: (markers, what to do) for failures that restarts normally heal, said when restarts run out
_HINTS = (
    (("DELTA_SCHEMA_CHANGED",), "the source schema changed; a restart reads an added column, but a changed "
     "or dropped one needs this flow's checkpoint reset (docs/troubleshooting.md#source-schema-change)"),
    # Delta's conflict classes by name: a bare "Concurrent" also matched e.g.
    # ConcurrentOperationCachedSourceException, which no other writer causes.
    (DELTA_CONFLICTS, "another writer keeps conflicting with this table; find it in the table's DESCRIBE HISTORY"),
)

#: Our own error classes by name.
_OURS: dict[str, type[errors.StreamingObsError]] = {name: getattr(errors, name) for name in errors.__all__}
#: An exception type where a message or traceback names one: ``[module.]NameError:``. A failure
#: can carry several (a Java exception wrapping a Python traceback, a chain of causes).
_EXCEPTION_TYPE = re.compile(r"(?<![\w.])(?:[A-Za-z_]\w*\.)*([A-Za-z_]\w*(?:Error|Exception))(?=:|[ \t]*$)", re.M)

_ERROR_CLASS = re.compile(r"^[A-Z][A-Z0-9_]+(?:\.[A-Z0-9_]+)*$")


def classify_failure(text: str) -> tuple[str, str] | None:
    """(cause, remedy) if the failure `text` cannot heal by restarting, else None.

    One of our errors answers for itself, wherever the text names it as an exception type (the
    `fatal`, `cause` and `remedy` of its class); a Spark or Delta failure by its marker.
    """
    for name in _EXCEPTION_TYPE.findall(text):
        ours = _OURS.get(name)
        if ours is not None and ours.fatal:
            return ours.cause, ours.remedy
    for marker, cause, remedy in _JVM_FATAL:
        if marker in text:
            return cause, remedy
    return None


def restart_hint(text: str) -> str:
    """What to do when a normally healable failure keeps coming back."""
    for markers, hint in _HINTS:
        if any(m in text for m in markers):
            return f" Hint: {hint}."
    return ""


def error_class_of(error_class: str | None, exception: str | None) -> str:
    """A short, bounded label for why a query stopped; `none` for a clean stop.

    Preference: the Python exception type of a traceback embedded in the message (foreachBatch
    failures all carry Spark's generic FOREACH_BATCH_USER_FUNCTION_ERROR, the Python type says
    more), then Spark's error class, then a `[CLASS]` in the message, then the exception's type,
    else `UNKNOWN`.
    """
    lines = (exception or "").strip().splitlines()
    python_error = _python_exception_type(lines)
    if python_error:
        return python_error
    if error_class:
        return error_class.strip()[:64]
    if not lines:
        return "none"
    first = lines[0]
    bracket = re.search(r"\[([A-Z][A-Z0-9_.]+)\]", first)
    if bracket and _ERROR_CLASS.match(bracket.group(1)):
        return bracket.group(1)[:64]
    head = first.split(":", 1)[0].strip()
    if head and " " not in head:
        return head.rsplit(".", 1)[-1][:64]
    return "UNKNOWN"


_PY_EXC_LINE = re.compile(r"^([A-Za-z_][\w.]*)(?::|$)")


def _python_exception_type(lines: list[str]) -> str | None:
    """The exception type of a Python traceback embedded in a Java message (foreachBatch errors
    arrive as `py4j.Py4JException: ... Traceback ... ValueError: boom`)."""
    in_traceback = False
    for line in lines:
        if "Traceback (most recent call last)" in line:
            in_traceback = True
            continue
        if in_traceback and line and not line[0].isspace():
            match = _PY_EXC_LINE.match(line)
            if match:
                return match.group(1).rsplit(".", 1)[-1][:64]
    return None
