"""Bronze: source rows appended as they came, with ingest metadata; change data feed on."""

from streaming_obs.bronze.flow import bronze_flow, write_bronze_batch

__all__ = ["bronze_flow", "write_bronze_batch"]
