"""Regenerate the settings reference in docs/configuration.md from the pydantic models.

    python scripts/gen_config_doc.py          # rewrite the table between the markers
    python scripts/gen_config_doc.py --check  # exit 1 if the doc disagrees with the models
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streaming_obs.config.reference import splice_reference  # noqa: E402

DOC = ROOT / "docs" / "configuration.md"


def main(argv: list[str]) -> int:
    current = DOC.read_text(encoding="utf-8")
    wanted = splice_reference(current)
    if "--check" in argv:
        if current != wanted:
            print(f"{DOC.relative_to(ROOT)} is out of date: run python scripts/gen_config_doc.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
