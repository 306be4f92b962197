"""The Delta log read through the JVM answers what DeltaTable.history/detail answer, on real tables."""

from __future__ import annotations

import pytest

from streaming_obs import delta_log
from streaming_obs.tables import TableRef


@pytest.fixture
def table(spark, tmp_path):
    """A real Delta table with four commits: create, append, a tagged MERGE, an untagged delete."""
    from delta.tables import DeltaTable

    path = str(tmp_path / "t")
    spark.createDataFrame([(1, "a")], "k INT, v STRING").write.format("delta").save(path)
    spark.createDataFrame([(2, "b"), (3, "c")], "k INT, v STRING").write.format("delta").mode("append").save(path)
    spark.conf.set("spark.databricks.delta.commitInfo.userMetadata", "gold:app:step@7 wm={\"x\":1}")
    try:
        (DeltaTable.forPath(spark, path).alias("t")
         .merge(spark.createDataFrame([(3, "C"), (4, "d")], "k INT, v STRING").alias("s"), "t.k = s.k")
         .whenMatchedUpdateAll().whenNotMatchedInsertAll().execute())
    finally:
        spark.conf.unset("spark.databricks.delta.commitInfo.userMetadata")
    DeltaTable.forPath(spark, path).delete("k = 1")
    return TableRef("gold", "t", "t", path)


def _public(spark, ref, limit=None):
    from pyspark.sql import functions as F

    h = ref.delta(spark).history(limit) if limit else ref.delta(spark).history()
    rows = h.select("version", F.unix_millis("timestamp").alias("timestamp"), "operation", "operationMetrics",
                    "userMetadata").orderBy(F.col("version").desc()).collect()
    return [r.asDict() for r in rows]


def test_the_jvm_log_gives_the_same_commits_version_and_id_as_the_public_api(spark, table, monkeypatch):
    monkeypatch.setitem(delta_log._fallback, "on", False)
    commits = delta_log.last_commits(spark, table)
    assert delta_log._fallback["on"] is False  # answered by the JVM path, not the fallback
    assert commits == _public(spark, table)
    assert [c["version"] for c in commits] == [3, 2, 1, 0]
    assert commits[1]["operation"] == "MERGE" and commits[1]["userMetadata"].startswith("gold:app:step@7")
    assert commits[1]["operationMetrics"]["numTargetRowsInserted"] == "1"
    assert delta_log.last_commits(spark, table, 2) == _public(spark, table, 2)
    assert delta_log.latest_version(spark, table) == 3 == table.version(spark)
    assert delta_log.table_id(spark, table) == table.delta(spark).detail().select("id").head()[0]


def test_without_the_jvm_path_the_public_api_answers_the_same(spark, table, monkeypatch):
    monkeypatch.setitem(delta_log._fallback, "on", False)
    jvm = (delta_log.last_commits(spark, table, 3), delta_log.latest_version(spark, table),
           delta_log.table_id(spark, table))
    monkeypatch.setitem(delta_log._fallback, "on", True)  # as after a failure: Spark Connect, another Delta
    assert (delta_log.last_commits(spark, table, 3), delta_log.latest_version(spark, table),
            delta_log.table_id(spark, table)) == jvm


def test_a_jvm_failure_falls_back_for_good(spark, table, monkeypatch):
    monkeypatch.setitem(delta_log._fallback, "on", False)
    by_name = TableRef("gold", "t", "no_such_catalog.t", None)  # known by name only: the public API
    assert delta_log._delta_log(spark, by_name) is None and delta_log._fallback["on"] is False

    class _Broken:
        def __getattr__(self, name):
            raise RuntimeError("py4j: no such method")

    monkeypatch.setattr(delta_log, "_delta_log", lambda spark, ref: _Broken())
    assert delta_log.latest_version(spark, table) == 3  # the snapshot call failed: history answered
    assert delta_log._fallback["on"] is True


@pytest.mark.parametrize("java_call", ["number", "class"])
def test_what_delta_throws_propagates_and_keeps_the_jvm_path(spark, table, monkeypatch, java_call):
    """An exception thrown inside the JVM (a stop's interrupt, a storage error) is the answer:
    it must end the caller's work (a cut batch must not carry on through the fallback), and the
    JVM path stays on for the next call. Both kinds: one pyspark converts to its own exception
    class (NumberFormatException), one it leaves a Py4JJavaError (ClassNotFoundException, as
    InterruptedException is)."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors.exceptions.captured import CapturedException

    monkeypatch.setitem(delta_log._fallback, "on", False)
    jvm = spark._jvm

    class _Throws:
        def update(self, *args):
            if java_call == "number":
                return jvm.java.lang.Integer.parseInt("not a number")
            return jvm.java.lang.Class.forName("no.such.Clazz")

    monkeypatch.setattr(delta_log, "_delta_log", lambda spark, ref: _Throws())
    with pytest.raises((Py4JJavaError, CapturedException)) as err:
        delta_log.latest_version(spark, table)
    shown = f"{type(err.value).__name__}: {err.value}"
    assert ("NumberFormatException" if java_call == "number" else "ClassNotFoundException") in shown
    assert delta_log._fallback["on"] is False
