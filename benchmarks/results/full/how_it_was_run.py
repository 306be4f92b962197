# A shortened --full: the 10^5 -> 10^6 -> 10^7 silver sizes, one update per point,
# 20 s freshness windows, gold-only maintenance (to fit the session); mode recorded as "full".
import sys
from benchmarks import run as r
r.SIZES["full"] = {"history_rows": 100_000, "days": 2, "scale": [1_000_000, 10_000_000], "batch_rows": 2_000,
                   "steps": 1, "fresh_s": 20, "rates": [1_000, 10_000], "maintain": ("gold",)}
sys.exit(r.main(["--full"]))
