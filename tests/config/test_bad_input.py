"""Hostile and careless input, table-driven: every bad value ends in exactly one line naming the
file and the key, exit code 2, and no traceback — before Spark starts.

Each case writes a config directory (the shipped base.yaml and local.yaml, plus whatever the case
changes, a quality_rules.yaml beside them included) and runs the real CLI on it with `--config-dir`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from streaming_obs.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
RULES = "quality_rules.yaml"
runner = CliRunner()


def _rule(**rule) -> dict:
    """A rules file with one rule on bronze.billing_usage."""
    return {"version": 1, "tables": {"bronze.billing_usage": {"key": ["workspace_id", "record_id"],
                                                              "rules": [{"name": "r", **rule}]}}}


def _sql(expression: str) -> dict:
    return _rule(check={"function": "sql", "arguments": {"expression": expression}})


def _regex(pattern: str) -> dict:
    return _rule(check={"function": "regex", "arguments": {"column": "sku_name", "pattern": pattern}})


RULE_KEY = "tables.bronze.billing_usage: rule 'r': "

# id -> (rules document or raw bytes, or None for the shipped rules; extra YAML for local.yaml;
#        the key the line must name)
CASES: dict[str, tuple[object, str, str]] = {
    "bad SQL": (_sql("usage_quantity >>> 1 +"), "", RULE_KEY + "check.arguments.expression: bad SQL"),
    "SQL not boolean": (_sql("usage_quantity + 1"), "", RULE_KEY + "check.arguments.expression: SQL 'usage_quantity + 1' is DECIMAL"),
    "NULL is not boolean": (_sql("NULL"), "", RULE_KEY + "check.arguments.expression: SQL 'NULL' is NULL, not boolean"),
    "unknown column in sql": (_sql("no_such_col > 1"), "", RULE_KEY + "check.arguments.expression: SQL 'no_such_col > 1' names unknown column 'no_such_col'"),
    "unknown nested field in sql": (_sql("usage_metadata.no_such = 'x'"), "", RULE_KEY + "check.arguments.expression: SQL \"usage_metadata.no_such = 'x'\" names unknown column 'usage_metadata.no_such'"),
    "unknown column in not_null": (_rule(check={"function": "not_null", "arguments": {"column": "usage_metdata.job_id"}}), "",
                                   RULE_KEY + "check.arguments.column: unknown column 'usage_metdata.job_id' (did you mean 'usage_metadata.job_id'?)"),
    "unknown column in key": ({"tables": {"bronze.jobs": {"key": ["workspace_id", "no_such"], "rules": []}}}, "",
                              "tables.bronze.jobs: key: unknown column 'no_such'"),
    "unknown lookup column": ({"tables": {"silver.billing_usage": {"rules": [{"name": "r", "check": {"function": "referential", "arguments": {
        "columns": ["sku_name"], "lookup": "silver.list_prices", "lookup_columns": ["sku"]}}}]}}}, "",
        "tables.silver.billing_usage: rule 'r': check.arguments.lookup_columns: lookup silver.list_prices: unknown column 'sku'"),
    "bad filter": (_rule(filter="record_type = ", check={"function": "not_null", "arguments": {"column": "record_id"}}), "",
                   RULE_KEY + "filter: bad SQL"),
    "filter not boolean": (_rule(filter="record_type", check={"function": "not_null", "arguments": {"column": "record_id"}}), "",
                           RULE_KEY + "filter: SQL 'record_type' is STRING, not boolean"),
    "reflect": (_sql("reflect('java.lang.System','exit',3) IS NULL"), "", RULE_KEY + "check.arguments.expression: SQL names reflect"),
    "qualified reflect": (_sql("system.builtin.`reflect`('java.lang.System','exit',3) IS NULL"), "", RULE_KEY + "check.arguments.expression: SQL names reflect"),
    "java_method": (_sql("java_method('java.lang.System','exit',3) IS NULL"), "", RULE_KEY + "check.arguments.expression: SQL names java_method"),
    "subquery": (_sql("usage_quantity > (SELECT max(a) FROM t)"), "", RULE_KEY + "check.arguments.expression: SQL 'usage_quantity > (SELECT max(a) FROM t)' holds a subquery"),
    "statement": (_sql("true; DROP TABLE x"), "", RULE_KEY + "check.arguments.expression: SQL 'true; DROP TABLE x' holds a statement"),
    "Python-only regex": (_regex("(?P<n>a)"), "", RULE_KEY + "check.arguments.pattern: regex '(?P<n>a)': '(?P<name>...)' is Python only"),
    "ReDoS regex": (_regex("(.*a){12}$"), "", RULE_KEY + "check.arguments.pattern: regex '(.*a){12}$' nests a quantifier"),
    "NaN bound": (_rule(check={"function": "in_range", "arguments": {"column": "usage_quantity", "min": float("nan")}}), "",
                  RULE_KEY + "check.arguments.min: Input should be a finite number"),
    "inf bound": (_rule(check={"function": "in_range", "arguments": {"column": "usage_quantity", "max": float("inf")}}), "",
                  RULE_KEY + "check.arguments.max: Input should be a finite number"),
    "NaN in a set": (_rule(check={"function": "in_set", "arguments": {"column": "sku_name", "values": [float("nan")]}}), "",
                     RULE_KEY + "check.arguments.values.0: Input should be a finite number"),
    "inf interval": (_rule(check={"function": "freshness", "arguments": {"column": "usage_end_time", "max_age": float("inf")}}), "",
                     RULE_KEY + "check.arguments.max_age: inf: a duration must be a finite number"),
    "NaN interval": (_rule(check={"function": "freshness", "arguments": {"column": "usage_end_time", "max_future": float("nan")}}), "",
                     RULE_KEY + "check.arguments.max_future: nan: a duration must be a finite number"),
    "tables: [a]": ({"version": 1, "tables": ["a"]}, "", "tables: must be a mapping"),
    "rules: 5": ({"version": 1, "tables": {"bronze.jobs": {"rules": 5}}}, "", "tables.bronze.jobs.rules: must be a list of rules, not int"),
    "unknown table key": ({"tables": {"bronze.jobs": {"rules": [], "rulez": []}}}, "", "tables.bronze.jobs.rulez: unknown key"),
    "non-UTF-8 rules file": (b"version: 1\n# caf\xe9\ntables: {}\n", "", "line 2: not UTF-8 (byte 0xe9 at column 6)"),
    "NUL in rules file": (b"version: 1\ntables: {}\n\x00\n", "", "line 3: not valid YAML (unacceptable character #x0000"),
}
# Cases whose bad value is in the environment's config file (the shipped rules are used).
CONFIG_CASES: dict[str, tuple[object, str, str]] = {
    "non-UTF-8 config file": (None, "# caf\udce9\n", "line {end}: not UTF-8 (byte 0xe9 at column 6)"),
    "inf config interval": (None, "telemetry:\n  export_interval_seconds: .inf\n", "telemetry.export_interval_seconds: Input should be a finite number"),
    "NaN config bound": (None, "trigger:\n  interval_seconds: .nan\n", "trigger.interval_seconds: Input should be a finite number"),
    "identifier with a trailing newline": (None, 'catalog: "prod\\n"\n', "catalog: 'prod\\n' is not a valid identifier"),
    "list of sources": (None, "sources: [a]\n", "sources: Input should be a valid dictionary"),
    "empty rules_file": (None, 'quality:\n  rules_file: ""\n', "quality.rules_file: '' is not a file name"),
}


@pytest.fixture
def config_dir(tmp_path: Path) -> Callable[[object, str], Path]:
    """A config directory: shipped base.yaml and local.yaml, `extra` appended to local.yaml, and
    `rules` (a document, raw bytes, or None for none) as quality_rules.yaml."""

    def make(rules: object, extra: str = "") -> Path:
        d = tmp_path / "conf"
        d.mkdir()
        shutil.copy(ROOT / "conf" / "base.yaml", d / "base.yaml")
        local = (ROOT / "conf" / "local.yaml").read_bytes()
        local += extra.encode("utf-8", "surrogateescape") if extra else b""
        local += f"storage: {{warehouse: {tmp_path / 'wh'}, checkpoints: {tmp_path / 'ck'}}}\n".encode()
        (d / "local.yaml").write_bytes(local)
        if isinstance(rules, bytes):
            (d / RULES).write_bytes(rules)
        elif rules is not None:
            (d / RULES).write_text(yaml.safe_dump(rules), encoding="utf-8")
        return d

    return make


def _clean_env() -> dict[str, str | None]:
    """Hide any STREAMING_OBS_* / OTEL_* variable of the calling shell from the CLI."""
    return {k: None for k in os.environ if k.startswith(("STREAMING_OBS_", "OTEL_"))}


def _one_line_error(result, file: Path, key: str) -> str:
    out = result.output
    assert "Traceback" not in out, out
    assert result.exit_code == 2, out
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    line = lines[0]
    assert line.startswith(f"error: {file}: "), line
    assert key in line, line
    return line


@pytest.mark.parametrize("case", sorted(CASES), ids=str)
def test_bad_rules_file_in_config_dir(config_dir, case):
    rules, extra, key = CASES[case]
    d = config_dir(rules, extra)
    for command in ("validate-config", "run"):  # run refuses before Spark starts
        result = runner.invoke(app, [command, "--env", "local", "--config-dir", str(d)], env=_clean_env())
        _one_line_error(result, d / RULES, key)


@pytest.mark.parametrize("case", sorted(CONFIG_CASES), ids=str)
def test_bad_config_file(config_dir, case):
    rules, extra, key = CONFIG_CASES[case]
    end = len((ROOT / "conf" / "local.yaml").read_bytes().splitlines()) + 1  # the first appended line
    d = config_dir(rules, extra)
    key = key.replace("{end}", str(end))
    result = runner.invoke(app, ["validate-config", "--env", "local", "--config-dir", str(d)], env=_clean_env())
    _one_line_error(result, d / "local.yaml", key)


def test_bad_replay_fix_json(config_dir):
    d = config_dir(None)
    for fix, problem in [("{not json", "--fix: not valid JSON (Expecting property name enclosed in double quotes at line 1 column 2)"),
                         ("[1]", '--fix: must be a JSON object {"<quarantine id>": {"<column>": value}}, not list'),
                         ('{"q1": 5}', "--fix: q1: must be an object of column: value, not int"),
                         ('{"q1": {"usage_quantity": NaN}}', "--fix: NaN is not a JSON number")]:
        result = runner.invoke(app, ["quarantine", "replay", "--config-dir", str(d), "--fix", fix], env=_clean_env())
        assert "Traceback" not in result.output and result.exit_code == 2, result.output
        assert result.output.strip().splitlines() == [f"error: {problem}"]


def _prometheus(port: int, host: str = "127.0.0.1") -> str:
    return f"telemetry:\n  prometheus: {{enabled: true, host: '{host}', port: {port}}}\n"


def test_taken_prometheus_port_refuses_run_before_spark(config_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        d = config_dir(None, _prometheus(port))
        for command in ("run", "demo"):
            result = runner.invoke(app, [command, "--env", "local", "--config-dir", str(d)], env=_clean_env())
            line = _one_line_error(result, d / "local.yaml", "telemetry.prometheus.port: ")
            assert f"cannot serve metrics on 127.0.0.1:{port}" in line


def test_prometheus_host_that_is_not_local(config_dir):
    d = config_dir(None, _prometheus(0, host="192.0.2.1"))  # TEST-NET-1: never this machine's
    result = runner.invoke(app, ["run", "--env", "local", "--config-dir", str(d)], env=_clean_env())
    line = _one_line_error(result, d / "local.yaml", "telemetry.prometheus.host: ")
    assert "cannot listen on host '192.0.2.1'" in line


def test_rules_file_in_config_dir_is_the_one_used(config_dir):
    good = _rule(check={"function": "not_null", "arguments": {"column": "usage_metadata.job_id"}})
    d = config_dir(good)
    result = runner.invoke(app, ["validate-config", "--env", "local", "--config-dir", str(d)], env=_clean_env())
    assert result.exit_code == 0, result.output
    assert f"quality rules ok ({d / RULES}, 1 rules)" in result.output


@pytest.mark.parametrize("env", ["local", "dev", "staging", "prod"])
def test_shipped_config_and_rules_validate_clean(env):
    # prod masks PII: its salt comes from a secret, here a variable
    extra = {"STREAMING_OBS_PII_SALT": "s" * 24} if env == "prod" else {}
    result = runner.invoke(app, ["validate-config", "--env", env], env={**_clean_env(), **extra})
    assert result.exit_code == 0, result.output
    assert "quality rules ok (conf/quality_rules.yaml, " in result.output


def test_the_console_script_prints_one_line_and_no_traceback(config_dir):
    """The same through a real process: what a user sees on the terminal (stderr included)."""
    d = config_dir(_sql("reflect('java.lang.System','exit',3) IS NULL"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STREAMING_OBS_", "OTEL_"))}
    proc = subprocess.run([sys.executable, "-c", "from streaming_obs.cli.main import main; main()",
                           "validate-config", "--config-dir", str(d)],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith(f"error: {d / RULES}: {RULE_KEY}check.arguments.expression: SQL names reflect")


def test_identifiers_and_paths_refuse_a_trailing_newline():
    from streaming_obs.errors import InvalidIdentifierError, SqlTemplateError
    from streaming_obs.identifiers import validate_identifier, validate_path
    from streaming_obs.sqlfiles import render_sql

    for bad in ("plt_gold\n", "a.b\n"):
        with pytest.raises(InvalidIdentifierError):
            validate_identifier(bad, dotted=True)
    with pytest.raises(InvalidIdentifierError):
        validate_path("/tmp/wh\n")
    with pytest.raises(SqlTemplateError):
        render_sql("ddl/create_schema.sql", schema="plt_gold\n")
    assert validate_identifier("system.billing.usage", dotted=True) == "system.billing.usage"


def test_settings_know_which_file_set_a_key(config_dir, tmp_path):
    from streaming_obs.config import load_settings

    d = config_dir(None, _prometheus(9999))
    s = load_settings("local", config_dir=d, environ={"STREAMING_OBS_TRIGGER__INTERVAL_SECONDS": "3"})
    assert s.source_of("telemetry.prometheus.port") == f"{d}/local.yaml"
    assert s.source_of("telemetry.otlp.enabled") == f"{d}/base.yaml"
    assert s.source_of("trigger.interval_seconds") == "$STREAMING_OBS_TRIGGER__INTERVAL_SECONDS"
    assert s.source_of("resilience.max_restarts") == "<defaults>"
    # where a value came from is not part of the settings
    assert s == load_settings("local", config_dir=d, environ={}).model_copy(update={"trigger": s.trigger})


def test_prometheus_preflight_is_skipped_when_off_and_classifies_errors(make_settings):
    from streaming_obs.errors import TelemetryStartError
    from streaming_obs.telemetry.preflight import check_prometheus, prometheus_start_error

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        on = make_settings(telemetry={"prometheus": {"enabled": True, "port": port}})
        check_prometheus(on, environ={"OTEL_SDK_DISABLED": "true"})  # nothing will be served
        check_prometheus(make_settings(telemetry={"prometheus": {"enabled": False, "port": port}}), environ={})
        with pytest.raises(TelemetryStartError, match=f"telemetry.prometheus.port: cannot serve metrics on 127.0.0.1:{port}"):
            check_prometheus(on, environ={})
    check_prometheus(make_settings(telemetry={"prometheus": {"enabled": True, "port": 0}}), environ={})
    err = prometheus_start_error(on, socket.gaierror(-2, "Name or service not known"))
    assert err.key == "telemetry.prometheus.host" and "Name or service not known" in str(err)


_NO_SPARK = """
import sys
class _Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("pyspark", "delta", "py4j"):
            raise ImportError("no Spark here: " + name)
