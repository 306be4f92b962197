-- The salt of the PII column masks, one row. Only the admin group can read the ops schema; the
-- mask functions read it on behalf of everyone (as workspace_filter reads the mapping table), so
-- readers get salted hashes without being able to read the salt. `govern --apply` writes it from
-- the secret (governance.pii_salt_env), bound as a parameter, never rendered into this text.
CREATE TABLE IF NOT EXISTS {table} (
  salt STRING NOT NULL COMMENT 'secret: the salt of the PII pseudonyms'
)
USING DELTA
COMMENT 'streaming_obs PII salt read by {mask_email} and {mask_text}; admins only'
