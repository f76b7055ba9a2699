-- HTTP/3 captures (issue 17): the QUIC transport-parameters fingerprint
-- (quic_tp, hash quic_tp_hash) is a hashed fingerprint of the connection, in
-- dict like PeetPrint, so populations can be looked up by its hash. The QUIC
-- version and the HTTP/3 document need no column: the version is in the
-- connection's TLS summary, the HTTP/3 document is the request's protocol
-- document (h2, with http_version '3'), and the transport parameters are
-- recomputed from the stored ClientHello.
ALTER TABLE connections ADD COLUMN quic_tp INTEGER;
CREATE INDEX connections_quic_tp_idx ON connections (quic_tp) WHERE quic_tp IS NOT NULL;

-- The view of 0004 plus quic_tp, quic_tp_hash and quic_tp_hash_ref at the end.
DROP VIEW captures;
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
