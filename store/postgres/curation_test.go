//go:build unix

package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/guanaco-fp/guanaco/store/migrations"
	"github.com/guanaco-fp/guanaco/store/model"
	"github.com/guanaco-fp/guanaco/store/postgres"
	"github.com/guanaco-fp/guanaco/store/storetest"
)

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func captureIndexes(t *testing.T, conn *pgx.Conn) map[string]string {
	t.Helper()
	rows, err := conn.Query(context.Background(),
		"SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'captures'")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var name, def string
	if _, err := pgx.ForEachRow(rows, []any{&name, &def}, func() error { out[name] = def; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestUpgradeFrom0001 opens a schema created by migration 0001 with data in it:
// 0002 widens the initiator check and adds the profile columns with their
// defaults; 0004 converts the rows into the normalised tables.
func TestUpgradeFrom0001(t *testing.T) {
	ctx := context.Background()
	dsn := pg.DSN(t)
	all, err := migrations.List(migrations.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	conn := connect(t, dsn)
	for _, q := range []string{migrations.TableDDL(migrations.Postgres), all[0].SQL} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		"INSERT INTO schema_migrations (version, name) VALUES (1, '" + all[0].Name + "')",
		"INSERT INTO captures (id, created_at, visit_key, initiator, ja4) VALUES ('a', '2026-01-01T00:00:00Z', 'v1', 'navigate', 'j')",
		`INSERT INTO profiles (name, document, updated_at) VALUES ('old', '{"a":1}', now())`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, "INSERT INTO captures (id, created_at, initiator) VALUES ('b', now(), 'websocket')"); err == nil {
		t.Fatal("0001 accepted a websocket capture")
	}
	db := open(t, dsn, postgres.Options{})
	defer db.Close()
	// 0004 turned captures into a view over the normalised tables and the
	// old rows were converted; the legacy table is gone.
	if after := captureIndexes(t, conn); len(after) != 0 {
		t.Errorf("captures still has indexes after 0004: %v", after)
	}
	var legacy bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass('captures_legacy') IS NOT NULL").Scan(&legacy); err != nil || legacy {
		t.Errorf("captures_legacy left after the conversion: %v, %v", legacy, err)
	}
	if c, err := db.Capture(ctx, "a"); err != nil || c.JA4 != "j" || c.VisitKey != "v1" {
		t.Errorf("capture after upgrade = %+v, %v", c, err)
	}
	if n, err := db.InsertCaptures(ctx, []model.Capture{{ID: "b", CreatedAt: time.Now(), Initiator: model.InitiatorWebSocket}}); err != nil || n != 1 {
		t.Errorf("websocket capture after upgrade: %d, %v", n, err)
	}
	// The CHECK is still there for unknown initiators.
	if _, err := conn.Exec(ctx, "INSERT INTO requests (id, created_at, conn_id, initiator) VALUES ('c', now(), 1, 'bot')"); err == nil {
		t.Error("requests accepted an unknown initiator after the upgrade")
	}
	p, err := db.Profile(ctx, "old")
	if err != nil || p.Source != model.ProfileImported || p.Pinned || p.Stale || p.Visits != 0 || !p.FirstSeen.IsZero() || string(p.JSON) != `{"a":1}` {
		t.Errorf("profile after upgrade = %+v, %v", p, err)
	}
}

func explain(t *testing.T, conn *pgx.Conn, q string, args ...any) string {
	t.Helper()
	rows, err := conn.Query(context.Background(), "EXPLAIN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// TestCurationQueryPlans checks the plans of the curation queries. PendingVisits
// runs on a populated, analysed table (20 days of captures): with Since an hour
// back it must find its candidates through the day partitions' created_at
// indexes instead of reading every request; WireGroups finds each group's latest visit with one
// backward index probe; retention finds old refused verdicts through their
// partial index.
func TestCurationQueryPlans(t *testing.T) {
	ctx := context.Background()
	dsn := pg.DSN(t)
	db := open(t, dsn, postgres.Options{})
	defer db.Close()
	end := time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)
	const n = 20000
	step := 20 * 24 * time.Hour / n
	g := storetest.NewGenerator(11, end.Add(-n*step), step)
	judged := map[string]bool{}
	for i := 0; i < n; i += 1000 {
		batch := g.Batch(1000)
		if _, err := db.InsertCaptures(ctx, batch); err != nil {
			t.Fatal(err)
		}
		// The visits older than two hours have been judged.
		var vs []model.VisitVerdict
		for _, c := range batch {
			if c.CreatedAt.Before(end.Add(-2*time.Hour)) && !judged[c.VisitKey] {
				judged[c.VisitKey] = true
				vs = append(vs, model.VisitVerdict{VisitKey: c.VisitKey, SeenAt: c.CreatedAt, EvaluatedAt: end,
					ClientIP: c.ClientIP, BrowserKey: "b", WireKey: c.JA4, Accepted: len(vs)%3 != 0})
			}
		}
		if err := db.PutVisitVerdicts(ctx, vs); err != nil {
			t.Fatal(err)
		}
	}
	conn := connect(t, dsn)
	if _, err := conn.Exec(ctx, "ANALYZE requests, connections, dict, visit_verdicts"); err != nil {
		t.Fatal(err)
	}
	check := func(name, plan string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(plan, w) {
				t.Errorf("%s: plan does not use %s:\n%s", name, w, plan)
			}
		}
		// The partitions of days without data (the days ahead) are empty:
		// reading them costs nothing and the planner says so.
		for _, line := range strings.Split(plan, "\n") {
			if strings.Contains(line, "Seq Scan on requests") && !strings.Contains(line, "cost=0.00..0.00") {
				t.Errorf("%s: plan reads a whole partition of requests:\n%s", name, plan)
			}
		}
		t.Logf("%s:\n%s", name, plan)
	}
	check("pending since", explain(t, conn, postgres.PendingSQL(true), end, 100, end.Add(-time.Hour)),
		"Index Scan using requests_p20260313_created_at_idx", "visit_key_created_at_idx", "visit_verdicts_pkey")
	// Without Since every navigation is a candidate: any plan will do, but it
	// must be valid SQL.
	explain(t, conn, postgres.PendingSQL(false), end, 100)

	// WireGroups reads every accepted verdict (a sequential scan is the
	// planner's call), but each group's latest visit must be one index probe.
	check("wire groups", explain(t, conn, postgres.WireGroupsSQL), "Index Only Scan Backward using visit_verdicts_groups_idx")
	check("verdict retention", explain(t, conn, postgres.DeleteVerdictsSQL, end, 100), "visit_verdicts_refused_idx")
}

// TestPutVisitVerdictsRejected checks that a verdict the database refuses
// (a key that grows past the limit once its invalid UTF-8 is repaired) fails
// with ErrRejected and rolls the whole batch back.
func TestPutVisitVerdictsRejected(t *testing.T) {
	ctx := context.Background()
	db := open(t, pg.DSN(t), postgres.Options{})
	defer db.Close()
	now := time.Now()
	good := model.VisitVerdict{VisitKey: "good", SeenAt: now, EvaluatedAt: now}
	bad := model.VisitVerdict{VisitKey: "bad", SeenAt: now, EvaluatedAt: now, BrowserKey: strings.Repeat("a\xff", model.MaxKeyLen/2)}
	if err := db.PutVisitVerdicts(ctx, []model.VisitVerdict{good, bad}); !errors.Is(err, model.ErrRejected) {
		t.Fatalf("err = %v, want ErrRejected", err)
	}
	if _, err := db.VisitVerdict(ctx, "good"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("the batch was not rolled back: %v", err)
	}
}
