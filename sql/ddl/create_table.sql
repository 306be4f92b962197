CREATE TABLE IF NOT EXISTS {table} ({columns})
USING DELTA
{partitioning}
TBLPROPERTIES (delta.enableChangeDataFeed = true)
