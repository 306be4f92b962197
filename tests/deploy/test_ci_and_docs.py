"""The users' CI workflow (actionlint, the README's test command, wheel, coverage) and the API docs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


def _actionlint() -> str | None:
    """actionlint from PATH or the venv, else installed by scripts/install_actionlint.sh (cached)."""
    for candidate in (shutil.which("actionlint"), str(Path(sys.executable).parent / "actionlint")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    run = subprocess.run(["bash", str(ROOT / "scripts" / "install_actionlint.sh")], capture_output=True, text=True,
                         timeout=600, env={**os.environ, "PYTHON": sys.executable})
    lines = run.stdout.strip().splitlines()
    return lines[-1] if run.returncode == 0 and lines else None


def test_actionlint_passes():
    binary = _actionlint()
    assert binary is not None, "actionlint missing and scripts/install_actionlint.sh could not install it"
    out = subprocess.run([binary, "-no-color", str(WORKFLOW)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_workflow_runs_the_readme_test_command_builds_the_wheel_and_reports_coverage():
    wf = yaml.safe_load(WORKFLOW.read_text())
    steps = [s for job in wf["jobs"].values() for s in job["steps"]]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "make test" in runs and "make wheel" in runs and "make docs" in runs
    # the end-to-end tier runs in both CIs, after the README's test command
    assert runs.index("make test-e2e") > runs.index("make test\n")
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.index("make test-e2e") > ci.index("make test\n")
    assert "coverage report" in runs
    makefile = (ROOT / "Makefile").read_text()
    test_recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "--cov=streaming_obs" in test_recipe and "--cov-report=xml" in test_recipe
    assert "python -m build" in makefile.split("\nwheel:", 1)[1].split("\n\n", 1)[0]
    assert any(s.get("uses", "").startswith("actions/setup-java") for s in steps)
    readme = (ROOT / "README.md").read_text()
    assert "`make test`" in readme


@pytest.mark.slow
def test_api_reference_builds_from_the_docstrings(tmp_path):
    out = tmp_path / "api"
    run = subprocess.run(["bash", str(ROOT / "scripts" / "build_api_docs.sh"), str(out)],
                         capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHON": sys.executable})
    assert run.returncode == 0, run.stderr[-3000:]
    page = (out / "streaming_obs" / "deploy" / "governance.html").read_text()
    assert "governance_statements" in page and "Unity Catalog" in page
    assert (out / "index.html").is_file()
