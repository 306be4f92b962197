"""The optional in-pipeline maintenance schedule (`maintenance.schedule_minutes`)."""

from __future__ import annotations

from streaming_obs.ops.maintenance import MaintenanceSchedule
from streaming_obs.tables import Tables


def test_schedule_off_by_default_and_due_after_the_period(monkeypatch):
    off = MaintenanceSchedule(None, started=0.0)
    assert off.maybe_run(None, None, now=1e9) is False
    calls = []
    monkeypatch.setattr("streaming_obs.ops.maintenance.maintain_tables",
                        lambda spark, tables, vacuum: calls.append(vacuum) or ["t: files 2 -> 1"])
    sched = MaintenanceSchedule(2, started=100.0)
    assert sched.maybe_run(None, None, now=219.0) is False  # not yet: 2 minutes = 120 s
    assert sched.maybe_run(None, None, now=220.0) is True
    assert calls == [True] and sched.runs == 1


def test_failure_is_logged_not_raised(monkeypatch):
    def boom(*_a, **_k):
        raise RuntimeError("concurrent OPTIMIZE")

    monkeypatch.setattr("streaming_obs.ops.maintenance.maintain_tables", boom)
    sched = MaintenanceSchedule(1, started=0.0)
    assert sched.maybe_run(None, None, now=60.0) is True
    assert sched.runs == 1


def test_due_schedule_compacts_a_real_table(spark, make_settings):
    settings = make_settings(maintenance={"schedule_minutes": 1})
    tables = Tables(settings)
    ref = tables.gold("cost_daily")
    for ws in ("w1", "w2", "w3"):  # three appends, three files
        spark.createDataFrame([(ws, 1.0)], "workspace_id STRING, list_cost DOUBLE").write.format("delta") \
            .mode("append").save(ref.path)
    assert ref.delta(spark).detail().head()["numFiles"] == 3
    sched = MaintenanceSchedule(settings.maintenance.schedule_minutes, started=0.0)
    assert sched.maybe_run(spark, tables, now=60.0) is True
    detail = ref.delta(spark).detail().head()
    assert detail["numFiles"] == 1
    # Delta 4's VACUUM obeys only the table property: the configured retention is set there.
    assert detail["properties"]["delta.deletedFileRetentionDuration"] == "interval 168 hours"
    assert ref.read(spark).count() == 3
