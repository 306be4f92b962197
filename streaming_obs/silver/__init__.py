"""Silver: bronze's change feed refined per entity — row-exact usage, latest-per-key upserts,
SCD2 history for jobs, clusters, warehouses and list prices."""

from streaming_obs.silver.flow import prepare_silver_batch, silver_flow, write_silver_batch

__all__ = ["prepare_silver_batch", "silver_flow", "write_silver_batch"]
