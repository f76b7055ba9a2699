-- Nothing to change in Postgres. SQLite's migration 0009 gives connections
-- an insertion-ordered INTEGER PRIMARY KEY (seq) and makes requests.conn_id
-- refer to it, so that its index of requests by connection is appended to
-- rather than written at random places; Postgres keeps requests by
-- connection hash (its requests are partitioned by day). The file keeps
-- the two dialects' migrations numbered alike.
SELECT 1;
