package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/store/model"
	"github.com/guanaco-fp/guanaco/store/storetest"
)

// TestBatchFailingMidwayRollsBackWhole: the writer's inserts run as driver
// statements inside the batch's transaction. A statement failing after
// others succeeded (here a trigger on the write connection refusing the
// 250th request, in the second 128-row statement, after the dictionary
// entries, the connections and the first 128 requests were written) rolls
// the whole batch back, is reported as ErrRejected, and leaves the writer's
// cache without the batch's entries and connections: the same batch written
// again afterwards stores every row and reads back whole.
func TestBatchFailingMidwayRollsBackWhole(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "rollback.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(table string) int {
		var n int
		if err := db.r.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	g := storetest.NewGenerator(11, time.Now().Add(-time.Hour), time.Millisecond)
	batch := g.Batch(300)
	batch[249].Path = "/refused-by-trigger"
	if _, err := db.w.Exec(`CREATE TEMP TRIGGER refuse BEFORE INSERT ON requests WHEN NEW.path = '/refused-by-trigger'
		BEGIN SELECT RAISE(ABORT, 'refused'); END`); err != nil {
		t.Fatal(err)
	}
	if n, err := db.InsertValidated(ctx, batch); !errors.Is(err, model.ErrRejected) || n != 0 {
		t.Fatalf("InsertValidated = %d, %v; want ErrRejected", n, err)
	}
	for _, table := range []string{"requests", "connections", "dict"} {
		if n := count(table); n != 0 {
			t.Errorf("%d rows in %s after a failed batch", n, table)
		}
	}
	if n := db.cache.Len(); n != 0 {
		t.Errorf("the cache holds %d ids of a batch that was rolled back", n)
	}
	if _, err := db.w.Exec("DROP TRIGGER temp.refuse"); err != nil {
		t.Fatal(err)
	}
	if n, err := db.InsertValidated(ctx, batch); err != nil || n != 300 {
		t.Fatalf("InsertValidated again = %d, %v; want 300", n, err)
	}
	if n := count("connections"); n != 300 {
		t.Errorf("%d connections, want 300", n)
	}
	for _, i := range []int{0, 128, 249, 299} {
		got, err := db.Capture(ctx, batch[i].ID)
		if err != nil {
			t.Fatal(err)
		}
		if d := storetest.DiffCapture(batch[i].Normalized(), got); d != "" {
			t.Errorf("capture %d: %s", i, d)
		}
	}
}

// TestInsertsFollowTheWriteConnection: the prepared inserts belong to the
// driver connection they were prepared on. When the pool replaces its write
// connection (here after every use), the next batch prepares them again on
// the new one and every batch is stored.
func TestInsertsFollowTheWriteConnection(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "reconnect.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.w.SetConnMaxLifetime(time.Nanosecond)
	g := storetest.NewGenerator(12, time.Now().Add(-time.Hour), time.Millisecond)
	var prepared []any
	for round := 0; round < 3; round++ {
		batch := storetest.KeepAlive(g.Next(), 20, time.Microsecond)
		if n, err := db.InsertValidated(ctx, batch); err != nil || n != 20 {
			t.Fatalf("round %d: InsertValidated = %d, %v", round, n, err)
		}
		prepared = append(prepared, db.ins.conn)
		got, err := db.CapturesByVisit(ctx, batch[0].VisitKey)
		if err != nil || len(got) < 20 {
			t.Fatalf("round %d: %d captures of the visit, %v", round, len(got), err)
		}
	}
	if prepared[0] == prepared[1] || prepared[1] == prepared[2] {
		t.Error("the pool kept its connection; the test does not replace it")
	}
}

// TestInsertCancelled: a batch whose context ends before it is written
// stores nothing and reports the context's error (a retry can succeed: not
// ErrRejected).
func TestInsertCancelled(t *testing.T) {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "cancel.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	g := storetest.NewGenerator(13, time.Now().Add(-time.Hour), time.Millisecond)
	if _, err := db.InsertValidated(ctx, g.Batch(10)); !errors.Is(err, context.Canceled) || errors.Is(err, model.ErrRejected) {
		t.Fatalf("InsertValidated with a cancelled context: %v", err)
	}
	var n int
	if err := db.r.QueryRow("SELECT count(*) FROM requests").Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d requests stored, %v", n, err)
	}
}

// errAfter is a context whose Err reports Canceled after left calls (Done
// stays nil, as for a context that cannot be cancelled), so a test can end
// a batch at each point the writer checks its context.
type errAfter struct {
	context.Context
	left atomic.Int64
}

func (c *errAfter) Err() error {
	if c.left.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

// TestInsertCancelledAtEachStatement: the write path checks its context
// before each statement (the statements themselves run without modernc's
// per-statement interrupt). A batch whose context ends before any of its
// statements (dictionary entries one row each, then connections and
// requests in multi-row statements) fails with the context's error and
// stores nothing, and the cache keeps none of its ids; given enough checks
// it stores everything. Several attempts fail after statements ran (the
// checks sit between statements, not only before the transaction).
func TestInsertCancelledAtEachStatement(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "cancel-each.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(query string, args ...any) int {
		var n int
		if err := db.r.QueryRow(query, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	g := storetest.NewGenerator(14, time.Now().Add(-time.Hour), time.Millisecond)
	var failed int
	for k := int64(0); ; k++ {
		if k > 200 {
			t.Fatal("no batch stored after 200 checks of its context")
		}
		batch := g.Batch(3) // 3 new connections: their entries one statement each, then 2 + 1 rows of connections and of requests
		c := &errAfter{Context: ctx}
		c.left.Store(k)
		n, err := db.InsertValidated(c, batch)
		stored := 0
		for i := range batch {
			stored += count("SELECT count(*) FROM requests WHERE id = ?", idKey(batch[i].ID))
		}
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("k=%d: %v, want context.Canceled", k, err)
			}
			if stored != 0 || n != 0 {
				t.Fatalf("k=%d: cancelled batch stored %d of 3 requests (reported %d)", k, stored, n)
			}
			if l := db.cache.Len(); l != 0 {
				t.Fatalf("k=%d: cache holds %d ids of a cancelled batch", k, l)
			}
			failed++
			continue
		}
		if stored != 3 || n != 3 {
			t.Fatalf("k=%d: stored %d of 3 requests (reported %d)", k, stored, n)
		}
		break
	}
	if failed < 8 {
		t.Errorf("only the first %d context checks ended the batch; want one before each of its statements too", failed)
	}
	if n := count("SELECT count(*) FROM connections"); n != 3 {
		t.Errorf("%d connections stored, want the 3 of the stored batch", n)
	}
}
