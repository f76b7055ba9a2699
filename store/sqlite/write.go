package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/guanaco-fp/guanaco/store/model"
)

// Row layouts of the three tables InsertCaptures writes (see model.Split).
var (
	dictCols    = []string{"id", "kind", "value", "hash", "last_seen"}
	connCols    = []string{"id", "created_at", "client_ip", "tls_version", "sni", "alpn", "client_hello", "tls_summary", "ja3", "ja3n", "ja4", "ja4_r", "ja4_o", "ja4_ro", "peetprint", "quic_tp"}
	requestCols = []string{"id", "created_at", "conn_id", "visit_key", "initiator", "method", "path", "http_version", "stream_id", "host", "user_agent", "header_names", "header_values", "h2", "akamai", "header_order"}
)

// Conflict handling: a dictionary entry written again refreshes last_seen
// (retention keeps what writers still use); a connection or request already
// stored is left as it is, which makes replays idempotent.
//
// Connections and requests use INSERT OR IGNORE rather than ON CONFLICT DO
// NOTHING: with OR IGNORE and no CHECK constraint on the table (requests
// lost its CHECKs in migration 0007; checkRequest states them in Go) no
// constraint can abort a multi-row statement half-way, so SQLite keeps no
// statement journal for it (a copy of every page the statement changes, to
// undo the statement alone: ~20 % of the writer's CPU for keep-alive
// requests, ~30 % for new connections). A batch never goes on after a failed
// statement anyway: it is rolled back whole. OR IGNORE would also skip a row
// with NULL in a NOT NULL column; the bound values of those columns are Go
// strings and integers, never NULL.
const (
	dictVerb     = "INSERT INTO "
	dictConflict = " ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen WHERE excluded.last_seen > dict.last_seen"
	ignoreVerb   = "INSERT OR IGNORE INTO " // connections and requests: no conflict clause
)

// insertChunk is the most rows one multi-row INSERT carries (15 to 16
// columns a row, far below SQLite's 32766 variables).
const insertChunk = 128

// insertTable is one table a batch writes: its statement and the most rows
// one statement carries (statements of chunk, chunk/2, ... 1 rows are
// prepared).
type insertTable struct {
	verb, table, conflict string
	cols                  []string
	chunk                 int
}

// insertTables are the tables a batch writes, in the order it writes them
// (entries and connections before the requests naming them).
//
// Dictionary entries go one row per statement. Their upsert can abort
// (DO UPDATE; and an explicit INTEGER PRIMARY KEY value, a hash, so each row
// lands in a random page of the table), so a multi-row upsert makes SQLite
// copy every page it changes to a statement journal first; a single-row
// statement needs none. A new connection brings one or two entries (its TLS
// summary, often a new header-value list) of ~2 KB: the journal was ~20 %
// of the writer's CPU per new connection (docs/measurements.md).
var insertTables = []*insertTable{dictTable, connTable, requestTable}

var (
	dictTable    = &insertTable{dictVerb, "dict", dictConflict, dictCols, 1}
	connTable    = &insertTable{ignoreVerb, "connections", "", connCols, insertChunk}
	requestTable = &insertTable{ignoreVerb, "requests", "", requestCols, insertChunk}
)

// multiInsertSQL is "verb table (cols) VALUES (?,...),... conflict" for rows
// rows.
func multiInsertSQL(verb, table string, cols []string, rows int, conflict string) string {
	var b strings.Builder
	b.WriteString(verb + table + " (" + strings.Join(cols, ", ") + ") VALUES ")
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
	for i := 0; i < rows; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(row)
	}
	b.WriteString(conflict)
	return b.String()
}

// stmtKey names one prepared multi-row insert.
type stmtKey struct {
	table string
	rows  int
}

// inserts are the writer's INSERTs prepared on the driver connection of the
// write pool (one connection), for each table one per power of two up to
// its chunk of rows. They run through driver.StmtExecContext (reached with
// sql.Conn.Raw) with a reused argument slice: database/sql would check and
// convert each of a batch's tens of thousands of arguments again and build
// a slice of them per statement. A connection the pool closes (after a
// driver.ErrBadConn; the write pool sets no lifetime) keeps the statements
// prepared on it unfinalized: SQLite then keeps that connection's memory
// until the process ends, which a rare reconnect can afford. Guarded by
// DB.wmu.
type inserts struct {
	// conn is the driver connection the statements belong to (nil: none
	// prepared yet).
	conn  any
	stmts map[stmtKey]driver.StmtExecContext
	// closers are the statements to close with the connection.
	closers []driver.Stmt
	// connSeq is connSeqSQL.
	connSeq driver.StmtQueryContext
	// args holds the arguments of the largest statement, their ordinals set.
	args []driver.NamedValue
}

