"""Quality inside real streaming queries (trigger availableNow): counts in the query progress that
a StreamingQueryListener sees, and a `fail` rule stopping the query with the rule named."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from pyspark.errors import StreamingQueryException
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQueryListener

from streaming_obs.observations import quality_name
from streaming_obs.quality import QualityEngine
from tests.quality.conftest import NOW, usage_row

RULES = {
    "key": ["workspace_id", "record_id"],
    "rules": [
        {"name": "record_id_present", "check": {"function": "not_null", "arguments": {"column": "record_id"}},
         "action": "quarantine"},
        {"name": "end_after_start", "check": {"function": "sql",
                                              "arguments": {"expression": "usage_end_time >= usage_start_time"}},
         "action": "drop"},
        {"name": "unit_is_dbu", "check": {"function": "in_set", "arguments": {"column": "usage_unit", "values": ["DBU"]}}},
        {"name": "record_unique", "check": {"function": "unique_in_batch", "arguments": {"columns": ["record_id"]}}},
    ],
}


class _Progress(StreamingQueryListener):
    """Collects the observed metrics of one query's progress events (cheap, no I/O)."""

    def __init__(self) -> None:
        self.query_id = None
        self.seen: list[dict] = []
        self.event = threading.Event()

    def onQueryStarted(self, event):  # noqa: N802 - Spark's API
        pass

    def onQueryProgress(self, event):  # noqa: N802
        p = event.progress
        if str(p.id) == self.query_id and p.numInputRows > 0:
            self.seen.append(dict(p.observedMetrics))
            self.event.set()

    def onQueryIdle(self, event):  # noqa: N802
        pass

    def onQueryTerminated(self, event):  # noqa: N802
        pass


def _source(spark, path, rows, make_df):
    make_df("bronze.billing_usage", rows).drop("_ingest_time", "_source_version", "_source_commit_ts",
                                              "_source_change_type", "_batch_id", "_row_hash") \
        .write.format("delta").mode("overwrite").save(path)


def test_counts_reach_streaming_query_progress(spark, make_df, tmp_path):
    table = "bronze.billing_usage"
    engine = QualityEngine.from_dict({"tables": {table: RULES}}, "test.yaml")
    start = NOW - timedelta(hours=2)
    rows = [
        usage_row(record_id="a"),
        usage_row(record_id="b", usage_unit="GPU"),                              # warn
        usage_row(record_id="c", usage_end_time=start - timedelta(hours=1)),     # drop
        usage_row(record_id=None),                                               # quarantine
        usage_row(record_id="e"), usage_row(record_id="e"),                      # unique (warn, batch-level)
    ]
    _source(spark, str(tmp_path / "src"), rows, make_df)
    kept_path = str(tmp_path / "kept")
    per_batch: list[dict] = []

    def batch(df, batch_id):
        df.persist()
        try:
            outcome = engine.apply(df, table=table, batch_id=batch_id, now=NOW)
            outcome.kept.write.format("delta").mode("append").save(kept_path)
            per_batch.append(outcome.counts | outcome.rule_failures)
            # An observation on the batch DataFrame (finding: it never reaches the progress).
            df.observe("dq_inside_foreach_batch", F.count(F.lit(1)).alias("rows_in")).write.format("noop").mode("overwrite").save()
        finally:
            df.unpersist()

    listener = _Progress()
    spark.streams.addListener(listener)
    stream = engine.observe_stream(spark.readStream.format("delta").load(str(tmp_path / "src")), table)
    query = None
    try:
        query = (stream.writeStream.foreachBatch(batch).option("checkpointLocation", str(tmp_path / "ckpt"))
                 .trigger(availableNow=True).queryName("dq_stream_test").start())
        listener.query_id = str(query.id)
        query.awaitTermination(300)
        progress = query.lastProgress
        observed = progress["observedMetrics"]
        name = quality_name(table)
        assert name == "dq_bronze_billing_usage"
        assert "dq_inside_foreach_batch" not in observed  # batch-level observe is not in progress
        m = observed[name]
        assert (m["rows_in"], m["rows_kept"], m["rows_dropped"], m["rows_quarantined"]) == (6, 4, 1, 1)
        assert m["rows_in"] == m["rows_kept"] + m["rows_dropped"] + m["rows_quarantined"]
        assert m["record_id_present__quarantined"] == 1 and m["record_id_present__passed"] == 5
        assert m["end_after_start__dropped"] == 1 and m["unit_is_dbu__warned"] == 1
        assert "record_unique__warned" not in m  # set-level rules: in quality_results only
        # the batch-level outcome agrees and adds the set-level rule
        assert per_batch == [{"rows_in": 6, "rows_kept": 4, "rows_dropped": 1, "rows_quarantined": 1,
                              "record_id_present": 1, "end_after_start": 1, "unit_is_dbu": 1, "record_unique": 2}]
        # ... and so does what a StreamingQueryListener receives
        deadline = time.monotonic() + 60
        while not listener.seen and time.monotonic() < deadline:
            listener.event.wait(1)
        assert listener.seen and listener.seen[-1][name]["rows_quarantined"] == 1
    finally:
        if query is not None:
            query.stop()
        spark.streams.removeListener(listener)


def test_a_fail_rule_stops_the_query_naming_the_rule(spark, make_df, tmp_path):
    table = "bronze.billing_usage"
    rules = {"key": ["workspace_id", "record_id"], "rules": [
        {"name": "record_id_must_exist", "check": {"function": "not_null", "arguments": {"column": "record_id"}},
         "action": "fail"}]}
    engine = QualityEngine.from_dict({"tables": {table: rules}}, "test.yaml")
    _source(spark, str(tmp_path / "src"), [usage_row(), usage_row(record_id=None, workspace_id="777")], make_df)
    kept_path = str(tmp_path / "kept")

    def batch(df, batch_id):
        df.persist()
        try:
            outcome = engine.apply(df, table=table, batch_id=batch_id, now=NOW)
            outcome.kept.write.format("delta").mode("append").save(kept_path)
        finally:
            df.unpersist()

    query = (spark.readStream.format("delta").load(str(tmp_path / "src")).writeStream.foreachBatch(batch)
             .option("checkpointLocation", str(tmp_path / "ckpt")).trigger(availableNow=True).start())
    try:
        with pytest.raises(StreamingQueryException) as exc:
            query.awaitTermination(300)
        text = str(exc.value)
        assert "record_id_must_exist" in text and "QualityViolationError" in text and "777" in text
    finally:
        query.stop()
    from delta.tables import DeltaTable

    assert not DeltaTable.isDeltaTable(spark, kept_path)  # nothing of the failed batch was written
