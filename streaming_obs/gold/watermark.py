"""The watermark of a follow-on cost table: the silver versions its figures equal.

It is written in the commit that moves the figures (Delta's `commitInfo.userMetadata`, after the
batch's commit tag: `<txnAppId>@<batch> wm={"billing_usage":12,"list_prices":3}`), so figures
and watermark move together or not at all. gold/follow.py reads it to know what silver gained
since; every writer of these tables' figures stamps it (a recompute from scratch too).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from streaming_obs.delta_log import last_commits
from streaming_obs.gold.contract import CONTRACT_SOURCE, contract_prices_on

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from streaming_obs.tables import TableRef, Tables

__all__ = ["FOLLOW_TABLES", "WM_MARK", "price_inputs", "current_watermark", "stamped", "read_watermark", "latest_stamp"]

#: the cost tables the gold query keeps by watermark (cost_daily rides in the usage query)
FOLLOW_TABLES = ("cost_by_job_daily", "cost_by_tag_daily", "cost_by_compute_daily", "focus_costs")
#: what precedes the watermark's JSON in `userMetadata`
WM_MARK = "wm="
_USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"


def price_inputs(settings) -> list[str]:
    """The silver tables priced usage is computed from: usage, list prices, and contract
    prices when configured."""
    return ["billing_usage", "list_prices"] + ([CONTRACT_SOURCE] if contract_prices_on(settings) else [])


def current_watermark(spark: SparkSession, tables: Tables) -> dict[str, int]:
    """The latest version of each priced-usage input: what a catch-up now brings a table to."""
    return {n: tables.silver(n).version(spark) for n in price_inputs(tables.settings)}


@contextmanager
def stamped(session: SparkSession, watermark: dict[str, int] | None) -> Iterator[None]:
    """The writes inside the block carry `watermark` in their commit (after any commit tag
    `idempotent_write` set). None: nothing is stamped."""
    if watermark is None:
        yield
        return
    before = session.conf.get(_USER_METADATA, None)
    text = WM_MARK + json.dumps({k: int(v) for k, v in watermark.items()}, sort_keys=True, separators=(",", ":"))
    session.conf.set(_USER_METADATA, f"{before} {text}" if before else text)
    try:
        yield
    finally:
        if before is None:
            session.conf.unset(_USER_METADATA)
        else:
            session.conf.set(_USER_METADATA, before)


def parse_watermark(user_metadata: str | None) -> dict[str, int] | None:
    """The watermark in one commit's `userMetadata`, or None when it has none (or a broken one)."""
    if not user_metadata or WM_MARK not in user_metadata:
        return None
    text = user_metadata[user_metadata.rindex(WM_MARK) + len(WM_MARK):]
    try:
        found = json.loads(text)
    except ValueError:
        return None
    if not isinstance(found, dict) or not all(isinstance(v, int) for v in found.values()):
        return None
    return found


def read_watermark(spark: SparkSession, ref: TableRef, depth: int = 50) -> dict[str, int] | None:
    """The watermark of `ref`'s latest stamped commit, or None when no commit carries one (a
    new table, or one written before watermarks)."""
    return latest_stamp(spark, ref, depth)[0]


def latest_stamp(spark: SparkSession, ref: TableRef, depth: int = 50) -> tuple[dict[str, int] | None, str | None]:
    """(watermark, whole `userMetadata`) of `ref`'s latest stamped commit; (None, None) when no
    commit carries one. Renames and maintenance commit unstamped in between, so the latest
    `depth` commits are searched first, then the whole history."""
    for limit in (depth, None):
        rows = last_commits(spark, ref, limit)
        for row in rows:
            if row["userMetadata"] and WM_MARK in row["userMetadata"]:
                return parse_watermark(row["userMetadata"]), row["userMetadata"]
        if limit is not None and len(rows) < limit:
            break
    return None, None