// prepare prepares every insert on dc, the write pool's driver connection.
// Statements prepared on an earlier connection are dropped without closing
// them: the pool only replaces its one connection after closing it, and a
// statement of a closed connection must not be used again.
func (in *inserts) prepare(ctx context.Context, dc any) error {
	pc, ok := dc.(driver.ConnPrepareContext)
	if !ok {
		return fmt.Errorf("sqlite: driver connection %T cannot prepare statements", dc)
	}
	in.conn, in.stmts, in.closers = nil, map[stmtKey]driver.StmtExecContext{}, nil
	for _, t := range insertTables {
		for rows := t.chunk; rows >= 1; rows /= 2 {
			st, err := pc.PrepareContext(ctx, multiInsertSQL(t.verb, t.table, t.cols, rows, t.conflict))
			if err != nil {
				in.close()
				return fmt.Errorf("sqlite: preparing insert into %s: %w", t.table, err)
			}
			in.closers = append(in.closers, st)
			se, ok := st.(driver.StmtExecContext)
			if !ok {
				in.close()
				return fmt.Errorf("sqlite: driver statement %T cannot execute with a context", st)
			}
			in.stmts[stmtKey{t.table, rows}] = se
		}
	}
	st, err := pc.PrepareContext(ctx, connSeqSQL)
	if err != nil {
		in.close()
		return fmt.Errorf("sqlite: preparing the lookup of connections: %w", err)
	}
	in.closers = append(in.closers, st)
	if in.connSeq, ok = st.(driver.StmtQueryContext); !ok {
		in.close()
		return fmt.Errorf("sqlite: driver statement %T cannot query with a context", st)
	}
	n := 0
	for _, t := range insertTables {
		n = max(n, len(t.cols)*t.chunk)
	}
	in.args = make([]driver.NamedValue, n)
	for i := range in.args {
		in.args[i].Ordinal = i + 1
	}
	in.conn = dc
	return nil
}

// close closes the prepared statements (on the connection they belong to,
// which must still be open).
func (in *inserts) close() error {
	var first error
	for _, st := range in.closers {
		if err := st.Close(); err != nil && first == nil {
			first = err
		}
	}
	in.conn, in.stmts, in.closers, in.connSeq = nil, nil, nil, nil
	return first
}

// withInserts runs f with the inserts prepared on conn's driver connection,
// preparing them first if conn is not the one they were prepared on.
// db.wmu must be held.
func (db *DB) withInserts(ctx context.Context, conn *sql.Conn, f func(*inserts) error) error {
	return conn.Raw(func(dc any) error {
		if db.ins.conn != dc {
			if err := db.ins.prepare(ctx, dc); err != nil {
				return err
			}
		}
		return f(&db.ins)
	})
}

// prepareInserts prepares the inserts at Open, so that a statement SQLite
// refuses fails there.
func (db *DB) prepareInserts(ctx context.Context) error {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: preparing inserts: %w", err)
	}
	defer conn.Close()
	return db.withInserts(ctx, conn, func(*inserts) error { return nil })
}

// closeInserts closes the prepared inserts before the write pool closes.
func (db *DB) closeInserts() error {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if db.ins.conn == nil {
		return nil
	}
	conn, err := db.w.Conn(context.Background())
	if err != nil {
		return fmt.Errorf("sqlite: closing inserts: %w", err)
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		if dc != db.ins.conn {
			// Prepared on a connection the pool has closed since.
			db.ins.conn, db.ins.stmts, db.ins.closers, db.ins.connSeq = nil, nil, nil, nil
			return nil
		}
		return db.ins.close()
	})
}

// InsertCaptures implements model.Store: validate, then one transaction per
// batch writing the new dictionary entries, the new connections and the
// requests with one multi-row statement per table and chunk.
func (db *DB) InsertCaptures(ctx context.Context, batch []model.Capture) (int64, error) {
	if err := model.ValidateBatch(batch); err != nil {
		return 0, err
	}
	return db.InsertValidated(ctx, batch)
}

