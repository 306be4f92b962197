"""Bootstrap after a crash: a table whose creation was cut short is created again; others kept."""

from __future__ import annotations

import shutil
from pathlib import Path

from streaming_obs.bootstrap import bootstrap, clear_cut_creation, ddl_statements, log_state
from streaming_obs.tables import Tables


def _cut_short(path: Path) -> None:
    """What a SIGKILL during `CREATE TABLE` left in the chaos campaign: a log with no version."""
    log = path / "_delta_log"
    (log / "_staged_commits").mkdir(parents=True)
    (log / ".00000000000000000000.json.1f2e.tmp").write_text("{")


def test_a_table_whose_creation_a_kill_cut_short_is_created_again(spark, settings):
    """Without the repair `CREATE TABLE IF NOT EXISTS` takes the cut-short log for a table, does
    nothing, and every read of batch_runs fails: the chaos campaign's restart failed that way."""
    tables = Tables(settings)
    runs = tables.ops("batch_runs")
    _cut_short(Path(runs.path))  # killed during the first bootstrap, before its first commit
    bootstrap(spark, tables)
    assert runs.exists(spark) and runs.read(spark).count() == 0
    assert runs.delta(spark).history().count() == 1  # created once, by this bootstrap


def test_only_a_log_without_any_version_is_cleared(spark, tmp_path):
    cut = tmp_path / "cut"
    _cut_short(cut)
    assert clear_cut_creation(spark, str(cut)) is True and not (cut / "_delta_log").exists()
    assert clear_cut_creation(spark, str(tmp_path / "never_created")) is False
    committed = tmp_path / "committed"
    spark.range(1).write.format("delta").save(str(committed))
    assert clear_cut_creation(spark, str(committed)) is False
    assert spark.read.format("delta").load(str(committed)).count() == 1


def test_a_restart_creates_only_the_tables_that_are_missing(spark, settings):
    """A table with a committed version is left alone (its CREATE ... IF NOT EXISTS would do
    nothing); a missing one is created, and an existing one keeps its rows and its version."""
    tables = Tables(settings)
    first = bootstrap(spark, tables)
    assert first == ddl_statements(tables)
    usage = tables.silver("billing_usage")
    assert log_state(spark, usage.path) is True
    version = usage.version(spark)
    shutil.rmtree(tables.gold("cost_daily").path)  # gone: created again
    again = bootstrap(spark, tables)
    assert len(again) == 1 and tables.gold("cost_daily").ident in again[0]
    assert usage.version(spark) == version and tables.gold("cost_daily").exists(spark)
    assert bootstrap(spark, tables) == []
    assert log_state(spark, str(Path(usage.path).parent / "never_created")) is None
