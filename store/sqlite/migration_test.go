package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/store/migrations"
	"github.com/guanaco-fp/guanaco/store/model"
	"github.com/guanaco-fp/guanaco/store/sqlite"
	"github.com/guanaco-fp/guanaco/store/storetest"
)

// TestMigrationConvertsInPlace fills a database under the schema before
// migration 0004 (one table of whole captures), opens it (migrating and
// converting it in chunks) and checks every read against the same captures
// stored in a fresh database.
func TestMigrationConvertsInPlace(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	all, err := migrations.List(migrations.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	old, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if _, err := old.Exec(migrations.TableDDL(migrations.SQLite)); err != nil {
		t.Fatal(err)
	}
	for _, m := range all[:3] {
		if _, err := old.Exec(m.SQL); err != nil {
			t.Fatal(err)
		}
		if _, err := old.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 0)", m.Version, m.Name); err != nil {
			t.Fatal(err)
		}
	}
	cs := storetest.MigrationCaptures()
	tx, err := old.Begin()
	if err != nil {
		t.Fatal(err)
	}
	insert := "INSERT INTO captures (" + strings.Join(model.LegacyColumns, ", ") + ") VALUES (" +
		strings.TrimSuffix(strings.Repeat("?, ", len(model.LegacyColumns)), ", ") + ")"
	for _, c := range cs {
		row := storetest.LegacyValues(c)
		row[1] = row[1].(time.Time).UnixMicro()
		if _, err := tx.Exec(insert, row...); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	old.Close()

	migrated, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer migrated.Close()
	fresh, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "fresh.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	storetest.CheckMigrated(t, migrated, fresh, cs)
}
