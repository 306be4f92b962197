"""The embedded default source: a simulator of the Databricks system tables.

It writes Delta tables with the official schemas (`sql/ddl/system/*.ddl`) and the change data
feed on, at `Tables(settings).source(name).path`, looking like a real account: several
workspaces, hundreds of jobs and clusters, warehouses, tagged and untagged usage, classic and
serverless SKUs (one without any list price), price changes, RETRACTION/RESTATEMENT pairs,
late rows, renamed jobs and clusters (SCD2), hourly-sliced runs, per-minute node metrics,
query history with RUNNING and final rows, and audit events.

- `simulate_history(spark, settings, days=..., seed=..., usage_rows=..., end=...)`: a window of
  history in one go (billing usage generated in Spark, so 10 million rows are practical).
- `SimulatorStream(spark, settings, rows_per_second=..., seed=...)`: `.step(now)` appends one
  flush; `.run(duration_s, stop_event)` steps every `simulator.flush_seconds`.

Same seed (and same `end`, or the same sequence of `now`) gives the same data.
"""

from streaming_obs.sources.simulator.catalog import SKUS, UNPRICED_SKU, Universe
from streaming_obs.sources.simulator.history import DEFAULT_END, simulate_history, universe_for
from streaming_obs.sources.simulator.stream import SimulatorStream

__all__ = [
    "DEFAULT_END",
    "SKUS",
    "UNPRICED_SKU",
    "SimulatorStream",
    "Universe",
    "simulate_history",
    "universe_for",
]
