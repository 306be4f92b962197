-- Column mask of identities (emails, user names): the admin group reads them, anyone else reads
-- sha256 of the trimmed, lower-cased value (one pseudonym per person; NULL stays NULL).
CREATE OR REPLACE FUNCTION {function}(value STRING)
RETURNS STRING
COMMENT 'streaming_obs: identities hashed for everyone outside {admin_group}'
RETURN CASE WHEN is_account_group_member('{admin_group}') THEN value ELSE sha2(lower(trim(value)), 256) END
