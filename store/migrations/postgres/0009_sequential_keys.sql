-- Nothing to change in Postgres. SQLite's migration 0009 gives its
-- connections and dict tables rowids in insertion order (connections.seq,
-- which requests.conn_id then refers to, and dict.id as a UNIQUE column)
-- and stores capture ids of model.NewCaptureID's shape as 16 bytes; a
-- Postgres heap appends anyway, its requests keep the connection's hash
-- (they are partitioned by day) and its ids stay text. The file keeps the
-- two dialects' migrations numbered alike.
SELECT 1;
