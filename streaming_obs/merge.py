"""MERGE helpers shared by silver and gold: null-safe keys, update only what changed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from streaming_obs.resilience.operation import sql_operation

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from streaming_obs.tables import TableRef

__all__ = ["merge_upsert", "merge_add", "null_safe_on", "latest_per_key"]


def null_safe_on(keys: Sequence[str], t: str = "t", s: str = "s") -> str:
    """`t.k1 <=> s.k1 AND ...`: keys such as currency_code may be NULL and must still match."""
    return " AND ".join(f"{t}.`{k}` <=> {s}.`{k}`" for k in keys)


def latest_per_key(df: DataFrame, keys: Sequence[str], order: Sequence[str]) -> DataFrame:
    """Keep one row per key: the first by `order` descending (NULLs last)."""
    from pyspark.sql import Window

    w = Window.partitionBy(*[F.col(f"`{k}`") for k in keys]).orderBy(*[F.col(f"`{c}`").desc_nulls_last() for c in order])
    return df.withColumn("__rn", F.row_number().over(w)).where("__rn = 1").drop("__rn")


def merge_upsert(
    spark: SparkSession,
    target: TableRef,
    source: DataFrame,
    keys: Sequence[str],
    *,
    compare: Sequence[str] | None = None,
    newer_than: str | None = None,
    delete_scope: Column | None = None,
    update_only: bool = False,
) -> None:
    """MERGE `source` into `target` on null-safe `keys`.

    Args:
        compare: columns whose change triggers an update (default: every non-key column except
            `_updated_at`), so unchanged rows are not rewritten and the change feed stays honest.
        newer_than: update only when the source's value of this column is >= the target's.
        delete_scope: target rows matching this predicate that the source no longer has are
            deleted (the source is a complete recompute of that scope).
        update_only: never insert (e.g. renaming a dimension on existing rows).
    """
    cols = [c for c in source.columns]
    compare = list(compare) if compare is not None else [c for c in cols if c not in keys and c != "_updated_at"]
    # to_json makes maps comparable (`<=>` does not order MAP columns) and keeps NULL-safety.
    changed = (
        "NOT (to_json(struct({t})) <=> to_json(struct({s})))".format(
            t=", ".join(f"t.`{c}`" for c in compare), s=", ".join(f"s.`{c}`" for c in compare))
        if compare else "false"
    )
    cond = f"({changed})" + (f" AND s.`{newer_than}` >= t.`{newer_than}`" if newer_than else "")
    on = null_safe_on(keys)
    builder = target.delta(spark).alias("t").merge(source.alias("s"), on)
    clauses = [f"WHEN MATCHED AND {cond} THEN UPDATE"]
    if update_only:
        builder = builder.whenMatchedUpdate(condition=cond, set={f"`{c}`": f"s.`{c}`" for c in compare + (["_updated_at"] if "_updated_at" in cols else [])})
    else:
        builder = builder.whenMatchedUpdateAll(condition=cond).whenNotMatchedInsertAll()
        clauses.append("WHEN NOT MATCHED THEN INSERT *")
    if delete_scope is not None:
        builder = builder.whenNotMatchedBySourceDelete(condition=delete_scope)
        clauses.append("WHEN NOT MATCHED BY SOURCE AND <scope> THEN DELETE")
    sql = f"MERGE INTO {target.ident} t USING <batch> s ON {on} " + " ".join(clauses)
    with sql_operation(f"MERGE {target.label}", target=target.label, sql=sql):
        builder.execute()


def merge_add(spark: SparkSession, target: TableRef, source: DataFrame, keys: Sequence[str], add: Sequence[str],
              *, prune: str | None = None) -> None:
    """MERGE `source` into `target` adding its `add` columns to the target's: the additive
    update of an aggregate from the aggregate of new rows.

    Decimals are added at DECIMAL(37,18) so the sum is DECIMAL(38,18) with no rounding: the same
    number a recompute over all rows gives. Other columns of a matched row take the source's
    value only when the row is new (keys, names) or are left alone, except `_updated_at`.

    Args:
        prune: a predicate on the target (e.g. the batch's dates as literals) that lets Delta
            skip files no source row can match.
    """
    from pyspark.sql.types import DecimalType

    types = {f.name: f.dataType for f in source.schema.fields}

    def plus(c: str) -> str:
        if isinstance(types[c], DecimalType):
            return f"CAST(t.`{c}` AS DECIMAL(37,18)) + CAST(s.`{c}` AS DECIMAL(37,18))"
        return f"t.`{c}` + s.`{c}`"

    on = null_safe_on(keys) + (f" AND ({prune})" if prune else "")
    update = {f"`{c}`": plus(c) for c in add}
    if "_updated_at" in types:
        update["`_updated_at`"] = "s.`_updated_at`"
    builder = (target.delta(spark).alias("t").merge(source.alias("s"), on)
               .whenMatchedUpdate(set=update).whenNotMatchedInsertAll())
    sql = f"MERGE INTO {target.ident} t USING <batch> s ON {on} WHEN MATCHED THEN UPDATE SET t.x = t.x + s.x WHEN NOT MATCHED THEN INSERT *"
    with sql_operation(f"MERGE {target.label}", target=target.label, sql=sql):
        builder.execute()
