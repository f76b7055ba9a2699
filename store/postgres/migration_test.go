//go:build unix

package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/guanaco-fp/guanaco/store/migrations"
	"github.com/guanaco-fp/guanaco/store/model"
	"github.com/guanaco-fp/guanaco/store/postgres"
	"github.com/guanaco-fp/guanaco/store/storetest"
)

// TestMigrationConvertsInPlace fills a schema under the migrations before
// 0004 (one table of whole captures), opens it (migrating and converting it
// in chunks) and checks every read against the same captures stored in a
// fresh schema.
func TestMigrationConvertsInPlace(t *testing.T) {
	ctx := context.Background()
	dsn := pg.DSN(t)
	all, err := migrations.List(migrations.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	conn := connect(t, dsn)
	if _, err := conn.Exec(ctx, migrations.TableDDL(migrations.Postgres)); err != nil {
		t.Fatal(err)
	}
	for _, m := range all[:3] {
		if _, err := conn.Exec(ctx, m.SQL); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name); err != nil {
			t.Fatal(err)
		}
	}
	cs := storetest.MigrationCaptures()
	rows := make([][]any, len(cs))
	for i, c := range cs {
		rows[i] = storetest.LegacyValues(c)
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"captures"}, model.LegacyColumns, pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
	migrated := open(t, dsn, postgres.Options{})
	defer migrated.Close()
	fresh := open(t, pg.DSN(t), postgres.Options{})
	defer fresh.Close()
	storetest.CheckMigrated(t, migrated, fresh, cs)
}
