"""What every flow needs at hand: settings, tables, the quality engine, telemetry, ops records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from streaming_obs.ops.recorder import OpsRecorder
from streaming_obs.tables import Tables

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from streaming_obs.config.models import Settings

__all__ = ["PipelineContext"]


@dataclass
class PipelineContext:
    """Shared, read-mostly state of one pipeline run."""

    spark: SparkSession
    settings: Settings
    tables: Tables
    ops: OpsRecorder
    quality: Any | None = None  # streaming_obs.quality.QualityEngine when rules are on
    telemetry: Any | None = None  # streaming_obs.telemetry.Telemetry when exporting
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, spark: SparkSession, settings: Settings, run_id: str, quality: Any | None = None,
               telemetry: Any | None = None) -> PipelineContext:
        """Context with tables and an ops recorder built from the settings."""
        tables = Tables(settings)
        return cls(spark, settings, tables, OpsRecorder(tables, run_id), quality, telemetry)
