ALTER TABLE {table} SET ROW FILTER {function} ON ({column})
