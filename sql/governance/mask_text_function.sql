-- Column mask of free text (statement_text): the admin group reads it, anyone else reads
-- sha256 of the text, enough to count repeats of one statement without reading it.
CREATE OR REPLACE FUNCTION {function}(value STRING)
RETURNS STRING
COMMENT 'streaming_obs: free text hashed for everyone outside {admin_group}'
RETURN CASE WHEN is_account_group_member('{admin_group}') THEN value ELSE sha2(value, 256) END
