"""Read a source as a stream, in the mode its config names.

Every reader returns the source's own columns plus three of ours, so bronze does not care how
the rows were read:
  _source_version      Delta commit version of the source (NULL in `append` mode: the plain
                       Delta stream does not expose it)
  _source_commit_ts    commit timestamp of that version (NULL in `append` mode)
  _source_change_type  insert / update_postimage / delete (cdf), append, snapshot
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from streaming_obs.errors import SourceError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from streaming_obs.config.models import Settings, SourceConfig
    from streaming_obs.tables import TableRef, Tables

__all__ = ["read_source_stream", "read_cdf_stream", "SOURCE_META_COLUMNS"]

SOURCE_META_COLUMNS = ("_source_version", "_source_commit_ts", "_source_change_type")


def _load(reader, ref: TableRef) -> DataFrame:
    return reader.load(ref.path) if ref.path else reader.table(ref.ident)


def _with_limits(reader, cfg: SourceConfig | None):
    """Delta's per-trigger caps (`maxFilesPerTrigger`, `maxBytesPerTrigger`) from a source config."""
    if cfg is None:
        return reader
    if cfg.max_files_per_trigger:
        reader = reader.option("maxFilesPerTrigger", str(cfg.max_files_per_trigger))
    if cfg.max_bytes_per_trigger:
        reader = reader.option("maxBytesPerTrigger", cfg.max_bytes_per_trigger)
    return reader


def read_cdf_stream(
    spark: SparkSession,
    ref: TableRef,
    *,
    starting_version: int | None = None,
    limits: SourceConfig | None = None,
    keep_preimage: bool = False,
) -> DataFrame:
    """Change-data-feed stream of a Delta table, with `_change_type`, `_commit_version` and
    `_commit_timestamp`. Pre-images are dropped unless asked for. `limits`: the source config
    whose per-trigger caps apply (they apply to every layer's read of that source's data)."""
    reader = spark.readStream.format("delta").option("readChangeFeed", "true")
    if starting_version is not None:
        reader = reader.option("startingVersion", str(starting_version))
    df = _load(_with_limits(reader, limits), ref)
    if not keep_preimage:
        df = df.where(F.col("_change_type") != "update_preimage")
    return df


def read_source_stream(spark: SparkSession, settings: Settings, tables: Tables, source: str,
                       starting_version: int | None = None) -> DataFrame:
    """Stream one source in `cdf` or `append` mode (snapshot sources are polled, see snapshot.py).

    `starting_version` (a checkpoint reset's) wins over `sources.<source>.starting_version`;
    either counts only for a checkpoint that has not started yet.

    Raises:
        SourceError: the source is configured as `snapshot`, or does not exist.
    """
    cfg = settings.sources[source]
    ref = tables.source(source)
    start = cfg.starting_version if starting_version is None else starting_version
    if cfg.mode == "snapshot":
        raise SourceError(f"source {source} is read in snapshot mode; it cannot be streamed")
    if ref.path and not ref.exists(spark):
        raise SourceError(
            f"source {source}: no Delta table at {ref.path} (run `streaming-obs simulate` first, "
            "or fix sources.{source}.path)".replace("{source}", source)
        )
    if cfg.mode == "cdf":
        df = read_cdf_stream(spark, ref, starting_version=start, limits=cfg)
        return (
            df.withColumnRenamed("_commit_version", "_source_version")
            .withColumnRenamed("_commit_timestamp", "_source_commit_ts")
            .withColumnRenamed("_change_type", "_source_change_type")
        )
    # append: system tables come through Delta Sharing, where CDF is not documented. Rows that a
    # provider rewrites (changes) are skipped rather than failing the stream.
    reader = spark.readStream.format("delta").option("skipChangeCommits", "true")
    if start is not None:
        reader = reader.option("startingVersion", str(start))
    return (
        _load(_with_limits(reader, cfg), ref)
        .withColumn("_source_version", F.lit(None).cast("bigint"))
        .withColumn("_source_commit_ts", F.lit(None).cast("timestamp"))
        .withColumn("_source_change_type", F.lit("append"))
    )
