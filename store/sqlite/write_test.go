package sqlite

import (
	"context"
	"errors"
	"path/filepath"
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
