"""What every flow needs at hand: settings, tables, the quality engine, telemetry, ops records.

The quality engine and telemetry are typed by what the flows ask of them (`QualityGate`,
`TelemetrySink`), so this module needs neither package: `streaming_obs.quality.QualityEngine`
and `streaming_obs.telemetry.Telemetry` are the implementations `build.py` puts in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from streaming_obs.ops.recorder import OpsRecorder
from streaming_obs.tables import Tables

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from streaming_obs.config.models import Settings
    from streaming_obs.quality.results import QualityOutcome

__all__ = ["PipelineContext", "QualityGate", "TelemetrySink"]


@runtime_checkable
class QualityGate(Protocol):
    """What the flows ask of the quality engine (`streaming_obs.quality.QualityEngine`)."""

    def lookups_needed(self, table: str) -> set[str]:
        """Names of the lookup tables the rules of `table` need."""
        ...

    def observe_stream(self, stream_df: DataFrame, table: str) -> DataFrame:
        """`stream_df` with the table's quality observation attached."""
        ...

    def apply(self, batch_df: DataFrame, table: str, batch_id: int | None = None, query_name: str | None = None,
              lookups: Mapping[str, DataFrame] | None = None, now: datetime | None = None) -> QualityOutcome:
        """The rules of `table` evaluated on one batch."""
        ...

    def write_batch(self, outcomes: list[QualityOutcome | None], tables: Tables, txn_version: int,
                    txn_app_id: str) -> list[tuple]:
        """The quarantined rows of one batch appended; its quality_results rows returned."""
        ...


@runtime_checkable
class TelemetrySink(Protocol):
    """What the flows, the runner and the supervisor tell telemetry (`streaming_obs.telemetry.Telemetry`)."""

    def register_query(self, query_name: str, *, layer: str = "", source: str = "", target: str = "") -> None:
        """A query is about to start."""
        ...

    def record_batch_write(self, query_name: str, target_table: str, rows_written: int) -> None:
        """A batch wrote `rows_written` rows to `target_table`."""
        ...

    def record_restart(self, query_name: str, error_class: str) -> None:
        """The supervisor restarted a failed query."""
        ...

    def record_reconciliation(self, differences: Mapping[tuple[str, str], float]) -> None:
        """The largest reconciliation difference per (table, measure)."""
        ...

    def shutdown(self, timeout_s: float = 10) -> None:
        """Flush and stop (removes the listener)."""
        ...


@dataclass
class PipelineContext:
    """Shared, read-mostly state of one pipeline run."""

    spark: SparkSession
    settings: Settings
    tables: Tables
    ops: OpsRecorder
    quality: QualityGate | None = None  # None when quality rules are off
    telemetry: TelemetrySink | None = None  # None when not exporting
    #: when periodic work inside batches last ran (monotonic times by name, e.g. the in-stream
    #: reconciliation), shared by every query of the run
    schedule: dict[str, list[float | None]] = field(default_factory=dict)

    @classmethod
    def create(cls, spark: SparkSession, settings: Settings, run_id: str, quality: QualityGate | None = None,
               telemetry: TelemetrySink | None = None) -> PipelineContext:
        """Context with tables and an ops recorder built from the settings."""
        tables = Tables(settings)
        return cls(spark, settings, tables, OpsRecorder(tables, run_id), quality, telemetry)
