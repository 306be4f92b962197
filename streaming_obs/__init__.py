"""streaming_obs: Databricks cost and reliability, streamed from the system tables.

Spark Structured Streaming takes the system tables through bronze, silver and gold Delta
tables, checks data quality on every micro-batch and exports OpenTelemetry metrics.
"""

from streaming_obs._version import __version__
from streaming_obs.config import Settings, load_settings
from streaming_obs.errors import StreamingObsError

__all__ = ["Settings", "StreamingObsError", "__version__", "load_settings"]
