"""Snapshot sources: tables that cannot be streamed (`system.billing.list_prices`,
`system.query.history`) are re-read on an interval and only rows not yet in bronze are appended.

The diff is by a hash of the whole row, so a re-read is idempotent by construction: a crash
between reading and writing just repeats the same diff.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from streaming_obs.tables import TableRef

__all__ = ["row_hash", "snapshot_diff"]


def row_hash(df: DataFrame, columns: list[str]) -> F.Column:
    """SHA-256 of the JSON of `columns` (stable across runs for the same values)."""
    return F.sha2(F.to_json(F.struct(*[F.col(f"`{c}`") for c in columns])), 256)


def snapshot_diff(spark: SparkSession, source: TableRef, bronze: TableRef, version: int | None = None,
                  quarantine: TableRef | None = None) -> DataFrame:
    """Rows of the snapshot of `source` (current, or at `version`) whose hash is not yet in
    `bronze`, with the source meta columns filled (version and commit time of the snapshot).

    With `quarantine`, rows already quarantined from this bronze table (their raw row carries the
    hash) are left out too: a bad row is quarantined once, not again on every poll.
    """
    snap = source.read(spark, version)
    cols = snap.columns
    commit_ts = None
    try:
        hist = source.delta(spark).history()
        hist = hist.where(f"version = {int(version)}") if version is not None else hist.orderBy("version", ascending=False)
        last = hist.select("version", "timestamp").head()
        version, commit_ts = int(last[0]), last[1]
    except Exception:  # views and shares have no history we can read: leave the meta NULL
        pass
    current = (
        snap.withColumn("_row_hash", row_hash(snap, cols))
        .withColumn("_source_version", F.lit(version).cast("bigint"))
        .withColumn("_source_commit_ts", F.lit(commit_ts).cast("timestamp"))
        .withColumn("_source_change_type", F.lit("snapshot"))
    )
    if not bronze.exists(spark):
        return current
    seen = bronze.read(spark).select("_row_hash").where(F.col("_row_hash").isNotNull())
    if quarantine is not None and quarantine.exists(spark):
        held = (quarantine.read(spark).where(F.col("source_table") == f"bronze.{bronze.name}")
                .select(F.get_json_object("raw_row", "$._row_hash").alias("_row_hash"))
                .where(F.col("_row_hash").isNotNull()))
        seen = seen.unionByName(held)
    return current.join(seen, on="_row_hash", how="left_anti").dropDuplicates(["_row_hash"])
