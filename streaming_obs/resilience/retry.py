"""Retry of the Delta write conflicts that a retry can heal, and nothing else."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from streaming_obs.logs import get_logger

__all__ = ["retry_delta_conflicts", "is_retryable", "DELTA_CONFLICTS"]

T = TypeVar("T")
log = get_logger(__name__)

# In Python the delta.exceptions classes share no catchable base, so they are named one by one.
_RETRYABLE_NAMES = {
    "ConcurrentAppendException",
    "ConcurrentDeleteReadException",
    "ConcurrentDeleteDeleteException",
    "ConcurrentTransactionException",
    "MetadataChangedException",
    "ProtocolChangedException",
    "ConcurrentWriteException",
}
#: The conflict class names, for matching error text (sorted for a stable order).
DELTA_CONFLICTS = tuple(sorted(_RETRYABLE_NAMES))
_TRANSIENT_IO = ("java.io.IOException", "java.net.SocketTimeoutException", "java.net.ConnectException")


def _retryable_classes() -> tuple[type[BaseException], ...]:
    import delta.exceptions as dx

    return tuple(getattr(dx, n) for n in sorted(_RETRYABLE_NAMES) if hasattr(dx, n))


def is_retryable(exc: BaseException) -> bool:
    """True for Delta concurrency conflicts and transient I/O errors from the JVM."""
    if isinstance(exc, _retryable_classes()):
        return True
    text = str(exc)
    if any(name in text for name in _RETRYABLE_NAMES):
        return True
    return any(text.lstrip().startswith(p) or f"Caused by: {p}" in text for p in _TRANSIENT_IO)


def retry_delta_conflicts(fn: Callable[[], T], *, attempts: int = 5, what: str = "write") -> T:
    """Run `fn`, retrying expected Delta conflicts with jittered exponential backoff.

    `fn` must be idempotent (our writes carry txnAppId/txnVersion or are recomputes), so a retry
    writes identical data.
    """

    def _log(state) -> None:
        log.warning("retrying after conflict", what=what, attempt=state.attempt_number,
                    error=type(state.outcome.exception()).__name__)

    runner = retry(
        retry=retry_if_exception(is_retryable),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential_jitter(initial=0.2, max=5),
        before_sleep=_log,
        reraise=True,
    )
    return runner(fn)()
