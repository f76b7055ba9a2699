-- The capture writer's multi-row INSERTs into requests needed SQLite's
-- statement journal: a statement that may abort half-way (a CHECK constraint
-- can) copies every page it changes to the journal first, so that the
-- statement alone can be undone while the transaction goes on. The writer
-- never goes on: any failed statement rolls the whole batch back. Without
-- CHECK constraints, and with INSERT OR IGNORE (a stored id is skipped, as
-- ON CONFLICT DO NOTHING did), the statement cannot abort and SQLite keeps no
-- statement journal. The constraints the CHECKs stated (id of 1 to 64 bytes,
-- visit key of at most 64 bytes, a known initiator) are checked by the backend
-- before every insert (model.Capture.ValidateFields; see store/sqlite), and a
-- new initiator no longer needs a rebuild of the table.
--
-- SQLite cannot drop a CHECK constraint, so requests is rebuilt as in 0005:
-- view dropped, new table, copy (rowids kept), drop, rename, every index
-- again, and the view of 0006.
DROP VIEW captures;

CREATE TABLE requests_new (
	id            TEXT NOT NULL UNIQUE,
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
SELECT rowid, id, created_at, conn_id, visit_key, initiator, method, path, http_version,
	stream_id, host, user_agent, header_names, header_values, h2, akamai, header_order
FROM requests;

DROP TABLE requests;
ALTER TABLE requests_new RENAME TO requests;

CREATE INDEX requests_created_at_idx ON requests (created_at);
CREATE INDEX requests_conn_idx ON requests (conn_id);
CREATE INDEX requests_visit_key_idx ON requests (visit_key, created_at) WHERE visit_key <> '';
CREATE INDEX requests_akamai_idx ON requests (akamai, created_at) WHERE akamai IS NOT NULL;
CREATE INDEX requests_header_order_idx ON requests (header_order, created_at) WHERE header_order IS NOT NULL;

-- The captures view, unchanged from 0006.
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
	r.akamai AS akamai_hash_ref, c.peetprint AS peetprint_hash_ref, r.header_order AS header_order_hash_ref,
	COALESCE(qtp.value, '') AS quic_tp, COALESCE(qtp.hash, '') AS quic_tp_hash, c.quic_tp AS quic_tp_hash_ref
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
LEFT JOIN dict ho ON ho.id = r.header_order
LEFT JOIN dict qtp ON qtp.id = c.quic_tp;
