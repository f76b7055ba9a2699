// Package sqlite is the embedded storage backend: a single SQLite file through the
// pure-Go driver modernc.org/sqlite (no cgo), the zero-setup default of fpserver.
//
// The database runs in WAL mode with synchronous=NORMAL. Writes go through exactly
// one connection (SQLite allows one writer at a time; one Go-side writer avoids
// SQLITE_BUSY between our own goroutines), each batch in one BEGIN IMMEDIATE
// transaction with prepared multi-row INSERTs (INSERT OR IGNORE for connections
// and requests, which needs no statement journal; see ignoreVerb) and
// single-row dictionary upserts, run as driver statements (see inserts).
// Pages are 16 KiB (fewer WAL frames and write calls per batch than 4 KiB).
// Reads use a separate pool of read-only connections, which WAL lets run
// concurrently with the writer. ":memory:" opens a private in-memory database on a
// single connection (for tests).
//
// Times are stored as INTEGER microseconds since the Unix epoch (UTC).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/guanaco-fp/guanaco/store/migrations"
	"github.com/guanaco-fp/guanaco/store/model"
)

// Memory is the path that opens a private in-memory database.
const Memory = ":memory:"

// Options tune the backend. The zero value is usable.
type Options struct {
	// ReadConns is the size of the read-only connection pool (default 4).
	ReadConns int
	// BusyTimeout is how long a connection waits for a lock held by another
	// process (default 5 s).
	BusyTimeout time.Duration
	// DeleteChunk is the number of rows DeleteCapturesBefore deletes per
	// transaction (default 5000).
	DeleteChunk int
	// CacheKiB is the page cache size per connection in KiB (default 16384).
	CacheKiB int
}

func (o Options) withDefaults() Options {
	if o.ReadConns <= 0 {
		o.ReadConns = 4
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 5 * time.Second
	}
	if o.DeleteChunk <= 0 {
		o.DeleteChunk = 5000
	}
	if o.CacheKiB <= 0 {
		o.CacheKiB = 16384
	}
	return o
}

// DB is a SQLite-backed model.Store.
type DB struct {
	w    *sql.DB // exactly one connection: the writer
	r    *sql.DB // read-only pool; == w for :memory:
	opts Options

	// wmu serialises writers (there is one connection anyway) so that the
	// prepared inserts and the buffers below are used by one transaction at
	// a time.
	wmu   sync.Mutex
	ins   inserts
	split *model.Split
	// cache remembers the dictionary entries and connections written.
	cache *model.DictCache
	// seqs maps connections to their rows' seq (guarded by wmu).
	seqs *connSeqs
	// idKeys holds the stored ids of a batch (guarded by wmu).
	idKeys idKeys
}

var _ model.Store = (*DB)(nil)

