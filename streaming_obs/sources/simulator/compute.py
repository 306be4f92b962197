"""Compute: system.compute.clusters and warehouses (SCD2) and node_timeline (per node-minute).

All-purpose clusters run sessions on the days they are used; every classic job run creates its
own job cluster. Node rows are produced in Spark from one row per cluster session (nodes and
minutes are exploded there), so millions of node-minutes never pass through Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, IntegerType, StringType, StructField, StructType, TimestampType

from streaming_obs.sources.simulator.catalog import Cluster, Universe, Warehouse
from streaming_obs.sources.simulator.lakeflow import Run
from streaming_obs.sources.simulator.rand import day_start, sub_rng, u01

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "NodeSession",
    "ap_sessions_between",
    "node_sessions",
    "node_timeline_frame",
    "cluster_row",
    "job_cluster_row",
    "cluster_rename_events",
    "warehouse_row",
    "warehouse_change_events",
    "warehouse_hours",
]


@dataclass(frozen=True)
class NodeSession:
    """A cluster up from start to end with one driver and `workers` workers."""

    workspace_id: str
    cluster_id: str
    node_type: str
    workers: int
    start: datetime
    end: datetime
    key: str
    load: float


def _ap_session(uni: Universe, c: Cluster, day: datetime) -> tuple[datetime, datetime] | None:
    rng = sub_rng(uni.seed, "ap-session", c.cluster_id, day.date().isoformat())
    weekend = day.weekday() >= 5
    if rng.random() >= c.active_days * (0.3 if weekend else 1.0):
        return None
    start = day + timedelta(hours=rng.randint(6, 13), minutes=rng.randint(0, 59), seconds=rng.randint(0, 59))
    hours = max(0.25, rng.uniform(0.5, 1.5) * c.day_hours)
    return start, start + timedelta(hours=hours)


def ap_sessions_between(uni: Universe, start: datetime, end: datetime) -> list[tuple[Cluster, datetime, datetime]]:
    """All-purpose cluster sessions that start in [start, end)."""
    out = []
    day = day_start(start)
    while day < end:
        for c in uni.clusters:
            s = _ap_session(uni, c, day)
            if s and start <= s[0] < end:
                out.append((c, s[0], s[1]))
        day += timedelta(days=1)
    return out


def node_sessions(runs: list[Run], aps: list[tuple[Cluster, datetime, datetime]]) -> list[NodeSession]:
    """Node sessions of job clusters (one per classic run) and of all-purpose sessions."""
    out = []
    for r in runs:
        if r.new_cluster and r.cluster_id:
            j = r.job
            load = 0.35 + (int(r.run_id) % 50) / 100
            out.append(NodeSession(j.workspace_id, r.cluster_id, j.node_type, j.workers, r.start, r.end, r.run_id, load))
    for c, s, e in aps:
        load = 0.1 + (int.from_bytes(c.cluster_id.encode()[-3:], "big") % 40) / 100
        out.append(NodeSession(c.workspace_id, c.cluster_id, c.node_type, c.workers, s, e, f"{c.cluster_id}@{s.isoformat()}", load))
    return out


_SESSION_SCHEMA = StructType([
    StructField("workspace_id", StringType()),
    StructField("cluster_id", StringType()),
    StructField("node_type", StringType()),
    StructField("workers", IntegerType()),
    StructField("s_start", TimestampType()),
    StructField("s_end", TimestampType()),
    StructField("s_key", StringType()),
    StructField("load", DoubleType()),
])


def node_timeline_frame(
    spark: SparkSession, uni: Universe, sessions: list[NodeSession], lo: datetime | None, hi: datetime
) -> DataFrame | None:
    """Per node per minute rows of the sessions, with end_time in (lo, hi]; None if no session."""
    live = [s for s in sessions if s.start < hi and (lo is None or s.end > lo - timedelta(minutes=1))]
    if not live:
        return None
    rows = [(s.workspace_id, s.cluster_id, s.node_type, s.workers, s.start, s.end, s.key, s.load) for s in live]
    seed = uni.seed
    df = spark.createDataFrame(rows, _SESSION_SCHEMA, verifySchema=False)
    first = F.date_trunc("minute", F.col("s_start"))
    last = F.greatest(first, F.date_trunc("minute", F.col("s_end") - F.expr("INTERVAL 1 MILLISECOND")))
    df = (
        df.withColumn("node", F.explode(F.sequence(F.lit(0), F.col("workers"))))
        .withColumn("start_time", F.explode(F.sequence(first, last, F.expr("INTERVAL 1 MINUTE"))))
        .withColumn("end_time", F.col("start_time") + F.expr("INTERVAL 1 MINUTE"))
        .where(F.col("end_time") <= F.lit(hi))
    )
    if lo is not None:
        df = df.where(F.col("end_time") > F.lit(lo))
    inst = F.concat(F.lit("i-"), F.substring(F.md5(F.concat_ws(":", F.col("s_key"), F.col("node").cast("string"))), 1, 17))
    df = df.withColumn("instance_id", inst).withColumn("driver", F.col("node") == 0)

    def u(salt: str):
        return u01(seed, salt, F.col("instance_id"), F.col("start_time"))

    busy = F.col("load") * (F.lit(0.6) + F.lit(0.8) * u("cpu"))
    sys_pct = 1 + 4 * u("sys")
    return df.select(
        F.lit(uni.account_id).alias("account_id"),
        "workspace_id",
        "cluster_id",
        "instance_id",
        "start_time",
        "end_time",
        "driver",
        F.round(F.when(F.col("driver"), 3 + 15 * u("cpu")).otherwise(F.least(F.lit(99.0) - sys_pct, 85 * busy)), 4)
        .alias("cpu_user_percent"),
        F.round(sys_pct, 4).alias("cpu_system_percent"),
        F.round(0.8 * u("wait"), 4).alias("cpu_wait_percent"),
        F.round(F.when(F.col("driver"), 30 + 30 * u("mem")).otherwise(F.least(F.lit(97.0), 35 + 50 * F.col("load") * (0.5 + u("mem")))), 4)
        .alias("mem_used_percent"),
        F.when(u("swap") < 0.03, F.round(5 * u("swap2"), 4)).otherwise(F.lit(0.0)).alias("mem_swap_percent"),
        (u("tx") * 4e8 * F.col("load")).cast("bigint").alias("network_sent_bytes"),
        (u("rx") * 6e8 * F.col("load")).cast("bigint").alias("network_received_bytes"),
        F.create_map(
            F.lit("/"), (20e9 + 10e9 * u("d1")).cast("bigint"),
            F.lit("/local_disk0"), (150e9 * (1 - 0.6 * u("d2"))).cast("bigint"),
        ).alias("disk_free_bytes_per_mount_point"),
        "node_type",
    )


def cluster_row(uni: Universe, c: Cluster, change_time: datetime, name: str | None = None) -> dict:
    """SCD2 row of system.compute.clusters for an all-purpose cluster."""
    return {
        "account_id": uni.account_id,
        "workspace_id": c.workspace_id,
        "cluster_id": c.cluster_id,
        "cluster_name": name or c.name,
        "owned_by": c.owner,
        "create_time": c.create_time,
        "delete_time": None,
        "driver_node_type": c.node_type,
        "worker_node_type": c.node_type,
        "worker_count": None if c.autoscale else c.workers,
        "min_autoscale_workers": 1 if c.autoscale else None,
        "max_autoscale_workers": c.workers if c.autoscale else None,
        "auto_termination_minutes": 60,
        "enable_elastic_disk": True,
        "tags": dict(c.tags),
        "cluster_source": c.source,
        "init_scripts": [],
        "aws_attributes": {"zone_id": "us-east-1a", "first_on_demand": 1, "availability": "SPOT_WITH_FALLBACK",
                           "spot_bid_price_percent": 100, "ebs_volume_count": 0},
        "dbr_version": c.dbr,
        "change_time": change_time,
        "change_date": change_time.date(),
        "data_security_mode": "USER_ISOLATION" if c.name.startswith("shared") else "SINGLE_USER",
        "policy_id": None,
    }


def job_cluster_row(uni: Universe, run: Run) -> dict:
    """The clusters row of the job cluster a classic run created."""
    j = run.job
    return {
        "account_id": uni.account_id,
        "workspace_id": j.workspace_id,
        "cluster_id": run.cluster_id,
        "cluster_name": f"job-{j.job_id}-run-{run.run_id}",
        "owned_by": j.run_as,
        "create_time": run.start,
        "delete_time": None,
        "driver_node_type": j.node_type,
        "worker_node_type": j.node_type,
        "worker_count": j.workers,
        "auto_termination_minutes": 0,
        "enable_elastic_disk": True,
        "tags": dict(j.tags),
        "cluster_source": "JOB",
        "init_scripts": [],
        "aws_attributes": {"zone_id": "auto", "first_on_demand": 1, "availability": "SPOT_WITH_FALLBACK",
                           "spot_bid_price_percent": 100, "ebs_volume_count": 0},
        "dbr_version": "15.4.x-scala2.12",
        "change_time": run.start,
        "change_date": run.start.date(),
        "data_security_mode": "SINGLE_USER",
        "policy_id": None,
    }


def cluster_rename_events(uni: Universe, start: datetime, end: datetime, share: float = 0.1) -> list[tuple[Cluster, datetime, str]]:
    """All-purpose clusters renamed inside [start, end) (at least one when any exist)."""
    if not uni.clusters or end <= start:
        return []
    rng = sub_rng(uni.seed, "cluster-renames", start.isoformat(), end.isoformat())
    chosen = rng.sample(uni.clusters, min(len(uni.clusters), max(1, int(len(uni.clusters) * share))))
    span = (end - start).total_seconds()
    return [(c, start + timedelta(seconds=rng.uniform(0.05, 0.95) * span), f"{c.name} (renamed)") for c in chosen]


def warehouse_row(uni: Universe, w: Warehouse, change_time: datetime, name: str | None = None, size: str | None = None) -> dict:
    """SCD2 row of system.compute.warehouses."""
    return {
        "warehouse_id": w.warehouse_id,
        "workspace_id": w.workspace_id,
        "account_id": uni.account_id,
        "warehouse_name": name or w.name,
        "warehouse_type": w.type,
        "warehouse_channel": "CURRENT",
        "warehouse_size": size or w.size,
        "min_clusters": w.min_clusters,
        "max_clusters": w.max_clusters,
        "auto_stop_minutes": w.auto_stop,
        "tags": dict(w.tags),
        "change_time": change_time,
        "delete_time": None,
    }


def warehouse_change_events(uni: Universe, start: datetime, end: datetime) -> list[tuple[Warehouse, datetime, str, str]]:
    """One warehouse resized and renamed inside [start, end): (warehouse, time, name, size)."""
    if not uni.warehouses or end <= start:
        return []
    rng = sub_rng(uni.seed, "warehouse-changes", start.isoformat(), end.isoformat())
    w = rng.choice(uni.warehouses)
    t = start + timedelta(seconds=rng.uniform(0.1, 0.9) * (end - start).total_seconds())
    sizes = ["2X_SMALL", "X_SMALL", "SMALL", "MEDIUM", "LARGE"]
    bigger = sizes[min(len(sizes) - 1, sizes.index(w.size) + 1)]
    return [(w, t, w.name.replace("warehouse", "WH"), bigger)]


def warehouse_hours(uni: Universe, start: datetime, end: datetime) -> list[tuple[Warehouse, datetime]]:
    """(warehouse, hour start) for every hour in [start, end) a warehouse is up."""
    out = []
    day = day_start(start)
    while day < end:
        weekend = day.weekday() >= 5
        for w in uni.warehouses:
            if weekend and w.close_hour - w.open_hour < 24:
                continue
            for h in range(w.open_hour, w.close_hour):
                t = day + timedelta(hours=h)
                if start <= t < end:
                    out.append((w, t))
        day += timedelta(days=1)
    return out
