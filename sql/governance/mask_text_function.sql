-- Column mask of free text (statement_text): the admin group reads it, anyone else reads
-- sha256 of salt || 0x1F || the text, enough to count repeats of one statement without reading
-- it; the formula of governance.mask_pii (deploy/masking.py). NULL stays NULL.
CREATE OR REPLACE FUNCTION {function}(value STRING)
RETURNS STRING
COMMENT 'streaming_obs: free text hashed with the salt of {salt_table} for everyone outside {admin_group}'
RETURN CASE
  WHEN is_account_group_member('{admin_group}') THEN value
  WHEN value RLIKE '^[0-9a-f]{{64}}$' THEN value
  ELSE sha2(concat((SELECT max(s.salt) FROM {salt_table} AS s), char(31), value), 256)
END
