"""system.query.history: statements on warehouses (and some on serverless notebooks, not on a
warehouse), each with a RUNNING row, a second RUNNING row when long, and a final row
(FINISHED, FAILED or CANCELED) that differ by `update_time`.

Statements of a (compute, hour) are a pure function of the seed, so continuous mode writes each
row when its update_time passes.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType, StringType, StructField, StructType, TimestampType

from streaming_obs.sources.schemas import system_schema
from streaming_obs.sources.simulator.catalog import Universe
from streaming_obs.sources.simulator.compute import warehouse_hours
from streaming_obs.sources.simulator.rand import floor_hour, pick, u01, uuid_col

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = ["query_history_frame", "MAX_STATEMENT_SECONDS"]

MAX_STATEMENT_SECONDS = 600
_STATEMENTS = [
    ("SELECT", "SELECT region, sum(amount) FROM sales.orders WHERE order_date >= current_date() - 7 GROUP BY region"),
    ("SELECT", "SELECT * FROM analytics.customers WHERE customer_id = ?"),
    ("SELECT", "SELECT count(*) FROM events.clicks WHERE event_date = current_date()"),
    ("SELECT", "WITH t AS (SELECT * FROM finance.ledger) SELECT account, sum(debit - credit) FROM t GROUP BY account"),
    ("INSERT", "INSERT INTO reporting.daily_kpis SELECT * FROM staging.kpis"),
    ("MERGE", "MERGE INTO silver.customers t USING bronze.customers s ON t.id = s.id WHEN MATCHED THEN UPDATE SET *"),
    ("CREATE", "CREATE OR REPLACE TABLE tmp.snapshot AS SELECT * FROM sales.orders"),
    ("SHOW", "SHOW TABLES IN analytics"),
    ("DESCRIBE", "DESCRIBE TABLE EXTENDED sales.orders"),
]
_ERRORS = [
    "[TABLE_OR_VIEW_NOT_FOUND] The table or view `sales`.`orderz` cannot be found.",
    "[INSUFFICIENT_PERMISSIONS] Insufficient privileges: User does not have permission SELECT on table.",
    "[DIVIDE_BY_ZERO] Division by zero.",
]
_CLIENTS = ["Databricks SQL Editor", "Tableau", "Power BI", "Databricks Dashboards", "dbt"]
_DRIVERS = ["Databricks JDBC Driver", "Databricks ODBC Driver", "Databricks SQL Connector for Python"]

_HOUR_SCHEMA = StructType([
    StructField("workspace_id", StringType()),
    StructField("warehouse_id", StringType()),
    StructField("hour", TimestampType()),
    StructField("n", IntegerType()),
    StructField("h_key", StringType()),
])


def _hours(uni: Universe, start: datetime, end: datetime) -> list[tuple]:
    rows = [(w.workspace_id, w.warehouse_id, h, w.queries_per_hour, f"{w.warehouse_id}@{h.isoformat()}")
            for w, h in warehouse_hours(uni, start, end)]
    h = floor_hour(start)
    while h < end:
        if h >= start and h.weekday() < 5 and 9 <= h.hour < 17:
            for ws in uni.workspaces:
                rows.append((ws, None, h, 1, f"serverless:{ws}@{h.isoformat()}"))
        h += timedelta(hours=1)
    return rows


def query_history_frame(
    spark: SparkSession, uni: Universe, start: datetime, end: datetime, lo: datetime | None, hi: datetime
) -> DataFrame | None:
    """Rows of statements started in [start, end) whose update_time is in (lo, hi]."""
    hours = _hours(uni, start, end)
    if not hours:
        return None
    seed = uni.seed
    df = spark.createDataFrame(hours, _HOUR_SCHEMA, verifySchema=False)
    df = df.withColumn("q", F.explode(F.sequence(F.lit(0), F.col("n") - 1)))

    def u(salt: str) -> Column:
        return u01(seed, salt, F.col("h_key"), F.col("q"))

    df = df.withColumn("statement_id", uuid_col(seed, "stmt", F.col("h_key"), F.col("q")))
    df = df.withColumn("start_time", F.timestamp_micros(F.unix_micros(F.col("hour")) + (u("start") * 3.6e9).cast("long")))
    dur = F.exp(F.lit(math.log(40)) + u("dur") * F.lit(math.log(MAX_STATEMENT_SECONDS * 1000 / 40)))
    df = df.withColumn("total_ms", dur.cast("long"))
    df = df.withColumn("final_status", F.when(u("status") < 0.9, "FINISHED").when(u("status") < 0.96, "FAILED").otherwise("CANCELED"))
    df = df.withColumn("end_ts", F.timestamp_micros(F.unix_micros(F.col("start_time")) + F.col("total_ms") * 1000))
    df = df.withColumn("stmt_idx", F.floor(u("text") * len(_STATEMENTS)).cast("int"))
    # row kinds: 0 first RUNNING, 1 second RUNNING (long statements only), 2 final
    df = df.withColumn("kind", F.explode(F.array(F.lit(0), F.lit(1), F.lit(2)))).where(
        (F.col("kind") != 1) | (F.col("total_ms") > 60_000)
    )
    progress_ms = F.when(F.col("kind") == 0, F.least(F.col("total_ms") / 2, F.lit(2000))).when(
        F.col("kind") == 1, F.col("total_ms") * 0.75
    ).otherwise(F.col("total_ms") + 150)
    df = df.withColumn("update_time", F.timestamp_micros(F.unix_micros(F.col("start_time")) + (progress_ms * 1000).cast("long")))
    df = df.where(F.col("update_time") <= F.lit(hi))
    if lo is not None:
        df = df.where(F.col("update_time") > F.lit(lo))
    return _select(df, uni, u)


def _select(df: DataFrame, uni: Universe, u) -> DataFrame:
    final = F.col("kind") == 2
    elapsed = F.when(final, F.col("total_ms")).otherwise(
        (F.unix_micros(F.col("update_time")) - F.unix_micros(F.col("start_time"))) / 1000
    ).cast("long")
    compile_ms = (elapsed * (0.05 + 0.1 * u("compile"))).cast("long")
    wait_compute = F.when(u("cold") < 0.05, (elapsed * 0.3).cast("long")).otherwise(F.lit(0).cast("long"))
    wait_capacity = F.when(u("queue") < 0.1, (elapsed * 0.2).cast("long")).otherwise(F.lit(0).cast("long"))
    execution = F.greatest(F.lit(0).cast("long"), elapsed - compile_ms - wait_compute - wait_capacity)
    read_bytes = (F.pow(F.lit(10.0), 3 + 8 * u("bytes"))).cast("long")
    user = pick(uni.users, u("user"))
    on_wh = F.col("warehouse_id").isNotNull()
    text = F.element_at(F.array(*[F.lit(t) for _, t in _STATEMENTS]), F.col("stmt_idx") + 1)
    stype = F.element_at(F.array(*[F.lit(t) for t, _ in _STATEMENTS]), F.col("stmt_idx") + 1)
    status = F.when(final, F.col("final_status")).otherwise(F.lit("RUNNING"))
    schema = system_schema("query_history")
    qs_type = schema["query_source"].dataType
    src = u("source")
    values = {
        "dashboard_id": F.when(on_wh & (src < 0.3), F.substring(F.md5(F.concat(F.lit("dash"), F.floor(src * 40))), 1, 32)),
        "notebook_id": F.when(~on_wh, F.substring(F.conv(F.substring(F.md5(F.col("h_key")), 1, 12), 16, 10), 1, 16)),
        "sql_query_id": F.when(on_wh & (src >= 0.3) & (src < 0.6), uuid_col(uni.seed, "sqlq", F.floor(src * 100))),
    }
    query_source = F.struct(*[values.get(f.name, F.lit(None)).cast(f.dataType).alias(f.name) for f in qs_type.fields])
    return df.select(
        F.lit(uni.account_id).alias("account_id"),
        "workspace_id",
        "statement_id",
        user.alias("executed_by"),
        uuid_col(uni.seed, "session", F.col("h_key"), F.floor(F.col("q") / 5)).alias("session_id"),
        status.alias("execution_status"),
        F.struct(
            F.when(on_wh, "WAREHOUSE").otherwise("SERVERLESS_COMPUTE").alias("type"),
            F.lit(None).cast("string").alias("cluster_id"),
            F.col("warehouse_id").alias("warehouse_id"),
        ).alias("compute"),
        F.conv(F.substring(F.md5(user), 1, 12), 16, 10).alias("executed_by_user_id"),
        text.alias("statement_text"),
        stype.alias("statement_type"),
        F.when(final & (F.col("final_status") == "FAILED"), pick(_ERRORS, u("err"))).alias("error_message"),
        F.when(on_wh, pick(_CLIENTS, u("client"))).otherwise(F.lit("Databricks Notebook")).alias("client_application"),
        F.when(on_wh, pick(_DRIVERS, u("driver"))).alias("client_driver"),
        elapsed.alias("total_duration_ms"),
        wait_compute.alias("waiting_for_compute_duration_ms"),
        wait_capacity.alias("waiting_at_capacity_duration_ms"),
        execution.alias("execution_duration_ms"),
        compile_ms.alias("compilation_duration_ms"),
        (execution * (1 + 7 * u("tasks"))).cast("long").alias("total_task_duration_ms"),
        F.when(final, (50 + 400 * u("fetch")).cast("long")).alias("result_fetch_duration_ms"),
        "start_time",
        F.when(final, F.col("end_ts")).alias("end_time"),
        "update_time",
        F.when(final, (1 + 20 * u("parts")).cast("long")).alias("read_partitions"),
        F.when(final, (100 * u("pruned")).cast("long")).alias("pruned_files"),
        F.when(final, (1 + 50 * u("files")).cast("long")).alias("read_files"),
        F.when(final, (read_bytes / 120).cast("long")).alias("read_rows"),
        F.when(final, (1000 * u("rows")).cast("long")).alias("produced_rows"),
        F.when(final, read_bytes).alias("read_bytes"),
        F.when(final, (100 * u("cache")).cast("tinyint")).alias("read_io_cache_percent"),
        F.when(final, u("rcache") < 0.1).alias("from_result_cache"),
        F.when(final, F.when(u("spill") < 0.05, read_bytes / 4).otherwise(0).cast("long")).alias("spilled_local_bytes"),
        F.when(final, F.when(stype.isin("INSERT", "MERGE", "CREATE"), read_bytes / 3).otherwise(0).cast("long"))
        .alias("written_bytes"),
        F.when(final, (read_bytes / 5).cast("long")).alias("shuffle_read_bytes"),
        query_source.alias("query_source"),
        F.conv(F.substring(F.md5(user), 1, 12), 16, 10).alias("executed_as_user_id"),
        user.alias("executed_as"),
        F.when(final, F.when(stype.isin("INSERT", "MERGE", "CREATE"), read_bytes / 360).otherwise(0).cast("long"))
        .alias("written_rows"),
        F.when(final, F.when(stype.isin("INSERT", "MERGE", "CREATE"), 1 + 4 * u("wfiles")).otherwise(0).cast("long"))
        .alias("written_files"),
        F.col("statement_id").alias("cache_origin_statement_id"),
        F.lit(None).cast("map<string,string>").alias("query_tags"),
        F.when(final, (read_bytes * u("pruned")).cast("long")).alias("pruned_files_bytes"),
        F.when(final, read_bytes).alias("read_files_bytes"),
    )
