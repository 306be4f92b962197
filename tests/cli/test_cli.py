"""The command line: one-line errors, dry-run DDL, bootstrap idempotence, status."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from streaming_obs.cli.main import app

runner = CliRunner()


def _env(tmp_path, **extra):
    env = {
        "STREAMING_OBS_STORAGE__WAREHOUSE": str(tmp_path / "wh"),
        "STREAMING_OBS_STORAGE__CHECKPOINTS": str(tmp_path / "ck"),
        "STREAMING_OBS_SIMULATOR__ROOT": str(tmp_path / "system"),
        "STREAMING_OBS_LOGGING__DIR": str(tmp_path / "logs"),
    }
    env.update(extra)
    return env


def test_version_and_help():
    from streaming_obs._version import __version__

    assert runner.invoke(app, ["--version"]).output.strip() == __version__
    out = runner.invoke(app, ["--help"]).output
    for command in ("bootstrap", "validate-config", "simulate", "run", "demo", "status"):
        assert command in out


def test_validate_config_ok_and_one_line_errors(tmp_path):
    ok = runner.invoke(app, ["validate-config", "--env", "local"], env=_env(tmp_path))
    assert ok.exit_code == 0 and "config ok: env=local" in ok.output
    shown = runner.invoke(app, ["validate-config", "--env", "prod", "--show"],
                          env=_env(tmp_path, STREAMING_OBS_PII_SALT="pepper-0123456789abcdef"))
    assert '"catalog": "streaming_obs_prod"' in shown.output
    bad = runner.invoke(app, ["validate-config", "--env", "local"],
                        env=_env(tmp_path, STREAMING_OBS_CATALOG="x; DROP TABLE y"))
    assert bad.exit_code == 2
    assert bad.output.strip().splitlines() == [
        "error: $STREAMING_OBS_CATALOG: catalog: 'x; DROP TABLE y' is not a valid identifier: use letters, digits and '_'"]
    unknown = runner.invoke(app, ["validate-config", "--env", "qa"], env=_env(tmp_path))
    assert unknown.exit_code == 2 and "'qa' is not one of 'local', 'dev', 'staging', 'prod'" in " ".join(unknown.output.split())


def test_bootstrap_dry_run_prints_every_table(tmp_path):
    out = runner.invoke(app, ["bootstrap", "--env", "local", "--dry-run"], env=_env(tmp_path))
    assert out.exit_code == 0
    text = out.output
    assert text.count("CREATE TABLE IF NOT EXISTS") == 10 + 10 + 12 + 5  # gold: 8 + focus_costs, budget_status_daily, idle_compute_daily, job_run_cost
    assert "plt_gold/cost_daily`" in text and "enableChangeDataFeed = true" in text
    assert "PARTITIONED BY (usage_date)" in text


def test_backtick_in_a_path_is_refused_before_sql(tmp_path):
    out = runner.invoke(app, ["bootstrap", "--env", "local", "--dry-run"],
                        env=_env(tmp_path, STREAMING_OBS_STORAGE__WAREHOUSE="/tmp/a`; DROP TABLE x; --"))
    assert out.exit_code == 2 and "storage.warehouse" in out.output and "not a valid path" in out.output


def test_simulate_refuses_real_system_tables(tmp_path):
    out = runner.invoke(app, ["simulate", "--env", "dev"], env=_env(tmp_path))
    assert out.exit_code == 2 and "reads the real system tables" in out.output


def test_bootstrap_is_idempotent_and_audited_then_status(spark, tmp_path):
    env = _env(tmp_path)
    first = runner.invoke(app, ["bootstrap", "--env", "local"], env=env)
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, ["bootstrap", "--env", "local"], env=env)
    # every table is there: the restart applies no CREATE (IF NOT EXISTS would do nothing)
    assert first.exit_code == 0 and "37 statements applied" in first.output
    assert second.exit_code == 0 and "0 statements applied" in second.output
    status = runner.invoke(app, ["status", "--env", "local"], env=env)
    assert status.exit_code == 0, status.output
    assert "plt_gold.cost_daily" in status.output
    audit = spark.read.format("delta").load(str(tmp_path / "wh" / "plt_ops" / "audit"))
    # 37 rows of the first bootstrap, one per CREATE; one of the second, which applied none
    assert audit.where("event = 'bootstrap' AND statement LIKE 'CREATE TABLE%'").count() == 37
    as_json = runner.invoke(app, ["status", "--env", "local", "--json"], env=env)
    assert as_json.exit_code == 0, as_json.output
    doc = json.loads(as_json.stdout)
    (audit_row,) = [t for t in doc["tables"] if t["table"] == "plt_ops.audit"]
    assert audit_row["rows"] == 38 and isinstance(audit_row["version"], int)
    assert len(doc["tables"]) == 37 and all(t["rows"] is not None for t in doc["tables"])
    assert doc["queries"] == []


def test_quarantine_list_json(spark, tmp_path):
    from datetime import datetime

    env = _env(tmp_path)
    assert runner.invoke(app, ["bootstrap", "--env", "local"], env=env).exit_code == 0
    path = str(tmp_path / "wh" / "plt_ops" / "quarantine")
    schema = spark.read.format("delta").load(path).schema
    spark.createDataFrame([("q1", datetime(2026, 1, 2, 3, 4, 5), "bronze.billing_usage", "bronze_billing_usage", 7,
                            ["usage_quantity_not_negative"], "{}", None)], schema).write.format("delta").mode("append").save(path)
    out = runner.invoke(app, ["quarantine", "list", "--env", "local", "--json"], env=env)
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout) == [{
        "quarantine_id": "q1", "quarantined_at": "2026-01-02 03:04:05", "source_table": "bronze.billing_usage",
        "query_name": "bronze_billing_usage", "batch_id": 7, "failed_rules": ["usage_quantity_not_negative"],
        "replayed_at": None}]
    text = runner.invoke(app, ["quarantine", "list", "--env", "local"], env=env)
    assert "q1" in text.output and "1 row(s)" in text.output


def test_reset_checkpoint_says_what_it_would_do_and_refuses_snapshot_sources(spark, tmp_path):
    dry = runner.invoke(app, ["reset-checkpoint", "billing_usage", "--env", "local"], env=_env(tmp_path))
    assert dry.exit_code == 0 and "would reset bronze_billing_usage" in dry.output and "--yes" in dry.output
    assert not (tmp_path / "wh").exists()  # a dry run touches nothing
    snap = runner.invoke(app, ["reset-checkpoint", "list_prices", "--env", "local", "--yes"],
                         env=_env(tmp_path, STREAMING_OBS_SOURCES__LIST_PRICES__MODE="snapshot"))
    assert snap.exit_code == 2 and "snapshot mode" in snap.output
    unknown = runner.invoke(app, ["reset-checkpoint", "nope", "--env", "local", "--yes"], env=_env(tmp_path))
    assert unknown.exit_code == 2 and "unknown source 'nope'" in unknown.output
