GRANT {privileges} ON {securable_type} {securable} TO `{principal}`
