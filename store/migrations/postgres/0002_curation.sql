-- Curation: profile provenance and bookkeeping, the WebSocket initiator, and one
-- verdict per judged visit.
--
-- No btree index key holds unbounded text (Postgres refuses index entries over
-- ~2.7 KB): only the identity keys (at most 200 bytes, checked below as well as by
-- model.Profile.Validate / VisitVerdict.Validate), visit keys (capture ID alphabet,
-- at most 64 bytes) and times are indexed. The identity keys and visit keys use the
-- C collation, so equality, ORDER BY and the indexes all agree on byte order, as in
-- SQLite.

-- Profiles: where the profile came from and curation's counts. first_seen and
-- last_seen are NULL when unknown.
ALTER TABLE profiles
	ADD COLUMN source      text NOT NULL DEFAULT 'imported' CHECK (source IN ('curated', 'builtin', 'imported')),
	ADD COLUMN pinned      boolean NOT NULL DEFAULT false,
	ADD COLUMN browser_key text COLLATE "C" NOT NULL DEFAULT '' CHECK (octet_length(browser_key) <= 200),
	ADD COLUMN wire_key    text COLLATE "C" NOT NULL DEFAULT '' CHECK (octet_length(wire_key) <= 200),
	ADD COLUMN first_seen  timestamptz,
	ADD COLUMN last_seen   timestamptz,
	ADD COLUMN visits      bigint NOT NULL DEFAULT 0 CHECK (visits >= 0),
	ADD COLUMN addresses   bigint NOT NULL DEFAULT 0 CHECK (addresses >= 0),
	ADD COLUMN stale       boolean NOT NULL DEFAULT false;
CREATE INDEX profiles_keys_idx ON profiles (browser_key, wire_key);

-- Captures: accept the WebSocket initiator. Every stored row passed the narrower
-- check, so the wider one is added NOT VALID: it applies to every new row without
-- a full scan of captures while this transaction holds its exclusive lock.
ALTER TABLE captures DROP CONSTRAINT captures_initiator_check;
ALTER TABLE captures ADD CONSTRAINT captures_initiator_check
	CHECK (initiator IN ('navigate', 'fetch', 'xhr', 'form', 'echo', 'api', 'websocket')) NOT VALID;

-- Visit verdicts: curation's decision about one visit. details and profile are
-- JSON documents stored verbatim (NULL when absent); capture_ids is a JSON array of
-- capture IDs.
CREATE TABLE visit_verdicts (
	visit_key    text COLLATE "C" PRIMARY KEY CHECK (octet_length(visit_key) BETWEEN 1 AND 64),
	seen_at      timestamptz NOT NULL,
	evaluated_at timestamptz NOT NULL,
	client_ip    text NOT NULL DEFAULT '',
	user_agent   text NOT NULL DEFAULT '',
	browser_key  text COLLATE "C" NOT NULL DEFAULT '' CHECK (octet_length(browser_key) <= 200),
	wire_key     text COLLATE "C" NOT NULL DEFAULT '' CHECK (octet_length(wire_key) <= 200),
	accepted     boolean NOT NULL,
	reason       text NOT NULL DEFAULT '',
	details      json,
	capture_ids  json NOT NULL DEFAULT '[]',
	profile      json,
	CHECK (NOT accepted OR (browser_key <> '' AND wire_key <> ''))
);

-- WireGroups: the accepted verdicts grouped by identity in key order; (seen_at,
-- visit_key) at the end finds each group's latest visit with one backward probe.
CREATE INDEX visit_verdicts_groups_idx ON visit_verdicts (browser_key, wire_key, seen_at, visit_key) WHERE accepted;
-- Retention deletes the refused verdicts seen before the cutoff.
CREATE INDEX visit_verdicts_refused_idx ON visit_verdicts (seen_at) WHERE NOT accepted;
