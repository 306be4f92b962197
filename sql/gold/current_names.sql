-- Current name of each entity: the SCD2 row with the latest change_time per (workspace_id, id).
SELECT workspace_id, {id_col} AS id, MAX_BY({name_col}, change_time) AS name
FROM {history}
GROUP BY workspace_id, {id_col}
