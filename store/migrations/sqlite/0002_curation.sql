-- Curation: profile provenance and bookkeeping, the WebSocket initiator, and one
-- verdict per judged visit. Times are INTEGER microseconds since the Unix epoch
-- (UTC); booleans are INTEGER 0 or 1.
--
-- Only bounded values are indexed (identity keys of at most 200 bytes, visit keys
-- of at most 64, times), as in the Postgres schema.

-- Profiles: where the profile came from and curation's counts. first_seen and
-- last_seen are NULL when unknown.
ALTER TABLE profiles ADD COLUMN source TEXT NOT NULL DEFAULT 'imported' CHECK (source IN ('curated', 'builtin', 'imported'));
ALTER TABLE profiles ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1));
ALTER TABLE profiles ADD COLUMN browser_key TEXT NOT NULL DEFAULT '' CHECK (length(CAST(browser_key AS BLOB)) <= 200);
ALTER TABLE profiles ADD COLUMN wire_key TEXT NOT NULL DEFAULT '' CHECK (length(CAST(wire_key AS BLOB)) <= 200);
ALTER TABLE profiles ADD COLUMN first_seen INTEGER;
ALTER TABLE profiles ADD COLUMN last_seen INTEGER;
ALTER TABLE profiles ADD COLUMN visits INTEGER NOT NULL DEFAULT 0 CHECK (visits >= 0);
ALTER TABLE profiles ADD COLUMN addresses INTEGER NOT NULL DEFAULT 0 CHECK (addresses >= 0);
ALTER TABLE profiles ADD COLUMN stale INTEGER NOT NULL DEFAULT 0 CHECK (stale IN (0, 1));
CREATE INDEX profiles_keys_idx ON profiles (browser_key, wire_key);

-- Captures: accept the WebSocket initiator. SQLite cannot alter a CHECK
-- constraint, so the table is rebuilt (https://sqlite.org/lang_altertable.html,
-- "Making Other Kinds Of Table Schema Changes"): new table, copy (rowids kept),
-- drop, rename, then every index of 0001 again. No view, trigger or foreign key
-- refers to captures.
CREATE TABLE captures_new (
	id                TEXT PRIMARY KEY NOT NULL,
	created_at        INTEGER NOT NULL,
	visit_key         TEXT NOT NULL DEFAULT '',
	initiator         TEXT NOT NULL CHECK (initiator IN ('navigate', 'fetch', 'xhr', 'form', 'echo', 'api', 'websocket')),
	client_ip         TEXT NOT NULL DEFAULT '',
	user_agent        TEXT NOT NULL DEFAULT '',
	host              TEXT NOT NULL DEFAULT '',
	method            TEXT NOT NULL DEFAULT '',
	path              TEXT NOT NULL DEFAULT '',
	http_version      TEXT NOT NULL DEFAULT '',
	tls_version       TEXT NOT NULL DEFAULT '',
	sni               TEXT NOT NULL DEFAULT '',
	alpn              TEXT NOT NULL DEFAULT '',
	client_hello      BLOB,
	tls_summary       TEXT CHECK (tls_summary IS NULL OR json_valid(tls_summary)),
	headers           TEXT NOT NULL DEFAULT '[]',
	h2                TEXT CHECK (h2 IS NULL OR json_valid(h2)),
	ja3               TEXT NOT NULL DEFAULT '',
	ja3_hash          TEXT NOT NULL DEFAULT '',
	ja3n              TEXT NOT NULL DEFAULT '',
	ja3n_hash         TEXT NOT NULL DEFAULT '',
	ja4               TEXT NOT NULL DEFAULT '',
	ja4_r             TEXT NOT NULL DEFAULT '',
	ja4_o             TEXT NOT NULL DEFAULT '',
	ja4_ro            TEXT NOT NULL DEFAULT '',
	peetprint         TEXT NOT NULL DEFAULT '',
	peetprint_hash    TEXT NOT NULL DEFAULT '',
	akamai            TEXT NOT NULL DEFAULT '',
	akamai_hash       TEXT NOT NULL DEFAULT '',
	header_order      TEXT NOT NULL DEFAULT '',
	header_order_hash TEXT NOT NULL DEFAULT ''
) STRICT;

