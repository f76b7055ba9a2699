package sqlite

import (
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
