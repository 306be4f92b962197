"""system.access.audit: workspace and account events (logins, cluster and job actions, Unity
Catalog reads, SQL statements), some of them failing with 4xx/5xx responses.

Events of a (workspace, hour) are a pure function of the seed; continuous mode writes each one
when its event_time passes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType, StringType, StructField, StructType, TimestampType

from streaming_obs.sources.simulator.catalog import Universe
from streaming_obs.sources.simulator.rand import floor_hour, pick, u01, uuid_col

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["audit_frame"]

#: (service_name, action_name, request param key, account level)
_ACTIONS = [
    ("unityCatalog", "getTable", "full_name_arg", False),
    ("unityCatalog", "generateTemporaryTableCredential", "table_id", False),
    ("clusters", "start", "cluster_id", False),
    ("clusters", "edit", "cluster_id", False),
    ("clusters", "create", "cluster_name", False),
    ("jobs", "runNow", "job_id", False),
    ("jobs", "update", "job_id", False),
    ("databrickssql", "commandSubmit", "warehouse_id", False),
    ("notebook", "runCommand", "notebook_id", False),
    ("workspace", "getWorkspaceConf", "keys", False),
    ("accounts", "tokenLogin", "user", False),
    ("accounts", "login", "user", True),
]
_AGENTS = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
    "databricks-sdk-py/0.30.0 python/3.11.9 os/linux auth/pat",
    "Apache-HttpClient/4.5.14 (Java/17.0.11)",
    "Databricks-Service/driver",
    "terraform-provider-databricks/1.50.0",
]
_HOUR_SCHEMA = StructType([
    StructField("workspace_id", StringType()),
    StructField("hour", TimestampType()),
    StructField("n", IntegerType()),
    StructField("h_key", StringType()),
])


def audit_frame(
    spark: SparkSession, uni: Universe, start: datetime, end: datetime, lo: datetime | None, hi: datetime
) -> DataFrame | None:
    """Audit events of hours in [start, end) with event_time in (lo, hi]."""
    rows = []
    h = floor_hour(start)
    while h < end:
        if h >= start:
            busy = h.weekday() < 5 and 8 <= h.hour < 19
            for ws in uni.workspaces:
                rows.append((ws, h, 12 if busy else 2, f"{ws}@{h.isoformat()}"))
        h += timedelta(hours=1)
    if not rows:
        return None
    seed = uni.seed
    df = spark.createDataFrame(rows, _HOUR_SCHEMA, verifySchema=False)
    df = df.withColumn("k", F.explode(F.sequence(F.lit(0), F.col("n") - 1)))

    def u(salt: str):
        return u01(seed, salt, F.col("h_key"), F.col("k"))

    df = df.withColumn("event_time", F.timestamp_micros(F.unix_micros(F.col("hour")) + (u("t") * 3.6e9).cast("long")))
    df = df.where(F.col("event_time") <= F.lit(hi))
    if lo is not None:
        df = df.where(F.col("event_time") > F.lit(lo))
    df = df.withColumn("a", F.floor(u("action") * len(_ACTIONS)).cast("int") + 1)

    def action_attr(i: int):
        return F.element_at(F.array(*[F.lit(a[i]) for a in _ACTIONS]), F.col("a"))

    account_level = action_attr(3)
    status = F.when(u("status") < 0.93, 200).when(u("status") < 0.97, 403).when(u("status") < 0.99, 404).otherwise(500)
    user = pick(uni.users + uni.service_principals, u("user"))
    is_sp = ~user.contains("@")
    return df.select(
        F.lit("2.0").alias("version"),
        "event_time",
        F.to_date("event_time").alias("event_date"),
        F.when(account_level, F.lit("0")).otherwise(F.col("workspace_id")).alias("workspace_id"),
        F.concat_ws(".", F.lit("10"), (u("ip1") * 255).cast("int"), (u("ip2") * 255).cast("int"), (u("ip3") * 254 + 1).cast("int"))
        .alias("source_ip_address"),
        pick(_AGENTS, u("agent")).alias("user_agent"),
        uuid_col(seed, "audit-session", F.col("h_key"), F.floor(F.col("k") / 4)).alias("session_id"),
        F.struct(F.when(~is_sp, user).alias("email"), F.when(is_sp, user).alias("subject_name")).alias("user_identity"),
        action_attr(0).alias("service_name"),
        action_attr(1).alias("action_name"),
        F.concat(F.lit("ServiceMain-"), F.substring(F.md5(F.concat_ws(":", F.col("h_key"), F.col("k"))), 1, 12)).alias("request_id"),
        F.create_map(action_attr(2), F.substring(F.md5(F.concat_ws("/", F.col("h_key"), F.col("a"))), 1, 16)).alias("request_params"),
        F.struct(
            status.cast("int").alias("status_code"),
            F.when(status == 403, "PERMISSION_DENIED").when(status == 404, "RESOURCE_DOES_NOT_EXIST")
            .when(status == 500, "INTERNAL_ERROR").alias("error_message"),
            F.lit(None).cast("string").alias("result"),
        ).alias("response"),
        F.when(account_level, "ACCOUNT_LEVEL").otherwise("WORKSPACE_LEVEL").alias("audit_level"),
        F.lit(uni.account_id).alias("account_id"),
        uuid_col(seed, "audit-event", F.col("h_key"), F.col("k")).alias("event_id"),
        F.struct(
            user.alias("run_by"),
            user.alias("run_as"),
            F.lit(None).cast("string").alias("acting_resource"),
            F.lit(None).cast("string").alias("run_by_display_name"),
            F.lit(None).cast("string").alias("run_as_display_name"),
        ).alias("identity_metadata"),
    )
