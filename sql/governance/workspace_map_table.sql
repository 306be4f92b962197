-- Mapping table of workspace isolation: a member of `group_name` may read the rows of
-- `workspace_id` in every row-filtered table. Admins maintain it (INSERT/DELETE); no restart.
CREATE TABLE IF NOT EXISTS {table} (
  group_name STRING NOT NULL COMMENT 'account group whose members may read the workspace',
  workspace_id STRING NOT NULL COMMENT 'workspace id as the system tables spell it'
)
USING DELTA
COMMENT 'streaming_obs workspace isolation: group -> workspace ids read by {function}'
