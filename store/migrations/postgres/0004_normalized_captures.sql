-- Normalised captures (see store/model/rows.go): one row per connection, one
-- small row per request, every repeated text once in dict. The old captures
-- table is renamed captures_legacy; the backend converts its rows in bounded
-- chunks when it opens the database (Go code: the keys are model.DictID
-- hashes) and drops it when it is empty. captures becomes a view with the old
-- columns plus the reference columns lookups use.
--
-- References to dict are bigint model.DictID values, NULL for "none". No
-- foreign keys: rows are written in one transaction per batch and retention
-- removes requests (whole day partitions, then chunks), then unreferenced
-- connections, then dict entries unused for longer than the writers' cache
-- lifetime (model.DictRetentionSlack).
--
-- requests is partitioned by day of created_at (UTC). The backend creates a
-- day's partition (requests_pYYYYMMDD) before it writes the first request of
-- that day, and a few days ahead; requests_default catches anything else (a
-- clock far off, a day whose partition could not be created) and is emptied
-- by the chunked deletes of retention.
ALTER TABLE captures RENAME TO captures_legacy;
-- The conversion reads captures_legacy in (created_at, id) order and deletes
-- by id: keep the primary key and captures_created_at_idx, drop the rest (they
-- would only slow the deletes).
DROP INDEX captures_visit_key_idx;
DROP INDEX captures_ja4_idx;
DROP INDEX captures_ja4_r_md5_idx;
DROP INDEX captures_ja3_hash_idx;
DROP INDEX captures_ja3n_hash_idx;
DROP INDEX captures_akamai_hash_idx;
DROP INDEX captures_peetprint_hash_idx;
DROP INDEX captures_header_order_hash_idx;

CREATE TABLE dict (
	id        bigint PRIMARY KEY,
	kind      text NOT NULL,
	value     text NOT NULL,
	hash      text NOT NULL DEFAULT '',
	last_seen timestamptz NOT NULL
);
CREATE INDEX dict_last_seen_idx ON dict (last_seen);
-- Lookups of the hashed kinds (JA3, JA3N, PeetPrint, Akamai, header order) by
-- hash; hashes are fixed-length (model.Capture.ValidateFields bounds them).
CREATE INDEX dict_hash_idx ON dict (hash) WHERE hash <> '';

CREATE TABLE connections (
	id           bigint PRIMARY KEY,
	created_at   timestamptz NOT NULL,
	client_ip    text NOT NULL DEFAULT '',
	tls_version  text NOT NULL DEFAULT '',
	sni          text NOT NULL DEFAULT '',
	alpn         text NOT NULL DEFAULT '',
	client_hello bytea,
	tls_summary  bigint,
	ja3          bigint,
	ja3n         bigint,
	ja4          bigint,
	ja4_r        bigint,
	ja4_o        bigint,
	ja4_ro       bigint,
	peetprint    bigint
);
-- The raw hello (random and key shares) does not compress: keep rows inline
-- up to a page instead of paying for compression and TOAST on every write.
ALTER TABLE connections SET (toast_tuple_target = 8160);
CREATE INDEX connections_created_at_idx ON connections (created_at);
CREATE INDEX connections_ja3_idx ON connections (ja3) WHERE ja3 IS NOT NULL;
CREATE INDEX connections_ja3n_idx ON connections (ja3n) WHERE ja3n IS NOT NULL;
CREATE INDEX connections_ja4_idx ON connections (ja4) WHERE ja4 IS NOT NULL;
CREATE INDEX connections_ja4_r_idx ON connections (ja4_r) WHERE ja4_r IS NOT NULL;
CREATE INDEX connections_peetprint_idx ON connections (peetprint) WHERE peetprint IS NOT NULL;

-- A capture's ID is unique; a partitioned table's unique keys must hold the
-- partition key, so the key is (id, created_at): a replayed capture carries
-- both unchanged, which keeps replays idempotent, and lookups by id use the
-- key's leading column.
CREATE TABLE requests (
	id            text COLLATE "C" NOT NULL CHECK (octet_length(id) BETWEEN 1 AND 64),
	created_at    timestamptz NOT NULL,
	conn_id       bigint NOT NULL,
	visit_key     text COLLATE "C" NOT NULL DEFAULT '' CHECK (octet_length(visit_key) <= 64),
	initiator     text NOT NULL CHECK (initiator IN ('navigate', 'fetch', 'xhr', 'form', 'echo', 'api', 'websocket')),
	method        text NOT NULL DEFAULT '',
	path          text NOT NULL DEFAULT '',
	http_version  text NOT NULL DEFAULT '',
	stream_id     bigint NOT NULL DEFAULT 0,
	host          bigint,
	user_agent    bigint,
	header_names  bigint,
	header_values bigint,
	h2            bigint,
	akamai        bigint,
	header_order  bigint,
	PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE TABLE requests_default PARTITION OF requests DEFAULT;
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