INSERT INTO captures_new (rowid, id, created_at, visit_key, initiator, client_ip, user_agent, host, method, path,
	http_version, tls_version, sni, alpn, client_hello, tls_summary, headers, h2,
	ja3, ja3_hash, ja3n, ja3n_hash, ja4, ja4_r, ja4_o, ja4_ro,
	peetprint, peetprint_hash, akamai, akamai_hash, header_order, header_order_hash)
SELECT rowid, id, created_at, visit_key, initiator, client_ip, user_agent, host, method, path,
	http_version, tls_version, sni, alpn, client_hello, tls_summary, headers, h2,
	ja3, ja3_hash, ja3n, ja3n_hash, ja4, ja4_r, ja4_o, ja4_ro,
	peetprint, peetprint_hash, akamai, akamai_hash, header_order, header_order_hash
FROM captures;

DROP TABLE captures;
ALTER TABLE captures_new RENAME TO captures;

CREATE INDEX captures_created_at_idx ON captures (created_at);
CREATE INDEX captures_visit_key_idx ON captures (visit_key, created_at) WHERE visit_key <> '';
CREATE INDEX captures_ja4_idx ON captures (ja4, created_at) WHERE ja4 <> '';
CREATE INDEX captures_ja4_r_idx ON captures (ja4_r, created_at) WHERE ja4_r <> '';
CREATE INDEX captures_ja3_hash_idx ON captures (ja3_hash, created_at) WHERE ja3_hash <> '';
CREATE INDEX captures_ja3n_hash_idx ON captures (ja3n_hash, created_at) WHERE ja3n_hash <> '';
CREATE INDEX captures_akamai_hash_idx ON captures (akamai_hash, created_at) WHERE akamai_hash <> '';
CREATE INDEX captures_peetprint_hash_idx ON captures (peetprint_hash, created_at) WHERE peetprint_hash <> '';
CREATE INDEX captures_header_order_hash_idx ON captures (header_order_hash, created_at) WHERE header_order_hash <> '';

-- Visit verdicts: curation's decision about one visit. details and profile are
-- JSON documents stored verbatim (NULL when absent); capture_ids is a JSON array of
-- capture IDs.
CREATE TABLE visit_verdicts (
	visit_key    TEXT PRIMARY KEY NOT NULL CHECK (length(CAST(visit_key AS BLOB)) BETWEEN 1 AND 64),
	seen_at      INTEGER NOT NULL,
	evaluated_at INTEGER NOT NULL,
	client_ip    TEXT NOT NULL DEFAULT '',
	user_agent   TEXT NOT NULL DEFAULT '',
	browser_key  TEXT NOT NULL DEFAULT '' CHECK (length(CAST(browser_key AS BLOB)) <= 200),
	wire_key     TEXT NOT NULL DEFAULT '' CHECK (length(CAST(wire_key AS BLOB)) <= 200),
	accepted     INTEGER NOT NULL CHECK (accepted IN (0, 1)),
	reason       TEXT NOT NULL DEFAULT '',
	details      TEXT CHECK (details IS NULL OR json_valid(details)),
	capture_ids  TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(capture_ids)),
	profile      TEXT CHECK (profile IS NULL OR json_valid(profile)),
	CHECK (accepted = 0 OR (browser_key <> '' AND wire_key <> ''))
) STRICT;

-- WireGroups: the accepted verdicts grouped by identity in key order; (seen_at,
-- visit_key) at the end finds each group's latest visit with one probe. Queries
-- repeat "accepted = 1" / "accepted = 0" so the planner can use the partial indexes.
CREATE INDEX visit_verdicts_groups_idx ON visit_verdicts (browser_key, wire_key, seen_at, visit_key) WHERE accepted = 1;
-- Retention deletes the refused verdicts seen before the cutoff.
CREATE INDEX visit_verdicts_refused_idx ON visit_verdicts (seen_at) WHERE accepted = 0;
