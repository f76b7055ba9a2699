package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/guanaco-fp/guanaco/store/model"
)

// Row layouts of the three tables a batch writes (see model.Split).
var requestCols = []string{
	"id", "created_at", "conn_id", "visit_key", "initiator", "method", "path", "http_version", "stream_id",
	"host", "user_agent", "header_names", "header_values", "h2", "akamai", "header_order",
}

// upsertDictSQL writes new dictionary entries from parallel arrays; an entry
// written again refreshes last_seen (retention keeps what writers still use).
const upsertDictSQL = `INSERT INTO dict (id, kind, value, hash, last_seen)
SELECT u.id, u.kind, u.value, u.hash, $5 FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS u(id, kind, value, hash)
ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen WHERE excluded.last_seen > dict.last_seen`

// insertConnsSQL writes new connections from parallel arrays (reference 0 is
// stored as NULL); a connection already stored is left as it is.
const insertConnsSQL = `INSERT INTO connections (id, created_at, client_ip, tls_version, sni, alpn, client_hello,
	tls_summary, ja3, ja3n, ja4, ja4_r, ja4_o, ja4_ro, peetprint, quic_tp)
SELECT u.id, u.created_at, u.client_ip, u.tls_version, u.sni, u.alpn, u.hello,
	NULLIF(u.ts, 0), NULLIF(u.ja3, 0), NULLIF(u.ja3n, 0), NULLIF(u.ja4, 0), NULLIF(u.ja4r, 0), NULLIF(u.ja4o, 0), NULLIF(u.ja4ro, 0), NULLIF(u.pp, 0), NULLIF(u.qtp, 0)
FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[],
	$8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[])
	AS u(id, created_at, client_ip, tls_version, sni, alpn, hello, ts, ja3, ja3n, ja4, ja4r, ja4o, ja4ro, pp, qtp)
ON CONFLICT (id) DO NOTHING`

// insertRequestsSQL is the idempotent form of the COPY into requests, used
// when a batch collides with stored rows.
const insertRequestsSQL = `INSERT INTO requests (` + "id, created_at, conn_id, visit_key, initiator, method, path, http_version, stream_id, " +
	`host, user_agent, header_names, header_values, h2, akamai, header_order)
SELECT u.id, u.created_at, u.conn_id, u.visit_key, u.initiator, u.method, u.path, u.http_version, u.stream_id,
	NULLIF(u.host, 0), NULLIF(u.ua, 0), NULLIF(u.hn, 0), NULLIF(u.hv, 0), NULLIF(u.h2, 0), NULLIF(u.ak, 0), NULLIF(u.ho, 0)
FROM unnest($1::text[], $2::timestamptz[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[],
	$10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[])
	AS u(id, created_at, conn_id, visit_key, initiator, method, path, http_version, stream_id, host, ua, hn, hv, h2, ak, ho)
ON CONFLICT (id, created_at) DO NOTHING`

// nullRef stores the dictionary reference 0 ("none") as NULL.
func nullRef(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// requestSource streams the requests of a split to COPY, reusing one row
// buffer (pgx encodes each row before asking for the next).
type requestSource struct {
	rs  []model.RequestRow
	i   int
	row []any
}

func (s *requestSource) Next() bool { s.i++; return s.i < len(s.rs) }
func (s *requestSource) Err() error { return nil }
func (s *requestSource) Values() ([]any, error) {
	r := &s.rs[s.i]
	s.row = append(s.row[:0], r.ID, r.CreatedAt, r.Conn, r.VisitKey, r.Initiator, r.Method, r.Path, r.HTTPVersion, r.StreamID,
		nullRef(r.Host), nullRef(r.UserAgent), nullRef(r.HeaderNames), nullRef(r.HeaderValues), nullRef(r.H2), nullRef(r.Akamai), nullRef(r.HeaderOrder))
	return s.row, nil
}

var _ pgx.CopyFromSource = (*requestSource)(nil)

// InsertCaptures implements model.Store: ValidateFields on every capture,
// then InsertValidated.
func (db *DB) InsertCaptures(ctx context.Context, batch []model.Capture) (int64, error) {
	if err := model.ValidateBatch(batch); err != nil {
		return 0, err
	}
	return db.InsertValidated(ctx, batch)
}

// InsertValidated is InsertCaptures for captures that already passed
// model.Capture.ValidateFields (the capture writer's Offer checks them), so
// each capture is validated once; JSON documents are checked when first
// stored. The batch is split into dictionary entries, connections and
// requests (model.Split); the entries and connections the writers' cache does
// not know are upserted from arrays, the requests go in with COPY. When the
// COPY collides with stored rows (a retried batch whose first attempt
// committed), the transaction is repeated with INSERT ... ON CONFLICT DO
// NOTHING, so replays stay idempotent.
func (db *DB) InsertValidated(ctx context.Context, batch []model.Capture) (int64, error) {
	if len(batch) == 0 {
		return 0, nil
	}
	sp := db.splits.Get().(*model.Split)
	defer db.splits.Put(sp)
	sp.Reset()
	now := time.Now()
	for i := range batch {
		if err := sp.AddCapture(&batch[i], now); err != nil {
			return 0, err
		}
	}
	if err := db.ensureDays(ctx, sp.Requests); err != nil {
		return 0, err
	}
	n, err := db.writeSplit(ctx, sp, now, true)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		n, err = db.writeSplit(ctx, sp, now, false)
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: inserting captures: %w", classify(err))
	}
	sp.Commit(now)
	return n, nil
}

