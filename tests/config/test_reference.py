"""The settings reference and JSON Schema come from the models; docs/configuration.md agrees."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streaming_obs.cli.main import app
from streaming_obs.config.reference import BEGIN, END, settings_json_schema, settings_reference, splice_reference

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "configuration.md"


def test_the_doc_agrees_with_the_models():
    text = DOC.read_text(encoding="utf-8")
    assert splice_reference(text) == text, "docs/configuration.md is stale: run python scripts/gen_config_doc.py"


@pytest.mark.parametrize("key", ["governance.reader_group", "governance.email_columns", "governance.text_columns",
                                 "simulator.root", "spark.app_name", "logging.json", "sources.&lt;name&gt;.mode",
                                 "telemetry.otlp.endpoint", "cost.anomaly.z_threshold"])
def test_the_reference_has_a_described_row_per_key(key):
    rows = {r.split(" | ")[0].lstrip("| "): r for r in settings_reference().splitlines()[2:]}
    assert key in rows
    meaning = rows[key].rstrip(" |").rsplit(" | ", 1)[1]
    assert len(meaning) > 10, rows[key]


def test_shipped_overrides_and_bounds_are_shown():
    rows = {r.split(" | ")[0].lstrip("| "): r for r in settings_reference().splitlines()[2:]}
    assert "local 5.0" in rows["trigger.interval_seconds"] and "prod 30.0" in rows["trigger.interval_seconds"]
    assert "(≥ 168)" in rows["maintenance.vacuum_retention_hours"]
    assert "`cdf` \\| `append` \\| `snapshot`" in rows["sources.&lt;name&gt;.mode"]


def test_a_new_field_makes_the_doc_stale():
    from pydantic import Field, create_model

    from streaming_obs.config.models import Settings

    extended = create_model("Extended", __base__=Settings, burst=(int, Field(3, description="Rows per burst.")))
    text = DOC.read_text(encoding="utf-8")
    spliced = splice_reference(text, settings_reference(extended))
    assert "| burst | int | 3 |  | Rows per burst. |" in spliced
    assert spliced != text


def test_splice_needs_the_markers():
    with pytest.raises(ValueError, match="markers"):
        splice_reference("# no markers")
    assert splice_reference(f"a\n{BEGIN}\nold\n{END}\nb", "new\n") == f"a\n{BEGIN}\nnew\n{END}\nb"


def test_the_script_checks_and_writes(tmp_path):
    check = subprocess.run([sys.executable, "scripts/gen_config_doc.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_config_schema_prints_the_json_schema():
    out = CliRunner().invoke(app, ["config", "schema"])
    assert out.exit_code == 0, out.output
    schema = json.loads(out.stdout)
    assert schema == settings_json_schema()
    assert schema["required"] == ["sources"]
    gov = schema["$defs"]["GovernanceConfig"]["properties"]
    assert gov["reader_group"]["default"] == "streaming_obs_readers" and gov["reader_group"]["description"]
    assert schema["$defs"]["LoggingConfig"]["properties"]["json"]["type"] == "boolean"  # the alias, as in YAML
    assert schema["$defs"]["SchemasConfig"]["additionalProperties"] is False
