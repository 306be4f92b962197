"""Which SQL operation a failure happened in.

A batch runs several Delta operations (appends, MERGEs, gold SQL files). When one fails, the log
line must say which, with its SQL cut short, beside the query name, batch id, source version range
and target table. `sql_operation` marks the innermost operation on the exception itself (the
first mark wins, so the innermost operation is the one reported) and adds a note that shows in
any traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["OperationContext", "sql_operation", "operation_of", "truncate_sql"]

_ATTR = "_streaming_obs_operation"
SQL_MAX_CHARS = 300


@dataclass(frozen=True)
class OperationContext:
    """The operation a failure happened in: name (e.g. `MERGE plt_silver.jobs`), target, SQL."""

    name: str
    target: str | None = None
    sql: str | None = None

    def as_log(self) -> dict[str, str]:
        """`operation` and `sql` fields for a structured log line (sql left out when unknown)."""
        out = {"operation": self.name}
        if self.sql:
            out["sql"] = truncate_sql(self.sql)
        return out


def truncate_sql(sql: str, limit: int = SQL_MAX_CHARS) -> str:
    """One line of at most `limit` characters: whitespace folded, cut with an ellipsis."""
    flat = " ".join(sql.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@contextmanager
def sql_operation(name: str, *, target: str | None = None, sql: str | None = None) -> Iterator[None]:
    """Run the block as operation `name`; an exception leaving it carries the operation.

    Nested operations each add a note; `operation_of` reports the innermost one.
    """
    try:
        yield
    except Exception as exc:
        if getattr(exc, _ATTR, None) is None:
            try:
                setattr(exc, _ATTR, OperationContext(name, target, sql))
            except AttributeError:  # exceptions with __slots__: keep the note only
                pass
        exc.add_note(f"streaming_obs operation: {name}" + (f" on {target}" if target else "")
                     + (f": {truncate_sql(sql)}" if sql else ""))
        raise


def operation_of(exc: BaseException) -> OperationContext | None:
    """The innermost operation `exc` (or an exception it was raised from) failed in."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        op = getattr(cur, _ATTR, None)
        if op is not None:
            return op
        cur = cur.__cause__ or cur.__context__
    return None
