"""What a pipeline run's log must not hold when it ended well (tests that run the CLI in a process)."""

from __future__ import annotations

#: signs of a query that ended with an error, in a run's log file (Spark's INFO and ours)
FAILED_QUERY_SIGNS = ("terminated with error", "Exception in thread", "StackOverflowError", "batch failed")


def assert_no_query_failed(text: str, where: str = "the run's log") -> None:
    """Fail naming the first sign in `text` of a query that ended with an error."""
    for sign in FAILED_QUERY_SIGNS:
        assert sign not in text, f"{sign!r} in {where}"
