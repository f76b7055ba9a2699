package sqlite

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/store/model"
	"github.com/guanaco-fp/guanaco/store/storetest"
)

// TestRequestChecksWithoutConstraints: since migration 0007 the requests
// table has no CHECK constraints (the writer's INSERT OR IGNORE then needs no
// statement journal); the backend states them in Go. A row breaking one of
// them is refused with ErrRejected even from a caller that skipped
// ValidateFields, the batch stores nothing, and a replayed batch (several
// multi-row statements) is skipped row by row without error.
func TestRequestChecksWithoutConstraints(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "checks.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var checks int
	if err := db.w.QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = 'requests' AND sql LIKE '%CHECK%'").Scan(&checks); err != nil || checks != 0 {
		t.Fatalf("requests still has CHECK constraints: %d, %v", checks, err)
	}
	count := func() int {
		var n int
		if err := db.r.QueryRow("SELECT count(*) FROM requests").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	g := storetest.NewGenerator(7, time.Now().Add(-time.Hour), time.Millisecond)
	for name, spoil := range map[string]func(*model.Capture){
		"empty id":          func(c *model.Capture) { c.ID = "" },
		"long id":           func(c *model.Capture) { c.ID = strings.Repeat("a", model.MaxIDLen+1) },
		"long visit key":    func(c *model.Capture) { c.VisitKey = strings.Repeat("v", model.MaxIDLen+1) },
		"unknown initiator": func(c *model.Capture) { c.Initiator = "bot" },
	} {
		batch := g.Batch(3)
		spoil(&batch[1])
		if n, err := db.InsertValidated(ctx, batch); !errors.Is(err, model.ErrRejected) || n != 0 {
			t.Errorf("%s: InsertValidated = %d, %v; want ErrRejected", name, n, err)
		}
		if n := count(); n != 0 {
			t.Fatalf("%s: %d requests stored from a refused batch", name, n)
		}
	}
	batch := g.Batch(300) // chunks of 128, 128, 32, 8 and 4 rows
	for round, want := range []int64{300, 0} {
		if n, err := db.InsertCaptures(ctx, batch); err != nil || n != want {
			t.Fatalf("round %d: InsertCaptures = %d, %v; want %d", round, n, err, want)
		}
	}
	if n := count(); n != 300 {
		t.Fatalf("%d requests after a replay, want 300", n)
	}
	got, err := db.Capture(ctx, batch[299].ID)
	if err != nil || got.ID != batch[299].ID {
		t.Fatalf("Capture(%s) = %+v, %v", batch[299].ID, got, err)
	}
}

// TestConnectionsAppend: since migration 0008 a connection row gets the next
// rowid (appended to the table's b-tree; since 0009 the rowid is seq, which
// requests.conn_id holds) and its id is a UNIQUE column, so a replayed batch
// stores no connection twice, a request finds its connection by seq, and
// retention still removes connections left without requests.
func TestConnectionsAppend(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "conns.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	g := storetest.NewGenerator(9, time.Now().Add(-time.Hour), time.Millisecond)
	batch := g.Batch(200)
	for i := 0; i < 50; i++ { // a keep-alive connection among them
		batch = append(batch, storetest.KeepAlive(g.Next(), 2, time.Millisecond)...)
	}
	for round := 0; round < 2; round++ {
		if _, err := db.InsertCaptures(ctx, batch); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	var conns, distinct int
	if err := db.r.QueryRow("SELECT count(*), count(DISTINCT id) FROM connections").Scan(&conns, &distinct); err != nil {
		t.Fatal(err)
	}
	if conns != 250 || distinct != 250 {
		t.Fatalf("connections: %d rows, %d ids; want 250", conns, distinct)
	}
	// Rowids follow insertion order: the batch's first new connection has the
	// smallest.
	var first int64
	if err := db.r.QueryRow("SELECT id FROM connections ORDER BY rowid LIMIT 1").Scan(&first); err != nil {
		t.Fatal(err)
	}
	if want := model.ConnIDOf(&batch[0]); first != want {
		t.Errorf("first rowid holds connection %d, want %d (the first inserted)", first, want)
	}
	for _, c := range []model.Capture{batch[0], batch[len(batch)-1]} {
		got, err := db.Capture(ctx, c.ID)
		if err != nil || !bytes.Equal(got.ClientHello, c.ClientHello) || got.ClientIP != c.Normalized().ClientIP {
			t.Errorf("Capture(%s): %v, hello/address differ", c.ID, err)
		}
	}
	var plan string
	rows, err := db.r.Query("EXPLAIN QUERY PLAN SELECT id FROM captures WHERE id_key = ?", idKey(batch[0].ID))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan += detail + "\n"
	}
	rows.Close()
	if !strings.Contains(plan, "SEARCH c USING INTEGER PRIMARY KEY") {
		t.Errorf("capture by id does not find its connection by its primary key (seq, migration 0009):\n%s", plan)
	}
	if _, err := db.DeleteCapturesBefore(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.r.QueryRow("SELECT count(*) FROM connections").Scan(&conns); err != nil || conns != 0 {
		t.Errorf("%d connections after retention removed every request, %v", conns, err)
	}
}
