"""Sources: the Databricks system tables (or the simulator of them) and how they are read."""
