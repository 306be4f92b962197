"""PII masking in silver, on a real DataFrame: salted, deterministic, NULL-safe, schema kept."""

from __future__ import annotations

import hashlib

import pytest

from streaming_obs.config.salt import MIN_SALT_LENGTH, check_pii_salt, pii_salt
from streaming_obs.silver.masking import (
    mask_pii,
    mask_raw_rows,
    mask_record,
    mask_value,
    masked_columns,
)
from streaming_obs.errors import ConfigError

SALT = "pepper-0123456789abcdef"
SCHEMA = (
    "workspace_id STRING, executed_by STRING, statement_text STRING, read_bytes BIGINT, "
    "identity_metadata STRUCT<run_as: STRING, owned_by: STRING, job_name: STRING>"
)
ROWS = [
    ("1", "Alice@Example.com ", "SELECT 1", 10, ("alice@example.com", "bob@example.com", "nightly")),
    ("1", "alice@example.com", "SELECT 2", 20, None),
    ("2", None, None, 30, (None, "carol@example.com", "adhoc")),
]


def _h(value: str, salt: str = SALT, email: bool = True) -> str:
    text = value.strip().lower() if email else value
    return hashlib.sha256((salt + "\x1f" + text).encode()).hexdigest()


@pytest.fixture
def masked_settings(make_settings):
    return make_settings(governance={"mask_pii": True})


@pytest.fixture
def frame(spark):
    return spark.createDataFrame(ROWS, SCHEMA)


def test_emails_and_text_are_hashed_with_the_salt(frame, masked_settings):
    out = mask_pii(frame, masked_settings, environ={"STREAMING_OBS_PII_SALT": SALT})
    assert out.schema == frame.schema
    rows = sorted(out.collect(), key=lambda r: r.read_bytes)
    assert rows[0].executed_by == _h("alice@example.com")
    # One person, one pseudonym, however the source spells the address.
    assert rows[1].executed_by == rows[0].executed_by
    assert rows[0].statement_text == _h("SELECT 1", email=False)
    assert rows[0].identity_metadata.run_as == _h("alice@example.com")
    assert rows[0].identity_metadata.owned_by == _h("bob@example.com")
    # Not PII: untouched.
    assert rows[0].identity_metadata.job_name == "nightly"
    assert [r.read_bytes for r in rows] == [10, 20, 30]
    assert [r.workspace_id for r in rows] == ["1", "1", "2"]


def test_nulls_stay_null(frame, masked_settings):
    rows = sorted(mask_pii(frame, masked_settings, environ={"STREAMING_OBS_PII_SALT": SALT}).collect(),
                  key=lambda r: r.read_bytes)
    assert rows[1].identity_metadata is None  # a NULL struct stays NULL
    assert rows[2].executed_by is None and rows[2].statement_text is None
    assert rows[2].identity_metadata.run_as is None
    assert rows[2].identity_metadata.owned_by == _h("carol@example.com")


def test_another_salt_gives_other_hashes(frame, masked_settings):
    a = mask_pii(frame, masked_settings, environ={"STREAMING_OBS_PII_SALT": SALT}).head().executed_by
    b = mask_pii(frame, masked_settings, environ={"STREAMING_OBS_PII_SALT": SALT + "x"}).head().executed_by
    assert a != b and len(a) == len(b) == 64


def test_off_by_default_returns_the_frame_itself(frame, settings):
    assert mask_pii(frame, settings, environ={}) is frame


def test_missing_or_short_salt_is_refused(frame, masked_settings):
    with pytest.raises(ConfigError, match="salt variable is not set"):
        mask_pii(frame, masked_settings, environ={})
    with pytest.raises(ConfigError, match=f"at least {MIN_SALT_LENGTH}"):
        pii_salt(masked_settings, {"STREAMING_OBS_PII_SALT": "short"})


def test_configured_columns_are_found_case_insensitively_and_only_string_leaves(spark, make_settings):
    s = make_settings(governance={"mask_pii": True, "email_columns": ["EXECUTED_BY", "read_bytes", "nope.x"],
                                  "text_columns": []})
    schema = spark.createDataFrame([], "executed_by STRING, read_bytes BIGINT").schema
    assert masked_columns(schema, s) == {"executed_by": "email"}


