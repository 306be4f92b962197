"""`streaming-obs quarantine list|show|replay` logic on real Delta tables."""

from __future__ import annotations

from datetime import timedelta

import pytest

from streaming_obs.errors import QuarantineError
from streaming_obs.quality import list_quarantine, replay_quarantine, show_quarantine
from streaming_obs.tables import Tables
from tests.quality.conftest import NOW, usage_row


def test_list_show_and_replay_through_the_bronze_rules(default_engine, make_settings, make_df, spark):
    settings = make_settings()
    tables = Tables(settings)
    bronze = tables.bronze("billing_usage")
    assert list_quarantine(spark, tables) == []  # no table yet: nothing, not an error

    # bronze exists with one good row; a batch quarantines two rows
    make_df("bronze.billing_usage", [usage_row(record_id="seed")]).write.format("delta").save(bronze.path)
    start = NOW - timedelta(hours=2)
    batch = make_df("bronze.billing_usage", [
        usage_row(record_id="ok"),
        usage_row(record_id="backwards", usage_end_time=start - timedelta(hours=1)),
        usage_row(record_id=None, workspace_id="5005"),
    ]).persist()
    try:
        outcome = default_engine.apply(batch, table="bronze.billing_usage", batch_id=3, query_name="bronze_billing_usage", now=NOW)
        default_engine.write(outcome, spark, tables, txn_version=3)
    finally:
        batch.unpersist()

    listed = list_quarantine(spark, tables)
    assert len(listed) == 2 and all("raw_row" not in r for r in listed)
    assert len(list_quarantine(spark, tables, source="billing_usage", limit=1)) == 1
    assert len(list_quarantine(spark, tables, source="bronze.billing_usage")) == 2
    assert list_quarantine(spark, tables, source="jobs") == []
    by_rule = {r["failed_rules"][0]: r["quarantine_id"] for r in listed}
    backwards, no_id = by_rule["usage_end_after_start"], by_rule["usage_record_id_not_null"]

    shown = show_quarantine(spark, tables, backwards)
    assert shown["row"]["record_id"] == "backwards" and shown["failed_rules"] == ["usage_end_after_start"]
    with pytest.raises(QuarantineError):
        show_quarantine(spark, tables, "nope")

    # fix one row, leave the other broken: only the fixed one goes back into bronze
    fixed_end = (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    result = replay_quarantine(spark, tables, settings, ids=[backwards, no_id, "nope"],
                               fixed_rows={backwards: {"usage_end_time": fixed_end, "usage_metadata.job_id": "43"}},
                               engine=default_engine, now=NOW)
    assert result.replayed == [backwards]
    assert result.still_failing == {no_id: ["usage_record_id_not_null"]}
    assert result.skipped == {"nope": "not found"}
    rows = {r["record_id"]: r for r in bronze.read(spark).collect()}
    assert set(rows) == {"seed", "backwards"}
    replayed = rows["backwards"]
    assert replayed["_source_change_type"] == "replay" and replayed["_ingest_time"] is not None
    assert replayed["usage_metadata"]["job_id"] == "43"
    assert replayed["usage_end_time"] - replayed["usage_start_time"] == timedelta(hours=1)
    assert replayed["_row_hash"] and len(replayed["_row_hash"]) == 64

    assert [r["quarantine_id"] for r in list_quarantine(spark, tables)] == [no_id]  # replayed rows leave the list
    assert len(list_quarantine(spark, tables, include_replayed=True)) == 2
    again = replay_quarantine(spark, tables, settings, source="billing_usage", engine=default_engine, now=NOW)
    assert again.replayed == [] and backwards in again.skipped and no_id in again.still_failing
    assert bronze.read(spark).count() == 2  # nothing appended twice

    with pytest.raises(QuarantineError):
        replay_quarantine(spark, tables, settings, engine=default_engine)
