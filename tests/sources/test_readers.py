"""The change-feed reader's per-trigger caps, on a real Delta table."""

from __future__ import annotations

from streaming_obs.config.models import SourceConfig
from streaming_obs.sources.readers import read_cdf_stream
from streaming_obs.tables import TableRef


def _batches(spark, ref, tmp_path, limits) -> list[int]:
    sizes: list[int] = []
    q = (read_cdf_stream(spark, ref, starting_version=0, limits=limits).writeStream
         .foreachBatch(lambda df, _id: sizes.append(df.count()))
         .option("checkpointLocation", str(tmp_path / f"ck_{len(list(tmp_path.iterdir()))}"))
         .trigger(availableNow=True).start())
    q.awaitTermination(300)
    return [n for n in sizes if n]


def test_max_files_per_trigger_cuts_a_backlog_into_batches(spark, tmp_path):
    ref = TableRef(layer="test", name="t", ident=f"delta.`{tmp_path / 't'}`", path=str(tmp_path / "t"))
    for i in range(3):  # three commits, one file each
        (spark.createDataFrame([(i, j) for j in range(5)], "c INT, j INT").coalesce(1).write.format("delta")
         .mode("append").save(ref.path))  # the session turns the change feed on for new tables
    assert _batches(spark, ref, tmp_path, None) == [15]
    assert _batches(spark, ref, tmp_path, SourceConfig(path=ref.path, max_files_per_trigger=1)) == [5, 5, 5]
