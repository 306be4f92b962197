"""bronze --CDF--> silver.

usage is appended row-exact (retractions and restatements are real rows; the append carries
txnAppId/txnVersion). Every other entity keeps the latest change per key inside the batch and
is MERGEd, which is idempotent by construction; for SCD2 entities the same MERGE recomputes `_valid_to` and
`_is_current` of every history row of the ids the batch touched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import Window
from pyspark.sql import functions as F

from streaming_obs.bootstrap import silver_specs
from streaming_obs.bronze.flow import apply_quality, finish_batch
from streaming_obs.flows import BatchInfo, Flow, freshness_observation
from streaming_obs.merge import latest_per_key, merge_upsert
from streaming_obs.resilience.idempotency import idempotent_write
from streaming_obs.resilience.retry import retry_delta_conflicts
from streaming_obs.sources.readers import read_cdf_stream

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from streaming_obs.context import PipelineContext

__all__ = ["silver_flow", "prepare_silver_batch", "write_silver_batch", "with_scd2"]

# Bronze-only columns that do not travel to silver.
_DROP = ("_change_type", "_commit_timestamp", "_batch_id", "_row_hash", "_source_change_type")


def prepare_silver_batch(batch_df: DataFrame) -> DataFrame:
    """Bronze change-feed rows → silver-shaped rows (keeps `_source_version` for ordering)."""
    df = batch_df.where(F.col("_change_type").isin("insert", "update_postimage"))
    df = df.withColumnRenamed("_commit_version", "_bronze_version")
    return df.drop(*[c for c in _DROP if c in df.columns])


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


def _lookups(ctx: PipelineContext, source: str, session) -> dict[str, DataFrame]:
    """Tables that the referential rules of `silver.<source>` check against."""
    if ctx.quality is None:
        return {}
    return {name: getattr(ctx.tables, name.split(".", 1)[0])(name.split(".", 1)[1]).read(session)
            for name in ctx.quality.lookups_needed(f"silver.{source}")}


def write_silver_batch(ctx: PipelineContext, source: str, batch_df: DataFrame, info: BatchInfo) -> dict:
    """Refine one batch of bronze changes into silver. Returns counts for ops records."""
    spec = silver_specs()[source]
    ref = ctx.tables.silver(source)
    session = batch_df.sparkSession
    df = prepare_silver_batch(batch_df).persist()
    try:
        meta = df.agg(F.count(F.lit(1)).alias("n"), F.min("_bronze_version").alias("lo"),
                      F.max("_bronze_version").alias("hi")).head()
        if meta["n"] == 0:
            return {"rows_in": 0, "rows_out": 0}
        info.context["source_versions"] = f"{meta['lo']}..{meta['hi']}"
        kept, outcome = apply_quality(ctx, df, f"silver.{source}", info, _lookups(ctx, source, session))
        masker = ctx.extras.get("mask_pii")
        if masker is not None:
            kept = masker(kept, ctx.settings)
        if spec["mode"] == "append":
            out = kept.drop("_source_version")
            retry_delta_conflicts(
                lambda: ref.append(out, txnAppId=info.txn_app("silver"), txnVersion=str(info.batch_id), mergeSchema="true"),
                attempts=ctx.settings.resilience.write_retries, what=f"append {ref.label}",
            )
        else:
            latest = latest_per_key(kept, spec["key"], spec["order"]).drop("_source_version")
            if "scd2" in spec:
                latest = with_scd2(session, ref, latest, spec)
            # bookkeeping columns alone do not make a row "changed" (a replayed row is not news)
            compare = [c for c in latest.columns
                       if c not in spec["key"] and c not in ("_ingest_time", "_bronze_version", "_source_commit_ts")]

            def _merge() -> None:
                with idempotent_write(session, info.txn_app("silver"), info.batch_id):
                    merge_upsert(session, ref, latest, spec["key"], compare=compare, newer_than=spec.get("newer_only"))

            retry_delta_conflicts(_merge, attempts=ctx.settings.resilience.write_retries, what=f"merge {ref.label}")
        return finish_batch(ctx, info, ref, ctx.tables.bronze(source).label, outcome, meta)
    finally:
        df.unpersist()


def silver_flow(ctx: PipelineContext, source: str) -> Flow:
    """The bronze→silver streaming flow of one source."""
    name = f"silver_{source}"

    def build(c: PipelineContext) -> DataFrame:
        cfg = c.settings.sources[source]
        stream = read_cdf_stream(c.spark, c.tables.bronze(source), starting_version=0, limits=cfg)
        stream = freshness_observation(stream, name)
        if c.quality is None:
            return stream
        # Observed on the stream so counts reach the progress; only rows silver keeps are counted.
        kept = stream.where(F.col("_change_type").isin("insert", "update_postimage"))
        return c.quality.observe_stream(kept, f"silver.{source}")

    return Flow(
        name=name, layer="silver", source_label=ctx.tables.bronze(source).label,
        target_label=ctx.tables.silver(source).label, build_stream=build,
        on_batch=lambda c, df, info: write_silver_batch(c, source, df, info),
    )
