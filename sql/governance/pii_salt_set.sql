-- Stores the salt (what `govern --apply` does for this line). :pii_salt stands for the secret,
-- which `govern` writes as a one-row DataFrame with insertInto(overwrite=True): the salt is data,
-- never formatted into SQL text, printed by a dry run or written to the audit. Overwriting with
-- the same secret changes nothing; a new secret changes every pseudonym non-admins read.
INSERT OVERWRITE {table} SELECT :pii_salt AS salt
