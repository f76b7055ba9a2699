-- Nothing to change in Postgres. SQLite's migration 0007 rebuilds its requests
-- table without CHECK constraints so that the writer's multi-row INSERTs need
-- no statement journal; Postgres has no such journal (COPY, and INSERT ... ON
-- CONFLICT DO NOTHING for replays) and keeps its constraints. The file keeps
-- the two dialects' migrations numbered alike.
SELECT 1;
