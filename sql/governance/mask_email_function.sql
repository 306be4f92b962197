-- Column mask of identities (emails, user names): the admin group reads them, anyone else reads
-- sha256 of salt || 0x1F || the trimmed, lower-cased value: the formula of governance.mask_pii
-- (deploy/masking.py), so one person has one pseudonym everywhere, and a value that already is
-- such a hash (64 lower-case hex characters) is kept. NULL stays NULL; without a salt row the
-- mask returns NULL rather than an unsalted, reversible hash.
CREATE OR REPLACE FUNCTION {function}(value STRING)
RETURNS STRING
COMMENT 'streaming_obs: identities hashed with the salt of {salt_table} for everyone outside {admin_group}'
RETURN CASE
  WHEN is_account_group_member('{admin_group}') THEN value
  WHEN value RLIKE '^[0-9a-f]{{64}}$' THEN value
  ELSE sha2(concat((SELECT max(s.salt) FROM {salt_table} AS s), char(31), lower(trim(value))), 256)
END
