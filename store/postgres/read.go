package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/guanaco-fp/guanaco/store/model"
)

// captureCols is the column list of the captures view, in the order of
// scanCapture.
var captureCols = []string{
	"id", "created_at", "visit_key", "initiator", "client_ip", "user_agent", "host", "method", "path",
	"http_version", "tls_version", "sni", "alpn", "client_hello", "tls_summary", "header_names", "header_values", "h2", "stream_id",
	"ja3", "ja3_hash", "ja3n", "ja3n_hash", "ja4", "ja4_r", "ja4_o", "ja4_ro",
	"peetprint", "peetprint_hash", "akamai", "akamai_hash", "header_order", "header_order_hash",
	"quic_tp", "quic_tp_hash",
}

var selectCaptures = "SELECT " + strings.Join(captureCols, ", ") + " FROM captures "

type scanner interface{ Scan(dest ...any) error }

func scanCapture(s scanner) (model.Capture, error) {
	var c model.Capture
	var stream int64
	var hello []byte
	var tlsSummary, names, values, h2 *string
	err := s.Scan(&c.ID, &c.CreatedAt, &c.VisitKey, &c.Initiator, &c.ClientIP, &c.UserAgent, &c.Host, &c.Method, &c.Path,
		&c.HTTPVersion, &c.TLSVersion, &c.SNI, &c.ALPN, &hello, &tlsSummary, &names, &values, &h2, &stream,
		&c.JA3, &c.JA3Hash, &c.JA3N, &c.JA3NHash, &c.JA4, &c.JA4R, &c.JA4O, &c.JA4RO,
		&c.PeetPrint, &c.PeetPrintHash, &c.Akamai, &c.AkamaiHash, &c.HeaderOrder, &c.HeaderOrderHash,
		&c.QUICTP, &c.QUICTPHash)
	if err != nil {
		return c, err
	}
	c.CreatedAt = c.CreatedAt.UTC()
	c.StreamID = uint32(stream)
	if len(hello) > 0 {
		c.ClientHello = hello
	}
	if tlsSummary != nil && *tlsSummary != "" {
		c.TLSSummary = []byte(*tlsSummary)
	}
	if h2 != nil && *h2 != "" {
		c.H2 = []byte(*h2)
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	if c.Headers, err = model.ZipHeaders(str(names), str(values)); err != nil {
		return c, err
	}
	return c, nil
}

// Capture implements model.Store.
func (db *DB) Capture(ctx context.Context, id string) (model.Capture, error) {
	if err := model.ValidateID(id); err != nil {
		return model.Capture{}, fmt.Errorf("%w: %w", model.ErrNotFound, err)
	}
	c, err := scanCapture(db.pool.QueryRow(ctx, selectCaptures+"WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return model.Capture{}, fmt.Errorf("postgres: capture %s: %w", id, model.ErrNotFound)
	}
	if err != nil {
		return model.Capture{}, fmt.Errorf("postgres: reading capture %s: %w", id, err)
	}
	return c, nil
}

func (db *DB) queryCaptures(ctx context.Context, what, query string, args ...any) ([]model.Capture, error) {
	rows, err := db.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", what, err)
	}
	defer rows.Close()
	var out []model.Capture
	for rows.Next() {
		c, err := scanCapture(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: %s: %w", what, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", what, err)
	}
	return out, nil
}

// CapturesByVisit implements model.Store.
func (db *DB) CapturesByVisit(ctx context.Context, visitKey string) ([]model.Capture, error) {
	if visitKey == "" {
		return nil, fmt.Errorf("postgres: captures by visit: %w: empty visit key", model.ErrInvalid)
	}
	return db.queryCaptures(ctx, "captures by visit",
		selectCaptures+`WHERE visit_key = $1 AND visit_key <> '' ORDER BY created_at, id LIMIT $2`, visitKey, model.MaxVisitCaptures)
}

// refCol is the captures view's reference column of kind k.
func refCol(k model.FingerprintKind) string { return string(k) + "_ref" }

// dictText is the dict column holding the looked-up text of kind k: the value
// for JA4 and JA4_r, the hash for the hashed kinds.
func dictText(k model.FingerprintKind) string {
	if k == model.KindJA4 || k == model.KindJA4R {
		return "value"
	}
	return "hash"
}

// dictIDs returns the dictionary entries matching hash as kind k: the one
// entry keyed by the text for JA4 and JA4_r, the entries with that hash
// (usually one) for the hashed kinds.
func (db *DB) dictIDs(ctx context.Context, k model.FingerprintKind, hash string) ([]int64, error) {
	var rows pgx.Rows
	var err error
	if model.HashedLookup(k) {
		rows, err = db.pool.Query(ctx, "SELECT id FROM dict WHERE hash = $1 AND hash <> '' AND kind = $2 ORDER BY id", hash, model.KindDict(k))
	} else {
		rows, err = db.pool.Query(ctx, "SELECT id FROM dict WHERE id = $1 AND value = $2 AND kind = $3", model.LookupID(k, hash), hash, model.KindDict(k))
	}
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// resolveKind returns q.Kind, or the first kind (in model.Kinds order) with a
// capture matching q.Hash, and the dictionary entries matching it;
// ErrNotFound when none matches. The lookup goes through dict (by ID, or by
// its hash index), so its cost does not depend on the text's length.
func (db *DB) resolveKind(ctx context.Context, q model.FingerprintQuery) (model.FingerprintKind, []int64, error) {
	var ids []int64
	k, err := model.ResolveKind(ctx, q, func(ctx context.Context, col, hash string) (bool, error) {
		kind := model.FingerprintKind(col)
		var err error
		if ids, err = db.dictIDs(ctx, kind, hash); err != nil || len(ids) == 0 {
			return false, err
		}
		var one int
		err = db.pool.QueryRow(ctx, "SELECT 1 FROM captures WHERE "+refCol(kind)+" = ANY($1) LIMIT 1", ids).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return "", nil, fmt.Errorf("postgres: %w", err)
	}
	// ids are those of the last probe, the one that matched.
	return k, ids, nil
}

// CapturesByFingerprint implements model.Store.
func (db *DB) CapturesByFingerprint(ctx context.Context, q model.FingerprintQuery) ([]model.Capture, model.FingerprintKind, error) {
	q, err := q.Check(50)
	if err != nil {
		return nil, "", fmt.Errorf("postgres: captures by fingerprint: %w", err)
	}
	k, ids, err := db.resolveKind(ctx, q)
	if err != nil {
		return nil, "", err
	}
	query := selectCaptures + "WHERE " + refCol(k) + " = ANY($1) "
	args := []any{ids, q.Limit}
	if !q.Before.IsZero() {
		query += "AND created_at < $3 "
		args = append(args, q.Before)
	}
	query += `ORDER BY created_at DESC, id DESC LIMIT $2`
	cs, err := db.queryCaptures(ctx, "captures by fingerprint", query, args...)
	if err != nil {
		return nil, "", err
	}
	return cs, k, nil
}

// FingerprintStats implements model.Store.
func (db *DB) FingerprintStats(ctx context.Context, q model.FingerprintQuery) (model.FingerprintStats, error) {
	q, err := q.Check(10)
	if err != nil {
		return model.FingerprintStats{}, fmt.Errorf("postgres: fingerprint stats: %w", err)
	}
	k, ids, err := db.resolveKind(ctx, q)
	if err != nil {
		return model.FingerprintStats{}, err
	}
	col := refCol(k)
	st := model.FingerprintStats{Kind: k, Hash: q.Hash}
	var first, last *time.Time
	err = db.pool.QueryRow(ctx, "SELECT count(*), count(DISTINCT NULLIF(visit_key, '')), min(created_at), max(created_at) FROM captures WHERE "+
		col+" = ANY($1)", ids).Scan(&st.Count, &st.Visits, &first, &last)
	if err != nil {
		return st, fmt.Errorf("postgres: fingerprint stats: %w", err)
	}
	if st.Count == 0 || first == nil || last == nil {
		return st, fmt.Errorf("postgres: fingerprint %q: %w", q.Hash, model.ErrNotFound)
	}
	st.FirstSeen, st.LastSeen = first.UTC(), last.UTC()
	days, err := db.pool.Query(ctx, "SELECT floor(extract(epoch FROM created_at) / 86400)::bigint, count(*) FROM captures WHERE "+col+
		" = ANY($1) AND created_at >= $2 GROUP BY 1 ORDER BY 1", ids, model.DaysSince(st.LastSeen))
	if err != nil {
		return st, fmt.Errorf("postgres: fingerprint stats: days: %w", err)
	}
	st.Days, err = pgx.CollectRows(days, func(row pgx.CollectableRow) (model.DayCount, error) {
		var d, n int64
		err := row.Scan(&d, &n)
		return model.DayCount{Day: time.Unix(d*86400, 0).UTC(), Count: n}, err
	})
	if err != nil {
		return st, fmt.Errorf("postgres: fingerprint stats: days: %w", err)
	}
	rows, err := db.pool.Query(ctx, "SELECT d.value, x.n FROM (SELECT user_agent_ref AS id, count(*) AS n FROM captures WHERE "+col+
		` = ANY($1) AND user_agent_ref IS NOT NULL GROUP BY user_agent_ref) x JOIN dict d ON d.id = x.id WHERE d.value <> '' ORDER BY x.n DESC, d.value COLLATE "C" LIMIT $2`, ids, q.Limit)
	if err != nil {
		return st, fmt.Errorf("postgres: fingerprint stats: user agents: %w", err)
	}
	st.TopUserAgents, err = pgx.CollectRows(rows, scanUserAgentCount)
	if err != nil {
		return st, fmt.Errorf("postgres: fingerprint stats: user agents: %w", err)
	}
	if len(st.TopUserAgents) == 0 {
		st.TopUserAgents = nil
	}
	return st, nil
}

func scanUserAgentCount(row pgx.CollectableRow) (model.UserAgentCount, error) {
	var u model.UserAgentCount
	err := row.Scan(&u.UserAgent, &u.Count)
	return u, err
}

// windowClause returns " AND created_at >= $n AND created_at < $m" for the bounds
// of w that are set, numbering parameters after len(args), and the extended args.
func windowClause(w model.TimeWindow, args []any) (string, []any) {
	var b strings.Builder
	if !w.Since.IsZero() {
		args = append(args, w.Since)
		b.WriteString(" AND created_at >= $" + strconv.Itoa(len(args)))
	}
	if !w.Until.IsZero() {
		args = append(args, w.Until)
		b.WriteString(" AND created_at < $" + strconv.Itoa(len(args)))
	}
	return b.String(), args
}

// TopFingerprints implements model.Store: the requests in the window are
// counted per reference, and only the counted references are looked up in
// dict.
func (db *DB) TopFingerprints(ctx context.Context, kind model.FingerprintKind, w model.TimeWindow, limit int) ([]model.FingerprintCount, error) {
	if !kind.Valid() {
		return nil, fmt.Errorf("postgres: top fingerprints: %w: unknown kind %q", model.ErrInvalid, kind)
	}
	col, text := refCol(kind), "d."+dictText(kind)
	where, args := windowClause(w, []any{model.ClampLimit(limit, 20)})
	rows, err := db.pool.Query(ctx, "SELECT "+text+", x.n, x.f, x.l FROM (SELECT "+col+" AS id, count(*) AS n, min(created_at) AS f, max(created_at) AS l FROM captures WHERE "+
		col+" IS NOT NULL"+where+" GROUP BY "+col+") x JOIN dict d ON d.id = x.id WHERE "+text+" <> '' ORDER BY x.n DESC, "+text+` COLLATE "C" LIMIT $1`, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: top fingerprints: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (model.FingerprintCount, error) {
		var f model.FingerprintCount
		err := row.Scan(&f.Hash, &f.Count, &f.FirstSeen, &f.LastSeen)
		f.FirstSeen, f.LastSeen = f.FirstSeen.UTC(), f.LastSeen.UTC()
		return f, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: top fingerprints: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// TopUserAgents implements model.Store.
func (db *DB) TopUserAgents(ctx context.Context, w model.TimeWindow, limit int) ([]model.UserAgentCount, error) {
	where, args := windowClause(w, []any{model.ClampLimit(limit, 20)})
	rows, err := db.pool.Query(ctx, "SELECT d.value, x.n FROM (SELECT user_agent AS id, count(*) AS n FROM requests WHERE user_agent IS NOT NULL"+where+
		` GROUP BY user_agent) x JOIN dict d ON d.id = x.id WHERE d.value <> '' ORDER BY x.n DESC, d.value COLLATE "C" LIMIT $1`, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: top user agents: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanUserAgentCount)
	if err != nil {
		return nil, fmt.Errorf("postgres: top user agents: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// pendingSQL finds the candidate visits through requests_created_at_idx
// (their navigations in [Since, SettledBefore): a navigation at or after
// SettledBefore means the visit is not settled), drops the judged ones by
// primary key, then reads each candidate's first and last request through
// requests_visit_key_idx. Parameters: $1 SettledBefore, $2 limit, $3 Since
// (withSince only).
func pendingSQL(withSince bool) string {
	since := ""
	if withSince {
		since = " AND n.created_at >= $3"
	}
	return `SELECT c.visit_key, min(c.created_at), max(c.created_at)
FROM (
	SELECT DISTINCT n.visit_key FROM requests n
	WHERE n.created_at < $1` + since + ` AND n.initiator = 'navigate' AND n.visit_key <> ''
		AND NOT EXISTS (SELECT 1 FROM visit_verdicts v WHERE v.visit_key = n.visit_key)
) cand
JOIN requests c ON c.visit_key = cand.visit_key AND c.visit_key <> ''
GROUP BY c.visit_key
HAVING max(c.created_at) < $1
ORDER BY min(c.created_at), c.visit_key
LIMIT $2`
}

// PendingVisits implements model.Store.
func (db *DB) PendingVisits(ctx context.Context, q model.PendingQuery) ([]model.PendingVisit, error) {
	if q.SettledBefore.IsZero() {
		return nil, fmt.Errorf("postgres: pending visits: %w: zero SettledBefore", model.ErrInvalid)
	}
	args := []any{q.SettledBefore, model.ClampLimit(q.Limit, 100)}
	if !q.Since.IsZero() {
		args = append(args, q.Since)
	}
	rows, err := db.pool.Query(ctx, pendingSQL(!q.Since.IsZero()), args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: pending visits: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (model.PendingVisit, error) {
		var v model.PendingVisit
		err := row.Scan(&v.VisitKey, &v.FirstAt, &v.LastAt)
		v.FirstAt, v.LastAt = v.FirstAt.UTC(), v.LastAt.UTC()
		return v, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: pending visits: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// CaptureTotals implements model.Store.
func (db *DB) CaptureTotals(ctx context.Context, w model.TimeWindow) (model.Totals, error) {
	where, args := windowClause(w, nil)
	var t model.Totals
	err := db.pool.QueryRow(ctx, "SELECT count(*), count(DISTINCT conn_id), count(DISTINCT NULLIF(visit_key, '')) FROM requests WHERE true"+where, args...).
		Scan(&t.Captures, &t.Connections, &t.Visits)
	if err != nil {
		return t, fmt.Errorf("postgres: capture totals: %w", err)
	}
	return t, nil
}
