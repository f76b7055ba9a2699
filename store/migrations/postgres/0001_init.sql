-- Captures: one row per fingerprinted request. Text columns are NOT NULL with ''
-- meaning "not applicable"; JSON documents use the json type (stored verbatim, so
-- object key order and header pair order survive a round trip).
CREATE TABLE captures (
	id                text PRIMARY KEY,
	created_at        timestamptz NOT NULL,
	visit_key         text NOT NULL DEFAULT '',
	initiator         text NOT NULL CHECK (initiator IN ('navigate', 'fetch', 'xhr', 'form', 'echo', 'api')),
	client_ip         text NOT NULL DEFAULT '',
	user_agent        text NOT NULL DEFAULT '',
	host              text NOT NULL DEFAULT '',
	method            text NOT NULL DEFAULT '',
	path              text NOT NULL DEFAULT '',
	http_version      text NOT NULL DEFAULT '',
	tls_version       text NOT NULL DEFAULT '',
	sni               text NOT NULL DEFAULT '',
	alpn              text NOT NULL DEFAULT '',
	client_hello      bytea,
	tls_summary       json,
	headers           json NOT NULL DEFAULT '[]',
	h2                json,
	ja3               text NOT NULL DEFAULT '',
	ja3_hash          text NOT NULL DEFAULT '',
	ja3n              text NOT NULL DEFAULT '',
	ja3n_hash         text NOT NULL DEFAULT '',
	ja4               text NOT NULL DEFAULT '',
	ja4_r             text NOT NULL DEFAULT '',
	ja4_o             text NOT NULL DEFAULT '',
	ja4_ro            text NOT NULL DEFAULT '',
	peetprint         text NOT NULL DEFAULT '',
	peetprint_hash    text NOT NULL DEFAULT '',
	akamai            text NOT NULL DEFAULT '',
	akamai_hash       text NOT NULL DEFAULT '',
	header_order      text NOT NULL DEFAULT '',
	header_order_hash text NOT NULL DEFAULT ''
);

-- Captures are ~2-4 KB and mostly incompressible (the ClientHello carries random and
-- key-share bytes): keep rows up to a full page inline instead of compressing and
-- moving columns to TOAST at the default 2 KB threshold, which costs write CPU.
ALTER TABLE captures SET (toast_tuple_target = 8160);

CREATE INDEX captures_created_at_idx ON captures (created_at);
CREATE INDEX captures_visit_key_idx ON captures (visit_key, created_at) WHERE visit_key <> '';

-- One partial index per looked-up fingerprint: (value, created_at) serves the exact
-- match, newest-first listing and first/last seen. Queries repeat "<> ''" so the
-- planner can use the partial index.
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
	name       text PRIMARY KEY,
	browser    text NOT NULL DEFAULT '',
	version    text NOT NULL DEFAULT '',
	platform   text NOT NULL DEFAULT '',
	document   json NOT NULL,
	updated_at timestamptz NOT NULL
);
CREATE INDEX profiles_browser_version_idx ON profiles (browser, version);
CREATE INDEX profiles_platform_idx ON profiles (platform);
