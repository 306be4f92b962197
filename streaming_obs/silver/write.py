"""Silver: each source's rows refined in the same batch that appended them to bronze.

usage keeps the first row per `record_id` (a redelivered record counts once; retractions and
restatements are records of their own) and is appended exactly once with txnAppId/txnVersion;
the rows it appends are handed on to the cost path. Every other entity keeps the latest change
per key inside the batch and is MERGEd, which is idempotent by construction; for SCD2 entities
the same MERGE recomputes `_valid_to` and `_is_current` of every history row of the ids the
batch touched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import Window
from pyspark.sql import functions as F

from streaming_obs.bootstrap import silver_specs
from streaming_obs.merge import latest_per_key, merge_upsert
from streaming_obs.resilience.idempotency import idempotent_write
from streaming_obs.resilience.retry import retry_delta_conflicts
from streaming_obs.silver.masking import mask_pii

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from streaming_obs.batch import BatchInfo
    from streaming_obs.context import PipelineContext

__all__ = ["to_silver_rows", "write_silver", "with_scd2", "silver_lookups", "BOOKKEEPING"]

# Bronze-only columns that do not travel to silver.
_DROP = ("_change_type", "_commit_timestamp", "_batch_id", "_row_hash", "_source_change_type", "_batch_ts")
#: silver columns that say where a row came from, not what it is: never a reason to update
BOOKKEEPING = ("_ingest_time", "_bronze_version", "_source_commit_ts", "_load_id")


def to_silver_rows(bronze_rows: DataFrame, bronze_version: int | None, load_id: str) -> DataFrame:
    """Bronze rows of this batch → silver-shaped rows (keeps `_source_version` for ordering).

    `_load_id` names the batch that wrote a row (checkpoint writer id and batch id), so a
    replayed batch can tell its own earlier rows from rows that were there before it.
    """
    df = bronze_rows.drop(*[c for c in _DROP if c in bronze_rows.columns])
    return (df.withColumn("_bronze_version", F.lit(bronze_version).cast("bigint"))
            .withColumn("_load_id", F.lit(load_id)))


def with_scd2(session, ref, latest: DataFrame, spec: dict) -> DataFrame:
    """The batch's rows plus the stored history of the entity ids they touch, with `_valid_to`
    (next change, or the row's own end such as `price_end_time`) and `_is_current` recomputed,
    so a single MERGE writes the new rows and closes the old ones."""
    ids, time_col, end_col = spec["scd2"]["id"], spec["scd2"]["time"], spec["scd2"].get("end")
    hist = (ref.read(session).join(latest.select(*ids).distinct(), ids, "left_semi")
            .join(latest.select(*spec["key"]), spec["key"], "left_anti"))
    combined = latest.drop("_valid_to", "_is_current").unionByName(
        hist.drop("_valid_to", "_is_current"), allowMissingColumns=True)
    w = Window.partitionBy(*ids).orderBy(F.col(time_col))
    valid_to = F.lead(time_col).over(w)
    if end_col:
        valid_to = F.coalesce(F.col(end_col), valid_to)
    return combined.withColumn("_valid_to", valid_to).withColumn("_is_current", F.col("_valid_to").isNull())


def silver_lookups(ctx: PipelineContext, source: str, session) -> dict[str, DataFrame]:
    """Tables that the referential rules of `silver.<source>` check against."""
    if ctx.quality is None:
        return {}
    return {name: getattr(ctx.tables, name.split(".", 1)[0])(name.split(".", 1)[1]).read(session)
            for name in ctx.quality.lookups_needed(f"silver.{source}")}


def _first_per_record(ctx: PipelineContext, ref, rows: DataFrame, key: list[str], load_id: str,
                      dates: list | None = None) -> DataFrame:
    """The batch's rows whose key silver does not hold yet, first delivery per key.

    Silver's own rows of this same batch (a replay after the append committed) do not count as
    "already there", so the answer is the same on every attempt. The search is limited to the
    batch's usage dates (`dates`, when the caller knows them: a superset is fine): a record's
    date is part of the record.
    """
    w = Window.partitionBy(*key).orderBy(F.col("_source_version").asc_nulls_last(),
                                         F.col("_source_commit_ts").asc_nulls_last())
    first = rows.withColumn("__rn", F.row_number().over(w)).where("__rn = 1").drop("__rn")
    if dates is None:
        dates = [r[0] for r in first.select("usage_date").distinct().collect()]
    seen = (ref.read(ctx.spark).where(F.col("usage_date").isin(dates))
            .where(~F.col("_load_id").eqNullSafe(F.lit(load_id))).select(*key))
    return first.join(seen, key, "left_anti")


def write_silver(ctx: PipelineContext, source: str, kept: DataFrame, info: BatchInfo,
                 dates: list | None = None) -> DataFrame | None:
    """Refine one batch's silver-shaped rows into silver.

    `dates`: the batch's usage dates when the caller has them (saves a pass over the batch).

    Returns:
        For insert-only sources (usage), the rows this batch added to silver, materialised (the
        caller frees them with `release_checkpoint`); else None.
    """
    spec = silver_specs()[source]
    ref = ctx.tables.silver(source)
    session = kept.sparkSession
    if ctx.settings.governance.mask_pii:
        kept = mask_pii(kept, ctx.settings)
    if spec["mode"] == "insert":
        load_id = info.txn_app(str(info.batch_id))
        new = _first_per_record(ctx, ref, kept, spec["key"], load_id, dates).drop("_source_version")
        # Materialised once: appended to silver and priced for gold from the same rows.
        new = new.localCheckpoint(eager=True)
        retry_delta_conflicts(
            lambda: ref.append(new, txnAppId=info.txn_app("silver"), txnVersion=str(info.batch_id), mergeSchema="true"),
            attempts=ctx.settings.resilience.write_retries, what=f"append {ref.label}",
        )
        return new
    latest = latest_per_key(kept, spec["key"], spec["order"]).drop("_source_version")
    if "scd2" in spec:
        latest = with_scd2(session, ref, latest, spec)
    compare = [c for c in latest.columns if c not in spec["key"] and c not in BOOKKEEPING]

    def _merge() -> None:
        with idempotent_write(session, info.txn_app("silver"), info.batch_id):
            merge_upsert(session, ref, latest, spec["key"], compare=compare, newer_than=spec.get("newer_only"))

    retry_delta_conflicts(_merge, attempts=ctx.settings.resilience.write_retries, what=f"merge {ref.label}")
    return None
