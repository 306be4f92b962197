"""The packaged rule set: valid against the real system-table schemas, silent on legitimate data
(corrections, late rows, sliced runs), and quarantining malformed rows with the right names."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from streaming_obs.config.models import SOURCE_NAMES
from streaming_obs.quality import DISPOSITION_COL, FAILED_COL
from streaming_obs.tables import Tables
from tests.quality.conftest import NOW, usage_row
from tests.quality.system_schemas import layer_schema


def test_default_rules_validate_against_every_system_table(default_engine, schemas, spark):
    validated = default_engine.validate(schemas, spark)
    assert set(validated) == set(default_engine.rules.tables)
    # bronze rules exist for every source; every error-level rule sits on bronze (structural)
    assert {t.split(".")[1] for t in validated if t.startswith("bronze.")} == set(SOURCE_NAMES)
    for table, table_rules in default_engine.rules.tables.items():
        for rule in table_rules.rules:
            if table.startswith("silver."):
                assert rule.action == "warn", (table, rule.name)
            if rule.function == "referential":
                assert rule.action == "warn"  # never drop cost for a missing price


def _prices(spark):
    return spark.createDataFrame(
        [("AWS", "PREMIUM_JOBS_COMPUTE"), ("AWS", "PREMIUM_ALL_PURPOSE_COMPUTE")], "cloud STRING, sku_name STRING"
    )


def _legit_rows():
    """One small, realistic batch per source (timestamps around NOW)."""
    h = NOW.replace(minute=0) - timedelta(hours=3)
    late = NOW - timedelta(days=3)
    usage = [
        usage_row(record_id="u1"),
        usage_row(record_id="u2", record_type="RETRACTION", usage_quantity=Decimal("-1.5")),
        usage_row(record_id="u3", record_type="RESTATEMENT", usage_quantity=Decimal("1.25")),
        usage_row(record_id="u4", usage_start_time=late, usage_end_time=late + timedelta(hours=1),
                  usage_date=late.date(), ingestion_date=NOW.date()),                      # 3 days late
        usage_row(record_id="u5", sku_name="PREMIUM_ALL_PURPOSE_COMPUTE",
                  usage_metadata={"job_id": None, "cluster_id": "c-9"}),                    # all-purpose: no job
        usage_row(record_id="u6", usage_quantity=Decimal("0")),                             # zero usage
        usage_row(record_id="u7", usage_start_time=NOW.replace(minute=0),                   # current hour
                  usage_end_time=NOW.replace(minute=0) + timedelta(hours=1)),
    ]
    run = {"account_id": "acc", "workspace_id": "1001", "job_id": "42", "run_id": "7", "trigger_type": "PERIODIC",
           "run_type": "JOB_RUN"}
    return {
        "billing_usage": usage,
        "list_prices": [{"price_start_time": h - timedelta(days=30), "price_end_time": None, "account_id": "acc",
                         "sku_name": "PREMIUM_JOBS_COMPUTE", "cloud": "AWS", "currency_code": "USD",
                         "usage_unit": "DBU", "pricing": {"default": Decimal("0.15"), "promotional": {"default": None},
                                                          "effective_list": {"default": Decimal("0.15")}}}],
        "jobs": [{"account_id": "acc", "workspace_id": "1001", "job_id": "42", "name": "nightly",
                  "change_time": h, "delete_time": None},
                 {"account_id": "acc", "workspace_id": "1001", "job_id": "42", "name": "nightly v2",
                  "change_time": h + timedelta(minutes=5), "delete_time": h + timedelta(hours=1)}],
        "job_run_timeline": [
            run | {"period_start_time": h, "period_end_time": h + timedelta(hours=1), "result_state": None},
            run | {"period_start_time": h + timedelta(hours=1), "period_end_time": h + timedelta(hours=1, minutes=20),
                   "result_state": "SUCCEEDED", "termination_code": "SUCCESS"},
            run | {"run_id": "8", "period_start_time": h, "period_end_time": h, "result_state": "SKIPPED"},
        ],
        "job_task_run_timeline": [
            run | {"job_run_id": "7", "run_id": "71", "task_key": "ingest", "period_start_time": h,
                   "period_end_time": h + timedelta(minutes=30), "result_state": "SUCCEEDED"},
            run | {"job_run_id": "7", "run_id": "72", "task_key": "transform", "period_start_time": h,
                   "period_end_time": h + timedelta(minutes=1), "result_state": "UPSTREAM_FAILED"},
        ],
        "clusters": [{"account_id": "acc", "workspace_id": "1001", "cluster_id": "c-1", "cluster_name": "etl",
                      "change_time": h, "create_time": h - timedelta(days=100)}],
        "node_timeline": [
            {"account_id": "acc", "workspace_id": "1001", "cluster_id": "c-1", "instance_id": "i-1",
             "start_time": h, "end_time": h + timedelta(minutes=1), "driver": True, "cpu_user_percent": 99.5,
             "cpu_system_percent": 0.5, "cpu_wait_percent": 0.0, "mem_used_percent": 100.0, "mem_swap_percent": 0.0},
            {"account_id": "acc", "workspace_id": "1001", "cluster_id": "c-1", "instance_id": "i-2",
             "start_time": h, "end_time": h + timedelta(minutes=1), "driver": False, "cpu_user_percent": 0.0,
             "cpu_system_percent": 0.0, "cpu_wait_percent": None, "mem_used_percent": 12.0},
        ],
        "warehouses": [{"warehouse_id": "w-1", "workspace_id": "1001", "account_id": "acc", "warehouse_name": "bi",
                        "change_time": h}],
        "query_history": [
            {"account_id": "acc", "workspace_id": "1001", "statement_id": "s-1", "execution_status": "FINISHED",
             "compute": {"type": "WAREHOUSE", "warehouse_id": "w-1"}, "total_duration_ms": 1200,
             "start_time": h, "end_time": h + timedelta(seconds=1.2), "update_time": h + timedelta(seconds=2)},
            {"account_id": "acc", "workspace_id": "1001", "statement_id": "s-2", "execution_status": "RUNNING",
             "start_time": NOW - timedelta(seconds=5), "end_time": None, "total_duration_ms": 0},
        ],
        "audit": [{"account_id": "acc", "workspace_id": "0", "event_time": NOW - timedelta(minutes=1),
                   "service_name": "accounts", "action_name": "login", "event_id": "e-1"}],
    }


def test_default_rules_raise_nothing_on_legitimate_data(default_engine, make_df, spark):
    """Not one failure, not even a warning: corrections, late rows, open runs are all normal."""
    lookups = {"silver.list_prices": _prices(spark)}
    for source, rows in _legit_rows().items():
        for layer in ("bronze", "silver"):
            table = f"{layer}.{source}"
            if not default_engine.rules_for(table):
                continue
            out = default_engine.evaluate(make_df(table, rows), table, lookups, now=NOW).collect()
            assert len(out) == len(rows)
            bad = [(r[FAILED_COL], r[DISPOSITION_COL]) for r in out if r[FAILED_COL] or r[DISPOSITION_COL] != "keep"]
            assert bad == [], (table, bad)


def _drifted_usage_schema():
    """bronze.billing_usage as a landing format without types would deliver it: quantity STRING."""
    from pyspark.sql.types import StringType, StructField, StructType

    base = layer_schema("bronze", "billing_usage")
    return StructType([StructField(f.name, StringType()) if f.name == "usage_quantity" else f for f in base.fields])


def test_malformed_rows_land_in_quarantine_with_the_right_rule_names(default_engine, make_settings, spark):
    tables = Tables(make_settings())
    start = NOW - timedelta(hours=2)
    rows = [
        usage_row(record_id="good", usage_quantity="1.5"),
        usage_row(record_id=None, usage_quantity="1.5"),
        usage_row(record_id="no_ws", workspace_id=None, usage_quantity="1.5"),
        usage_row(record_id="backwards", usage_end_time=start - timedelta(minutes=5), usage_quantity="1.5"),
        usage_row(record_id="future", usage_start_time=NOW + timedelta(days=2),
                  usage_end_time=NOW + timedelta(days=2, hours=1), usage_quantity="1.5"),
        usage_row(record_id="not_a_number", usage_quantity="12,5 DBU"),
        usage_row(record_id="unknown_sku", sku_name="PREMIUM_TIME_MACHINE", usage_quantity="1.5"),
    ]
    schema = _drifted_usage_schema()
    batch = spark.createDataFrame([tuple(r.get(f.name) for f in schema.fields) for r in rows], schema).persist()
    try:
        outcome = default_engine.apply(batch, table="bronze.billing_usage", batch_id=11,
                                       query_name="bronze_billing_usage", now=NOW)
        kept_ids = sorted(r["record_id"] for r in outcome.kept.collect())
        default_engine.write(outcome, spark, tables, txn_version=11)
        assert outcome.counts == {"rows_in": 7, "rows_kept": 2, "rows_dropped": 0, "rows_quarantined": 5}
    finally:
        batch.unpersist()
    assert kept_ids == ["good", "unknown_sku"]  # an unknown SKU is never dropped: it is cost
    quarantined = {}
    for r in tables.ops("quarantine").read(spark).collect():
        raw = json.loads(r["raw_row"])
        quarantined[raw.get("record_id")] = sorted(r["failed_rules"])
        assert r["batch_id"] == 11 and r["source_table"] == "bronze.billing_usage"
    assert quarantined == {
        None: ["usage_record_id_not_null"],
        "no_ws": ["usage_workspace_id_not_null"],
        "backwards": ["usage_end_after_start"],
        "future": ["usage_end_not_in_future", "usage_start_not_in_future"],
        "not_a_number": ["usage_quantity_is_number"],
    }
    # in silver the unknown SKU is counted as unpriced (warn), and kept
    silver = [usage_row(record_id="good"), usage_row(record_id="unknown_sku", sku_name="PREMIUM_TIME_MACHINE")]
    silver_df = spark.createDataFrame(
        [tuple(r.get(f.name) for f in layer_schema("silver", "billing_usage").fields) for r in silver],
        layer_schema("silver", "billing_usage"))
    out = default_engine.apply(silver_df, table="silver.billing_usage", batch_id=11,
                               lookups={"silver.list_prices": _prices(spark)}, now=NOW)
    assert out.counts["rows_kept"] == 2
    assert out.rule_failures["usage_sku_has_price"] == 1


def test_rows_months_old_only_warn(default_engine, make_df, spark):
    old = NOW - timedelta(days=60)
    rows = [usage_row(record_id="old", usage_start_time=old, usage_end_time=old + timedelta(hours=1))]
    out = default_engine.evaluate(make_df("silver.billing_usage", rows), "silver.billing_usage",
                                  {"silver.list_prices": _prices(spark)}, now=NOW).collect()
    assert out[0][FAILED_COL] == ["usage_late_arrival"] and out[0][DISPOSITION_COL] == "keep"
