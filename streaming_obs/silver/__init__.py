"""Silver: each source refined per entity in the batch that appended it to bronze — usage
deduplicated by record_id, latest-per-key upserts, SCD2 history for jobs, clusters, warehouses
and list prices."""

from streaming_obs.silver.write import to_silver_rows, write_silver

__all__ = ["to_silver_rows", "write_silver"]
