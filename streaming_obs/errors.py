"""Every error streaming_obs raises on purpose. Catch `StreamingObsError` for all of them.

An error says itself whether restarting the streaming query it stopped can help: `fatal`, and
for a fatal one its `cause` and `remedy`, which the supervisor puts in the message that ends
the run.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "StreamingObsError",
    "ConfigError",
    "InvalidIdentifierError",
    "SqlTemplateError",
    "EnvironmentError_",
    "JavaNotFoundError",
    "DeltaJarsError",
    "QualityRuleError",
    "QualityFailError",
    "QualityViolationError",
    "QualityLookupError",
    "QuarantineError",
    "SourceError",
    "StorageError",
    "CheckpointError",
    "PipelineError",
    "BatchStopped",
    "TelemetryStartError",
    "ReconciliationError",
    "ExportError",
]


class StreamingObsError(Exception):
    """Base class of every error raised by streaming_obs."""

    #: True when no restart of the failed query can heal it: the supervisor stops the run.
    fatal: ClassVar[bool] = False
    #: Why no restart heals it (fatal errors), for the supervisor's message.
    cause: ClassVar[str] = ""
    #: What to do about it (fatal errors), for the supervisor's message.
    remedy: ClassVar[str] = ""


class ConfigError(StreamingObsError):
    """A configuration value is missing or invalid; the message names the file and the key."""

    fatal = True
    cause = "the configuration is invalid"
    remedy = "fix the named file and key"

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        super().__init__(f"{source}: {key}: {problem}")


class InvalidIdentifierError(StreamingObsError, ValueError):
    """A catalog, schema, table name or path would not be a safe SQL identifier."""

    fatal = True
    cause = "a configured name is not a safe identifier"
    remedy = "fix the named key"


class SqlTemplateError(StreamingObsError):
    """A SQL file is missing or references a placeholder that was not supplied."""


class EnvironmentError_(StreamingObsError):  # noqa: N801 - avoid shadowing the builtin
    """The machine cannot run Spark as configured."""


class JavaNotFoundError(EnvironmentError_):
    """Java is missing or older than 17."""


class DeltaJarsError(EnvironmentError_):
    """The Delta Lake jars could not be resolved."""


class QualityRuleError(StreamingObsError):
    """A quality rule is invalid (unknown check or column, bad regex or SQL)."""


class QualityFailError(StreamingObsError):
    """A rule with action `fail` was broken; the stream must stop and not be restarted."""

    fatal = True
    cause = "a quality rule with action 'fail' was broken"
    remedy = "fix or quarantine the offending rows, or change the rule's action, then restart"


class QualityViolationError(QualityFailError):
    """A `fail` rule was broken in a batch; carries the table, rule, batch and a sample key."""

    def __init__(self, table: str, rule: str, batch_id: int | None, sample_key: str, failed: int | None = None) -> None:
        self.table = table
        self.rule = rule
        self.batch_id = batch_id
        self.sample_key = sample_key
        self.failed = failed
        super().__init__(
            f"quality rule {rule!r} (action fail) broken on {table} in batch {batch_id}: "
            f"sample key {sample_key}" + ("" if failed is None else f" ({failed} row(s) failed)")
        )


class QualityLookupError(QualityRuleError):
    """A `referential` rule's lookup DataFrame was not supplied or lacks the key columns."""


class QuarantineError(StreamingObsError):
    """Quarantined rows cannot be found or replayed as asked."""


class SourceError(StreamingObsError):
    """A source table cannot be read as configured (missing, vacuumed behind the checkpoint, ...)."""


class StorageError(StreamingObsError):
    """The warehouse or checkpoint location cannot be created or written."""


class CheckpointError(StorageError):
    """A checkpoint location is unusable (not writable, belongs to another query, ...)."""

    fatal = True
    cause = "the checkpoint location is unusable"
    remedy = "make the checkpoint root writable"


class PipelineError(StreamingObsError):
    """A streaming query failed and could not be recovered."""


class BatchStopped(StreamingObsError):
    """A micro-batch ended by a requested stop, uncommitted; the next start replays it."""

    # Raised before the batch did any work (the stop gate) or when the stop's deadline cut it.
    # The text ends with the marker by which Spark recognises a Python foreachBatch interrupted
    # by a stop (StreamExecution.PROXY_ERROR: a py4j error naming java.lang.InterruptedException):
    # Spark then ends the query as stopped, with no error and no stack trace. Keep it short:
    # Spark matches it with a regex that recurses once per character.
    MARKER = "py4j.protocol.Py4JJavaError: An error occurred while calling foreachBatch: java.lang.InterruptedException"

    def __init__(self, query: str, batch_id: int, why: str) -> None:
        self.query = query
        self.batch_id = batch_id
        super().__init__(f"{query} batch {batch_id} {why}; replayed on the next start ({self.MARKER})")


class TelemetryStartError(ConfigError):
    """A telemetry endpoint cannot start as configured (Prometheus port taken, host unknown)."""


class ReconciliationError(StreamingObsError):
    """Gold cannot be reconciled as asked (a table is missing, a bad date range)."""


class ExportError(StreamingObsError):
    """A FOCUS export cannot be written as asked (bad month or file name, no focus_costs yet)."""
