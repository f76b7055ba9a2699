-- Captures: one row per fingerprinted request. Times are INTEGER microseconds since
-- the Unix epoch (UTC). Text columns are NOT NULL with '' meaning "not applicable";
-- JSON documents are stored verbatim as TEXT.
CREATE TABLE captures (
	id                TEXT PRIMARY KEY NOT NULL,
	created_at        INTEGER NOT NULL,
	visit_key         TEXT NOT NULL DEFAULT '',
	initiator         TEXT NOT NULL CHECK (initiator IN ('navigate', 'fetch', 'xhr', 'form', 'echo', 'api')),
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

CREATE INDEX captures_created_at_idx ON captures (created_at);
CREATE INDEX captures_visit_key_idx ON captures (visit_key, created_at) WHERE visit_key <> '';

-- One partial index per looked-up fingerprint; queries repeat "<> ''" so the planner
-- can use them.
CREATE INDEX captures_ja4_idx ON captures (ja4, created_at) WHERE ja4 <> '';
CREATE INDEX captures_ja4_r_idx ON captures (ja4_r, created_at) WHERE ja4_r <> '';
CREATE INDEX captures_ja3_hash_idx ON captures (ja3_hash, created_at) WHERE ja3_hash <> '';
CREATE INDEX captures_ja3n_hash_idx ON captures (ja3n_hash, created_at) WHERE ja3n_hash <> '';
CREATE INDEX captures_akamai_hash_idx ON captures (akamai_hash, created_at) WHERE akamai_hash <> '';
CREATE INDEX captures_peetprint_hash_idx ON captures (peetprint_hash, created_at) WHERE peetprint_hash <> '';
CREATE INDEX captures_header_order_hash_idx ON captures (header_order_hash, created_at) WHERE header_order_hash <> '';

-- Emulation profiles: the document is stored whole; the other columns are indexed
-- copies for listing and selection.
CREATE TABLE profiles (
	name       TEXT PRIMARY KEY NOT NULL,
	browser    TEXT NOT NULL DEFAULT '',
	version    TEXT NOT NULL DEFAULT '',
	platform   TEXT NOT NULL DEFAULT '',
	document   TEXT NOT NULL CHECK (json_valid(document)),
	updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX profiles_browser_version_idx ON profiles (browser, version);
CREATE INDEX profiles_platform_idx ON profiles (platform);
