-- Row filter of workspace isolation. The admin group sees every row; anyone else sees the rows
-- of the workspaces that the mapping table grants to one of their account groups. The parameter
-- is not named workspace_id so that it cannot be captured by the mapping table's column.
-- The admin group is rendered, not bound: a function body cannot take parameter markers; the
-- name is validated as a plain identifier (letters, digits, '_') before it reaches this text.
CREATE OR REPLACE FUNCTION {function}(row_workspace_id STRING)
RETURNS BOOLEAN
COMMENT 'streaming_obs: rows of the workspaces mapped to the groups of the reader in {map_table}'
RETURN is_account_group_member('{admin_group}')
  OR EXISTS (
    SELECT 1
    FROM {map_table} AS m
    WHERE m.workspace_id = row_workspace_id
      AND is_account_group_member(m.group_name)
  )