// Open opens (creating if needed) the database file at path, or a private in-memory
// database for Memory, and applies pending migrations. The path must not contain
// '?' (the driver reads parameters after it).
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	opts = opts.withDefaults()
	if path == "" {
		return nil, fmt.Errorf("sqlite: opening: empty path")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite: opening %q: path must not contain '?' or '#'", path)
	}
	mem := path == Memory
	common := []string{
		"_pragma=busy_timeout(" + strconv.FormatInt(opts.BusyTimeout.Milliseconds(), 10) + ")",
		"_pragma=foreign_keys(1)",
		"_pragma=cache_size(-" + strconv.Itoa(opts.CacheKiB) + ")",
		"_pragma=temp_store(memory)",
	}
	wparams := append([]string{"_txlock=immediate"}, common...)
	if !mem {
		wparams = append(wparams, "_pragma=page_size(16384)", "_journal_mode=WAL", "_pragma=synchronous(NORMAL)")
	}
	w, err := sql.Open("sqlite", path+"?"+strings.Join(wparams, "&"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: opening %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	cache := model.NewDictCache(0)
	db := &DB{w: w, r: w, opts: opts, split: model.NewSplit(cache), cache: cache, seqs: newConnSeqs()}
	if err := db.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	if !mem {
		rparams := append([]string{"_pragma=query_only(1)"}, common...)
		r, err := sql.Open("sqlite", path+"?"+strings.Join(rparams, "&"))
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("sqlite: opening readers for %s: %w", path, err)
		}
		r.SetMaxOpenConns(opts.ReadConns)
		r.SetMaxIdleConns(opts.ReadConns)
		db.r = r
	}
	if err := db.prepareInserts(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if _, err := db.convertLegacy(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func (db *DB) migrate(ctx context.Context) error {
	all, err := migrations.List(migrations.SQLite)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	if _, err := db.w.ExecContext(ctx, migrations.TableDDL(migrations.SQLite)); err != nil {
		return fmt.Errorf("sqlite: creating schema_migrations: %w", err)
	}
	// Each migration runs in its own BEGIN IMMEDIATE transaction (the writer's
	// _txlock), which also excludes other processes migrating the same file; the
	// applied set is re-read inside it.
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

func (db *DB) migrateOne(ctx context.Context, all []migrations.Migration) (done bool, err error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("sqlite: migrating: beginning: %w", err)
	}
	defer tx.Rollback()
	applied := map[int]string{}
	rows, err := tx.QueryContext(ctx, "SELECT version, name FROM schema_migrations")
	if err != nil {
		return false, fmt.Errorf("sqlite: migrating: reading schema_migrations: %w", err)
	}
	for rows.Next() {
		var v int
		var name string
		if err := rows.Scan(&v, &name); err != nil {
			rows.Close()
			return false, fmt.Errorf("sqlite: migrating: reading schema_migrations: %w", err)
		}
		applied[v] = name
	}
	if err := rows.Close(); err != nil {
		return false, fmt.Errorf("sqlite: migrating: reading schema_migrations: %w", err)
	}
	todo, err := migrations.Plan(all, applied)
	if err != nil {
		return false, fmt.Errorf("sqlite: %w", err)
	}
	if len(todo) == 0 {
		return true, nil
	}
	m := todo[0]
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return false, fmt.Errorf("sqlite: applying migration %s: %w", m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
		m.Version, m.Name, time.Now().UnixMicro()); err != nil {
		return false, fmt.Errorf("sqlite: recording migration %s: %w", m.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("sqlite: committing migration %s: %w", m.Name, err)
	}
	return len(todo) == 1, nil
}

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

func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func nullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullRef stores the dictionary reference 0 ("none") as NULL.
func nullRef(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

type scanner interface{ Scan(dest ...any) error }

func scanCapture(s scanner) (model.Capture, error) {
	var c model.Capture
	var created, stream int64
	var hello []byte
	var tlsSummary, names, values, h2 sql.NullString
	err := s.Scan(&c.ID, &created, &c.VisitKey, &c.Initiator, &c.ClientIP, &c.UserAgent, &c.Host, &c.Method, &c.Path,
		&c.HTTPVersion, &c.TLSVersion, &c.SNI, &c.ALPN, &hello, &tlsSummary, &names, &values, &h2, &stream,
		&c.JA3, &c.JA3Hash, &c.JA3N, &c.JA3NHash, &c.JA4, &c.JA4R, &c.JA4O, &c.JA4RO,
		&c.PeetPrint, &c.PeetPrintHash, &c.Akamai, &c.AkamaiHash, &c.HeaderOrder, &c.HeaderOrderHash,
		&c.QUICTP, &c.QUICTPHash)
	if err != nil {
		return c, err
	}
	c.CreatedAt = fromMicros(created)
	c.StreamID = uint32(stream)
	if len(hello) > 0 {
		c.ClientHello = hello
	}
	if tlsSummary.Valid && tlsSummary.String != "" {
		c.TLSSummary = []byte(tlsSummary.String)
	}
	if h2.Valid && h2.String != "" {
		c.H2 = []byte(h2.String)
	}
	if c.Headers, err = model.ZipHeaders(names.String, values.String); err != nil {
		return c, err
	}
	return c, nil
}

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// classify marks errors caused by the data itself (constraint, type, size) with
// model.ErrRejected, so callers know a retry cannot succeed.
func classify(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_MISMATCH, sqlite3.SQLITE_RANGE:
			return fmt.Errorf("%w: %w", model.ErrRejected, err)
		}
	}
	return err
}

// Capture implements model.Store.
func (db *DB) Capture(ctx context.Context, id string) (model.Capture, error) {
	if err := model.ValidateID(id); err != nil {
		return model.Capture{}, fmt.Errorf("%w: %w", model.ErrNotFound, err)
	}
	c, err := scanCapture(db.r.QueryRowContext(ctx, selectCaptures+"WHERE id_key = ?", idKey(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return model.Capture{}, fmt.Errorf("sqlite: capture %s: %w", id, model.ErrNotFound)
	}
	if err != nil {
		return model.Capture{}, fmt.Errorf("sqlite: reading capture %s: %w", id, err)
	}
	return c, nil
}

// maxVisitCaptures bounds CapturesByVisit.
const maxVisitCaptures = model.MaxVisitCaptures

func (db *DB) queryCaptures(ctx context.Context, what, query string, args ...any) ([]model.Capture, error) {
	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", what, err)
	}
	defer rows.Close()
	var out []model.Capture
	for rows.Next() {
		c, err := scanCapture(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: %s: %w", what, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", what, err)
	}
	return out, nil
}

// CapturesByVisit implements model.Store.
func (db *DB) CapturesByVisit(ctx context.Context, visitKey string) ([]model.Capture, error) {
	if visitKey == "" {
		return nil, fmt.Errorf("sqlite: captures by visit: %w: empty visit key", model.ErrInvalid)
	}
	return db.queryCaptures(ctx, "captures by visit",
		selectCaptures+"WHERE visit_key = ? AND visit_key <> '' ORDER BY created_at, id LIMIT ?", visitKey, maxVisitCaptures)
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
	var rows *sql.Rows
	var err error
	if model.HashedLookup(k) {
		rows, err = db.r.QueryContext(ctx, "SELECT id FROM dict WHERE hash = ? AND hash <> '' AND kind = ? ORDER BY id", hash, model.KindDict(k))
	} else {
		rows, err = db.r.QueryContext(ctx, "SELECT id FROM dict WHERE id = ? AND value = ? AND kind = ?", model.LookupID(k, hash), hash, model.KindDict(k))
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// refMatch is the predicate "the reference column of k is one of ids" and
// its arguments.
func refMatch(k model.FingerprintKind, ids []int64) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return refCol(k) + " IN (" + strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",") + ")", args
}

// resolveKind returns q.Kind, or the first kind (in model.Kinds order) with a
// capture matching q.Hash, and the dictionary entries matching it;
// ErrNotFound when none matches.
func (db *DB) resolveKind(ctx context.Context, q model.FingerprintQuery) (model.FingerprintKind, []int64, error) {
	var ids []int64
	k, err := model.ResolveKind(ctx, q, func(ctx context.Context, col, hash string) (bool, error) {
		kind := model.FingerprintKind(col)
		var err error
		if ids, err = db.dictIDs(ctx, kind, hash); err != nil || len(ids) == 0 {
			return false, err
		}
		pred, args := refMatch(kind, ids)
		var one int
		err = db.r.QueryRowContext(ctx, "SELECT 1 FROM captures WHERE "+pred+" LIMIT 1", args...).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return "", nil, fmt.Errorf("sqlite: %w", err)
	}
	// ids are those of the last probe, the one that matched.
	return k, ids, nil
}

// byFingerprintSQL is the query of CapturesByFingerprint for the predicate
// pred (refMatch) and its arguments, then the time bound and the limit. The
// page of captures is chosen first by time and id alone, then only its rows
// are read whole: a lookup by a connection's fingerprint (JA4, ...) sorts
// every matching request, and sorting them with every column of the view
// (TLS summary, header lists: their 16 dictionary lookups and kilobytes of
// text each) cost several times the sort itself.
func byFingerprintSQL(pred string) string {
	return selectCaptures + "WHERE id_key IN (SELECT id_key FROM captures WHERE " + pred +
		" AND created_at < ? ORDER BY created_at DESC, id DESC LIMIT ?) ORDER BY created_at DESC, id DESC"
}

// CapturesByFingerprint implements model.Store.
func (db *DB) CapturesByFingerprint(ctx context.Context, q model.FingerprintQuery) ([]model.Capture, model.FingerprintKind, error) {
	q, err := q.Check(50)
	if err != nil {
		return nil, "", fmt.Errorf("sqlite: captures by fingerprint: %w", err)
	}
	k, ids, err := db.resolveKind(ctx, q)
	if err != nil {
		return nil, "", err
	}
	before := int64(math.MaxInt64)
	if !q.Before.IsZero() {
		before = q.Before.UnixMicro()
	}
	pred, args := refMatch(k, ids)
	cs, err := db.queryCaptures(ctx, "captures by fingerprint", byFingerprintSQL(pred), append(args, before, q.Limit)...)
	if err != nil {
		return nil, "", err
	}
	return cs, k, nil
}

// FingerprintStats implements model.Store.
func (db *DB) FingerprintStats(ctx context.Context, q model.FingerprintQuery) (model.FingerprintStats, error) {
	q, err := q.Check(10)
	if err != nil {
		return model.FingerprintStats{}, fmt.Errorf("sqlite: fingerprint stats: %w", err)
	}
	k, ids, err := db.resolveKind(ctx, q)
	if err != nil {
		return model.FingerprintStats{}, err
	}
	pred, args := refMatch(k, ids)
	st := model.FingerprintStats{Kind: k, Hash: q.Hash}
	var first, last sql.NullInt64
	err = db.r.QueryRowContext(ctx, "SELECT count(*), count(DISTINCT NULLIF(visit_key, '')), min(created_at), max(created_at) FROM captures WHERE "+
		pred, args...).Scan(&st.Count, &st.Visits, &first, &last)
	if err != nil {
		return st, fmt.Errorf("sqlite: fingerprint stats: %w", err)
	}
	if st.Count == 0 {
		return st, fmt.Errorf("sqlite: fingerprint %q: %w", q.Hash, model.ErrNotFound)
	}
	st.FirstSeen, st.LastSeen = fromMicros(first.Int64), fromMicros(last.Int64)
	days, err := db.r.QueryContext(ctx, "SELECT created_at / 86400000000, count(*) FROM captures WHERE "+pred+" AND created_at >= ? GROUP BY 1 ORDER BY 1",
		append(append([]any(nil), args...), model.DaysSince(st.LastSeen).UnixMicro())...)
	if err != nil {
		return st, fmt.Errorf("sqlite: fingerprint stats: days: %w", err)
	}
	for days.Next() {
		var d, n int64
		if err := days.Scan(&d, &n); err != nil {
			days.Close()
			return st, fmt.Errorf("sqlite: fingerprint stats: days: %w", err)
		}
		st.Days = append(st.Days, model.DayCount{Day: time.Unix(d*86400, 0).UTC(), Count: n})
	}
	if err := days.Close(); err != nil {
		return st, fmt.Errorf("sqlite: fingerprint stats: days: %w", err)
	}
	rows, err := db.r.QueryContext(ctx, "SELECT d.value, x.n FROM (SELECT user_agent_ref AS id, count(*) AS n FROM captures WHERE "+pred+
		" AND user_agent_ref IS NOT NULL GROUP BY user_agent_ref) x JOIN dict d ON d.id = x.id WHERE d.value <> '' ORDER BY x.n DESC, d.value ASC LIMIT ?", append(args, q.Limit)...)
	if err != nil {
		return st, fmt.Errorf("sqlite: fingerprint stats: user agents: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var u model.UserAgentCount
		if err := rows.Scan(&u.UserAgent, &u.Count); err != nil {
			return st, fmt.Errorf("sqlite: fingerprint stats: user agents: %w", err)
		}
		st.TopUserAgents = append(st.TopUserAgents, u)
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("sqlite: fingerprint stats: user agents: %w", err)
	}
	return st, nil
}

func windowBounds(w model.TimeWindow) (since, until int64) {
	since, until = math.MinInt64, math.MaxInt64
	if !w.Since.IsZero() {
		since = w.Since.UnixMicro()
	}
	if !w.Until.IsZero() {
		until = w.Until.UnixMicro()
	}
	return since, until
}

// TopFingerprints implements model.Store: the requests in the window are
// counted per reference, and only the counted references are looked up in
// dict.
func (db *DB) TopFingerprints(ctx context.Context, kind model.FingerprintKind, w model.TimeWindow, limit int) ([]model.FingerprintCount, error) {
	if !kind.Valid() {
		return nil, fmt.Errorf("sqlite: top fingerprints: %w: unknown kind %q", model.ErrInvalid, kind)
	}
	col, text := refCol(kind), "d."+dictText(kind)
	since, until := windowBounds(w)
	rows, err := db.r.QueryContext(ctx, "SELECT "+text+", x.n, x.f, x.l FROM (SELECT "+col+" AS id, count(*) AS n, min(created_at) AS f, max(created_at) AS l FROM captures WHERE "+col+
		" IS NOT NULL AND created_at >= ? AND created_at < ? GROUP BY "+col+") x JOIN dict d ON d.id = x.id WHERE "+text+" <> '' ORDER BY x.n DESC, "+text+" ASC LIMIT ?",
		since, until, model.ClampLimit(limit, 20))
	if err != nil {
		return nil, fmt.Errorf("sqlite: top fingerprints: %w", err)
	}
	defer rows.Close()
	var out []model.FingerprintCount
	for rows.Next() {
		var f model.FingerprintCount
		var first, last int64
		if err := rows.Scan(&f.Hash, &f.Count, &first, &last); err != nil {
			return nil, fmt.Errorf("sqlite: top fingerprints: %w", err)
		}
		f.FirstSeen, f.LastSeen = fromMicros(first), fromMicros(last)
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: top fingerprints: %w", err)
	}
	return out, nil
}

// TopUserAgents implements model.Store.
func (db *DB) TopUserAgents(ctx context.Context, w model.TimeWindow, limit int) ([]model.UserAgentCount, error) {
	since, until := windowBounds(w)
	rows, err := db.r.QueryContext(ctx, "SELECT d.value, x.n FROM (SELECT user_agent AS id, count(*) AS n FROM requests WHERE user_agent IS NOT NULL AND created_at >= ? AND created_at < ? "+
		"GROUP BY user_agent) x JOIN dict d ON d.id = x.id WHERE d.value <> '' ORDER BY x.n DESC, d.value ASC LIMIT ?", since, until, model.ClampLimit(limit, 20))
	if err != nil {
		return nil, fmt.Errorf("sqlite: top user agents: %w", err)
	}
	defer rows.Close()
	var out []model.UserAgentCount
	for rows.Next() {
		var u model.UserAgentCount
		if err := rows.Scan(&u.UserAgent, &u.Count); err != nil {
			return nil, fmt.Errorf("sqlite: top user agents: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: top user agents: %w", err)
	}
	return out, nil
}

// CaptureTotals implements model.Store.
func (db *DB) CaptureTotals(ctx context.Context, w model.TimeWindow) (model.Totals, error) {
	since, until := windowBounds(w)
	var t model.Totals
	err := db.r.QueryRowContext(ctx, "SELECT count(*), count(DISTINCT conn_id), count(DISTINCT NULLIF(visit_key, '')) FROM requests WHERE created_at >= ? AND created_at < ?",
		since, until).Scan(&t.Captures, &t.Connections, &t.Visits)
	if err != nil {
		return t, fmt.Errorf("sqlite: capture totals: %w", err)
	}
	return t, nil
}

// UpsertProfile implements model.Store.
func (db *DB) UpsertProfile(ctx context.Context, p model.Profile) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("sqlite: upserting profile: %w", err)
	}
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = time.Now()
	}
	if p.Source == "" {
		p.Source = model.ProfileImported
	}
	db.wmu.Lock()
	defer db.wmu.Unlock()
	_, err := db.w.ExecContext(ctx, `INSERT INTO profiles (name, browser, version, platform, document, updated_at,
	source, pinned, browser_key, wire_key, first_seen, last_seen, visits, addresses, stale)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (name) DO UPDATE SET browser = excluded.browser, version = excluded.version,
	platform = excluded.platform, document = excluded.document, updated_at = excluded.updated_at,
	source = excluded.source, pinned = excluded.pinned, browser_key = excluded.browser_key,
	wire_key = excluded.wire_key, first_seen = excluded.first_seen, last_seen = excluded.last_seen,
	visits = excluded.visits, addresses = excluded.addresses, stale = excluded.stale`,
		p.Name, p.Browser, p.Version, p.Platform, string(p.JSON), p.UpdatedAt.UnixMicro(),
		p.Source, p.Pinned, model.CleanText(p.BrowserKey), model.CleanText(p.WireKey),
		nullMicros(p.FirstSeen), nullMicros(p.LastSeen), p.Visits, p.Addresses, p.Stale)
	if err != nil {
		return fmt.Errorf("sqlite: upserting profile %q: %w", p.Name, classify(err))
	}
	return nil
}

// nullMicros stores a zero time ("unknown") as NULL.
func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func fromNullMicros(us sql.NullInt64) time.Time {
	if !us.Valid {
		return time.Time{}
	}
	return fromMicros(us.Int64)
}

const selectProfiles = `SELECT name, browser, version, platform, document, updated_at,
	source, pinned, browser_key, wire_key, first_seen, last_seen, visits, addresses, stale FROM profiles `

func scanProfile(s scanner) (model.Profile, error) {
	var p model.Profile
	var doc string
	var updated int64
	var first, last sql.NullInt64
	if err := s.Scan(&p.Name, &p.Browser, &p.Version, &p.Platform, &doc, &updated,
		&p.Source, &p.Pinned, &p.BrowserKey, &p.WireKey, &first, &last, &p.Visits, &p.Addresses, &p.Stale); err != nil {
		return p, err
	}
	p.JSON = []byte(doc)
	p.UpdatedAt = fromMicros(updated)
	p.FirstSeen, p.LastSeen = fromNullMicros(first), fromNullMicros(last)
	return p, nil
}

// Profile implements model.Store.
func (db *DB) Profile(ctx context.Context, name string) (model.Profile, error) {
	p, err := scanProfile(db.r.QueryRowContext(ctx, selectProfiles+"WHERE name = ?", name))
	if errors.Is(err, sql.ErrNoRows) {
		return model.Profile{}, fmt.Errorf("sqlite: profile %q: %w", name, model.ErrNotFound)
	}
	if err != nil {
		return model.Profile{}, fmt.Errorf("sqlite: reading profile %q: %w", name, err)
	}
	return p, nil
}

// ListProfiles implements model.Store.
func (db *DB) ListProfiles(ctx context.Context) ([]model.Profile, error) {
	rows, err := db.r.QueryContext(ctx, selectProfiles+"ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("sqlite: listing profiles: %w", err)
	}
	defer rows.Close()
	var out []model.Profile
	for rows.Next() {
		p, err := scanProfile(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: listing profiles: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: listing profiles: %w", err)
	}
	return out, nil
}

// DeleteProfile implements model.Store.
func (db *DB) DeleteProfile(ctx context.Context, name string) error {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	res, err := db.w.ExecContext(ctx, "DELETE FROM profiles WHERE name = ?", name)
	if err != nil {
		return fmt.Errorf("sqlite: deleting profile %q: %w", name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: deleting profile %q: %w", name, err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: profile %q: %w", name, model.ErrNotFound)
	}
	return nil
}

// pendingSQL finds the candidate visits through captures_created_at_idx (their
// navigations in [since, settled): a navigation at or after settled means the
// visit is not settled), drops the judged ones by primary key, then reads each
// candidate's first and last capture through captures_visit_key_idx.
const pendingSQL = `WITH cand AS (
	SELECT DISTINCT n.visit_key FROM requests n
	WHERE n.created_at >= ? AND n.created_at < ? AND n.initiator = 'navigate' AND n.visit_key <> ''
		AND NOT EXISTS (SELECT 1 FROM visit_verdicts v WHERE v.visit_key = n.visit_key)
)
SELECT c.visit_key, min(c.created_at), max(c.created_at)
FROM cand JOIN requests c ON c.visit_key = cand.visit_key AND c.visit_key <> ''
GROUP BY c.visit_key
HAVING max(c.created_at) < ?
ORDER BY min(c.created_at), c.visit_key
LIMIT ?`

// PendingVisits implements model.Store.
func (db *DB) PendingVisits(ctx context.Context, q model.PendingQuery) ([]model.PendingVisit, error) {
	if q.SettledBefore.IsZero() {
		return nil, fmt.Errorf("sqlite: pending visits: %w: zero SettledBefore", model.ErrInvalid)
	}
	since := int64(math.MinInt64)
	if !q.Since.IsZero() {
		since = q.Since.UnixMicro()
	}
	settled := q.SettledBefore.UnixMicro()
	rows, err := db.r.QueryContext(ctx, pendingSQL, since, settled, settled, model.ClampLimit(q.Limit, 100))
	if err != nil {
		return nil, fmt.Errorf("sqlite: pending visits: %w", err)
	}
	defer rows.Close()
	var out []model.PendingVisit
	for rows.Next() {
		var v model.PendingVisit
		var first, last int64
		if err := rows.Scan(&v.VisitKey, &first, &last); err != nil {
			return nil, fmt.Errorf("sqlite: pending visits: %w", err)
		}
		v.FirstAt, v.LastAt = fromMicros(first), fromMicros(last)
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: pending visits: %w", err)
	}
	return out, nil
}

// verdictCols is the column list of visit_verdicts, in the order of
// verdictArgs and scanVerdict.
const verdictCols = "visit_key, seen_at, evaluated_at, client_ip, user_agent, browser_key, wire_key, accepted, reason, details, capture_ids, profile"

const upsertVerdictSQL = "INSERT INTO visit_verdicts (" + verdictCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (visit_key) DO UPDATE SET seen_at = excluded.seen_at, evaluated_at = excluded.evaluated_at,
	client_ip = excluded.client_ip, user_agent = excluded.user_agent, browser_key = excluded.browser_key,
	wire_key = excluded.wire_key, accepted = excluded.accepted, reason = excluded.reason,
	details = excluded.details, capture_ids = excluded.capture_ids, profile = excluded.profile`

// PutVisitVerdicts implements model.Store: every verdict is validated first,
// then all are written in one transaction.
func (db *DB) PutVisitVerdicts(ctx context.Context, vs []model.VisitVerdict) error {
	if len(vs) == 0 {
		return nil
	}
	norm := make([]model.VisitVerdict, len(vs))
	for i := range vs {
		if err := vs[i].Validate(); err != nil {
			return fmt.Errorf("sqlite: storing visit verdicts: %w", err)
		}
		norm[i] = vs[i].Normalized()
	}
	db.wmu.Lock()
	defer db.wmu.Unlock()
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: storing visit verdicts: beginning: %w", classify(err))
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, upsertVerdictSQL)
	if err != nil {
		return fmt.Errorf("sqlite: storing visit verdicts: %w", err)
	}
	defer stmt.Close()
	for i := range norm {
		v := &norm[i]
		if _, err := stmt.ExecContext(ctx, v.VisitKey, v.SeenAt.UnixMicro(), v.EvaluatedAt.UnixMicro(), v.ClientIP, v.UserAgent,
			v.BrowserKey, v.WireKey, v.Accepted, v.Reason, nullText(string(v.Details)), string(model.EncodeIDs(v.CaptureIDs)), nullText(string(v.Profile))); err != nil {
			return fmt.Errorf("sqlite: storing visit verdict %s: %w", v.VisitKey, classify(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: storing visit verdicts: committing: %w", classify(err))
	}
	return nil
}

// VisitVerdict implements model.Store.
func (db *DB) VisitVerdict(ctx context.Context, visitKey string) (model.VisitVerdict, error) {
	if err := model.ValidateID(visitKey); err != nil {
		return model.VisitVerdict{}, fmt.Errorf("%w: %w", model.ErrNotFound, err)
	}
	var v model.VisitVerdict
	var seen, evaluated int64
	var details, profile sql.NullString
	var ids string
	err := db.r.QueryRowContext(ctx, "SELECT "+verdictCols+" FROM visit_verdicts WHERE visit_key = ?", visitKey).Scan(
		&v.VisitKey, &seen, &evaluated, &v.ClientIP, &v.UserAgent, &v.BrowserKey, &v.WireKey, &v.Accepted, &v.Reason,
		&details, &ids, &profile)
	if errors.Is(err, sql.ErrNoRows) {
		return model.VisitVerdict{}, fmt.Errorf("sqlite: visit verdict %s: %w", visitKey, model.ErrNotFound)
	}
	if err != nil {
		return model.VisitVerdict{}, fmt.Errorf("sqlite: reading visit verdict %s: %w", visitKey, err)
	}
	v.SeenAt, v.EvaluatedAt = fromMicros(seen), fromMicros(evaluated)
	if details.Valid && details.String != "" {
		v.Details = []byte(details.String)
	}
	if profile.Valid && profile.String != "" {
		v.Profile = []byte(profile.String)
	}
	if v.CaptureIDs, err = model.DecodeIDs([]byte(ids)); err != nil {
		return model.VisitVerdict{}, fmt.Errorf("sqlite: reading visit verdict %s: %w", visitKey, err)
	}
	return v, nil
}

// wireGroupsSQL aggregates the accepted verdicts along visit_verdicts_groups_idx;
// the latest visit of each group is one probe of the same index.
const wireGroupsSQL = `SELECT g.browser_key, g.wire_key, count(*), count(DISTINCT NULLIF(g.client_ip, '')), min(g.seen_at), max(g.seen_at),
	(SELECT l.visit_key FROM visit_verdicts l
		WHERE l.accepted = 1 AND l.browser_key = g.browser_key AND l.wire_key = g.wire_key
		ORDER BY l.seen_at DESC, l.visit_key DESC LIMIT 1)
FROM visit_verdicts g
WHERE g.accepted = 1
GROUP BY g.browser_key, g.wire_key
ORDER BY g.browser_key, g.wire_key`

// WireGroups implements model.Store.
func (db *DB) WireGroups(ctx context.Context) ([]model.WireGroup, error) {
	rows, err := db.r.QueryContext(ctx, wireGroupsSQL)
	if err != nil {
		return nil, fmt.Errorf("sqlite: wire groups: %w", err)
	}
	defer rows.Close()
	var out []model.WireGroup
	for rows.Next() {
		var g model.WireGroup
		var first, last int64
		if err := rows.Scan(&g.BrowserKey, &g.WireKey, &g.Visits, &g.Addresses, &first, &last, &g.LatestVisit); err != nil {
			return nil, fmt.Errorf("sqlite: wire groups: %w", err)
		}
		g.FirstSeen, g.LastSeen = fromMicros(first), fromMicros(last)
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: wire groups: %w", err)
	}
	return out, nil
}

// DeleteCapturesBefore implements model.Store: requests first, then the
// connections left without requests, the refused verdicts, and the dictionary
// entries no writer used since model.DictRetentionSlack before the cutoff;
// the count is the requests and verdicts deleted.
func (db *DB) DeleteCapturesBefore(ctx context.Context, cutoff time.Time) (int64, error) {
	var total int64
	for _, del := range []struct {
		what, query string
		counted     bool
		cutoff      int64
	}{
		{"old captures", "DELETE FROM requests WHERE rowid IN (SELECT rowid FROM requests WHERE created_at < ? LIMIT ?)", true, cutoff.UnixMicro()},
		{"old connections", "DELETE FROM connections WHERE seq IN (SELECT c.seq FROM connections c WHERE c.created_at < ? " +
			"AND NOT EXISTS (SELECT 1 FROM requests r WHERE r.conn_id = c.seq) LIMIT ?)", false, cutoff.UnixMicro()},
		{"old refused verdicts", "DELETE FROM visit_verdicts WHERE rowid IN (SELECT rowid FROM visit_verdicts WHERE accepted = 0 AND seen_at < ? LIMIT ?)", true, cutoff.UnixMicro()},
		{"unused dictionary entries", "DELETE FROM dict WHERE rowid IN (SELECT rowid FROM dict WHERE last_seen < ? LIMIT ?)", false, cutoff.Add(-model.DictRetentionSlack).UnixMicro()},
	} {
		for {
			if err := ctx.Err(); err != nil {
				return total, fmt.Errorf("sqlite: deleting %s: %w", del.what, err)
			}
			n, err := db.deleteChunk(ctx, del.what, del.query, del.cutoff, !del.counted)
			if del.counted {
				total += n
			}
			if err != nil {
				return total, err
			}
			if n < int64(db.opts.DeleteChunk) {
				break
			}
		}
	}
	return total, nil
}

// deleteChunk runs one chunk of a retention delete. When it deleted rows the
// writer may take for stored (forget: connections, dictionary entries), its
// cache and connection seqs are emptied before the write lock is released,
// so that the next batch does not refer to a deleted row.
func (db *DB) deleteChunk(ctx context.Context, what, query string, cutoff int64, forget bool) (int64, error) {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	res, err := db.w.ExecContext(ctx, query, cutoff, db.opts.DeleteChunk)
	if err != nil {
		return 0, fmt.Errorf("sqlite: deleting %s: %w", what, err)
	}
	n, _ := res.RowsAffected()
	if n > 0 && forget {
		db.cache.Forget()
		db.seqs.forget()
	}
	return n, nil
}

// Ping implements model.Store.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.r.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close implements model.Store.
func (db *DB) Close() error {
	errs := []error{db.closeInserts()}
	if db.r != db.w {
		errs = append(errs, db.r.Close())
	}
	errs = append(errs, db.w.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: closing: %w", err)
	}
	return nil
}
