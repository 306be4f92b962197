"""The benchmark's feeder: steps planned in Spark, appended with delta-rs, read like Spark's writes.

Two simulator streams with the same seed and clock produce the same rows. One writes them
through Spark (the product's writer); the other is planned as Arrow (`plan_steps`) and appended
with delta-rs (`play`). The product's source reader must see the same rows in both tables.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest

pytest.importorskip("deltalake")

from benchmarks import deltalog  # noqa: E402
from benchmarks.feed import DeltaAppender, plan_steps, play  # noqa: E402

STEPS = 4
# simulated seconds per step: long enough for every table to get rows (runs, queries, audit)
SIM_STEP_S = 900
RATE = 0.4  # usage rows per simulated second: 360 a step


def _stream(spark, settings, start):
    from streaming_obs.sources.simulator import SimulatorStream

    # renames on every other write of the other tables: jobs, clusters and warehouses get rows too
    return SimulatorStream(spark, settings, rows_per_second=RATE, seed=3, start=start, rename_every=2,
                           price_change_every=10_000)


def _cdf(spark, path: str, since: int):
    """Batch change feed from `since`, without the commit time (it differs by construction)."""
    return (spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", since)
            .load(path).drop("_commit_timestamp"))


def _stream_rows(spark, settings, since: int, name: str):
    """Rows the product's source reader streams from billing usage (available-now, memory sink)."""
    from streaming_obs.sources.readers import read_source_stream
    from streaming_obs.tables import Tables

    df = read_source_stream(spark, settings, Tables(settings), "billing_usage", starting_version=since)
    q = (df.drop("_source_commit_ts").writeStream.format("memory").queryName(name)
         .trigger(availableNow=True).start())
    q.awaitTermination()
    return spark.table(name)


def _sorted(rows):
    """Rows as dicts in a total order (repr of every value: no ties, whatever the columns)."""
    return sorted((r.asDict(recursive=True) for r in rows), key=repr)


def test_delta_rs_appends_read_like_spark_writes(spark, make_settings, tmp_path):
    from streaming_obs.config.models import SOURCE_NAMES
    from streaming_obs.sources.simulator import DEFAULT_END
    from streaming_obs.sources.simulator.writer import table_path

    small = {"workspaces": 1, "jobs": 6, "clusters": 4, "warehouses": 1}
    via_spark = make_settings(simulator={"root": str(tmp_path / "sys_spark"), **small})
    via_rs = make_settings(simulator={"root": str(tmp_path / "sys_rs"), **small})
    first = DEFAULT_END + timedelta(seconds=SIM_STEP_S)
    streams = {}
    for key, s in (("spark", via_spark), ("rs", via_rs)):
        streams[key] = _stream(spark, s, DEFAULT_END)
        streams[key].step(first)  # creates and seeds every table through Spark, CDF on
    paths = {key: {n: table_path(s, n) for n in SOURCE_NAMES} for key, s in (("spark", via_spark), ("rs", via_rs))}
    since = {n: deltalog.latest_version(paths["rs"][n]) + 1 for n in SOURCE_NAMES}
    assert since == {n: deltalog.latest_version(paths["spark"][n]) + 1 for n in SOURCE_NAMES}

    # the same steps: through Spark, and planned as Arrow then appended with delta-rs
    sa = streams["spark"]
    sa.others_every = 2
    for i in range(STEPS):
        sa.step(first + timedelta(seconds=SIM_STEP_S * (i + 1)))
    plan = plan_steps(streams["rs"], first, STEPS, SIM_STEP_S, RATE, others_every=2)
    assert [p.clock for p in plan] == [first + timedelta(seconds=SIM_STEP_S * (i + 1)) for i in range(STEPS)]
    # checkpoint every 2 versions: Spark must also read the log through delta-rs's checkpoints
    recs = play(plan, DeltaAppender(paths["rs"], checkpoint_every=2), cadence_s=0.2)

    # every usage commit is recorded with its own version and commit time
    usage = paths["rs"]["billing_usage"]
    versions = [r["source_version"] for r in recs]
    assert versions == list(range(since["billing_usage"], since["billing_usage"] + STEPS))
    times = deltalog.commit_times(usage, since["billing_usage"])
    for r in recs:
        assert r["t_commit"] == times[r["source_version"]]
        # the log file's mtime (coarse kernel clock) may trail time.time() by a tick
        assert r["t_start"] - 0.05 <= r["t_commit"] <= r["t_usage_end"] + 0.05
        assert r["usage_rows"] > 0 and r["append_s"] >= 0
    # and written by delta-rs, not Spark
    with open(os.path.join(usage, "_delta_log", f"{versions[0]:020d}.json"), encoding="utf-8") as fh:
        info = next(a["commitInfo"] for a in map(json.loads, fh) if "commitInfo" in a)
    assert info.get("writer") == "benchmarks.feed" or info.get("clientVersion", "").startswith("delta-rs")
    assert any(n.endswith(".checkpoint.parquet") and int(n.split(".")[0]) >= versions[0]
               for n in os.listdir(os.path.join(usage, "_delta_log")))

    # billing usage through the product's stream reader: same rows, same types, same versions
    got = {key: _stream_rows(spark, s, since["billing_usage"], f"feed_usage_{key}")
           for key, s in (("spark", via_spark), ("rs", via_rs))}
    assert got["rs"].schema == got["spark"].schema
    rows = {k: _sorted(df.collect()) for k, df in got.items()}
    assert len(rows["rs"]) == sum(p.usage_rows for p in plan) > 0
    assert {r["_source_change_type"] for r in rows["rs"]} == {"insert"}
    assert sorted({r["_source_version"] for r in rows["rs"]}) == versions
    # the comparison is not vacuous: nested structs, maps and decimals carry values
    assert any(r["custom_tags"] for r in rows["rs"])
    assert any(r["usage_metadata"]["job_id"] for r in rows["rs"])
    assert any(r["usage_quantity"] != r["usage_quantity"].to_integral_value() for r in rows["rs"])
    assert rows["rs"] == rows["spark"]

    # the other tables: the same inserts in their change feeds (a commit per write in each path,
    # versions compared only for usage: Spark commits an empty frame, delta-rs skips it)
    fed = []
    for name in SOURCE_NAMES:
        if name == "billing_usage":
            continue
        # a table with no commit since `since` has no change feed to read: no rows
        got_cdf = {k: _cdf(spark, paths[k][name], since[name]).drop("_commit_version")
                   if deltalog.latest_version(paths[k][name]) >= since[name] else None for k in ("spark", "rs")}
        a, b = got_cdf["spark"], got_cdf["rs"]
        if a is not None and b is not None:
            assert b.schema == a.schema, name
        ra, rb = (_sorted(df.collect()) if df is not None else [] for df in (a, b))
        assert rb == ra, name
        if rb:
            fed.append(name)
    # not vacuous either: the renames alone give jobs, clusters and warehouses rows, audit always has some
    assert len(fed) >= 4, fed