def test_salt_variable_name_comes_from_config(frame, make_settings):
    s = make_settings(governance={"mask_pii": True, "pii_salt_env": "MY_SALT"})
    out = mask_pii(frame, s, environ={"MY_SALT": SALT})
    assert out.head().executed_by == _h("alice@example.com")


def test_masking_twice_changes_nothing(frame, masked_settings):
    env = {"STREAMING_OBS_PII_SALT": SALT}
    once = mask_pii(frame, masked_settings, environ=env)
    twice = mask_pii(once, masked_settings, environ=env)
    assert sorted(map(tuple, twice.collect())) == sorted(map(tuple, once.collect()))


def test_mask_record_matches_spark(frame, masked_settings):
    """The pure-Python mask of one row (dict or Row) gives exactly the hashes Spark gives."""
    env = {"STREAMING_OBS_PII_SALT": SALT}
    spark_rows = sorted(mask_pii(frame, masked_settings, environ=env).collect(), key=lambda r: r.read_bytes)
    for row, expected in zip(sorted(frame.collect(), key=lambda r: r.read_bytes), spark_rows, strict=True):
        assert mask_record(row, masked_settings, environ=env) == expected.asDict(recursive=True)
    plain = {"EXECUTED_BY": "Alice@Example.com", "read_bytes": 1, "identity_metadata": {"run_as": "a@b.c"}}
    out = mask_record(plain, masked_settings, environ=env)
    assert out == {"EXECUTED_BY": _h("alice@example.com"), "read_bytes": 1, "identity_metadata": {"run_as": _h("a@b.c")}}
    assert plain["EXECUTED_BY"] == "Alice@Example.com"  # a copy: the input is untouched
    assert mask_value(None, SALT, "email") is None


def test_mask_record_off_and_without_salt(masked_settings, settings):
    assert mask_record({"executed_by": "a@b.c"}, settings, environ={}) == {"executed_by": "a@b.c"}
    with pytest.raises(ConfigError, match="salt variable is not set"):
        mask_record({"executed_by": "a@b.c"}, masked_settings, environ={})


def test_mask_raw_rows_masks_the_json_of_quarantined_rows(spark, frame, masked_settings):
    """Quarantine rows as the quality engine builds them (to_json of the batch row)."""
    from pyspark.sql import functions as F

    env = {"STREAMING_OBS_PII_SALT": SALT}
    quarantine = frame.select(F.lit("bronze.query_history").alias("source_table"),
                              F.to_json(F.struct(*frame.columns)).alias("raw_row"), "read_bytes")
    out = mask_raw_rows(quarantine, frame.schema, masked_settings, environ=env)
    assert out.columns == quarantine.columns
    got = sorted(out.collect(), key=lambda r: r.read_bytes)
    expected = sorted(mask_pii(frame, masked_settings, environ=env).collect(), key=lambda r: r.read_bytes)
    import json

    for row, want in zip(got, expected, strict=True):
        decoded = json.loads(row.raw_row)
        want_d = {k: v for k, v in want.asDict(recursive=True).items() if v is not None}
        if want_d.get("identity_metadata"):
            want_d["identity_metadata"] = {k: v for k, v in want_d["identity_metadata"].items() if v is not None}
        assert decoded == want_d
        assert "alice@example.com" not in row.raw_row.lower() and "SELECT 1" not in row.raw_row
    off = masked_settings.model_copy(
        update={"governance": masked_settings.governance.model_copy(update={"mask_pii": False})})
    assert mask_raw_rows(quarantine, frame.schema, off, environ={}) is quarantine


def test_check_pii_salt_only_when_masking_is_on(settings, masked_settings):
    check_pii_salt(settings, environ={})
    check_pii_salt(masked_settings, environ={"STREAMING_OBS_PII_SALT": SALT})
    with pytest.raises(ConfigError) as err:
        check_pii_salt(masked_settings, environ={})
    assert str(err.value) == ("$STREAMING_OBS_PII_SALT: governance.pii_salt_env: "
                              "governance.mask_pii is on but the salt variable is not set")
