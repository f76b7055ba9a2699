// Package postgres is the PostgreSQL storage backend, through pgx (pgxpool).
//
// Captures are stored normalised (migration 0004, model.Split): dictionary
// entries and connections a batch needs that the writers' cache does not know
// are upserted from arrays, requests go in with COPY into the day-partitioned
// requests table; a batch that collides with stored rows (a retried batch
// whose first attempt committed) is written again with INSERT ... ON CONFLICT
// DO NOTHING. The common case pays for one COPY; retries stay idempotent.
// Retention drops whole day partitions.
//
// Migrations are applied on Open, each in its own transaction holding a
// transaction-level advisory lock, so several processes may open the same
// database at once. Text is ordered with COLLATE "C" (byte order), matching SQLite.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
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
	// ReadOnly opens the database for reading only, as a hot standby
	// allows: no migration, partition or conversion is attempted (the
	// primary's writer does them); Open checks instead that the schema
	// is exactly the one this build knows (every migration applied, none
	// unknown, no conversion pending), and every session is read-only.
	ReadOnly bool
}

// migrationLockKey is the pg_advisory_xact_lock key serialising migrations
// ("guanaco" + version 1 of the locking scheme).
const migrationLockKey int64 = 0x6775616e61636f01

// DB is a Postgres-backed model.Store.
type DB struct {
	pool *pgxpool.Pool
	opts Options

	// cache remembers the dictionary entries and connections written; splits
	// holds reusable model.Split buffers sharing it (one per concurrent batch).
	cache  *model.DictCache
	splits sync.Pool

	// days are the UTC days whose requests partition is known to exist (or
	// that are left to the default partition).
	daysMu sync.Mutex
	days   map[int64]struct{}
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
	if opts.ReadOnly {
		cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = opts.ApplicationName
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: creating pool: %w", err)
	}
	db := &DB{pool: pool, opts: opts, cache: model.NewDictCache(0), days: map[int64]struct{}{}}
	db.splits.New = func() any { return model.NewSplit(db.cache) }
	if opts.ReadOnly {
		if err := db.checkSchema(ctx); err != nil {
			pool.Close()
			return nil, err
		}
		return db, nil
	}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	today := dayOf(time.Now())
	ahead := make([]int64, 0, partitionAhead+1)
	for d := today; d <= today+partitionAhead; d++ {
		ahead = append(ahead, d)
	}
	if err := db.createPartitions(ctx, ahead); err != nil {
		pool.Close()
		return nil, err
	}
	if _, err := db.convertLegacy(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// checkSchema is ReadOnly's Open check: the database's schema_migrations
// must hold exactly this build's migrations and no conversion may be
// pending, or reads would run against tables this build does not know.
func (db *DB) checkSchema(ctx context.Context) error {
	all, err := migrations.List(migrations.Postgres)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	rows, err := db.pool.Query(ctx, "SELECT version, name FROM schema_migrations")
	if err != nil {
		return fmt.Errorf("postgres: read-only open: reading schema_migrations (is the primary migrated?): %w", err)
	}
	applied := map[int]string{}
	var v int
	var name string
	if _, err := pgx.ForEachRow(rows, []any{&v, &name}, func() error { applied[v] = name; return nil }); err != nil {
		return fmt.Errorf("postgres: read-only open: reading schema_migrations: %w", err)
	}
	todo, err := migrations.Plan(all, applied)
	if err != nil {
		return fmt.Errorf("postgres: read-only open: %w", err)
	}
	if len(todo) > 0 {
		return fmt.Errorf("postgres: read-only open: the database lacks migration %s; open the primary with this build first", todo[0].Name)
	}
	var legacy bool
	if err := db.pool.QueryRow(ctx, "SELECT to_regclass('captures_legacy') IS NOT NULL").Scan(&legacy); err != nil {
		return fmt.Errorf("postgres: read-only open: %w", err)
	}
	if legacy {
		return errors.New("postgres: read-only open: the primary is still converting old captures (captures_legacy exists)")
	}
	return nil
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

func nullable(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
