-- connections was keyed by its INTEGER PRIMARY KEY id, a 63-bit hash of the
-- capture layer's random connection id (model.ConnIDOf): every new
-- connection's row (raw ClientHello and all, ~2 KB) went into a random page
-- of the table's b-tree, splitting full pages, and an explicit INTEGER
-- PRIMARY KEY value makes SQLite keep a statement journal for the writer's
-- multi-row INSERT (the value may fail to be an integer and abort the
-- statement half-way; see 0007). Since 0008 the rows get rowids in insertion
-- order (appended to the b-tree) and id is a UNIQUE column: its index takes
-- the random keys, 8-byte entries instead of whole rows, and INSERT OR
-- IGNORE skips a stored id as before (replays stay idempotent). Every
-- lookup by id (the captures view's join, retention) goes through that index.
--
-- The table is rebuilt as in 0005 (view dropped, new table, copy in time
-- order, drop, rename, every index again, the view of 0006).
DROP VIEW captures;

CREATE TABLE connections_new (
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

INSERT INTO connections_new (id, created_at, client_ip, tls_version, sni, alpn, client_hello, tls_summary,
	ja3, ja3n, ja4, ja4_r, ja4_o, ja4_ro, peetprint, quic_tp)
SELECT id, created_at, client_ip, tls_version, sni, alpn, client_hello, tls_summary,
	ja3, ja3n, ja4, ja4_r, ja4_o, ja4_ro, peetprint, quic_tp
FROM connections ORDER BY created_at, id;

DROP TABLE connections;
ALTER TABLE connections_new RENAME TO connections;

CREATE INDEX connections_created_at_idx ON connections (created_at);
CREATE INDEX connections_ja3_idx ON connections (ja3) WHERE ja3 IS NOT NULL;
CREATE INDEX connections_ja3n_idx ON connections (ja3n) WHERE ja3n IS NOT NULL;
CREATE INDEX connections_ja4_idx ON connections (ja4) WHERE ja4 IS NOT NULL;
CREATE INDEX connections_ja4_r_idx ON connections (ja4_r) WHERE ja4_r IS NOT NULL;
CREATE INDEX connections_peetprint_idx ON connections (peetprint) WHERE peetprint IS NOT NULL;
CREATE INDEX connections_quic_tp_idx ON connections (quic_tp) WHERE quic_tp IS NOT NULL;

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
