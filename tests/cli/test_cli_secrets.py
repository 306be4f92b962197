"""Secrets at the command line: the PII salt checked before Spark, OTLP headers never printed."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from streaming_obs.cli.main import app

runner = CliRunner()
SALT = "pepper-0123456789abcdef"


def _env(tmp_path, **extra):
    env = {
        "STREAMING_OBS_STORAGE__WAREHOUSE": str(tmp_path / "wh"),
        "STREAMING_OBS_STORAGE__CHECKPOINTS": str(tmp_path / "ck"),
        "STREAMING_OBS_SIMULATOR__ROOT": str(tmp_path / "system"),
        "STREAMING_OBS_PII_SALT": "",
    }
    env.update(extra)
    return env


@pytest.mark.parametrize(
    ("args", "extra", "problem"),
    [
        (["validate-config", "--env", "prod"], {}, "governance.mask_pii is on but the salt variable is not set"),
        (["validate-config", "--env", "prod"], {"STREAMING_OBS_PII_SALT": "short"}, "at least 16 characters"),
        (["validate-config", "--env", "local"], {"STREAMING_OBS_GOVERNANCE__MASK_PII": "true"},
         "governance.mask_pii is on but the salt variable is not set"),
        # run refuses before Spark starts (no JVM is launched for this test: it would take minutes)
        (["run", "--env", "local", "--available-now"], {"STREAMING_OBS_GOVERNANCE__MASK_PII": "true"},
         "governance.mask_pii is on but the salt variable is not set"),
    ],
)
def test_masking_without_a_usable_salt_is_one_line_exit_2(tmp_path, monkeypatch, args, extra, problem):
    import streaming_obs.session as session

    monkeypatch.setattr(session, "get_spark", lambda *_: pytest.fail("Spark must not start"))
    out = runner.invoke(app, args, env=_env(tmp_path, **extra))
    assert out.exit_code == 2, out.output
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.output
    assert lines[0].startswith("error: $STREAMING_OBS_PII_SALT: governance.pii_salt_env: ") and problem in lines[0]


def test_prod_with_the_salt_validates_and_masking_is_on(tmp_path):
    out = runner.invoke(app, ["validate-config", "--env", "prod", "--show"], env=_env(tmp_path, STREAMING_OBS_PII_SALT=SALT))
    assert out.exit_code == 0, out.output
    shown = json.loads(out.output[: out.output.rindex("}") + 1])
    assert shown["governance"]["mask_pii"] is True
    assert SALT not in out.output


def test_show_redacts_otlp_headers(tmp_path):
    env = _env(tmp_path, STREAMING_OBS_TELEMETRY__OTLP__HEADERS="{authorization: Bearer s3cr3t-token, x-tenant: t1}")
    out = runner.invoke(app, ["validate-config", "--env", "local", "--show"], env=env)
    assert out.exit_code == 0, out.output
    assert "s3cr3t" not in out.output and "t1" not in out.output
    shown = json.loads(out.output[: out.output.rindex("}") + 1])
    assert shown["telemetry"]["otlp"]["headers"] == {"authorization": "**********", "x-tenant": "**********"}


def test_prod_refuses_plaintext_headers_one_line(tmp_path):
    env = _env(tmp_path, STREAMING_OBS_PII_SALT=SALT,
               STREAMING_OBS_TELEMETRY__OTLP__ENDPOINT="http://collector:4317",
               STREAMING_OBS_TELEMETRY__OTLP__HEADERS="{api-key: k}")
    out = runner.invoke(app, ["validate-config", "--env", "prod"], env=env)
    assert out.exit_code == 2
    assert out.output.strip().splitlines() == [
        "error: $STREAMING_OBS_TELEMETRY__OTLP__ENDPOINT: telemetry.otlp.endpoint: prod refuses to send OTLP "
        "headers in plaintext; use an https:// endpoint (insecure: false)"
    ]
