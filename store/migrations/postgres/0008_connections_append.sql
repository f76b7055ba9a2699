-- Nothing to change in Postgres. SQLite's migration 0008 gives its
-- connections table rowids in insertion order (id becomes a UNIQUE column) so
-- that a new connection's row is appended rather than put into a random page;
-- a Postgres heap appends anyway and its primary key index stays. The file
-- keeps the two dialects' migrations numbered alike.
SELECT 1;
