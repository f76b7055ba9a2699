-- Normalised captures (see store/model/rows.go): one row per connection, one
-- small row per request, every repeated text once in dict. The old captures
-- table is renamed captures_legacy; the backend converts its rows in bounded
-- chunks when it opens the database (Go code: the keys are model.DictID
-- hashes) and drops it when it is empty. captures becomes a view with the old
-- columns plus the reference columns lookups use.
--
-- References to dict are INTEGER model.DictID values, NULL for "none". No
-- foreign keys: rows are written in one transaction per batch and retention
-- removes requests, then unreferenced connections, then dict entries unused for
-- longer than the writers' cache lifetime (model.DictRetentionSlack).
ALTER TABLE captures RENAME TO captures_legacy;
DROP INDEX captures_created_at_idx;
DROP INDEX captures_ja4_idx;
DROP INDEX captures_ja4_r_idx;
DROP INDEX captures_ja3_hash_idx;
DROP INDEX captures_ja3n_hash_idx;
DROP INDEX captures_akamai_hash_idx;
DROP INDEX captures_peetprint_hash_idx;
DROP INDEX captures_header_order_hash_idx;
-- captures_visit_key_idx is kept until the legacy rows are converted (the
-- conversion does not need it, but pages do not read legacy rows either).
DROP INDEX captures_visit_key_idx;

CREATE TABLE dict (
	id        INTEGER PRIMARY KEY,
	kind      TEXT NOT NULL,
	value     TEXT NOT NULL,
	hash      TEXT NOT NULL DEFAULT '',
	last_seen INTEGER NOT NULL
) STRICT;
CREATE INDEX dict_last_seen_idx ON dict (last_seen);
-- Lookups of the hashed kinds (JA3, JA3N, PeetPrint, Akamai, header order) by
-- hash; hashes are fixed-length (model.Capture.ValidateFields bounds them).
CREATE INDEX dict_hash_idx ON dict (hash) WHERE hash <> '';

CREATE TABLE connections (
	id           INTEGER PRIMARY KEY,
	created_at   INTEGER NOT NULL,
	client_ip    TEXT NOT NULL DEFAULT '',
	tls_version  TEXT NOT NULL DEFAULT '',
	sni          TEXT NOT NULL DEFAULT '',
	alpn         TEXT NOT NULL DEFAULT '',
	client_hello BLOB,
	tls_summary  INTEGER,
	ja3          INTEGER,
	ja3n         INTEGER,
	ja4          INTEGER,
	ja4_r        INTEGER,
	ja4_o        INTEGER,
	ja4_ro       INTEGER,
	peetprint    INTEGER
) STRICT;
CREATE INDEX connections_created_at_idx ON connections (created_at);
CREATE INDEX connections_ja3_idx ON connections (ja3) WHERE ja3 IS NOT NULL;
CREATE INDEX connections_ja3n_idx ON connections (ja3n) WHERE ja3n IS NOT NULL;
CREATE INDEX connections_ja4_idx ON connections (ja4) WHERE ja4 IS NOT NULL;
CREATE INDEX connections_ja4_r_idx ON connections (ja4_r) WHERE ja4_r IS NOT NULL;
CREATE INDEX connections_peetprint_idx ON connections (peetprint) WHERE peetprint IS NOT NULL;

CREATE TABLE requests (
	id            TEXT NOT NULL UNIQUE CHECK (length(CAST(id AS BLOB)) BETWEEN 1 AND 64),
	created_at    INTEGER NOT NULL,
	conn_id       INTEGER NOT NULL,
	visit_key     TEXT NOT NULL DEFAULT '' CHECK (length(CAST(visit_key AS BLOB)) <= 64),
	initiator     TEXT NOT NULL CHECK (initiator IN ('navigate', 'fetch', 'xhr', 'form', 'echo', 'api', 'websocket')),
	method        TEXT NOT NULL DEFAULT '',
	path          TEXT NOT NULL DEFAULT '',
	http_version  TEXT NOT NULL DEFAULT '',
	stream_id     INTEGER NOT NULL DEFAULT 0,
	host          INTEGER,
	user_agent    INTEGER,
	header_names  INTEGER,
	header_values INTEGER,
	h2            INTEGER,
	akamai        INTEGER,
	header_order  INTEGER
) STRICT;
CREATE INDEX requests_created_at_idx ON requests (created_at);
CREATE INDEX requests_conn_idx ON requests (conn_id);
CREATE INDEX requests_visit_key_idx ON requests (visit_key, created_at) WHERE visit_key <> '';
CREATE INDEX requests_akamai_idx ON requests (akamai, created_at) WHERE akamai IS NOT NULL;
CREATE INDEX requests_header_order_idx ON requests (header_order, created_at) WHERE header_order IS NOT NULL;

-- The capture as the Store interface returns it. Text columns are '' when
-- absent, as in the old table; *_ref are the dict references lookups use.
CREATE VIEW captures AS
SELECT r.id, r.created_at, r.visit_key, r.initiator, c.client_ip,
	COALESCE(ua.value, '') AS user_agent, COALESCE(h.value, '') AS host,
	r.method, r.path, r.http_version, c.tls_version, c.sni, c.alpn, c.client_hello,
	ts.value AS tls_summary, hn.value AS header_names, hv.value AS header_values, h2.value AS h2, r.stream_id,
	COALESCE(ja3.value, '') AS ja3, COALESCE(ja3.hash, '') AS ja3_hash,
	COALESCE(ja3n.value, '') AS ja3n, COALESCE(ja3n.hash, '') AS ja3n_hash,
	COALESCE(ja4.value, '') AS ja4, COALESCE(ja4r.value, '') AS ja4_r,
	COALESCE(ja4o.value, '') AS ja4_o, COALESCE(ja4ro.value, '') AS ja4_ro,
	COALESCE(pp.value, '') AS peetprint, COALESCE(pp.hash, '') AS peetprint_hash,
	COALESCE(ak.value, '') AS akamai, COALESCE(ak.hash, '') AS akamai_hash,
	COALESCE(ho.value, '') AS header_order, COALESCE(ho.hash, '') AS header_order_hash,
	r.conn_id, r.user_agent AS user_agent_ref,
	c.ja4 AS ja4_ref, c.ja4_r AS ja4_r_ref, c.ja3 AS ja3_hash_ref, c.ja3n AS ja3n_hash_ref,
	r.akamai AS akamai_hash_ref, c.peetprint AS peetprint_hash_ref, r.header_order AS header_order_hash_ref
FROM requests r
JOIN connections c ON c.id = r.conn_id
LEFT JOIN dict ua ON ua.id = r.user_agent
LEFT JOIN dict h ON h.id = r.host
LEFT JOIN dict ts ON ts.id = c.tls_summary
LEFT JOIN dict hn ON hn.id = r.header_names
LEFT JOIN dict hv ON hv.id = r.header_values
LEFT JOIN dict h2 ON h2.id = r.h2
LEFT JOIN dict ja3 ON ja3.id = c.ja3
LEFT JOIN dict ja3n ON ja3n.id = c.ja3n
LEFT JOIN dict ja4 ON ja4.id = c.ja4
LEFT JOIN dict ja4r ON ja4r.id = c.ja4_r
LEFT JOIN dict ja4o ON ja4o.id = c.ja4_o
LEFT JOIN dict ja4ro ON ja4ro.id = c.ja4_ro
LEFT JOIN dict pp ON pp.id = c.peetprint
LEFT JOIN dict ak ON ak.id = r.akamai
LEFT JOIN dict ho ON ho.id = r.header_order;
