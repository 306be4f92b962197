"""The delete scope of job_run_daily's recompute: (workspace, job) pairs, null-safe and flat."""

from __future__ import annotations

from streaming_obs.gold.compute import _in_pairs


def test_pairs_scope_matches_exactly_the_pairs_with_null_jobs_too(spark):
    df = spark.createDataFrame([("w1", "j1"), ("w1", None), ("w2", "j1"), ("w2", "j2"), (None, "j1")],
                               "workspace_id STRING, job_id STRING")
    got = {tuple(r) for r in df.where(_in_pairs([("w1", None), ("w2", "j1"), ("w9", "j9")])).collect()}
    assert got == {("w1", None), ("w2", "j1")}


def test_thousands_of_pairs_stay_one_flat_predicate(spark):
    pairs = [("w1", f"j{n}") for n in range(5000)]
    df = spark.createDataFrame([("w1", "j4999"), ("w1", "j5000")], "workspace_id STRING, job_id STRING")
    assert [tuple(r) for r in df.where(_in_pairs(pairs)).collect()] == [("w1", "j4999")]