sys.meta_path.insert(0, _Blocked())
from streaming_obs.cli.main import main
main()
"""


def test_validate_config_checks_rules_where_spark_is_not_installed(config_dir):
    """The wheel's runtime dependencies do not include pyspark: the rule checks must not need it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STREAMING_OBS_", "OTEL_"))}
    ok = subprocess.run([sys.executable, "-c", _NO_SPARK, "validate-config"], capture_output=True, text=True,
                        env=env, timeout=120, check=False)
    assert ok.returncode == 0 and "quality rules ok" in ok.stdout, ok.stderr
    d = config_dir(_sql("usage_metadata.no_such = 'x'"))
    bad = subprocess.run([sys.executable, "-c", _NO_SPARK, "validate-config", "--config-dir", str(d)],
                         capture_output=True, text=True, env=env, timeout=120, check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip() == (f"error: {d / RULES}: {RULE_KEY}check.arguments.expression: "
                                  "SQL \"usage_metadata.no_such = 'x'\" names unknown column 'usage_metadata.no_such'")


def test_rules_are_not_checked_when_quality_is_off(config_dir):
    d = config_dir({"tables": ["broken"]}, "quality:\n  enabled: false\n")
    result = runner.invoke(app, ["validate-config", "--env", "local", "--config-dir", str(d)], env=_clean_env())
    assert result.exit_code == 0 and "quality rules off" in result.output, result.output


def test_unreadable_files_are_one_line_errors(config_dir, monkeypatch):
    """A file that exists but cannot be read (permissions; as root in CI, simulated)."""
    from pathlib import Path as _Path

    from streaming_obs.config import load_settings
    from streaming_obs.errors import ConfigError, QualityRuleError
    from streaming_obs.quality.static import load_rules

    d = config_dir(_rule(check={"function": "not_null", "arguments": {"column": "record_id"}}))
    real = _Path.read_bytes

    def denied(self):
        if self.parent == d:
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(_Path, "read_bytes", denied)
    with pytest.raises(ConfigError, match=r"base.yaml: \(file\): cannot be read \(Permission denied\)"):
        load_settings("local", config_dir=d, environ={})
    with pytest.raises(QualityRuleError, match=r"quality_rules.yaml: cannot be read \(Permission denied\)"):
        load_rules(d / RULES)
