"""Property: for random rows and random rule sets, the compiled one-pass evaluation agrees with
evaluating every rule on every row in plain Python (SQL three-valued logic), and no row is lost:
rows_in = rows_kept + rows_dropped + rows_quarantined."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streaming_obs.errors import QualityViolationError
from streaming_obs.quality import DISPOSITION_COL, FAILED_COL, QualityEngine

NOW = datetime(2025, 3, 10, 12, 0, 0, tzinfo=timezone.utc)
TABLE = "bronze.audit"
SCHEMA = "id INT, a INT, x DOUBLE, s STRING, g STRING, ts TIMESTAMP, n STRUCT<k: STRING>"
ALPHABET = ["a", "b", "ab", "ba", "abc", "c", ""]


def _nn(*vals: Any) -> bool:
    return all(v is not None for v in vals)


# SQL text -> the same predicate in Python, with NULL as None (three-valued logic).
SQL_CATALOG: dict[str, Any] = {
    "a > x": lambda r: r["a"] > r["x"] if _nn(r["a"], r["x"]) else None,
    "coalesce(a, 0) + 1 > 2": lambda r: (r["a"] if r["a"] is not None else 0) + 1 > 2,
    "s LIKE 'a%'": lambda r: r["s"].startswith("a") if r["s"] is not None else None,
    "length(s) >= 2": lambda r: len(r["s"]) >= 2 if r["s"] is not None else None,
    "n.k = s": lambda r: (r["n"]["k"] == r["s"]) if r["n"] is not None and _nn(r["n"]["k"], r["s"]) else None,
}
FILTER_CATALOG: dict[str, Any] = {
    "a > 0": lambda r: r["a"] > 0 if r["a"] is not None else None,
    "s <> 'b'": lambda r: r["s"] != "b" if r["s"] is not None else None,
    "x IS NULL OR x < 5": lambda r: True if r["x"] is None else r["x"] < 5,
}
REGEXES = ["^a", "b$", "ab", "^[ab]+$", "c"]  # same meaning in Java and Python


def _col(r: dict, path: str) -> Any:
    if path == "n.k":
        return None if r["n"] is None else r["n"]["k"]
    return r[path]


def _violation(rule: dict, row: dict, rows: list[dict], lookup: set[str]) -> bool | None:
    fn, a = rule["check"]["function"], rule["check"]["arguments"]
    if fn == "not_null":
        return any(_col(row, c) is None for c in a["columns"])
    if fn == "sql":
        v = SQL_CATALOG[a["expression"]](row)
        return None if v is None else not v
    if fn == "referential":
        return row["s"] is not None and row["s"] not in lookup
    if fn == "unique_in_batch":
        key = tuple(_col(row, c) for c in a["columns"])
        if None in key:
            return False
        same = [r for r in rows if _applies(rule, r) and tuple(_col(r, c) for c in a["columns"]) == key]
        return len(same) > 1
    v = _col(row, a["column"])
    if v is None:
        return None
    if fn == "in_range":
        lo, hi, inc = a.get("min"), a.get("max"), a.get("inclusive", True)
        low = lo is not None and (v < lo if inc else v <= lo)
        high = hi is not None and (v > hi if inc else v >= hi)
        return low or high
    if fn == "in_set":
        return v not in a["values"]
    if fn == "regex":
        return re.search(a["pattern"], v) is None
    if fn == "freshness":
        old = a.get("max_age") is not None and v < NOW - timedelta(seconds=a["max_age"])
        future = a.get("max_future") is not None and v > NOW + timedelta(seconds=a["max_future"])
        return old or future
    raise AssertionError(fn)


def _applies(rule: dict, row: dict) -> bool:
    return rule.get("filter") is None or FILTER_CATALOG[rule["filter"]](row) is True


def oracle(rules: list[dict], rows: list[dict], lookup: set[str]) -> dict[int, tuple[list[str], str]]:
    """Per row id: (names of the rules broken, disposition)."""
    out = {}
    for row in rows:
        failed = [r for r in rules if _applies(r, row) and _violation(r, row, rows, lookup) is True]
        actions = {r["action"] for r in failed}
        disp = next((a for a in ("fail", "quarantine", "drop") if a in actions), "keep")
        out[row["id"]] = (sorted(r["name"] for r in failed), disp)
    return out


@st.composite
def rule_sets(draw) -> list[dict]:
    checks = st.sampled_from(["not_null", "in_range", "in_set", "regex", "unique_in_batch", "freshness", "referential", "sql"])
    rules = []
    for i in range(draw(st.integers(1, 5))):
        fn = draw(checks)
        if fn == "not_null":
            args = {"columns": draw(st.lists(st.sampled_from(["a", "x", "s", "n.k", "ts"]), min_size=1, max_size=2, unique=True))}
        elif fn == "in_range":
            col = draw(st.sampled_from(["a", "x"]))
            lo = draw(st.none() | st.integers(-5, 5))
            hi = draw(st.integers(-5, 5) if lo is None else st.none() | st.integers(lo, 6))
            args = {"column": col, "min": lo, "max": hi, "inclusive": draw(st.booleans())}
        elif fn == "in_set":
            if draw(st.booleans()):
                args = {"column": "s", "values": draw(st.lists(st.sampled_from(ALPHABET), min_size=1, max_size=3, unique=True))}
            else:
                args = {"column": "a", "values": draw(st.lists(st.integers(-3, 3), min_size=1, max_size=3, unique=True))}
        elif fn == "regex":
            args = {"column": draw(st.sampled_from(["s", "n.k"])), "pattern": draw(st.sampled_from(REGEXES))}
        elif fn == "unique_in_batch":
            args = {"columns": draw(st.sampled_from([["g"], ["g", "a"], ["n.k"]]))}
        elif fn == "freshness":
            age = draw(st.none() | st.integers(0, 3 * 86400))
            fut = draw(st.integers(0, 86400) if age is None else st.none() | st.integers(0, 86400))
            args = {"column": "ts", "max_age": age, "max_future": fut}
        elif fn == "referential":
            args = {"columns": ["s"], "lookup": "silver.audit"}
        else:
            args = {"expression": draw(st.sampled_from(sorted(SQL_CATALOG)))}
        rule = {"name": f"r{i}", "check": {"function": fn, "arguments": {k: v for k, v in args.items() if v is not None}},
                "action": draw(st.sampled_from(["warn", "drop", "quarantine", "warn", "drop", "quarantine", "fail"]))}
        f = draw(st.none() | st.sampled_from(sorted(FILTER_CATALOG)))
        if f:
            rule["filter"] = f
        rules.append(rule)
    return rules


def rows_strategy():
    small = st.none() | st.integers(-6, 6)
    row = st.fixed_dictionaries({
        "a": small,
        "x": st.none() | st.floats(-10, 10, allow_nan=False, allow_infinity=False),
        "s": st.none() | st.sampled_from(ALPHABET),
        "g": st.none() | st.sampled_from(["k1", "k2", "k3"]),
        "ts": st.none() | st.integers(-4 * 86400, 2 * 86400).map(lambda sec: NOW + timedelta(seconds=sec)),
        "n": st.none() | st.fixed_dictionaries({"k": st.none() | st.sampled_from(ALPHABET)}),
    })
    return st.lists(row, max_size=12).map(lambda rs: [dict(r, id=i) for i, r in enumerate(rs)])


@pytest.mark.filterwarnings("ignore")
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rules=rule_sets(), rows=rows_strategy(), lookup=st.sets(st.sampled_from(ALPHABET), max_size=4))
def test_one_pass_evaluation_matches_python_and_no_row_is_lost(spark, rules, rows, lookup):
    engine = QualityEngine.from_dict({"tables": {TABLE: {"key": ["id"], "rules": rules}}}, "prop.yaml")
    cols = ["id", "a", "x", "s", "g", "ts", "n"]
    df = spark.createDataFrame([tuple(r[c] for c in cols) for r in rows], SCHEMA)
    lookups = {"silver.audit": spark.createDataFrame([(v,) for v in sorted(lookup)], "s STRING")}
    expected = oracle(rules, rows, lookup)

    got = {r["id"]: (sorted(r[FAILED_COL]), r[DISPOSITION_COL])
           for r in engine.evaluate(df, TABLE, lookups, now=NOW).collect()}
    assert got == expected

    if any(d == "fail" for _, d in expected.values()):
        with pytest.raises(QualityViolationError):
            engine.apply(df, table=TABLE, batch_id=1, lookups=lookups, now=NOW)
        return
    outcome = engine.apply(df, table=TABLE, batch_id=1, lookups=lookups, now=NOW)
    kept_ids = sorted(r["id"] for r in outcome.kept.collect())
    c = outcome.counts
    assert c["rows_in"] == len(rows) == c["rows_kept"] + c["rows_dropped"] + c["rows_quarantined"]
    assert kept_ids == sorted(i for i, (_, d) in expected.items() if d == "keep")
    assert c["rows_dropped"] == sum(d == "drop" for _, d in expected.values())
    assert c["rows_quarantined"] == sum(d == "quarantine" for _, d in expected.values())
    assert outcome.rule_failures == {r["name"]: sum(r["name"] in f for f, _ in expected.values()) for r in rules}
