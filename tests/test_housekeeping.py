"""LICENSE, CHANGELOG, one version, and no reference to files outside the repository."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import streaming_obs
from streaming_obs._version import __version__

ROOT = Path(__file__).resolve().parents[1]


def test_license_is_the_full_apache_2_text():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    for clause in ("TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION", "9. Accepting Warranty or Additional Liability",
                   "END OF TERMS AND CONDITIONS"):
        assert clause in text
    assert 'license="Apache-2.0"' in (ROOT / "setup.py").read_text()


def test_changelog_follows_keep_a_changelog():
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    releases = re.findall(r"^## \[(.+?)\]", text, re.M)
    assert releases == ["Unreleased", "0.1.0"]
    assert "## [Unreleased] - 0.2.0" in text and __version__.startswith("0.2.0")
    for block in re.split(r"^## ", text, flags=re.M)[1:]:
        assert set(re.findall(r"^### (\w+)", block, re.M)) <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}
        assert "### " in block


def test_the_version_is_written_once():
    assert streaming_obs.__version__ == __version__
    setup = (ROOT / "setup.py").read_text()
    assert __version__ not in setup and "version=VERSION" in setup
    out = subprocess.run([sys.executable, "setup.py", "--version"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == __version__, out.stderr
    hits = subprocess.run(["git", "grep", "-l", "-F", __version__], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert hits == ["streaming_obs/_version.py"], hits


def test_no_reference_to_a_design_note_outside_the_repo():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    offenders = []
    for name in files:
        path = ROOT / name
        if name == Path(__file__).relative_to(ROOT).as_posix() or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if "design.md" in text:
            offenders.append(name)
    assert offenders == []
