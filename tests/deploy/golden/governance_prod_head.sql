CREATE TABLE IF NOT EXISTS streaming_obs_prod.plt_ops.workspace_access (
  group_name STRING NOT NULL COMMENT 'account group whose members may read the workspace',
  workspace_id STRING NOT NULL COMMENT 'workspace id as the system tables spell it'
)
USING DELTA
COMMENT 'streaming_obs workspace isolation: group -> workspace ids read by streaming_obs_prod.plt_ops.workspace_filter';

CREATE OR REPLACE FUNCTION streaming_obs_prod.plt_ops.workspace_filter(row_workspace_id STRING)
RETURNS BOOLEAN
COMMENT 'streaming_obs: rows of the workspaces mapped to the groups of the reader in streaming_obs_prod.plt_ops.workspace_access'
RETURN is_account_group_member('streaming_obs_admins')
  OR EXISTS (
    SELECT 1
    FROM streaming_obs_prod.plt_ops.workspace_access AS m
    WHERE m.workspace_id = row_workspace_id
      AND is_account_group_member(m.group_name)
  );

CREATE OR REPLACE FUNCTION streaming_obs_prod.plt_ops.mask_email(value STRING)
RETURNS STRING
COMMENT 'streaming_obs: identities hashed for everyone outside streaming_obs_admins'
RETURN CASE WHEN is_account_group_member('streaming_obs_admins') THEN value ELSE sha2(lower(trim(value)), 256) END;

CREATE OR REPLACE FUNCTION streaming_obs_prod.plt_ops.mask_text(value STRING)
RETURNS STRING
COMMENT 'streaming_obs: free text hashed for everyone outside streaming_obs_admins'
RETURN CASE WHEN is_account_group_member('streaming_obs_admins') THEN value ELSE sha2(value, 256) END;
