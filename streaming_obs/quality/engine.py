"""The quality engine: validates rules against table schemas, evaluates them on every micro-batch
in one pass, and appends quarantine and result rows to the ops tables idempotently.

Typical use inside a `foreachBatch` (the batch persisted by the caller)::

    engine = QualityEngine.from_settings(settings)
    engine.validate(schemas, spark)                          # before any stream starts
    stream = engine.observe_stream(stream, "bronze.billing_usage")   # counts in query progress
    ...
    def batch(df, batch_id):
        df.persist()
        outcome = engine.apply(df, table="bronze.billing_usage", batch_id=batch_id,
                               query_name="bronze.billing_usage")
        outcome.kept.write...                                # fills the counts as a side effect
        engine.write(outcome, spark, tables, txn_version=batch_id)
        df.unpersist()
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from streaming_obs.errors import QualityLookupError, QualityRuleError, QualityViolationError
from streaming_obs.logs import get_logger
from streaming_obs.observations import quality_batch_name, quality_name
from streaming_obs.ops.schema import ops_schema
from streaming_obs.quality.compile import (
    DISPOSITION_COL,
    FAILED_COL,
    compile_rules,
    disposition,
    failed_names,
)
from streaming_obs.quality.results import QualityOutcome, batch_metric_columns, metric_columns
from streaming_obs.quality.rules import Rule, RuleSet, parse_rules
from streaming_obs.quality.static import load_rules
from streaming_obs.quality.validate import validate_table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

    from streaming_obs.config.models import Settings
    from streaming_obs.tables import Tables

__all__ = ["QualityEngine"]

log = get_logger(__name__)


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


class QualityEngine:
    """Evaluates the rules of a `RuleSet` on DataFrames of the tables it names."""

    def __init__(self, rules: RuleSet, *, enabled: bool = True) -> None:
        self.rules = rules
        self.enabled = enabled
        self._skip_logged: set[tuple[str, str]] = set()

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_settings(cls, settings: Settings) -> QualityEngine:
        """Load `settings.quality.rules_file` (a path, or a file shipped in `streaming_obs.conf`).

        Raises:
            QualityRuleError: the file is missing or holds an invalid rule (names file and rule).
        """
        q = settings.quality
        return cls(load_rules(q.rules_file), enabled=q.enabled)

    @classmethod
    def from_file(cls, path: str) -> QualityEngine:
        """Engine over one rules file (path or packaged name)."""
        return cls(load_rules(path))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], label: str = "<memory>") -> QualityEngine:
        """Engine over a rules document given as a mapping (tests, notebooks)."""
        return cls(parse_rules(data, label))

    # -- introspection ------------------------------------------------------------------------
    def rules_for(self, table: str) -> tuple[Rule, ...]:
        """The rules that apply to `table` (none when the engine is disabled).

        Raises:
            QualityRuleError: `table` is not a `<layer>.<source>` key.
        """
        try:
            found = self.rules.for_table(table)
        except ValueError as exc:
            raise QualityRuleError(str(exc)) from None
        return tuple(found.rules) if self.enabled else ()

    def lookups_needed(self, table: str) -> set[str]:
        """Names of the lookup DataFrames that `apply(table=...)` should be given."""
        return {r.args.lookup_table for r in self.rules_for(table) if r.args.lookup_table is not None}

    def _active(self, table: str, lookups: Mapping[str, Any] | None) -> tuple[tuple[Rule, ...], tuple[Rule, ...]]:
        """(rules to evaluate, rules skipped): a warn-level rule whose lookup is missing is
        skipped (logged once) rather than stopping the stream; an error-level one raises, since
        evaluating it wrongly would drop or quarantine rows."""
        lookups = lookups or {}
        active, skipped = [], []
        for rule in self.rules_for(table):
            lookup = rule.args.lookup_table
            if lookup is not None and lookup not in lookups:
                if rule.is_error:
                    raise QualityLookupError(
                        f"{self.rules.source}: tables.{table}: rule {rule.name!r} ({rule.action}) needs "
                        f"lookup {lookup!r}; pass lookups={{{lookup!r}: DataFrame}}"
                    )
                if (table, rule.name) not in self._skip_logged:
                    self._skip_logged.add((table, rule.name))
                    log.warning("quality rule skipped: lookup not given", table=table, rule=rule.name, lookup=lookup)
                skipped.append(rule)
            else:
                active.append(rule)
        return tuple(active), tuple(skipped)

    # -- validation ---------------------------------------------------------------------------
    def validate(self, schemas: Mapping[str, StructType], spark: SparkSession) -> list[str]:
        """Check every rule of every table in `schemas` before any stream starts: columns exist,
        regexes compile (Java), SQL parses, resolves and is boolean, lookups have their keys.

        Args:
            schemas: schema of each table by key (``bronze.billing_usage``); a lookup's schema,
                when present under its key, is checked too.
            spark: any session (only analysis runs, no job).

        Returns:
            The table keys that were validated.

        Raises:
            QualityRuleError: the first invalid rule, naming the file, table and rule.
        """
        done = []
        for table, table_rules in self.rules.tables.items():
            if table not in schemas:
                continue
            validate_table(self.rules.source, table, table_rules, schemas[table], schemas, spark)
            done.append(table)
        return done

    # -- evaluation ---------------------------------------------------------------------------
    def evaluate(
        self,
        df: DataFrame,
        table: str,
        lookups: Mapping[str, DataFrame] | None = None,
        now: datetime | None = None,
    ) -> DataFrame:
        """`df` plus `dq_failed_rules` (ARRAY<STRING>) and `dq_disposition` (keep, drop,
        quarantine, fail), all rules evaluated in one projection.

        Args:
            df: a batch DataFrame of `table`.
            table: the rules key, e.g. ``bronze.billing_usage``.
            lookups: DataFrames of the lookups the rules name (see `lookups_needed`).
            now: the batch time for freshness (default: now, UTC).
        """
        from pyspark.sql import functions as F

        rules, _ = self._active(table, lookups)
        now = now or datetime.now(timezone.utc)
        compiled = compile_rules(df, rules, now, lookups, table)
        flag_names = [f"__dq_f{i}" for i in range(len(rules))]
        staged = compiled.df.select(
            *[F.col(_quote(c)) for c in df.columns],
            *[f.alias(n) for f, n in zip(compiled.flags, flag_names)],
        )
        flags = [F.col(n) for n in flag_names]
        return staged.select(
            *[F.col(_quote(c)) for c in df.columns],
            failed_names(rules, flags).alias(FAILED_COL),
            disposition(rules, flags).alias(DISPOSITION_COL),
        )

    def observe_stream(self, stream_df: DataFrame, table: str) -> DataFrame:
        """Attach the observation ``dq_<layer>_<source>`` to a streaming DataFrame so that every
        `StreamingQueryProgress.observedMetrics` carries the batch's counts.

        Only row-level rules are counted here (a batch-level check needs the whole batch or a
        lookup; its counts are in `quality_results`). Freshness is measured from the
        micro-batch timestamp. The caller must persist the batch inside foreachBatch:
        every action on an unpersisted batch re-runs the source and adds to these counts.
        """
        from pyspark.sql import functions as F

        from streaming_obs.quality.compile import rule_failed

        rules = [r for r in self.rules_for(table) if r.row_level]
        now = F.current_timestamp()  # in a micro-batch: the batch timestamp
        flags = [rule_failed(r, stream_df.schema, now) for r in rules]
        return stream_df.observe(quality_name(table), *metric_columns(rules, flags, disposition(rules, flags)))

    def apply(
        self,
        batch_df: DataFrame,
        table: str,
        batch_id: int | None = None,
        query_name: str | None = None,
        lookups: Mapping[str, DataFrame] | None = None,
        now: datetime | None = None,
    ) -> QualityOutcome:
        """Evaluate the rules of `table` on one batch.

        Args:
            batch_df: the micro-batch (persisted by the caller: several actions read it).
            table: rules key ``<layer>.<source>``.
            batch_id: the micro-batch id, recorded in results and quarantine.
            query_name: the streaming query's name (default: `table`).
            lookups: lookup DataFrames by `<layer>.<source>` (see `lookups_needed`).
            now: batch time for freshness checks (default: now, UTC).

        Returns:
            The outcome: `kept`, `quarantine`, and lazily `counts` and `results`.

        Raises:
            QualityViolationError: a `fail` rule is broken (names the rule and a sample key).
            QualityLookupError: the lookup of an error-level rule is missing.
        """
        from pyspark.sql import Observation
        from pyspark.sql import functions as F

        rules, skipped = self._active(table, lookups)
        query_name = query_name or table
        now = now or datetime.now(timezone.utc)
        evaluated = self.evaluate(batch_df, table, lookups, now)
        if any(r.action == "fail" for r in rules):
            self._raise_on_fail(evaluated, table, rules, batch_id)
        name = quality_batch_name(table)
        observation = Observation(name)
        observed = evaluated.observe(observation, *batch_metric_columns(rules))
        kept = observed.where(F.col(DISPOSITION_COL) == "keep").drop(FAILED_COL, DISPOSITION_COL)
        quarantine = self._quarantine_rows(observed, batch_df.columns, table, query_name, batch_id, now)
        return QualityOutcome(
            table=table,
            batch_id=batch_id,
            query_name=query_name,
            rules=rules,
            skipped=skipped,
            kept=kept,
            quarantine=quarantine,
            observation_name=name,
            recorded_at=now,
            _observation=observation,
            _observed=observed,
        )

    def _raise_on_fail(self, evaluated: DataFrame, table: str, rules: tuple[Rule, ...], batch_id: int | None) -> None:
        from pyspark.sql import functions as F

        key_cols = self.rules.for_table(table).key
        fail_rules = [r for r in rules if r.action == "fail"]
        hit = evaluated.where(F.col(DISPOSITION_COL) == "fail").limit(1).collect()
        if not hit:
            return
        row = hit[0].asDict(recursive=True)
        broken = [r for r in fail_rules if r.name in row[FAILED_COL]][0]
        cols = key_cols or list(broken.args.cols) or [c for c in row if c not in (FAILED_COL, DISPOSITION_COL)][:3]
        sample = {c: _dig(row, c) for c in cols}
        raise QualityViolationError(table, broken.name, batch_id, json.dumps(sample, default=str, sort_keys=True))

    @staticmethod
    def _quarantine_rows(
        observed: DataFrame, columns: list[str], table: str, query_name: str, batch_id: int | None, now: datetime
    ) -> DataFrame:
        from pyspark.sql import functions as F

        raw = F.to_json(F.struct(*[F.col(_quote(c)) for c in columns]))
        schema = ops_schema("quarantine")
        rows = observed.where(F.col(DISPOSITION_COL) == "quarantine").select(
            F.lit(table).alias("source_table"),
            F.lit(query_name).alias("query_name"),
            F.lit(batch_id).cast("bigint").alias("batch_id"),
            F.col(FAILED_COL).alias("failed_rules"),
            raw.alias("raw_row"),
        )
        ident = F.concat_ws("|", "source_table", F.coalesce(F.col("batch_id").cast("string"), F.lit("")), "raw_row",
                            F.monotonically_increasing_id().cast("string"))
        rows = rows.withColumn("quarantine_id", F.substring(F.sha2(ident, 256), 1, 32))
        rows = rows.withColumn("quarantined_at", F.lit(now).cast("timestamp"))
        rows = rows.withColumn("replayed_at", F.lit(None).cast("timestamp"))
        return rows.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])

    # -- persistence --------------------------------------------------------------------------
    def write(
        self,
        outcome: QualityOutcome,
        spark: SparkSession,
        tables: Tables,
        txn_version: int | None = None,
        txn_app_id: str | None = None,
    ) -> dict[str, int]:
        """Append the quarantine rows and the results rows of `outcome` to the ops tables.

        With `txn_version` (the batch id) each append carries Delta's `txnAppId`/`txnVersion`,
        so a replayed micro-batch is not written twice. The app id defaults to
        ``streaming_obs.quality.<query_name>``; give a new one (e.g. the query id) when a
        query restarts from a fresh checkpoint, or its batch ids would be taken as replays.

        Returns:
            The counts of the outcome.
        """
        app = txn_app_id or f"streaming_obs.quality.{outcome.query_name}"
        if not outcome.metrics_ready() or outcome.counts["rows_quarantined"]:
            # Without metrics yet, the quarantine write is the pass that fills them.
            tables.ops("quarantine").append(outcome.quarantine, **_txn(f"{app}.quarantine", txn_version))
        tables.ops("quality_results").append(outcome.results_df(spark), **_txn(f"{app}.results", txn_version))
        return outcome.counts


    def write_batch(self, outcomes: list[QualityOutcome | None], tables: Tables, txn_version: int,
                    txn_app_id: str) -> list[tuple]:
        """Append the quarantined rows of one batch's outcomes (bronze and silver rules of a
        source) in one commit with the batch's txnAppId/txnVersion, only when some row was
        quarantined; return their `quality_results` rows for the ops recorder, which journals
        them with the batch's other records (no Delta commit of their own per batch)."""
        from functools import reduce

        done = [o for o in outcomes if o is not None]
        quarantined = [o.quarantine for o in done if o.counts["rows_quarantined"]]
        if quarantined:
            tables.ops("quarantine").append(reduce(lambda a, b: a.unionByName(b), quarantined),
                                            **_txn(f"{txn_app_id}.quarantine", txn_version))
        return [row for o in done for row in o.result_rows()]


def _txn(app_id: str, txn_version: int | None) -> dict[str, str]:
    """Delta's idempotent-write options for an append (none without a version)."""
    return {} if txn_version is None else {"txnAppId": app_id, "txnVersion": str(int(txn_version))}


def _dig(row: Mapping[str, Any], path: str) -> Any:
    current: Any = row
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return None
        match = [k for k in current if k.lower() == part.lower()]
        current = current[match[0]] if match else None
    return current