// InsertValidated is InsertCaptures for captures that already passed
// model.Capture.ValidateFields (the capture writer's Offer checks them): each
// capture is validated once. JSON documents are checked when first stored.
// The batch is one transaction, rolled back whole on any error.
func (db *DB) InsertValidated(ctx context.Context, batch []model.Capture) (int64, error) {
	if len(batch) == 0 {
		return 0, nil
	}
	db.wmu.Lock()
	defer db.wmu.Unlock()
	sp := db.split
	sp.Reset()
	now := time.Now()
	for i := range batch {
		if err := sp.AddCapture(&batch[i], now); err != nil {
			return 0, err
		}
	}
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("sqlite: inserting captures: %w", classify(err))
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("sqlite: inserting captures: beginning: %w", classify(err))
	}
	defer tx.Rollback()
	inserted, err := db.insertSplit(ctx, conn, now)
	if errors.Is(err, errConnMissing) {
		// A connection the cache took for stored is gone: forget what the
		// cache and the seqs say, split the batch again (every connection
		// is then written, or found stored) and write it in the same
		// transaction (what was written of it is skipped as stored).
		db.cache.Forget()
		db.seqs.forget()
		sp.Reset()
		for i := range batch {
			if err := sp.AddCapture(&batch[i], now); err != nil {
				return 0, err
			}
		}
		inserted, err = db.insertSplit(ctx, conn, now)
	}
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("sqlite: inserting captures: committing: %w", classify(err))
	}
	sp.Commit(now)
	db.seqs.commit()
	return inserted, nil
}

// checkRequest states the constraints the requests table held as CHECKs up
// to migration 0007 (see the conflict handling above): an id of 1 to 64
// bytes, a visit key of at most 64 bytes, a known initiator. Captures that
// passed model.Capture.ValidateFields always meet them; the check keeps a
// row that does not out of the table whatever the caller.
func checkRequest(r *model.RequestRow) error {
	switch {
	case len(r.ID) < 1 || len(r.ID) > model.MaxIDLen:
		return fmt.Errorf("sqlite: %w: %w: request id of %d bytes, want 1 to %d", model.ErrRejected, model.ErrInvalid, len(r.ID), model.MaxIDLen)
	case len(r.VisitKey) > model.MaxIDLen:
		return fmt.Errorf("sqlite: %w: %w: request %s: visit key of %d bytes, at most %d", model.ErrRejected, model.ErrInvalid, r.ID, len(r.VisitKey), model.MaxIDLen)
	case !model.ValidInitiator(r.Initiator):
		return fmt.Errorf("sqlite: %w: %w: request %s: unknown initiator %q", model.ErrRejected, model.ErrInvalid, r.ID, r.Initiator)
	}
	return nil
}

// insertSplit checks the requests of db.split (checkRequest), then writes
// its rows on conn, inside the transaction the caller began on it. db.wmu
// held.
func (db *DB) insertSplit(ctx context.Context, conn *sql.Conn, now time.Time) (int64, error) {
	sp := db.split
	for i := range sp.Requests {
		if err := checkRequest(&sp.Requests[i]); err != nil {
			return 0, err
		}
	}
	seen := now.UnixMicro()
	var inserted int64
	var connBoxes, requestBoxes rowBoxes
	err := db.withInserts(ctx, conn, func(in *inserts) error {
		if _, err := in.insertRows(ctx, dictTable, len(sp.Entries), func(v []driver.NamedValue, i int) {
			e := &sp.Entries[i]
			v[0].Value, v[1].Value, v[2].Value, v[3].Value, v[4].Value = e.ID, e.Kind, e.Value, e.Hash, seen
		}, nil); err != nil {
			return err
		}
		seqs := db.seqs
		seqs.begin()
		todo := seqs.unknown(sp.Conns)
		if _, err := in.insertRows(ctx, connTable, len(todo), func(v []driver.NamedValue, i int) {
			c, b := &sp.Conns[todo[i]], &connBoxes
			v[0].Value, v[1].Value, v[2].Value, v[3].Value = c.ID, c.CreatedAt.UnixMicro(), b.text(2, c.ClientIP), b.text(3, c.TLSVersion)
			v[4].Value, v[5].Value, v[6].Value, v[7].Value = b.text(4, c.SNI), b.text(5, c.ALPN), nullBytes(c.ClientHello), b.ref(7, c.TLSSummary)
			v[8].Value, v[9].Value, v[10].Value, v[11].Value = b.ref(8, c.JA3), b.ref(9, c.JA3N), b.ref(10, c.JA4), b.ref(11, c.JA4R)
			v[12].Value, v[13].Value, v[14].Value, v[15].Value = b.ref(12, c.JA4O), b.ref(13, c.JA4RO), b.ref(14, c.PeetPrint), b.ref(15, c.QUICTP)
		}, func(start, size int, res driver.Result) error {
			return seqs.inserted(sp.Conns, todo[start:start+size], res)
		}); err != nil {
			return err
		}
		if err := seqs.seqsOf(ctx, in, sp.Requests); err != nil {
			return err
		}
		keys := &db.idKeys
		keys.reset(len(sp.Requests))
		n, err := in.insertRows(ctx, requestTable, len(sp.Requests), func(v []driver.NamedValue, i int) {
			r, b := &sp.Requests[i], &requestBoxes
			v[0].Value, v[1].Value, v[2].Value, v[3].Value = keys.key(i, r.ID), r.CreatedAt.UnixMicro(), b.int(2, seqs.reqs[i]), b.text(3, r.VisitKey)
			v[4].Value, v[5].Value, v[6].Value, v[7].Value = b.text(4, r.Initiator), b.text(5, r.Method), r.Path, b.text(7, r.HTTPVersion)
			v[8].Value, v[9].Value, v[10].Value, v[11].Value = r.StreamID, b.ref(9, r.Host), b.ref(10, r.UserAgent), b.ref(11, r.HeaderNames)
			v[12].Value, v[13].Value, v[14].Value, v[15].Value = b.ref(12, r.HeaderValues), b.ref(13, r.H2), b.ref(14, r.Akamai), b.ref(15, r.HeaderOrder)
		}, nil)
		inserted = n
		return err
	})
	if err != nil {
		return 0, err
	}
	return inserted, nil
}

