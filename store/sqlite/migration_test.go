package sqlite_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	old := sqlite.OpenAtVersion(t, path, 3)
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
