CREATE TABLE IF NOT EXISTS streaming_obs_prod.plt_ops.workspace_access (
  group_name STRING NOT NULL COMMENT 'account group whose members may read the workspace',
  workspace_id STRING NOT NULL COMMENT 'workspace id as the system tables spell it'
)
USING DELTA
COMMENT 'streaming_obs workspace isolation: group -> workspace ids read by streaming_obs_prod.plt_ops.workspace_filter';

CREATE TABLE IF NOT EXISTS streaming_obs_prod.plt_ops.pii_salt (
  salt STRING NOT NULL COMMENT 'secret: the salt of the PII pseudonyms'
)
USING DELTA
COMMENT 'streaming_obs PII salt read by streaming_obs_prod.plt_ops.mask_email and streaming_obs_prod.plt_ops.mask_text; admins only';

INSERT OVERWRITE streaming_obs_prod.plt_ops.pii_salt SELECT :pii_salt AS salt;

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
COMMENT 'streaming_obs: identities hashed with the salt of streaming_obs_prod.plt_ops.pii_salt for everyone outside streaming_obs_admins'
RETURN CASE
  WHEN is_account_group_member('streaming_obs_admins') THEN value
  WHEN value RLIKE '^[0-9a-f]{64}$' THEN value
  ELSE sha2(concat((SELECT max(s.salt) FROM streaming_obs_prod.plt_ops.pii_salt AS s), char(31), lower(trim(value))), 256)
END;

CREATE OR REPLACE FUNCTION streaming_obs_prod.plt_ops.mask_text(value STRING)
RETURNS STRING
COMMENT 'streaming_obs: free text hashed with the salt of streaming_obs_prod.plt_ops.pii_salt for everyone outside streaming_obs_admins'
RETURN CASE
  WHEN is_account_group_member('streaming_obs_admins') THEN value
  WHEN value RLIKE '^[0-9a-f]{64}$' THEN value
  ELSE sha2(concat((SELECT max(s.salt) FROM streaming_obs_prod.plt_ops.pii_salt AS s), char(31), value), 256)
END;
