package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/store/model"
)

// schemaOf returns name -> SQL of the indexes on table.
func schemaOf(t *testing.T, db *sql.DB, table string) map[string]string {
	t.Helper()
	rows, err := db.Query("SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, q string
		if err := rows.Scan(&name, &q); err != nil {
			t.Fatal(err)
		}
		out[name] = q
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestUpgradeTo0005 opens a database at schema 0004 holding requests: 0005
// rebuilds requests (rows, rowids and indexes kept) so that the
// sub-resource initiators pass its CHECK, and the captures view still reads
// the old rows.
func TestUpgradeTo0005(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v4.db")
	old := openAtVersion(t, path, 4)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixMicro()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"INSERT INTO dict (id, kind, value, last_seen) VALUES (7, 'ua', 'Mozilla/5.0 old', 0)", nil},
		{"INSERT INTO connections (id, created_at, client_ip, tls_version) VALUES (1, ?, '203.0.113.0', '1.3')", []any{at}},
		{"INSERT INTO requests (rowid, id, created_at, conn_id, visit_key, initiator, method, path, http_version, user_agent) VALUES (40, 'old-nav', ?, 1, 'v4visit', 'navigate', 'GET', '/', '2', 7)", []any{at}},
		{"INSERT INTO requests (rowid, id, created_at, conn_id, visit_key, initiator, method, path, http_version, user_agent) VALUES (41, 'old-ws', ?, 1, 'v4visit', 'websocket', 'GET', '/probe/ws', '2', 7)", []any{at + 1}},
	} {
		if _, err := old.Exec(q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	if _, err := old.Exec("INSERT INTO requests (id, created_at, conn_id, initiator) VALUES ('x', 0, 1, 'style')"); err == nil {
		t.Fatal("schema 0004 accepted initiator 'style'; the test does not start from the old constraint")
	}
	indexesBefore := schemaOf(t, old, "requests")
	old.Close()

	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := schemaOf(t, db.w, "requests"); len(got) != len(indexesBefore) {
		t.Errorf("indexes after 0005 = %v, want %v", got, indexesBefore)
	} else {
		for name, q := range indexesBefore {
			if got[name] != q {
				t.Errorf("index %s after 0005 = %q, want %q", name, got[name], q)
			}
		}
	}
	var rowid int64
	if err := db.w.QueryRow("SELECT rowid FROM requests WHERE id = 'old-ws'").Scan(&rowid); err != nil || rowid != 41 {
		t.Errorf("old-ws rowid = %d, %v; want 41", rowid, err)
	}
	cs, err := db.CapturesByVisit(ctx, "v4visit")
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].ID != "old-nav" || cs[0].Initiator != model.InitiatorNavigate || cs[0].UserAgent != "Mozilla/5.0 old" ||
		cs[1].ID != "old-ws" || cs[1].Initiator != model.InitiatorWebSocket || cs[1].ClientIP != "203.0.113.0" {
		t.Errorf("old captures after 0005 = %+v", cs)
	}
	c := model.Capture{ID: "new-style", CreatedAt: time.UnixMicro(at + 2), VisitKey: "v4visit", Initiator: model.InitiatorStyle,
		Method: "GET", Path: "/probe/style.css", HTTPVersion: "2"}
	if n, err := db.InsertCaptures(ctx, []model.Capture{c}); err != nil || n != 1 {
		t.Fatalf("inserting a style capture after 0005: %d, %v", n, err)
	}
	if got, err := db.Capture(ctx, "new-style"); err != nil || got.Initiator != model.InitiatorStyle {
		t.Errorf("Capture(new-style) = %+v, %v", got, err)
	}
}