// rowBoxes keeps each column's argument of the previous row, boxed, so a
// value repeating from row to row (the requests of a connection share most
// of theirs, connections of one browser their fingerprints) is not boxed
// into an interface, an allocation, again. A column is used either with int
// and ref or with text.
type rowBoxes struct {
	ints [16]int64
	strs [16]string
	box  [16]any
	set  [16]bool
}

// int returns v boxed.
func (b *rowBoxes) int(k int, v int64) any {
	if !b.set[k] || b.ints[k] != v {
		b.ints[k], b.box[k], b.set[k] = v, v, true
	}
	return b.box[k]
}

// ref returns nullRef(v).
func (b *rowBoxes) ref(k int, v int64) any {
	if !b.set[k] || b.ints[k] != v {
		b.ints[k], b.box[k], b.set[k] = v, nullRef(v), true
	}
	return b.box[k]
}

// text returns v boxed.
func (b *rowBoxes) text(k int, v string) any {
	if !b.set[k] || b.strs[k] != v {
		b.strs[k], b.box[k], b.set[k] = v, v, true
	}
	return b.box[k]
}

// insertRows writes n rows into t.table in chunks of at most t.chunk rows,
// fill setting row i's values, and returns the rows inserted. after, when
// not nil, gets each statement's rows (start, size) and result.
//
// The statements run without ctx's cancellation, which modernc implements
// per statement with a goroutine and a progress handler (~1 µs, paid ~7,000
// times by a batch of 4,000 new connections, with its single-row dictionary
// statements); ctx is checked before each statement instead. A statement
// inside the batch's transaction waits for no lock (BEGIN IMMEDIATE took the
// write lock), so it ends by itself, and sql.Conn.Raw holds the connection
// until the last one returned: a transaction database/sql rolls back when ctx
// ends cannot be rolled back under a running statement, and no statement
// runs after the rollback.
func (in *inserts) insertRows(ctx context.Context, t *insertTable, n int, fill func(v []driver.NamedValue, i int), after func(start, size int, res driver.Result) error) (int64, error) {
	table, cols := t.table, len(t.cols)
	var total int64
	noCancel := context.WithoutCancel(ctx)
	for start := 0; start < n; {
		size := t.chunk
		for size > n-start {
			size /= 2
		}
		st := in.stmts[stmtKey{table, size}]
		if st == nil {
			return 0, fmt.Errorf("sqlite: inserting into %s: no prepared statement for %d rows", table, size)
		}
		args := in.args[:size*cols]
		for i := 0; i < size; i++ {
			fill(args[i*cols:(i+1)*cols:(i+1)*cols], start+i)
		}
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("sqlite: inserting into %s: %w", table, err)
		}
		res, err := st.ExecContext(noCancel, args)
		// Drop the references to the batch's texts (a reused slice would keep
		// them alive until the next batch).
		for i := range args {
			args[i].Value = nil
		}
		if err != nil {
			return 0, fmt.Errorf("sqlite: inserting into %s: %w", table, classify(err))
		}
		k, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("sqlite: inserting into %s: %w", table, err)
		}
		if after != nil {
			if err := after(start, size, res); err != nil {
				return 0, err
			}
		}
		total += k
		start += size
	}
	return total, nil
}
