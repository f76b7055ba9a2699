-- requests.conn_id named its connection by connections.id, a 63-bit hash of
-- the capture layer's random connection id: every request's entry in
-- requests_conn_idx went to a random place of the index, so each batch
-- rewrote a leaf page of it per connection it wrote to (and split them),
-- and the captures view reached a request's connection through the id
-- index. Since 0009 connections has seq, an INTEGER PRIMARY KEY
-- AUTOINCREMENT given in insertion order (never reused, kept by VACUUM),
-- and requests.conn_id holds it: the index takes each batch's entries at its
-- end, and the view joins by the connection's primary key. connections.id
-- stays UNIQUE (INSERT OR IGNORE of a stored connection, the writer's
-- lookup of a connection's seq). The writer learns the seq of the
-- connections it inserts from the statement's last rowid (see
-- store/sqlite/connseq.go).
--
--
-- A request's id, 32 lowercase hex characters when fpserver made it
-- (model.NewCaptureID), was stored as that text: 33 bytes in the row and
-- in its UNIQUE index. Since 0009 such an id is stored as its 16 bytes (a
-- BLOB; the column is ANY), any other id as the text it is (a BLOB never
-- equals a TEXT, and an id has one form, so UNIQUE still means one row per
-- id). The captures view turns the BLOB back into the same text (lower
-- hex) as id, and gives the stored form as id_key for lookups by id
-- (store/sqlite idKey).
--
-- dict was keyed by its INTEGER PRIMARY KEY id, a model.DictID hash, as
-- connections before 0008: every new entry (a TLS summary of ~1 KB, a list
-- of header values: connections of Chromium shuffle their extensions and
-- visits carry their own values, so most new connections bring one or two)
-- went into a random page of the table, and once the table outgrew the
-- batches each new entry made its commit write a page of its own (11,700
-- WAL frames per batch of 4,000 new connections with 350,000 entries).
-- Since 0009 dict rows get rowids in insertion order and id is a UNIQUE
-- column: only its 8-byte key goes into a random place of the id index.
-- Every lookup by id (the captures view's joins, the writer's upsert,
-- retention) goes through that index.
--
-- dict is rebuilt (view dropped, new table, copy in last_seen order, drop,
-- rename, its indexes again); connections as in 0008 (new table, copy keeping
-- the rowids as seq, drop, rename, every index again); requests is rebuilt
-- as in 0007 (rowids kept), its ids converted and conn_id rewritten through
-- the connections' id index (0 for a request whose connection is missing,
-- which the view never showed), then every index and the view again.
DROP VIEW captures;

CREATE TABLE dict_new (
	id        INTEGER NOT NULL UNIQUE,
	kind      TEXT NOT NULL,
	value     TEXT NOT NULL,
	hash      TEXT NOT NULL DEFAULT '',
	last_seen INTEGER NOT NULL
) STRICT;

INSERT INTO dict_new (id, kind, value, hash, last_seen)
SELECT id, kind, value, hash, last_seen FROM dict ORDER BY last_seen, id;

DROP TABLE dict;
ALTER TABLE dict_new RENAME TO dict;

CREATE INDEX dict_last_seen_idx ON dict (last_seen);
CREATE INDEX dict_hash_idx ON dict (hash) WHERE hash <> '';

CREATE TABLE connections_new (
	seq          INTEGER PRIMARY KEY AUTOINCREMENT,
	id           INTEGER NOT NULL UNIQUE,
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
	peetprint    INTEGER,
	quic_tp      INTEGER
) STRICT;

INSERT INTO connections_new (seq, id, created_at, client_ip, tls_version, sni, alpn, client_hello, tls_summary,
	ja3, ja3n, ja4, ja4_r, ja4_o, ja4_ro, peetprint, quic_tp)
SELECT rowid, id, created_at, client_ip, tls_version, sni, alpn, client_hello, tls_summary,
	ja3, ja3n, ja4, ja4_r, ja4_o, ja4_ro, peetprint, quic_tp
FROM connections ORDER BY rowid;

DROP TABLE connections;
ALTER TABLE connections_new RENAME TO connections;

CREATE INDEX connections_created_at_idx ON connections (created_at);
CREATE INDEX connections_ja3_idx ON connections (ja3) WHERE ja3 IS NOT NULL;
CREATE INDEX connections_ja3n_idx ON connections (ja3n) WHERE ja3n IS NOT NULL;
CREATE INDEX connections_ja4_idx ON connections (ja4) WHERE ja4 IS NOT NULL;
CREATE INDEX connections_ja4_r_idx ON connections (ja4_r) WHERE ja4_r IS NOT NULL;
CREATE INDEX connections_peetprint_idx ON connections (peetprint) WHERE peetprint IS NOT NULL;
CREATE INDEX connections_quic_tp_idx ON connections (quic_tp) WHERE quic_tp IS NOT NULL;

CREATE TABLE requests_new (
	id            ANY NOT NULL UNIQUE,
	created_at    INTEGER NOT NULL,
	conn_id       INTEGER NOT NULL,
	visit_key     TEXT NOT NULL DEFAULT '',
	initiator     TEXT NOT NULL,
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

INSERT INTO requests_new (rowid, id, created_at, conn_id, visit_key, initiator, method, path, http_version,
	stream_id, host, user_agent, header_names, header_values, h2, akamai, header_order)
SELECT rowid,
	CASE WHEN length(id) = 32 AND id NOT GLOB '*[^0-9a-f]*' THEN unhex(id) ELSE id END,
	created_at,
	coalesce((SELECT c.seq FROM connections c WHERE c.id = requests.conn_id), 0),
	visit_key, initiator, method, path, http_version,
	stream_id, host, user_agent, header_names, header_values, h2, akamai, header_order
FROM requests;

DROP TABLE requests;
ALTER TABLE requests_new RENAME TO requests;

CREATE INDEX requests_created_at_idx ON requests (created_at);
CREATE INDEX requests_conn_idx ON requests (conn_id);
CREATE INDEX requests_visit_key_idx ON requests (visit_key, created_at) WHERE visit_key <> '';
CREATE INDEX requests_akamai_idx ON requests (akamai, created_at) WHERE akamai IS NOT NULL;
CREATE INDEX requests_header_order_idx ON requests (header_order, created_at) WHERE header_order IS NOT NULL;

-- The captures view of 0006, joining connections by seq, with id as text
-- and id_key, the stored key lookups by id compare.
CREATE VIEW captures AS
SELECT CASE WHEN typeof(r.id) = 'blob' THEN lower(hex(r.id)) ELSE r.id END AS id, r.created_at, r.visit_key, r.initiator, c.client_ip,
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
	r.akamai AS akamai_hash_ref, c.peetprint AS peetprint_hash_ref, r.header_order AS header_order_hash_ref,
	COALESCE(qtp.value, '') AS quic_tp, COALESCE(qtp.hash, '') AS quic_tp_hash, c.quic_tp AS quic_tp_hash_ref,
	r.id AS id_key
FROM requests r
JOIN connections c ON c.seq = r.conn_id
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
LEFT JOIN dict ho ON ho.id = r.header_order
LEFT JOIN dict qtp ON qtp.id = c.quic_tp;
