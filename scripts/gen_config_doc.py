"""Regenerate the references in docs/ made from the code: the settings table of
docs/configuration.md (from the pydantic models) and the checks table of docs/quality-rules.md
(from the quality check registry).

    python scripts/gen_config_doc.py          # rewrite the tables between their markers
    python scripts/gen_config_doc.py --check  # exit 1 if a doc disagrees with the code
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streaming_obs.config.reference import splice, splice_reference  # noqa: E402
from streaming_obs.quality.checks import CHECKS_BEGIN, CHECKS_END, checks_reference  # noqa: E402

DOCS = {
    ROOT / "docs" / "configuration.md": splice_reference,
    ROOT / "docs" / "quality-rules.md": lambda text: splice(text, CHECKS_BEGIN, CHECKS_END, checks_reference()),
}


def main(argv: list[str]) -> int:
    stale = 0
    for doc, make in DOCS.items():
        current = doc.read_text(encoding="utf-8")
        wanted = make(current)
        if "--check" in argv:
            if current != wanted:
                print(f"{doc.relative_to(ROOT)} is out of date: run python scripts/gen_config_doc.py", file=sys.stderr)
                stale = 1
        else:
            doc.write_text(wanted, encoding="utf-8")
    return stale


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
