//go:build unix

package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/guanaco-fp/guanaco/store/model"
	"github.com/guanaco-fp/guanaco/store/pgtest"
	"github.com/guanaco-fp/guanaco/store/postgres"
	"github.com/guanaco-fp/guanaco/store/storetest"
)

// pg is the throwaway cluster (or TEST_DATABASE_URL) shared by this package's tests.
var pg *pgtest.Env

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	pg = pgtest.NewEnv(ctx, pgtest.Options{})
	cancel()
	code := m.Run()
	if err := pg.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "closing postgres:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func open(t testing.TB, dsn string, opts postgres.Options) *postgres.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := postgres.Open(ctx, dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) model.Store {
		return open(t, pg.DSN(t), postgres.Options{DeleteChunk: 100})
	})
}

// TestMigrationsRecordedOnce opens the same schema from several goroutines at once
// (as several fpserver processes would) and checks every migration is applied and
// recorded exactly once.
func TestMigrationsRecordedOnce(t *testing.T) {
	dsn := pg.DSN(t)
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			db, err := postgres.Open(context.Background(), dsn, postgres.Options{})
			if err == nil {
				db.Close()
			}
			errs <- err
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n, distinct int
	if err := conn.QueryRow(context.Background(), "SELECT count(*), count(DISTINCT version) FROM schema_migrations").Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n == 0 || n != distinct {
		t.Fatalf("schema_migrations has %d rows, %d distinct versions", n, distinct)
	}
	// A database recording a migration this binary does not know is refused.
	if _, err := conn.Exec(context.Background(), "INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_future.sql')"); err != nil {
		t.Fatal(err)
	}
	if db, err := postgres.Open(context.Background(), dsn, postgres.Options{}); err == nil {
		db.Close()
		t.Fatal("Open succeeded on a newer schema")
	}
}

// TestReadOnlyOpen: a read-only open checks the schema instead of
// migrating, so it works where writes are refused (a hot standby, here a
// database whose sessions are read-only) and refuses a database
// without the current schema.
func TestReadOnlyOpen(t *testing.T) {
	ctx := context.Background()
	dsn := pg.DSN(t)
	if _, err := postgres.Open(ctx, dsn, postgres.Options{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), "schema_migrations") {
		t.Fatalf("read-only open of an empty database: %v", err)
	}
	primary := open(t, dsn, postgres.Options{})
	defer primary.Close()
	c := storetest.NewGenerator(3, time.Now(), time.Millisecond).Next()
	if _, err := primary.InsertCaptures(ctx, []model.Capture{c}); err != nil {
		t.Fatal(err)
	}
	// Sessions that default to read-only stand in for a hot standby (pgx
	// passes unknown URL parameters as run-time parameters).
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	dsn += sep + "default_transaction_read_only=on"
	// A normal open migrates, which a read-only server refuses.
	if _, err := postgres.Open(ctx, dsn, postgres.Options{}); err == nil {
		t.Fatal("a migrating open succeeded on a read-only database")
	}
	ro, err := postgres.Open(ctx, dsn, postgres.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open: %v", err)
	}
	defer ro.Close()
	got, err := ro.Capture(ctx, c.ID)
	if err != nil || got.ID != c.ID || got.JA4 != c.JA4 {
		t.Errorf("read through the read-only store: %+v, %v", got.ID, err)
	}
	if _, err := ro.InsertCaptures(ctx, []model.Capture{storetest.NewGenerator(4, time.Now(), time.Millisecond).Next()}); err == nil {
		t.Error("the read-only store wrote")
	}
}
