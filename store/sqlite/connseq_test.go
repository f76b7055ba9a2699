package sqlite

import (
	"context"
	"database/sql"
	"math"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/store/model"
	"github.com/guanaco-fp/guanaco/store/storetest"
)

// connOf returns, for each capture, the id of the connection row its request
// row refers to (0 when none), read by joining requests.conn_id to
// connections.seq.
func connOf(t *testing.T, db *DB, cs []model.Capture) []int64 {
	t.Helper()
	out := make([]int64, len(cs))
	for i := range cs {
		var id sql.NullInt64
		err := db.r.QueryRow("SELECT c.id FROM requests r LEFT JOIN connections c ON c.seq = r.conn_id WHERE r.id = ?", idKey(cs[i].ID)).Scan(&id)
		if err != nil {
			t.Fatalf("request %s: %v", cs[i].ID, err)
		}
		out[i] = id.Int64
	}
	return out
}

// checkConns fails unless every capture's request refers to its own
// connection (model.ConnIDOf).
func checkConns(t *testing.T, what string, db *DB, cs []model.Capture) {
	t.Helper()
	for i, got := range connOf(t, db, cs) {
		if want := model.ConnIDOf(&cs[i]); got != want {
			t.Fatalf("%s: request %s refers to connection %d, want %d", what, cs[i].ID, got, want)
		}
	}
}

// TestConnectionSeqs: since migration 0009 requests.conn_id is the seq of the
// connection row. The writer learns the seqs of the connections a statement
// inserted from its last rowid, and looks up the others: connections stored
// before this process started (after a reopen, in the same statements as new
// ones), a replay, connections after retention emptied the table (seqs are
// never reused), and a connection deleted behind the writer's cache whose
// seq it does not remember (the batch is split again and the connection
// stored again).
func TestConnectionSeqs(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "seqs.db")
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := storetest.NewGenerator(11, time.Now().Add(-2*time.Hour), time.Millisecond)
	// Interleaved keep-alive connections and single requests, across
	// several statements of connections (300 > 128).
	var first []model.Capture
	var conns [][]model.Capture
	for i := 0; i < 300; i++ {
		if i%10 == 0 {
			ka := storetest.KeepAlive(g.Next(), 4, time.Millisecond)
			conns = append(conns, ka)
			first = append(first, ka[:2]...)
		} else {
			first = append(first, g.Next())
		}
	}
	if n, err := db.InsertCaptures(ctx, first); err != nil || n != int64(len(first)) {
		t.Fatalf("InsertCaptures = %d, %v", n, err)
	}
	checkConns(t, "first batch", db, first)
	var maxSeq int64
	if err := db.r.QueryRow("SELECT max(seq) FROM connections").Scan(&maxSeq); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopened: nothing cached. The rest of the keep-alive connections' requests
	// (stored connections, ignored by the INSERT) mixed with new connections.
	db, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var second []model.Capture
	for _, ka := range conns {
		second = append(second, ka[2:]...)
		second = append(second, g.Batch(3)...)
	}
	if n, err := db.InsertCaptures(ctx, second); err != nil || n != int64(len(second)) {
		t.Fatalf("after reopening: InsertCaptures = %d, %v", n, err)
	}
	checkConns(t, "after reopening", db, append(first, second...))
	if n, err := db.InsertCaptures(ctx, append(first, second...)); err != nil || n != 0 {
		t.Fatalf("replay: InsertCaptures = %d, %v; want 0", n, err)
	}
	var count, distinct int
	if err := db.r.QueryRow("SELECT count(*), count(DISTINCT id) FROM connections").Scan(&count, &distinct); err != nil {
		t.Fatal(err)
	}
	if want := 270 + 30 + 3*30; count != want || distinct != want {
		t.Fatalf("%d connections (%d ids), want %d", count, distinct, want)
	}
	for _, ka := range conns {
		got, err := db.Capture(ctx, ka[3].ID)
		if err != nil || !reflect.DeepEqual(got.ClientHello, ka[0].ClientHello) {
			t.Fatalf("Capture(%s): %v, not its connection's hello", ka[3].ID, err)
		}
	}

	// Retention empties the tables; new connections get new seqs.
	if _, err := db.DeleteCapturesBefore(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.r.QueryRow("SELECT count(*) FROM connections").Scan(&count); err != nil || count != 0 {
		t.Fatalf("%d connections after retention, %v", count, err)
	}
	third := storetest.KeepAlive(g.Next(), 3, time.Millisecond)
	third = append(third, g.Batch(5)...)
	if _, err := db.InsertCaptures(ctx, third); err != nil {
		t.Fatal(err)
	}
	checkConns(t, "after retention", db, third)
	var minSeq int64
	if err := db.r.QueryRow("SELECT min(seq) FROM connections").Scan(&minSeq); err != nil {
		t.Fatal(err)
	}
	if minSeq <= maxSeq {
		t.Errorf("a connection after retention got seq %d, not above the earlier %d", minSeq, maxSeq)
	}

	// A connection deleted behind the writer's cache (which still takes it
	// for stored) whose seq the writer no longer remembers (forgotten as
	// when maxConnSeqs is reached): its next request stores it again.
	if _, err := db.w.Exec("DELETE FROM connections WHERE id = ?", model.ConnIDOf(&third[0])); err != nil {
		t.Fatal(err)
	}
	db.seqs.forget()
	fourth := storetest.KeepAlive(third[0], 2, time.Millisecond)[1:]
	fourth[0].ID = model.NewCaptureID(fourth[0].CreatedAt)
	if _, err := db.InsertCaptures(ctx, fourth); err != nil {
		t.Fatal(err)
	}
	checkConns(t, "connection deleted behind the cache", db, fourth)
	if got, err := db.Capture(ctx, fourth[0].ID); err != nil || !reflect.DeepEqual(got.ClientHello, third[0].ClientHello) {
		t.Fatalf("Capture(%s) after the connection was stored again: %v", fourth[0].ID, err)
	}
}

