ALTER TABLE {table} ALTER COLUMN {column} SET MASK {function}
