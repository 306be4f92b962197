"""History mode: `days` of every system table up to an anchor, written in one go."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from streaming_obs.config.models import SOURCE_NAMES
from streaming_obs.logs import get_logger
from streaming_obs.sources.simulator import writer
from streaming_obs.sources.simulator.audit import audit_frame
from streaming_obs.sources.simulator.catalog import Universe, build_universe
from streaming_obs.sources.simulator.compute import (
    ap_sessions_between,
    cluster_rename_events,
    cluster_row,
    job_cluster_row,
    node_sessions,
    node_timeline_frame,
    warehouse_change_events,
    warehouse_row,
)
from streaming_obs.sources.simulator.lakeflow import (
    job_rename_events,
    job_row,
    run_timeline_rows,
    runs_between,
    task_timeline_rows,
)
from streaming_obs.sources.simulator.query import query_history_frame
from streaming_obs.sources.simulator.rand import UTC
from streaming_obs.sources.simulator.usage import (
    CORRECTION_PERIOD,
    corrections_frame,
    history_price_changes,
    initial_price_rows,
    usage_frame,
    usage_slots,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from streaming_obs.config.models import Settings

__all__ = ["DEFAULT_END", "simulate_history", "universe_for", "as_utc"]

log = get_logger(__name__)

#: Where history ends when no `end` is given: a fixed instant, so that the same seed always
#: gives the same data. Pass `end` (e.g. the current hour) to simulate the recent past.
DEFAULT_END = datetime(2025, 7, 1, tzinfo=UTC)


def as_utc(value: datetime | date) -> datetime:
    """A UTC-aware datetime: dates are midnight UTC, naive datetimes are taken as UTC."""
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def universe_for(settings: Settings, seed: int | None = None) -> Universe:
    """The simulated account for these settings (and seed, default `settings.simulator.seed`)."""
    sim = settings.simulator
    return build_universe(
        sim.seed if seed is None else seed,
        workspaces=sim.workspaces,
        jobs=sim.jobs,
        clusters=sim.clusters,
        warehouses=sim.warehouses,
        tag_keys=tuple(settings.cost.tag_keys),
    )


def _dimension_rows(uni: Universe, start: datetime, end: datetime, runs) -> tuple[dict[str, list[dict]], dict]:
    jobs = []
    for j in uni.jobs:
        row = job_row(uni, j, min(j.create_time, start))
        row["create_time"] = row["change_time"]
        jobs.append(row)
    renames = job_rename_events(uni, start, end)
    for key, (t, name) in renames.items():
        ws, job_id = key.split("/")
        jobs.append(job_row(uni, uni.job(ws, job_id), t, name) | {"create_time": min(uni.job(ws, job_id).create_time, start)})
    clusters = []
    for c in uni.clusters:
        row = cluster_row(uni, c, min(c.create_time, start))
        row["create_time"] = row["change_time"]
        clusters.append(row)
    for c, t, name in cluster_rename_events(uni, start, end):
        clusters.append(cluster_row(uni, c, t, name) | {"create_time": min(c.create_time, start)})
    clusters += [job_cluster_row(uni, r) for r in runs if r.new_cluster]
    warehouses = [warehouse_row(uni, w, min(w.create_time, start)) for w in uni.warehouses]
    warehouses += [warehouse_row(uni, w, t, name, size) for w, t, name, size in warehouse_change_events(uni, start, end)]
    return {"jobs": jobs, "clusters": clusters, "warehouses": warehouses}, renames


def simulate_history(
    spark: SparkSession,
    settings: Settings,
    *,
    days: int | None = None,
    seed: int | None = None,
    usage_rows: int | None = None,
    end: datetime | date | None = None,
) -> dict[str, int]:
    """Write `days` of history of every simulated system table, ending at `end` (exclusive).

    Existing simulator tables are overwritten (a new Delta version, CDF stays on). List prices
    are written first as open rows, then changed by one MERGE (UPDATE of `price_end_time` plus
    new rows), so their change feed shows update pre/post images.

    Args:
        days: length of the history (default `settings.simulator.days`).
        seed: default `settings.simulator.seed`; the same seed, sizes and `end` give the same data.
        usage_rows: ORIGINAL billing rows to write (default one per usage slot); the slots'
            quantity is spread over them, so cost does not depend on the count. About 2 rows in
            CORRECTION_PERIOD are added as RETRACTION + RESTATEMENT pairs.
        end: where history stops (default `DEFAULT_END`, a fixed instant; never the clock).

    Returns:
        Rows written per source.
    """
    sim = settings.simulator
    days = sim.days if days is None else int(days)
    if days < 1:
        raise ValueError("days must be >= 1")
    stop = as_utc(end) if end is not None else DEFAULT_END
    start = stop - timedelta(days=days)
    uni = universe_for(settings, seed)
    t0 = time.monotonic()
    runs = runs_between(uni, start, stop)
    aps = ap_sessions_between(uni, start, stop)
    dims, renames = _dimension_rows(uni, start, stop, runs)
    counts: dict[str, int] = dict.fromkeys(SOURCE_NAMES, 0)

    counts["list_prices"] = writer.write_rows(spark, settings, "list_prices", initial_price_rows(uni), overwrite=True)
    closes, news = history_price_changes(uni, start, stop)
    writer.merge_prices(spark, settings, closes, news)
    counts["list_prices"] += len(news)
    if "account_prices" in settings.sources:  # optional: contract prices only when configured
        from streaming_obs.sources.simulator.contract import contract_price_rows

        counts["account_prices"] = writer.write_rows(spark, settings, "account_prices", contract_price_rows(uni),
                                                     overwrite=True)
    for name in ("jobs", "clusters", "warehouses"):
        counts[name] = writer.write_rows(spark, settings, name, dims[name], overwrite=True)
    counts["job_run_timeline"] = writer.write_rows(
        spark, settings, "job_run_timeline", run_timeline_rows(uni, runs, None, stop, renames), overwrite=True
    )
    counts["job_task_run_timeline"] = writer.write_rows(
        spark, settings, "job_task_run_timeline", task_timeline_rows(uni, runs, None, stop), overwrite=True
    )
    frames = {
        "node_timeline": node_timeline_frame(spark, uni, node_sessions(runs, aps), None, stop),
        "query_history": query_history_frame(spark, uni, start, stop, None, stop),
        "audit": audit_frame(spark, uni, start, stop, None, stop),
    }
    slots = usage_slots(uni, start, stop, runs, aps)
    n_usage = len(slots) if usage_rows is None else int(usage_rows)
    originals = usage_frame(spark, uni, slots, n_usage, salt="history", ingestion="lateness", max_ingestion=stop.date())
    expected: dict[str, int] = {}
    if originals is not None:
        corr = corrections_frame(originals, uni.seed, salt="history", ingestion="lateness", max_ingestion=stop.date())
        frames["billing_usage"] = originals.unionByName(corr)
        expected["billing_usage"] = n_usage + 2 * len(range(CORRECTION_PERIOD // 2, n_usage, CORRECTION_PERIOD))
    else:
        frames["billing_usage"] = None
    for name, df in frames.items():
        t1 = time.monotonic()
        if df is None:
            counts[name] = writer.write_rows(spark, settings, name, [], overwrite=True)
        else:
            counts[name] = writer.write_df(spark, settings, name, df, overwrite=True, expected=expected.get(name))
        log.info("simulated", table=name, rows=counts[name], seconds=round(time.monotonic() - t1, 1))
    log.info("simulated history", days=days, end=stop.isoformat(), seconds=round(time.monotonic() - t0, 1), rows=counts)
    return counts
