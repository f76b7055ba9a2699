//go:build unix

package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/store/migrations"
	"github.com/guanaco-fp/guanaco/store/model"
	"github.com/guanaco-fp/guanaco/store/postgres"
)

// TestUpgradeTo0005 opens a schema at 0004 holding requests: 0005 widens
// the initiator CHECK on the partitioned requests table (rows kept) so the
// sub-resource initiators are accepted, and the captures view still reads
// the old rows.
func TestUpgradeTo0005(t *testing.T) {
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
	for _, m := range all[:4] {
		if _, err := conn.Exec(ctx, m.SQL); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"INSERT INTO dict (id, kind, value, last_seen) VALUES (7, 'ua', 'Mozilla/5.0 old', $1)", []any{at}},
		{"INSERT INTO connections (id, created_at, client_ip, tls_version) VALUES (1, $1, '203.0.113.0', '1.3')", []any{at}},
		{"INSERT INTO requests (id, created_at, conn_id, visit_key, initiator, method, path, http_version, user_agent) VALUES ('old-nav', $1, 1, 'v4visit', 'navigate', 'GET', '/', '2', 7)", []any{at}},
		{"INSERT INTO requests (id, created_at, conn_id, visit_key, initiator, method, path, http_version, user_agent) VALUES ('old-ws', $1, 1, 'v4visit', 'websocket', 'GET', '/probe/ws', '2', 7)", []any{at.Add(time.Microsecond)}},
	} {
		if _, err := conn.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	if _, err := conn.Exec(ctx, "INSERT INTO requests (id, created_at, conn_id, initiator) VALUES ('x', now(), 1, 'style')"); err == nil {
		t.Fatal("schema 0004 accepted initiator 'style'; the test does not start from the old constraint")
	}

	db := open(t, dsn, postgres.Options{})
	defer db.Close()
	cs, err := db.CapturesByVisit(ctx, "v4visit")
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].ID != "old-nav" || cs[0].Initiator != model.InitiatorNavigate || cs[0].UserAgent != "Mozilla/5.0 old" ||
		cs[1].ID != "old-ws" || cs[1].Initiator != model.InitiatorWebSocket || cs[1].ClientIP != "203.0.113.0" {
		t.Errorf("old captures after 0005 = %+v", cs)
	}
	c := model.Capture{ID: "new-style", CreatedAt: at.Add(2 * time.Microsecond), VisitKey: "v4visit", Initiator: model.InitiatorStyle,
		Method: "GET", Path: "/probe/style.css", HTTPVersion: "2"}
	if n, err := db.InsertCaptures(ctx, []model.Capture{c}); err != nil || n != 1 {
		t.Fatalf("inserting a style capture after 0005: %d, %v", n, err)
	}
	if got, err := db.Capture(ctx, "new-style"); err != nil || got.Initiator != model.InitiatorStyle {
		t.Errorf("Capture(new-style) = %+v, %v", got, err)
	}
	// The partition carries the widened constraint too.
	var def string
	if err := conn.QueryRow(ctx, `SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c
		JOIN pg_class r ON r.oid = c.conrelid WHERE r.relname = 'requests_default' AND c.conname = 'requests_initiator_check'`).Scan(&def); err != nil {
		t.Fatalf("reading the partition's constraint: %v", err)
	}
	if want := "'manifest'"; !strings.Contains(def, want) {
		t.Errorf("requests_default constraint = %s, want it to list %s", def, want)
	}
}
