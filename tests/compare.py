"""Row-for-row comparison of two small tables, in Python.

The gold tables of a test hold tens of rows: collecting both sides is two plain scans, where
`a.exceptAll(b).count()` and `b.exceptAll(a).count()` are two shuffles that each plan and read
both tables again (~6 s a table on 2 cores, most of a property example's final check). The
result is the same multiset equality, and a failure names the rows that differ.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pyspark.sql import DataFrame, Row


def canonical(value: Any) -> Any:
    """A hashable value that is equal for values Spark's set operations take for equal: maps
    compare whatever their key order, -0.0 equals 0.0, NaN equals NaN."""
    if isinstance(value, Row):
        return tuple(canonical(v) for v in value)
    if isinstance(value, dict):
        return ("<map>", tuple(sorted(((canonical(k), canonical(v)) for k, v in value.items()), key=repr)))
    if isinstance(value, (list, tuple)):
        return tuple(canonical(v) for v in value)
    if isinstance(value, float):
        if math.isnan(value):
            return "<NaN>"
        return 0.0 if value == 0 else value
    if isinstance(value, (str, int, bool, Decimal, date, datetime, bytes, bytearray)) or value is None:
        return bytes(value) if isinstance(value, bytearray) else value
    raise TypeError(f"no canonical form for {type(value).__name__}")


def row_differences(a: DataFrame, b: DataFrame, limit: int = 5) -> tuple[list, list]:
    """(rows of `a` missing from `b`, rows of `b` missing from `a`), as multisets, at most `limit`
    of each. `b` is read with `a`'s columns, in `a`'s order."""
    if sorted(a.columns) != sorted(b.columns):
        raise AssertionError(f"columns differ: {sorted(set(a.columns) ^ set(b.columns))}")
    left = Counter(canonical(r) for r in a.collect())
    right = Counter(canonical(r) for r in b.select(*a.columns).collect())
    only_a, only_b = left - right, right - left
    return list(only_a.elements())[:limit], list(only_b.elements())[:limit]


def assert_same_rows(a: DataFrame, b: DataFrame, name: str = "", *, non_empty: bool = False) -> None:
    """`a` and `b` hold the same rows, each as many times (what `exceptAll` both ways checks)."""
    only_a, only_b = row_differences(a, b)
    assert not only_a and not only_b, f"{name}: only in the first {only_a}; only in the second {only_b}"
    if non_empty:
        assert a.head(1), f"{name}: both empty"


def assert_same_gold(spark, tables, ref_tables, names, *, non_empty: bool = False) -> None:
    """Each gold table of `names` holds the same rows in `tables` as in `ref_tables` (a
    recompute from scratch), write times (`_updated_at`) aside."""
    for name in names:
        assert_same_rows(tables.gold(name).read(spark).drop("_updated_at"),
                         ref_tables.gold(name).read(spark).drop("_updated_at"), name, non_empty=non_empty)
