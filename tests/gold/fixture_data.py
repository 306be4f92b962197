"""A small account a reader can check by eye (see test_gold_fixture.py for the expected values).

Batch 1: usage on 2026-01-02 (an ORIGINAL, its RETRACTION and RESTATEMENT; a row after the
mid-day price change that is not known yet; all-purpose usage with NULL job_id; an unpriced
SKU), two runs of job j1 (one sliced over two hours), a query history, node metrics.
Batch 2: the price change (UPDATE of the old price row + a new row), a late usage row for
2026-01-01, a run whose last slice ends exactly at 00:00, and the rename of job j1.
"""

from __future__ import annotations

from tests.sourcerows import price, row, ts, usage, write_source


def _run_slice(run_id: str, start: str, end: str, state: str | None = None, job: str = "j1", ws: str = "w1"):
    return row("job_run_timeline", account_id="acc", workspace_id=ws, job_id=job, run_id=run_id,
               period_start_time=ts(start), period_end_time=ts(end), result_state=state,
               termination_code=None if state is None else ("SUCCESS" if state == "SUCCEEDED" else "RUN_EXECUTION_ERROR"))


def _job(ws, job_id, name, change):
    return row("jobs", account_id="acc", workspace_id=ws, job_id=job_id, name=name, change_time=ts(change))


def _cluster(ws, cid, name, change):
    return row("clusters", account_id="acc", workspace_id=ws, cluster_id=cid, cluster_name=name, change_time=ts(change))


def _node(cid, inst, start, end, user, system, mem, driver):
    return row("node_timeline", account_id="acc", workspace_id="w1", cluster_id=cid, instance_id=inst,
               start_time=ts(start), end_time=ts(end), driver=driver, cpu_user_percent=user,
               cpu_system_percent=system, mem_used_percent=mem)


def _query(sid, status, start, update, total_ms, read_bytes, warehouse):
    return row("query_history", account_id="acc", workspace_id="w1", statement_id=sid, execution_status=status,
               compute={"type": "WAREHOUSE" if warehouse else "SERVERLESS_COMPUTE", "cluster_id": None,
                        "warehouse_id": warehouse},
               start_time=ts(start), update_time=ts(update), total_duration_ms=total_ms, read_bytes=read_bytes)


TAGGED = {"team": "data"}


def batch1(spark, settings) -> None:
    write_source(spark, settings, "list_prices", [
        price("JOBS", "2026-01-01 00:00", None, "0.15"),
        price("ALLP", "2026-01-01 00:00", None, "0.55", effective="0.50"),
    ])
    write_source(spark, settings, "billing_usage", [
        usage("r1", "w1", "JOBS", "2026-01-02 10:00", "10", custom_tags=TAGGED, usage_metadata__job_id="j1",
              usage_metadata__job_run_id="run100", usage_metadata__cluster_id="c1"),
        usage("r1-retraction", "w1", "JOBS", "2026-01-02 10:00", "-10", "RETRACTION", custom_tags=TAGGED,
              usage_metadata__job_id="j1", usage_metadata__job_run_id="run100", usage_metadata__cluster_id="c1"),
        usage("r1b", "w1", "JOBS", "2026-01-02 10:00", "8", "RESTATEMENT", custom_tags=TAGGED,
              usage_metadata__job_id="j1", usage_metadata__job_run_id="run100", usage_metadata__cluster_id="c1"),
        usage("r2", "w1", "JOBS", "2026-01-02 13:00", "4", custom_tags=TAGGED, usage_metadata__job_id="j1",
              usage_metadata__job_run_id="run101", usage_metadata__cluster_id="c1"),
        usage("r4", "w1", "ALLP", "2026-01-02 09:00", "2", origin="ALL_PURPOSE", usage_metadata__cluster_id="c2"),
        usage("r5", "w2", "NOPRICE", "2026-01-02 05:00", "3", origin="SQL"),
    ])
    write_source(spark, settings, "jobs", [_job("w1", "j1", "etl-old", "2025-12-01 00:00")])
    write_source(spark, settings, "clusters", [_cluster("w1", "c1", "job-cluster-1", "2025-12-01 00:00"),
                                               _cluster("w1", "c2", "shared-ap", "2025-12-01 00:00")])
    write_source(spark, settings, "warehouses", [row("warehouses", warehouse_id="wh1", workspace_id="w1",
                                                     warehouse_name="bi", change_time=ts("2025-12-01 00:00"))])
    write_source(spark, settings, "job_run_timeline", [
        _run_slice("run100", "2026-01-02 10:30", "2026-01-02 11:00"),
        _run_slice("run100", "2026-01-02 11:00", "2026-01-02 11:45", "SUCCEEDED"),
        _run_slice("run101", "2026-01-02 12:50", "2026-01-02 13:40", "FAILED"),
        _run_slice("run102", "2026-01-02 14:00", "2026-01-02 15:00"),  # still running: not counted
    ])
    write_source(spark, settings, "job_task_run_timeline", [
        row("job_task_run_timeline", account_id="acc", workspace_id="w1", job_id="j1", run_id="t1",
            job_run_id="run100", task_key="main", period_start_time=ts("2026-01-02 10:30"),
            period_end_time=ts("2026-01-02 11:45"), result_state="SUCCEEDED")])
    write_source(spark, settings, "node_timeline", [
        _node("c1", "i1", "2026-01-02 10:00", "2026-01-02 10:01", 10.0, 5.0, 50.0, True),
        _node("c1", "i2", "2026-01-02 10:00", "2026-01-02 10:01", 30.0, 10.0, 70.0, False),
        _node("c1", "i2", "2026-01-02 10:01", "2026-01-02 10:02", 50.0, 10.0, 80.0, False),
    ])
    write_source(spark, settings, "query_history", [
        _query("s1", "RUNNING", "2026-01-02 10:00", "2026-01-02 10:00", 0, 0, "wh1"),
        _query("s1", "FINISHED", "2026-01-02 10:00", "2026-01-02 10:01", 1000, 100, "wh1"),
        _query("s2", "FAILED", "2026-01-02 11:00", "2026-01-02 11:01", 3000, 0, "wh1"),
        _query("s3", "FINISHED", "2026-01-02 12:00", "2026-01-02 12:01", 500, 7, None),
    ])
    write_source(spark, settings, "audit", [row("audit", event_id="e1", workspace_id="w1",
                                                event_time=ts("2026-01-02 10:00"), service_name="jobs",
                                                action_name="runNow")])


def batch2(spark, settings) -> None:
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    from streaming_obs.tables import Tables

    prices = DeltaTable.forPath(spark, Tables(settings).source("list_prices").path)
    prices.update("sku_name = 'JOBS' AND price_end_time IS NULL",
                  {"price_end_time": F.lit("2026-01-02 12:00:00").cast("timestamp")})
    write_source(spark, settings, "list_prices", [price("JOBS", "2026-01-02 12:00", None, "0.20")])
    write_source(spark, settings, "billing_usage", [
        usage("r6", "w1", "JOBS", "2026-01-01 23:00", "2", custom_tags=TAGGED, usage_metadata__job_id="j1",
              usage_metadata__job_run_id="run99", usage_metadata__cluster_id="c1"),
    ])
    write_source(spark, settings, "job_run_timeline", [
        _run_slice("run99", "2026-01-01 23:30", "2026-01-02 00:00", "SUCCEEDED")])
    write_source(spark, settings, "jobs", [_job("w1", "j1", "etl-daily", "2026-01-02 15:00")])
