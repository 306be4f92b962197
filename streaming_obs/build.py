"""Build a pipeline's context: bootstrap the tables, validate the quality rules, start telemetry."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from streaming_obs.bootstrap import bootstrap
from streaming_obs.config.models import SOURCE_NAMES
from streaming_obs.context import PipelineContext
from streaming_obs.ops.audit import write_audit

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from streaming_obs.config.models import Settings
    from streaming_obs.quality import QualityEngine
    from streaming_obs.tables import Tables

__all__ = ["build_context"]


def _quality_engine(spark: SparkSession, settings: Settings, tables: Tables) -> QualityEngine | None:
    if not settings.quality.enabled:
        return None
    from streaming_obs.quality import QualityEngine

    engine = QualityEngine.from_settings(settings)
    schemas = {}
    for source in SOURCE_NAMES:
        for layer in ("bronze", "silver"):
            ref = getattr(tables, layer)(source)
            if ref.exists(spark):
                schemas[f"{layer}.{source}"] = ref.read(spark).schema
    engine.validate(schemas, spark)
    return engine


def build_context(spark: SparkSession, settings: Settings, *, telemetry: bool = True) -> PipelineContext:
    """Bootstrap the tables and build the context (quality engine validated, telemetry started)."""
    run_id = uuid.uuid4().hex[:12]
    ctx = PipelineContext.create(spark, settings, run_id)
    statements = bootstrap(spark, ctx.tables)
    ctx.quality = _quality_engine(spark, settings, ctx.tables)
    if settings.governance.mask_pii:
        from streaming_obs.silver.masking import mask_pii

        ctx.extras["mask_pii"] = mask_pii
    if telemetry:
        from streaming_obs.telemetry import Telemetry

        ctx.telemetry = Telemetry.start(spark, settings, ctx.tables)
    write_audit(spark, ctx.tables, "bootstrap", {"run_id": run_id, "tables": len(statements)}, statements)
    return ctx
