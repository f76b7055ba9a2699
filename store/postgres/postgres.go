// Package postgres is the PostgreSQL storage backend, through pgx (pgxpool).
//
// Batches of captures are written with the COPY protocol straight into the captures
// table. COPY is all or nothing, so when a batch collides with rows already stored
// (a retried batch whose first attempt committed, or a concurrent writer), the
// batch is written again through a transaction-local staging table:
// COPY into the temp table, then INSERT ... SELECT ... ON CONFLICT (id) DO NOTHING.
// The common case pays for one COPY; retries stay idempotent.
//
// Migrations are applied on Open, each in its own transaction holding a
// transaction-level advisory lock, so several processes may open the same
// database at once. Text is ordered with COLLATE "C" (byte order), matching SQLite.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/guanaco-fp/guanaco/store/migrations"
	"github.com/guanaco-fp/guanaco/store/model"
)

// Options tune the backend. The zero value is usable.
type Options struct {
	// MaxConns caps the pool; 0 keeps the DSN's pool_max_conns or pgx's default.
	MaxConns int32
	// DeleteChunk is the number of rows DeleteCapturesBefore deletes per
	// transaction (default 5000).
	DeleteChunk int
	// ApplicationName is reported to the server when the DSN sets none
	// (default "guanaco").
	ApplicationName string
}

// migrationLockKey is the pg_advisory_xact_lock key serialising migrations
// ("guanaco" + version 1 of the locking scheme).
const migrationLockKey int64 = 0x6775616e61636f01

// DB is a Postgres-backed model.Store.
type DB struct {
	pool *pgxpool.Pool
	opts Options
}

var _ model.Store = (*DB)(nil)

// Open connects to the database named by dsn (a postgres:// URL or key=value
// string understood by pgx), checks it is reachable and applies pending migrations.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	if opts.DeleteChunk <= 0 {
		opts.DeleteChunk = 5000
	}
	if opts.ApplicationName == "" {
		opts.ApplicationName = "guanaco"
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: parsing DSN: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = opts.ApplicationName
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: creating pool: %w", err)
	}
	db := &DB{pool: pool, opts: opts}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