// writeSplit writes sp in one transaction, the requests with COPY when
// useCopy, else with the idempotent INSERT.
func (db *DB) writeSplit(ctx context.Context, sp *model.Split, now time.Time, useCopy bool) (int64, error) {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.Background())
	n, err := writeRows(ctx, tx, sp, now, useCopy)
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	return n, nil
}

// writeRows writes the rows of sp in tx and returns the requests inserted.
//
// Dictionary entries and connections are written in ID order: concurrent
// batches sharing entries then lock them in the same order and cannot
// deadlock.
func writeRows(ctx context.Context, tx pgx.Tx, sp *model.Split, now time.Time, useCopy bool) (int64, error) {
	slices.SortFunc(sp.Entries, func(a, b model.DictEntry) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(sp.Conns, func(a, b model.ConnRow) int { return cmp.Compare(a.ID, b.ID) })
	if len(sp.Entries) > 0 {
		ids := make([]int64, len(sp.Entries))
		kinds := make([]string, len(sp.Entries))
		values := make([]string, len(sp.Entries))
		hashes := make([]string, len(sp.Entries))
		for i := range sp.Entries {
			e := &sp.Entries[i]
			ids[i], kinds[i], values[i], hashes[i] = e.ID, e.Kind, e.Value, e.Hash
		}
		if _, err := tx.Exec(ctx, upsertDictSQL, ids, kinds, values, hashes, micros(now)); err != nil {
			return 0, fmt.Errorf("dictionary: %w", err)
		}
	}
	if len(sp.Conns) > 0 {
		n := len(sp.Conns)
		ids, created := make([]int64, n), make([]time.Time, n)
		ips, versions, snis, alpns := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		hellos := make([][]byte, n)
		refs := make([][]int64, 9)
		for j := range refs {
			refs[j] = make([]int64, n)
		}
		for i := range sp.Conns {
			c := &sp.Conns[i]
			ids[i], created[i], ips[i], versions[i], snis[i], alpns[i] = c.ID, c.CreatedAt, c.ClientIP, c.TLSVersion, c.SNI, c.ALPN
			if len(c.ClientHello) > 0 {
				hellos[i] = c.ClientHello
			}
			for j, r := range [...]int64{c.TLSSummary, c.JA3, c.JA3N, c.JA4, c.JA4R, c.JA4O, c.JA4RO, c.PeetPrint, c.QUICTP} {
				refs[j][i] = r
			}
		}
		if _, err := tx.Exec(ctx, insertConnsSQL, ids, created, ips, versions, snis, alpns, hellos,
			refs[0], refs[1], refs[2], refs[3], refs[4], refs[5], refs[6], refs[7], refs[8]); err != nil {
			return 0, fmt.Errorf("connections: %w", err)
		}
	}
	if useCopy {
		n, err := tx.CopyFrom(ctx, pgx.Identifier{"requests"}, requestCols, &requestSource{rs: sp.Requests, i: -1})
		if err != nil {
			return 0, fmt.Errorf("requests: %w", err)
		}
		return n, nil
	}
	rs := sp.Requests
	n := len(rs)
	ids, created := make([]string, n), make([]time.Time, n)
	conns, streams := make([]int64, n), make([]int64, n)
	texts := make([][]string, 5) // visit_key, initiator, method, path, http_version
	for j := range texts {
		texts[j] = make([]string, n)
	}
	refs := make([][]int64, 7)
	for j := range refs {
		refs[j] = make([]int64, n)
	}
	for i := range rs {
		r := &rs[i]
		ids[i], created[i], conns[i], streams[i] = r.ID, r.CreatedAt, r.Conn, r.StreamID
		for j, v := range [...]string{r.VisitKey, r.Initiator, r.Method, r.Path, r.HTTPVersion} {
			texts[j][i] = v
		}
		for j, v := range [...]int64{r.Host, r.UserAgent, r.HeaderNames, r.HeaderValues, r.H2, r.Akamai, r.HeaderOrder} {
			refs[j][i] = v
		}
	}
	tag, err := tx.Exec(ctx, insertRequestsSQL, ids, created, conns, texts[0], texts[1], texts[2], texts[3], texts[4], streams,
		refs[0], refs[1], refs[2], refs[3], refs[4], refs[5], refs[6])
	if err != nil {
		return 0, fmt.Errorf("requests: %w", err)
	}
	return tag.RowsAffected(), nil
}

// classify marks errors caused by the data itself, which the database returns
// again for the same rows (SQLSTATE classes 22 data exception, 23 integrity
// violation and 54 program limit exceeded, such as an index row too large), with
// model.ErrRejected, so callers know a retry cannot succeed.
func classify(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23") || strings.HasPrefix(pgErr.Code, "54")) {
		return fmt.Errorf("%w: %w", model.ErrRejected, err)
	}
	return err
}