// TestUpgradeTo0009 fills a database at schema 0008 (requests referring to
// connections by id, ids as text) with keep-alive and single requests, some
// with ids of other shapes than model.NewCaptureID's, opens it (migrating
// it to 0009: connections get seqs, requests refer to them, packed ids) and
// checks every read against the same captures inserted into a fresh
// database, then stores more requests on the migrated connections and new
// ones into both and compares again, and runs retention.
func TestUpgradeTo0009(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v8.db")
	old := openAtVersion(t, path, 8)
	start := time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC)
	g := storetest.NewGenerator(19, start, 3*time.Second)
	var cs []model.Capture
	var kas [][]model.Capture
	for len(cs) < 3000 {
		if len(cs)%3 == 0 {
			ka := storetest.KeepAlive(g.Next(), 120, 10*time.Millisecond)
			kas = append(kas, ka)
			cs = append(cs, ka...)
		} else {
			cs = append(cs, g.Batch(100)...)
		}
	}
	// Ids of other shapes than model.NewCaptureID's (stored as text since
	// 0009, the others as 16 bytes), four of them in one visit at the
	// same time as a packed one, which orders them by their text.
	tied := cs[1].CreatedAt
	for i, id := range []string{strings.ToUpper(cs[2].ID), cs[3].ID[:31], "legacy-" + cs[4].ID, cs[5].ID[:31] + "g"} {
		cs[2+i].ID, cs[2+i].CreatedAt = id, tied
	}
	for i := 1; i <= 5; i++ {
		if cs[i].VisitKey != cs[1].VisitKey {
			t.Fatal("the first keep-alive connection is not one visit")
		}
	}
	// The rows as the writer of schema 0008 wrote them: Split's rows,
	// requests.conn_id the connection's id.
	sp := model.NewSplit(model.NewDictCache(0))
	now := time.Now()
	for i := range cs {
		if err := sp.AddCapture(&cs[i], now); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := old.Begin()
	if err != nil {
		t.Fatal(err)
	}
	insert := func(table string, cols []string, vals ...any) {
		t.Helper()
		q := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES (" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
		if _, err := tx.Exec(q, vals...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, e := range sp.Entries {
		insert("dict", dictCols, e.ID, e.Kind, e.Value, e.Hash, now.UnixMicro())
	}
	for _, c := range sp.Conns {
		insert("connections", connCols, c.ID, c.CreatedAt.UnixMicro(), c.ClientIP, c.TLSVersion, c.SNI, c.ALPN, nullBytes(c.ClientHello),
			nullRef(c.TLSSummary), nullRef(c.JA3), nullRef(c.JA3N), nullRef(c.JA4), nullRef(c.JA4R), nullRef(c.JA4O), nullRef(c.JA4RO), nullRef(c.PeetPrint), nullRef(c.QUICTP))
	}
	for _, r := range sp.Requests {
		insert("requests", requestCols, r.ID, r.CreatedAt.UnixMicro(), r.Conn, r.VisitKey, r.Initiator, r.Method, r.Path, r.HTTPVersion, r.StreamID,
			nullRef(r.Host), nullRef(r.UserAgent), nullRef(r.HeaderNames), nullRef(r.HeaderValues), nullRef(r.H2), nullRef(r.Akamai), nullRef(r.HeaderOrder))
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	old.Close()

	migrated, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer migrated.Close()
	fresh, err := Open(ctx, filepath.Join(t.TempDir(), "fresh.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if _, err := fresh.InsertCaptures(ctx, cs); err != nil {
		t.Fatal(err)
	}
	checkConns(t, "migrated", migrated, cs)
	storetest.CompareReads(t, migrated, fresh, cs)
	var packed, text int
	if err := migrated.r.QueryRow("SELECT count(*) FILTER (WHERE typeof(id) = 'blob'), count(*) FILTER (WHERE typeof(id) = 'text') FROM requests").Scan(&packed, &text); err != nil {
		t.Fatal(err)
	}
	if packed != len(cs)-4 || text != 4 {
		t.Errorf("migrated ids: %d stored as bytes, %d as text; want %d and 4", packed, text, len(cs)-4)
	}
	for _, db := range []*DB{migrated, fresh} {
		got, err := db.CapturesByVisit(ctx, cs[1].VisitKey)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range got {
			if c.CreatedAt.Equal(tied) {
				ids = append(ids, c.ID)
			}
		}
		want := []string{cs[1].ID, cs[2].ID, cs[3].ID, cs[4].ID, cs[5].ID}
		sort.Strings(want)
		if !reflect.DeepEqual(ids, want) {
			t.Errorf("captures at one time in a visit: %q, want them by id %q", ids, want)
		}
	}
	totals := func(what string) {
		t.Helper()
		for _, w := range []model.TimeWindow{{}, {Since: start.Add(time.Hour), Until: start.Add(3 * time.Hour)}} {
			a, errA := migrated.CaptureTotals(ctx, w)
			b, errB := fresh.CaptureTotals(ctx, w)
			if errA != nil || errB != nil || a != b {
				t.Fatalf("%s: capture totals %+v: migrated %+v, %v; fresh %+v, %v", what, w, a, errA, b, errB)
			}
		}
	}
	totals("migrated")

	// More requests on the migrated connections, and new ones.
	var more []model.Capture
	for _, ka := range kas {
		next := storetest.KeepAlive(ka[len(ka)-1], 3, time.Millisecond)[1:]
		for i := range next {
			next[i].ID = model.NewCaptureID(next[i].CreatedAt)
		}
		more = append(more, next...)
		more = append(more, g.Batch(2)...)
	}
	for _, db := range []*DB{migrated, fresh} {
		if _, err := db.InsertCaptures(ctx, more); err != nil {
			t.Fatal(err)
		}
	}
	all2 := append(append([]model.Capture(nil), cs...), more...)
	checkConns(t, "migrated, then written", migrated, all2)
	storetest.CompareReads(t, migrated, fresh, all2)
	totals("migrated, then written")

	// Retention keeps the connections with requests left.
	cutoff := start.Add(90 * time.Minute)
	for _, db := range []*DB{migrated, fresh} {
		if _, err := db.DeleteCapturesBefore(ctx, cutoff); err != nil {
			t.Fatal(err)
		}
		var orphans int
		if err := db.r.QueryRow("SELECT count(*) FROM requests r WHERE NOT EXISTS (SELECT 1 FROM connections c WHERE c.seq = r.conn_id)").Scan(&orphans); err != nil || orphans != 0 {
			t.Fatalf("%d requests without their connection after retention, %v", orphans, err)
		}
	}
	totals("after retention")
}

// TestByFingerprintMatchesPlainQuery pins CapturesByFingerprint's two-step
// query (the page chosen by time and id, then read whole) to the plain one
// it replaced, for every kind, several values, limits and time bounds, with
// captures tied in time.
func TestByFingerprintMatchesPlainQuery(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "fp.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	g := storetest.NewGenerator(23, time.Now().Add(-time.Hour), 500*time.Microsecond)
	var cs []model.Capture
	for len(cs) < 3000 {
		cs = append(cs, storetest.KeepAlive(g.Next(), 15, time.Millisecond)...)
		cs = append(cs, g.Batch(10)...)
	}
	for i := 100; i < 140; i++ {
		cs[i].CreatedAt = cs[100].CreatedAt // ties, ordered by id
	}
	if _, err := db.InsertCaptures(ctx, cs); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, k := range model.Kinds() {
		seen := map[string]bool{}
		for i := 0; i < len(cs) && len(seen) < 4; i += 97 {
			v := cs[i].Value(k)
			if v == "" || seen[v] {
				continue
			}
			seen[v] = true
			ids, err := db.dictIDs(ctx, k, v)
			if err != nil || len(ids) == 0 {
				t.Fatalf("%s %q: ids %v, %v", k, v, ids, err)
			}
			pred, args := refMatch(k, ids)
			for _, limit := range []int{1, 7, 50, 5000} {
				for _, before := range []int64{math.MaxInt64, cs[120].CreatedAt.UnixMicro(), cs[len(cs)/2].CreatedAt.UnixMicro()} {
					a := append(append([]any(nil), args...), before, limit)
					got, err := db.queryCaptures(ctx, "two-step", byFingerprintSQL(pred), a...)
					if err != nil {
						t.Fatal(err)
					}
					want, err := db.queryCaptures(ctx, "plain", selectCaptures+"WHERE "+pred+" AND created_at < ? ORDER BY created_at DESC, id DESC LIMIT ?", a...)
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("%s %q limit %d before %d: two-step query gives %d captures, plain %d, or another order", k, v, limit, before, len(got), len(want))
					}
					checked += len(want)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("nothing compared")
	}
}
