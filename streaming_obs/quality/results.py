"""What one batch's quality check produced: the rows to keep, the quarantine rows, the counts (from
a `DataFrame.observe` Observation, so counting costs no extra Spark job) and the ops-table rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from streaming_obs.observations import (
    ROWS_DROPPED,
    ROWS_FAILED,
    ROWS_IN,
    ROWS_KEPT,
    ROWS_QUARANTINED,
    rule_field,
    rule_passed_field,
)
from streaming_obs.quality.compile import DISPOSITION_COL, FAILED_COL
from streaming_obs.ops.schema import ops_schema
from streaming_obs.quality.rules import Rule

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, Observation, SparkSession
    from pyspark.sql.types import StructType

__all__ = [
    "COUNT_KEYS",
    "SUMMARY_RULE",
    "QualityOutcome",
    "batch_metric_columns",
    "metric_columns",
]

#: The keys of `QualityOutcome.counts`: a batch's rows and where they went.
COUNT_KEYS: tuple[str, ...] = (ROWS_IN, ROWS_KEPT, ROWS_DROPPED, ROWS_QUARANTINED)
#: `rule` value of the per-table summary row in `quality_results` (passed = rows kept).
SUMMARY_RULE = "*"


def metric_columns(rules: Sequence[Rule], flags: Sequence[Column], disposition: Column) -> list[Column]:
    """Aggregates for `observe`, named as `streaming_obs.observations` says: rows_in,
    rows_kept/dropped/quarantined/failed and, per rule, `<rule>__passed` and `<rule>__<outcome>`
    (warned, dropped, quarantined or failed, after the rule's action). Every value is a count,
    so an empty batch gives zeros, not NULLs."""
    from pyspark.sql import functions as F

    def count_if(cond: Column) -> Column:
        return F.count(F.when(cond, F.lit(1)))

    cols = [
        F.count(F.lit(1)).alias(ROWS_IN),
        count_if(disposition == "keep").alias(ROWS_KEPT),
        count_if(disposition == "drop").alias(ROWS_DROPPED),
        count_if(disposition == "quarantine").alias(ROWS_QUARANTINED),
        count_if(disposition == "fail").alias(ROWS_FAILED),
    ]
    for r, f in zip(rules, flags):
        cols += [count_if(~f).alias(rule_passed_field(r.name)), count_if(f).alias(rule_field(r.name, r.action))]
    return cols


def batch_metric_columns(rules: Sequence[Rule]) -> list[Column]:
    """`metric_columns` over an evaluated DataFrame (one carrying the failed-rules array)."""
    from pyspark.sql import functions as F

    flags = [F.array_contains(F.col(FAILED_COL), r.name) for r in rules]
    return metric_columns(rules, flags, F.col(DISPOSITION_COL))


def _observation_done(observation: Observation) -> bool | None:
    """True/False when Spark can tell whether the observation has its metrics; None if unknown."""
    jo = getattr(observation, "_jo", None)
    if jo is None:
        return None
    try:
        return bool(jo.future().isCompleted())
    except Exception:  # an API detail of classic PySpark; fall back to forcing an action
        return None


@dataclass
class QualityOutcome:
    """The result of `QualityEngine.apply` on one batch.

    `kept` and `quarantine` are lazy DataFrames over the (caller-persisted) batch; the counts are
    filled by the first action on either of them (typically the caller's write of `kept`). Reading
    `counts` before any action runs one cheap pass (a `noop` write) so it never blocks.
    """

    table: str
    batch_id: int | None
    query_name: str
    rules: tuple[Rule, ...]
    skipped: tuple[Rule, ...]
    kept: DataFrame
    quarantine: DataFrame
    observation_name: str
    recorded_at: datetime
    _observation: Observation = field(repr=False)
    _observed: DataFrame = field(repr=False)
    _metrics: dict[str, Any] | None = field(default=None, repr=False)

    def metrics_ready(self) -> bool:
        """True when an action already filled the observation (reading counts costs nothing)."""
        return self._metrics is not None or _observation_done(self._observation) is True

    def metrics(self) -> dict[str, Any]:
        """All observed values: rows_in, rows_kept, rows_dropped, rows_quarantined, rows_failed
        and `<rule>__passed` / `<rule>__<outcome>` per evaluated rule."""
        if self._metrics is None:
            if _observation_done(self._observation) is not True:
                self._observed.write.format("noop").mode("overwrite").save()
            self._metrics = {k: int(v or 0) for k, v in self._observation.get.items()}
            c = self._metrics
            # The accounting identity: a batch never loses a row silently.
            assert c[ROWS_IN] == c[ROWS_KEPT] + c[ROWS_DROPPED] + c[ROWS_QUARANTINED] + c[ROWS_FAILED], c
        return self._metrics

    @property
    def counts(self) -> dict[str, int]:
        """rows_in, rows_kept, rows_dropped, rows_quarantined (rows_in = the other three)."""
        m = self.metrics()
        return {k: m[k] for k in COUNT_KEYS}

    @property
    def rule_failures(self) -> dict[str, int]:
        """Failing rows per evaluated rule name."""
        m = self.metrics()
        return {r.name: m[rule_field(r.name, r.action)] for r in self.rules}

    @property
    def quality_score(self) -> float | None:
        """Share of rows passing every error-level rule (drop/quarantine/fail); None if empty."""
        c = self.counts
        return None if c["rows_in"] == 0 else c["rows_kept"] / c["rows_in"]

    def result_rows(self) -> list[tuple[Any, ...]]:
        """The `quality_results` rows: one per rule plus the `*` summary row of the table.

        A rule skipped in this batch (a warn-level referential rule whose lookup was not given)
        has NULL passed/failed: not evaluated, which is not the same as passed."""
        c = self.counts
        score = self.quality_score
        base = (c["rows_in"], c["rows_kept"], c["rows_dropped"], c["rows_quarantined"], score)
        head = (self.recorded_at, self.query_name, self.batch_id, self.table)
        failures = self.rule_failures
        rows = [(*head, r.name, r.action, c["rows_in"] - failures[r.name], failures[r.name], *base) for r in self.rules]
        rows += [(*head, r.name, r.action, None, None, *base) for r in self.skipped]
        rows.append((*head, SUMMARY_RULE, "summary", c["rows_kept"], c["rows_in"] - c["rows_kept"], *base))
        return rows

    def results_df(self, spark: SparkSession) -> DataFrame:
        """`result_rows` as a DataFrame in the `plt_ops.quality_results` schema."""
        return spark.createDataFrame(self.result_rows(), ops_schema("quality_results"))

    @property
    def results(self) -> DataFrame:
        """`results_df` on the batch's own session."""
        return self.results_df(self.kept.sparkSession)