func (db *DB) migrate(ctx context.Context) error {
	all, err := migrations.List(migrations.Postgres)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	for {
		done, err := db.migrateOne(ctx, all)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

// migrateOne applies the first pending migration in one transaction and reports
// whether none is left.
func (db *DB) migrateOne(ctx context.Context, all []migrations.Migration) (done bool, err error) {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("postgres: migrating: beginning: %w", err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockKey); err != nil {
		return false, fmt.Errorf("postgres: migrating: taking lock: %w", err)
	}
	if _, err := tx.Exec(ctx, migrations.TableDDL(migrations.Postgres)); err != nil {
		return false, fmt.Errorf("postgres: creating schema_migrations: %w", err)
	}
	rows, err := tx.Query(ctx, "SELECT version, name FROM schema_migrations")
	if err != nil {
		return false, fmt.Errorf("postgres: migrating: reading schema_migrations: %w", err)
	}
	applied := map[int]string{}
	var v int
	var name string
	_, err = pgx.ForEachRow(rows, []any{&v, &name}, func() error {
		applied[v] = name
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("postgres: migrating: reading schema_migrations: %w", err)
	}
	todo, err := migrations.Plan(all, applied)
	if err != nil {
		return false, fmt.Errorf("postgres: %w", err)
	}
	if len(todo) == 0 {
		return true, nil
	}
	m := todo[0]
	// No arguments: pgx uses the simple protocol, which runs multi-statement files.
	if _, err := tx.Exec(ctx, m.SQL); err != nil {
		return false, fmt.Errorf("postgres: applying migration %s: %w", m.Name, err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name); err != nil {
		return false, fmt.Errorf("postgres: recording migration %s: %w", m.Name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("postgres: committing migration %s: %w", m.Name, err)
	}
	return len(todo) == 1, nil
}

// captureCols is the column list of captures, in the order of captureRow and scanCapture.
var captureCols = []string{
	"id", "created_at", "visit_key", "initiator", "client_ip", "user_agent", "host", "method", "path",
	"http_version", "tls_version", "sni", "alpn", "client_hello", "tls_summary", "headers", "h2",
	"ja3", "ja3_hash", "ja3n", "ja3n_hash", "ja4", "ja4_r", "ja4_o", "ja4_ro",
	"peetprint", "peetprint_hash", "akamai", "akamai_hash", "header_order", "header_order_hash",
}

var (
	colList        = strings.Join(captureCols, ", ")
	selectCaptures = "SELECT " + colList + " FROM captures "
	insertStaged   = "INSERT INTO captures (" + colList + ") SELECT " + colList + " FROM captures_stage ON CONFLICT (id) DO NOTHING"
)

func nullable(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// captureRow fills row (len(captureCols)) with c's values; c must be normalized.
func captureRow(row []any, c *model.Capture) {
	vals := [...]any{
		c.ID, c.CreatedAt, c.VisitKey, c.Initiator, c.ClientIP, c.UserAgent, c.Host, c.Method, c.Path,
		c.HTTPVersion, c.TLSVersion, c.SNI, c.ALPN, nullable(c.ClientHello), nullable(c.TLSSummary),
		model.EncodeHeaders(c.Headers), nullable(c.H2),
		c.JA3, c.JA3Hash, c.JA3N, c.JA3NHash, c.JA4, c.JA4R, c.JA4O, c.JA4RO,
		c.PeetPrint, c.PeetPrintHash, c.Akamai, c.AkamaiHash, c.HeaderOrder, c.HeaderOrderHash,
	}
	copy(row, vals[:])
}

// copySource streams normalized captures to COPY, reusing one row buffer (pgx
// encodes each row before asking for the next).
type copySource struct {
	cs  []model.Capture
	i   int
	row []any
}

func newCopySource(cs []model.Capture) *copySource {
	return &copySource{cs: cs, i: -1, row: make([]any, len(captureCols))}
}

func (s *copySource) Next() bool { s.i++; return s.i < len(s.cs) }
func (s *copySource) Err() error { return nil }
func (s *copySource) Values() ([]any, error) {
	captureRow(s.row, &s.cs[s.i])
	return s.row, nil
}

var _ pgx.CopyFromSource = (*copySource)(nil)

type scanner interface{ Scan(dest ...any) error }

func scanCapture(s scanner) (model.Capture, error) {
	var c model.Capture
	var hello, tlsSummary, headers, h2 []byte
	err := s.Scan(&c.ID, &c.CreatedAt, &c.VisitKey, &c.Initiator, &c.ClientIP, &c.UserAgent, &c.Host, &c.Method, &c.Path,
		&c.HTTPVersion, &c.TLSVersion, &c.SNI, &c.ALPN, &hello, &tlsSummary, &headers, &h2,
		&c.JA3, &c.JA3Hash, &c.JA3N, &c.JA3NHash, &c.JA4, &c.JA4R, &c.JA4O, &c.JA4RO,
		&c.PeetPrint, &c.PeetPrintHash, &c.Akamai, &c.AkamaiHash, &c.HeaderOrder, &c.HeaderOrderHash)
	if err != nil {
		return c, err
	}
	c.CreatedAt = c.CreatedAt.UTC()
	if len(hello) > 0 {
		c.ClientHello = hello
	}
	if len(tlsSummary) > 0 {
		c.TLSSummary = tlsSummary
	}
	if len(h2) > 0 {
		c.H2 = h2
	}
	if c.Headers, err = model.DecodeHeaders(headers); err != nil {
		return c, err
	}
	return c, nil
}

// InsertCaptures implements model.Store with COPY (see the package comment).
func (db *DB) InsertCaptures(ctx context.Context, batch []model.Capture) (int64, error) {
	if len(batch) == 0 {
		return 0, nil
	}
	norm := make([]model.Capture, 0, len(batch))
	seen := make(map[string]struct{}, len(batch))
	for i := range batch {
		if err := batch[i].Validate(); err != nil {
			return 0, err
		}
		if _, dup := seen[batch[i].ID]; dup {
			continue
		}
		seen[batch[i].ID] = struct{}{}
		norm = append(norm, batch[i].Normalized())
	}
	n, err := db.pool.CopyFrom(ctx, pgx.Identifier{"captures"}, captureCols, newCopySource(norm))
	if err == nil {
		return n, nil
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		return 0, fmt.Errorf("postgres: inserting captures: %w", classify(err))
	}
	n, err = db.insertStaged(ctx, norm)
	if err != nil {
		return 0, fmt.Errorf("postgres: inserting captures (staged): %w", classify(err))
	}
	return n, nil
}

func (db *DB) insertStaged(ctx context.Context, norm []model.Capture) (int64, error) {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, "CREATE TEMP TABLE captures_stage (LIKE captures INCLUDING DEFAULTS) ON COMMIT DROP"); err != nil {
		return 0, err
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"captures_stage"}, captureCols, newCopySource(norm)); err != nil {
		return 0, err
	}
	tag, err := tx.Exec(ctx, insertStaged)
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
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

// maxVisitCaptures bounds CapturesByVisit.
const maxVisitCaptures = model.MaxVisitCaptures

// CapturesByVisit implements model.Store.
func (db *DB) CapturesByVisit(ctx context.Context, visitKey string) ([]model.Capture, error) {
	if visitKey == "" {
		return nil, fmt.Errorf("postgres: captures by visit: %w: empty visit key", model.ErrInvalid)
	}
	return db.queryCaptures(ctx, "captures by visit",
		selectCaptures+`WHERE visit_key = $1 AND visit_key <> '' ORDER BY created_at, id COLLATE "C" LIMIT $2`, visitKey, maxVisitCaptures)
}

// resolveKind returns q.Kind, or the first kind (in model.Kinds order) with a
// capture matching q.Hash; ErrNotFound when none matches.
func (db *DB) resolveKind(ctx context.Context, q model.FingerprintQuery) (model.FingerprintKind, error) {
	k, err := model.ResolveKind(ctx, q, func(ctx context.Context, col, hash string) (bool, error) {
		var one int
		err := db.pool.QueryRow(ctx, "SELECT 1 FROM captures WHERE "+match(col)+" LIMIT 1", hash).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return "", fmt.Errorf("postgres: %w", err)
	}
	return k, nil
}

// match returns the predicate "col equals $1, and is not empty" written so that
// the column's partial index serves it: ja4_r is indexed by md5(ja4_r) (migration
// 0003; its text is unbounded), every other looked-up column by its value.
func match(col string) string {
	if col == string(model.KindJA4R) {
		return "md5(ja4_r) = md5($1) AND ja4_r = $1 AND ja4_r <> ''"
	}
	return col + " = $1 AND " + col + " <> ''"
}

// CapturesByFingerprint implements model.Store.
func (db *DB) CapturesByFingerprint(ctx context.Context, q model.FingerprintQuery) ([]model.Capture, model.FingerprintKind, error) {
	q, err := q.Check(50)
	if err != nil {
		return nil, "", fmt.Errorf("postgres: captures by fingerprint: %w", err)
	}
	k, err := db.resolveKind(ctx, q)
	if err != nil {
		return nil, "", err
	}
	col := string(k)
	query := selectCaptures + "WHERE " + match(col) + " "
	args := []any{q.Hash, q.Limit}
	if !q.Before.IsZero() {
		query += "AND created_at < $3 "
		args = append(args, q.Before)
	}
	query += `ORDER BY created_at DESC, id COLLATE "C" DESC LIMIT $2`
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
	k, err := db.resolveKind(ctx, q)
	if err != nil {
		return model.FingerprintStats{}, err
	}
	col := string(k)
	st := model.FingerprintStats{Kind: k, Hash: q.Hash}
	var first, last *time.Time
	err = db.pool.QueryRow(ctx, "SELECT count(*), count(DISTINCT NULLIF(visit_key, '')), min(created_at), max(created_at) FROM captures WHERE "+
		match(col), q.Hash).Scan(&st.Count, &st.Visits, &first, &last)
	if err != nil {
		return st, fmt.Errorf("postgres: fingerprint stats: %w", err)
	}
	if st.Count == 0 || first == nil || last == nil {
		return st, fmt.Errorf("postgres: fingerprint %q: %w", q.Hash, model.ErrNotFound)
	}
	st.FirstSeen, st.LastSeen = first.UTC(), last.UTC()
	rows, err := db.pool.Query(ctx, "SELECT user_agent, count(*) AS n FROM captures WHERE "+match(col)+
		` AND user_agent <> '' GROUP BY user_agent ORDER BY n DESC, user_agent COLLATE "C" LIMIT $2`, q.Hash, q.Limit)
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

// TopFingerprints implements model.Store.
func (db *DB) TopFingerprints(ctx context.Context, kind model.FingerprintKind, w model.TimeWindow, limit int) ([]model.FingerprintCount, error) {
	if !kind.Valid() {
		return nil, fmt.Errorf("postgres: top fingerprints: %w: unknown kind %q", model.ErrInvalid, kind)
	}
	col := string(kind)
	where, args := windowClause(w, []any{model.ClampLimit(limit, 20)})
	rows, err := db.pool.Query(ctx, "SELECT "+col+", count(*) AS n, min(created_at), max(created_at) FROM captures WHERE "+col+" <> ''"+
		where+" GROUP BY "+col+" ORDER BY n DESC, "+col+` COLLATE "C" LIMIT $1`, args...)
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
	rows, err := db.pool.Query(ctx, "SELECT user_agent, count(*) AS n FROM captures WHERE user_agent <> ''"+where+
		` GROUP BY user_agent ORDER BY n DESC, user_agent COLLATE "C" LIMIT $1`, args...)
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

// UpsertProfile implements model.Store.
func (db *DB) UpsertProfile(ctx context.Context, p model.Profile) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("postgres: upserting profile: %w", err)
	}
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = time.Now()
	}
	if p.Source == "" {
		p.Source = model.ProfileImported
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO profiles (name, browser, version, platform, document, updated_at,
	source, pinned, browser_key, wire_key, first_seen, last_seen, visits, addresses, stale)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
ON CONFLICT (name) DO UPDATE SET browser = excluded.browser, version = excluded.version,
	platform = excluded.platform, document = excluded.document, updated_at = excluded.updated_at,
	source = excluded.source, pinned = excluded.pinned, browser_key = excluded.browser_key,
	wire_key = excluded.wire_key, first_seen = excluded.first_seen, last_seen = excluded.last_seen,
	visits = excluded.visits, addresses = excluded.addresses, stale = excluded.stale`,
		p.Name, p.Browser, p.Version, p.Platform, []byte(p.JSON), micros(p.UpdatedAt),
		p.Source, p.Pinned, model.CleanText(p.BrowserKey), model.CleanText(p.WireKey),
		nullTime(p.FirstSeen), nullTime(p.LastSeen), p.Visits, p.Addresses, p.Stale)
	if err != nil {
		return fmt.Errorf("postgres: upserting profile %q: %w", p.Name, classify(err))
	}
	return nil
}

// micros is t as stored: UTC, truncated to the microsecond.
func micros(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// nullTime stores a zero time ("unknown") as NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return micros(t)
}

func fromNullTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

const selectProfiles = `SELECT name, browser, version, platform, document, updated_at,
	source, pinned, browser_key, wire_key, first_seen, last_seen, visits, addresses, stale FROM profiles `

func scanProfile(s scanner) (model.Profile, error) {
	var p model.Profile
	var doc []byte
	var first, last *time.Time
	if err := s.Scan(&p.Name, &p.Browser, &p.Version, &p.Platform, &doc, &p.UpdatedAt,
		&p.Source, &p.Pinned, &p.BrowserKey, &p.WireKey, &first, &last, &p.Visits, &p.Addresses, &p.Stale); err != nil {
		return p, err
	}
	p.JSON = doc
	p.UpdatedAt = p.UpdatedAt.UTC()
	p.FirstSeen, p.LastSeen = fromNullTime(first), fromNullTime(last)
	return p, nil
}

// Profile implements model.Store.
func (db *DB) Profile(ctx context.Context, name string) (model.Profile, error) {
	p, err := scanProfile(db.pool.QueryRow(ctx, selectProfiles+"WHERE name = $1", model.CleanText(name)))
	if errors.Is(err, pgx.ErrNoRows) {
		return model.Profile{}, fmt.Errorf("postgres: profile %q: %w", name, model.ErrNotFound)
	}
	if err != nil {
		return model.Profile{}, fmt.Errorf("postgres: reading profile %q: %w", name, err)
	}
	return p, nil
}

// ListProfiles implements model.Store.
func (db *DB) ListProfiles(ctx context.Context) ([]model.Profile, error) {
	rows, err := db.pool.Query(ctx, selectProfiles+`ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("postgres: listing profiles: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (model.Profile, error) { return scanProfile(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: listing profiles: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// DeleteProfile implements model.Store.
func (db *DB) DeleteProfile(ctx context.Context, name string) error {
	tag, err := db.pool.Exec(ctx, "DELETE FROM profiles WHERE name = $1", model.CleanText(name))
	if err != nil {
		return fmt.Errorf("postgres: deleting profile %q: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: profile %q: %w", name, model.ErrNotFound)
	}
	return nil
}

// pendingSQL finds the candidate visits through captures_created_at_idx (their
// navigations in [Since, SettledBefore): a navigation at or after SettledBefore
// means the visit is not settled), drops the judged ones by primary key, then
// reads each candidate's first and last capture through captures_visit_key_idx.
// Parameters: $1 SettledBefore, $2 limit, $3 Since (withSince only).
func pendingSQL(withSince bool) string {
	since := ""
	if withSince {
		since = " AND n.created_at >= $3"
	}
	return `SELECT c.visit_key, min(c.created_at), max(c.created_at)
FROM (
	SELECT DISTINCT n.visit_key FROM captures n
	WHERE n.created_at < $1` + since + ` AND n.initiator = 'navigate' AND n.visit_key <> ''
		AND NOT EXISTS (SELECT 1 FROM visit_verdicts v WHERE v.visit_key = n.visit_key)
) cand
JOIN captures c ON c.visit_key = cand.visit_key AND c.visit_key <> ''
GROUP BY c.visit_key
HAVING max(c.created_at) < $1
ORDER BY min(c.created_at), c.visit_key COLLATE "C"
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

// verdictCols is the column list of visit_verdicts, in the order of the
// upsert's arguments and VisitVerdict's Scan.
const verdictCols = "visit_key, seen_at, evaluated_at, client_ip, user_agent, browser_key, wire_key, accepted, reason, details, capture_ids, profile"

const upsertVerdictSQL = "INSERT INTO visit_verdicts (" + verdictCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (visit_key) DO UPDATE SET seen_at = excluded.seen_at, evaluated_at = excluded.evaluated_at,
	client_ip = excluded.client_ip, user_agent = excluded.user_agent, browser_key = excluded.browser_key,
	wire_key = excluded.wire_key, accepted = excluded.accepted, reason = excluded.reason,
	details = excluded.details, capture_ids = excluded.capture_ids, profile = excluded.profile`

// PutVisitVerdicts implements model.Store: every verdict is validated first,
// then all are written in one transaction (one statement per verdict, sent as
// one pgx batch, so a key repeated in vs is simply replaced again).
func (db *DB) PutVisitVerdicts(ctx context.Context, vs []model.VisitVerdict) error {
	if len(vs) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for i := range vs {
		if err := vs[i].Validate(); err != nil {
			return fmt.Errorf("postgres: storing visit verdicts: %w", err)
		}
		v := vs[i].Normalized()
		b.Queue(upsertVerdictSQL, v.VisitKey, v.SeenAt, v.EvaluatedAt, v.ClientIP, v.UserAgent, v.BrowserKey, v.WireKey,
			v.Accepted, v.Reason, nullable(v.Details), model.EncodeIDs(v.CaptureIDs), nullable(v.Profile))
	}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: storing visit verdicts: %w", classify(err))
	}
	return nil
}

// VisitVerdict implements model.Store.
func (db *DB) VisitVerdict(ctx context.Context, visitKey string) (model.VisitVerdict, error) {
	if err := model.ValidateID(visitKey); err != nil {
		return model.VisitVerdict{}, fmt.Errorf("%w: %w", model.ErrNotFound, err)
	}
	var v model.VisitVerdict
	var details, ids, profile []byte
	err := db.pool.QueryRow(ctx, "SELECT "+verdictCols+" FROM visit_verdicts WHERE visit_key = $1", visitKey).Scan(
		&v.VisitKey, &v.SeenAt, &v.EvaluatedAt, &v.ClientIP, &v.UserAgent, &v.BrowserKey, &v.WireKey, &v.Accepted, &v.Reason,
		&details, &ids, &profile)
	if errors.Is(err, pgx.ErrNoRows) {
		return model.VisitVerdict{}, fmt.Errorf("postgres: visit verdict %s: %w", visitKey, model.ErrNotFound)
	}
	if err != nil {
		return model.VisitVerdict{}, fmt.Errorf("postgres: reading visit verdict %s: %w", visitKey, err)
	}
	v.SeenAt, v.EvaluatedAt = v.SeenAt.UTC(), v.EvaluatedAt.UTC()
	if len(details) > 0 {
		v.Details = details
	}
	if len(profile) > 0 {
		v.Profile = profile
	}
	if v.CaptureIDs, err = model.DecodeIDs(ids); err != nil {
		return model.VisitVerdict{}, fmt.Errorf("postgres: reading visit verdict %s: %w", visitKey, err)
	}
	return v, nil
}

// wireGroupsSQL reads the accepted verdicts along visit_verdicts_groups_idx
// (whose key columns use the C collation, like the ORDER BY); the latest visit
// of each group is one backward probe of the same index.
const wireGroupsSQL = `SELECT g.browser_key, g.wire_key, count(*), count(DISTINCT NULLIF(g.client_ip, '')),
	min(g.seen_at), max(g.seen_at),
	(SELECT l.visit_key FROM visit_verdicts l
		WHERE l.accepted AND l.browser_key = g.browser_key AND l.wire_key = g.wire_key
		ORDER BY l.seen_at DESC, l.visit_key COLLATE "C" DESC LIMIT 1)
FROM visit_verdicts g
WHERE g.accepted
GROUP BY g.browser_key, g.wire_key
ORDER BY g.browser_key COLLATE "C", g.wire_key COLLATE "C"`

// WireGroups implements model.Store.
func (db *DB) WireGroups(ctx context.Context) ([]model.WireGroup, error) {
	rows, err := db.pool.Query(ctx, wireGroupsSQL)
	if err != nil {
		return nil, fmt.Errorf("postgres: wire groups: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (model.WireGroup, error) {
		var g model.WireGroup
		err := row.Scan(&g.BrowserKey, &g.WireKey, &g.Visits, &g.Addresses, &g.FirstSeen, &g.LastSeen, &g.LatestVisit)
		g.FirstSeen, g.LastSeen = g.FirstSeen.UTC(), g.LastSeen.UTC()
		return g, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: wire groups: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// deleteVerdictsSQL deletes a chunk of the refused verdicts seen before $1
// (along visit_verdicts_refused_idx).
const deleteVerdictsSQL = "DELETE FROM visit_verdicts WHERE visit_key IN (SELECT visit_key FROM visit_verdicts WHERE NOT accepted AND seen_at < $1 LIMIT $2)"

// DeleteCapturesBefore implements model.Store: captures first, then the refused
// verdicts; the count is the sum of both.
func (db *DB) DeleteCapturesBefore(ctx context.Context, cutoff time.Time) (int64, error) {
	var total int64
	for _, del := range []struct{ what, query string }{
		{"old captures", "DELETE FROM captures WHERE id IN (SELECT id FROM captures WHERE created_at < $1 LIMIT $2)"},
		{"old refused verdicts", deleteVerdictsSQL},
	} {
		for {
			if err := ctx.Err(); err != nil {
				return total, fmt.Errorf("postgres: deleting %s: %w", del.what, err)
			}
			tag, err := db.pool.Exec(ctx, del.query, cutoff, db.opts.DeleteChunk)
			if err != nil {
				return total, fmt.Errorf("postgres: deleting %s: %w", del.what, err)
			}
			total += tag.RowsAffected()
			if tag.RowsAffected() < int64(db.opts.DeleteChunk) {
				break
			}
		}
	}
	return total, nil
}

// Ping implements model.Store.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close implements model.Store. It waits for acquired connections to be released.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}
