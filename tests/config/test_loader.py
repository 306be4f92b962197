from pathlib import Path

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from streaming_obs.config import ENVIRONMENTS, config_hash, load_settings
from streaming_obs.errors import ConfigError, InvalidIdentifierError


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_shipped_environment_loads(env):
    s = load_settings(env, environ={})
    assert s.env == env
    assert s.schemas.gold == "plt_gold"
    assert set(s.sources) >= {"billing_usage", "list_prices", "query_history"}


def test_local_reads_the_simulator_with_cdf_and_prod_reads_system_tables():
    local = load_settings("local", environ={})
    assert local.source_kind == "simulator"
    assert {c.mode for c in local.sources.values()} == {"cdf"}
    prod = load_settings("prod", environ={})
    assert prod.sources["billing_usage"].table == "system.billing.usage"
    assert prod.sources["billing_usage"].mode == "append"
    assert prod.sources["list_prices"].mode == "snapshot"
    assert prod.sources["query_history"].mode == "snapshot"


def test_environment_variables_overlay_files():
    s = load_settings("local", environ={"STREAMING_OBS_TRIGGER__INTERVAL_SECONDS": "2.5",
                                        "STREAMING_OBS_COST__TAG_KEYS": "[team, env]"})
    assert s.trigger.interval_seconds == 2.5
    assert s.cost.tag_keys == ["team", "env"]


def test_bad_env_variable_names_variable_and_key():
    with pytest.raises(ConfigError) as exc:
        load_settings("local", environ={"STREAMING_OBS_TRIGGER__INTERVAL_SECONDS": "soon"})
    assert str(exc.value).startswith("$STREAMING_OBS_TRIGGER__INTERVAL_SECONDS: trigger.interval_seconds:")
    assert "\n" not in str(exc.value)


def _write_conf(tmp_path: Path, env_text: str, base_text: str | None = None) -> Path:
    from importlib.resources import files

    base = base_text if base_text is not None else (files("streaming_obs.conf") / "base.yaml").read_text()
    (tmp_path / "base.yaml").write_text(base)
    (tmp_path / "local.yaml").write_text((files("streaming_obs.conf") / "local.yaml").read_text() + env_text)
    return tmp_path


@pytest.mark.parametrize(
    ("extra", "key", "needle"),
    [
        ("\ntrigger: {interval_seconds: -1}\n", "trigger.interval_seconds", "greater than 0"),
        ("\ncatalog: 'x; DROP TABLE y'\n", "catalog", "not a valid identifier"),
        ("\ncatalog: 'a`b'\n", "catalog", "not a valid identifier"),
        ("\nschemas: {gold: 'gold-1'}\n", "schemas.gold", "not a valid identifier"),
        ("\ntelemetry: {colour: red}\n", "telemetry.colour", "unknown key"),
        ("\nstorage: {warehouse: \"/tmp/a'b\"}\n", "storage.warehouse", "not a valid path"),
    ],
)
def test_bad_value_names_file_and_key(tmp_path, extra, key, needle):
    d = _write_conf(tmp_path, extra)
    with pytest.raises(ConfigError) as exc:
        load_settings("local", config_dir=d, environ={})
    msg = str(exc.value)
    assert msg.startswith(f"{d}/local.yaml: {key}: "), msg
    assert needle in msg
    assert "\n" not in msg


def test_bad_source_mode_names_base_file(tmp_path):
    from importlib.resources import files

    base = (files("streaming_obs.conf") / "base.yaml").read_text().replace(
        "{table: system.lakeflow.jobs, mode: append}", "{table: system.lakeflow.jobs, mode: stream}")
    d = tmp_path / "c"
    d.mkdir()
    (d / "base.yaml").write_text(base)
    (d / "prod.yaml").write_text((files("streaming_obs.conf") / "prod.yaml").read_text())
    with pytest.raises(ConfigError) as exc:
        load_settings("prod", config_dir=d, environ={})
    assert str(exc.value).startswith(f"{d}/base.yaml: sources.jobs.mode: ")


def test_invalid_yaml_and_missing_env_file(tmp_path):
    d = _write_conf(tmp_path, "\ntrigger: [unclosed\n")
    with pytest.raises(ConfigError, match="local.yaml: line"):
        load_settings("local", config_dir=d, environ={})
    with pytest.raises(ConfigError, match="qa.yaml: \\(file\\): not found"):
        load_settings("qa", environ={})


def test_prod_refuses_the_simulator():
    with pytest.raises(ConfigError, match="prod refuses the simulator"):
        load_settings("prod", environ={"STREAMING_OBS_SOURCE_KIND": "simulator"})


def test_config_hash_is_stable_and_sensitive():
    a = load_settings("local", environ={})
    b = load_settings("local", environ={})
    c = load_settings("local", environ={"STREAMING_OBS_TRIGGER__INTERVAL_SECONDS": "7"})
    assert config_hash(a) == config_hash(b) != config_hash(c)


_ident = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True)


@hsettings(max_examples=40, deadline=None)
@given(schema=_ident, interval=st.floats(0.1, 3600, allow_nan=False), tags=st.lists(_ident, max_size=4))
def test_round_trip_through_environment(schema, interval, tags):
    env = {
        "STREAMING_OBS_SCHEMAS__SILVER": schema,
        "STREAMING_OBS_TRIGGER__INTERVAL_SECONDS": repr(interval),
        "STREAMING_OBS_COST__TAG_KEYS": "[" + ", ".join(tags) + "]",
    }
    s = load_settings("local", environ=env)
    assert s.schemas.silver == schema and s.trigger.interval_seconds == interval
    assert s.cost.tag_keys == tags
    again = load_settings("local", overrides=s.model_dump(mode="json", by_alias=True), environ={})
    assert again == s


@hsettings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=30))
def test_identifiers_reject_anything_with_sql_metacharacters(text):
    from streaming_obs.identifiers import validate_identifier

    if any(ch in text for ch in "`;'\" -()/*"):
        with pytest.raises(InvalidIdentifierError):
            validate_identifier(text)
