"""Rewrite the golden SQL after an intended change: python -m tests.deploy.golden"""

from pathlib import Path

from streaming_obs.config import load_settings
from streaming_obs.deploy.governance import governance_statements

out = Path(__file__).parent / "governance_prod_head.sql"
out.write_text(";\n\n".join(governance_statements(load_settings("prod", environ={}))[:6]) + ";\n")
print(f"wrote {out}")
