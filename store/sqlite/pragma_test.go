package sqlite

import (
	"context"
	"path/filepath"
	"testing"
)

// TestWriterPragmas checks the settings the throughput and durability claims rest
// on: WAL, synchronous=NORMAL, 16 KiB pages, one writer connection, read-only readers.
func TestWriterPragmas(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "p.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	var sync, page int
	if err := db.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q (%v), want wal", mode, err)
	}
	if err := db.w.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil || sync != 1 {
		t.Errorf("synchronous = %d (%v), want 1 (NORMAL)", sync, err)
	}
	if err := db.w.QueryRowContext(ctx, "PRAGMA page_size").Scan(&page); err != nil || page != 16384 {
		t.Errorf("page_size = %d (%v), want 16384", page, err)
	}
	if got := db.w.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("writer pool allows %d connections, want 1", got)
	}
	if _, err := db.r.ExecContext(ctx, "DELETE FROM captures"); err == nil {
		t.Error("reader connection accepted a write")
	}
	// Reopening an existing file keeps working (migrations already applied).
	path := filepath.Join(t.TempDir(), "again.db")
	for i := 0; i < 2; i++ {
		d, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatalf("open #%d: %v", i+1, err)
		}
		d.Close()
	}
}

func TestOpenRejectsQueryInPath(t *testing.T) {
	if _, err := Open(context.Background(), "x.db?mode=ro", Options{}); err == nil {
		t.Fatal("Open accepted a path with '?'")
	}
}
