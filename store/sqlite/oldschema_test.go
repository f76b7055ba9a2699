package sqlite

import (
	"database/sql"
	"testing"

	"github.com/guanaco-fp/guanaco/store/migrations"
)

// openAtVersion creates the database file path at the schema of the first n
// SQLite migrations (recorded in schema_migrations as applied) and returns
// it open through the plain driver, closed when the test ends; the upgrade
// tests fill it under that schema and then open it with Open.
func openAtVersion(t *testing.T, path string, n int) *sql.DB {
	t.Helper()
	all, err := migrations.List(migrations.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if n > len(all) {
		t.Fatalf("asked for schema %d of %d migrations", n, len(all))
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.Exec(migrations.TableDDL(migrations.SQLite)); err != nil {
		t.Fatal(err)
	}
	for _, m := range all[:n] {
		if _, err := db.Exec(m.SQL); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 0)", m.Version, m.Name); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// OpenAtVersion is openAtVersion for the package's external tests.
var OpenAtVersion = openAtVersion
