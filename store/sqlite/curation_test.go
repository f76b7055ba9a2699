package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/store/model"
)

// captureIndexes returns name -> SQL of the indexes on captures.
func captureIndexes(t *testing.T, db *sql.DB) map[string]string {
	t.Helper()
	rows, err := db.Query("SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'captures' AND sql IS NOT NULL")
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

// TestUpgradeFrom0001 opens a database created by migration 0001 with data in
// it: 0002 rebuilds captures (rows, rowids and every index kept, 'websocket'
// accepted) and adds the profile columns with their defaults.
func TestUpgradeFrom0001(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	old := openAtVersion(t, path, 1)
	before := captureIndexes(t, old)
	if len(before) != 9 {
		t.Fatalf("0001 has %d capture indexes, want 9", len(before))
	}
	if _, err := old.Exec("INSERT INTO captures (id, created_at, visit_key, initiator, user_agent, headers, ja4) VALUES ('a', 10, 'v1', 'navigate', 'ua', '[[\"Host\",\"x\"]]', 'j')"); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec("INSERT INTO captures (id, created_at, initiator) VALUES ('b', 20, 'websocket')"); err == nil {
		t.Fatal("0001 accepted a websocket capture")
	}
	if _, err := old.Exec("INSERT INTO profiles (name, document, updated_at) VALUES ('old', '{\"a\":1}', 5)"); err != nil {
		t.Fatal(err)
	}
	var rowidBefore int64
	if err := old.QueryRow("SELECT rowid FROM captures WHERE id = 'a'").Scan(&rowidBefore); err != nil {
		t.Fatal(err)
	}
	old.Close()

	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// 0004 turned captures into a view over the normalised tables and the
	// old rows were converted; the legacy table is gone.
	if after := captureIndexes(t, db.w); len(after) != 0 {
		t.Errorf("captures still has indexes after 0004: %v", after)
	}
	var legacy int
	if err := db.w.QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = 'captures_legacy'").Scan(&legacy); err != nil || legacy != 0 {
		t.Errorf("captures_legacy left after the conversion: %d, %v", legacy, err)
	}
	_ = rowidBefore
	c, err := db.Capture(ctx, "a")
	if err != nil || c.VisitKey != "v1" || c.JA4 != "j" || c.UserAgent != "ua" || len(c.Headers) != 1 || !c.CreatedAt.Equal(time.UnixMicro(10)) {
		t.Errorf("capture after upgrade = %+v, %v", c, err)
	}
	if n, err := db.InsertCaptures(ctx, []model.Capture{{ID: "b", CreatedAt: time.UnixMicro(20), Initiator: model.InitiatorWebSocket}}); err != nil || n != 1 {
		t.Errorf("websocket capture after upgrade: %d, %v", n, err)
	}
	// Unknown initiators are still refused: since 0007 by the backend
	// (checkRequest), not by a CHECK, even for a caller that skipped
	// model.Capture.ValidateFields.
	if _, err := db.InsertValidated(ctx, []model.Capture{{ID: "c", CreatedAt: time.UnixMicro(20), Initiator: "bot"}}); !errors.Is(err, model.ErrRejected) {
		t.Errorf("unknown initiator: %v, want ErrRejected", err)
	}
	p, err := db.Profile(ctx, "old")
	if err != nil || p.Source != model.ProfileImported || p.Pinned || p.Stale || p.Visits != 0 || !p.FirstSeen.IsZero() || string(p.JSON) != `{"a":1}` {
		t.Errorf("profile after upgrade = %+v, %v", p, err)
	}
	var check string
	if err := db.w.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check = %q, %v", check, err)
	}
	var fk int
	if err := db.w.QueryRow("SELECT count(*) FROM pragma_foreign_key_check").Scan(&fk); err != nil || fk != 0 {
		t.Errorf("foreign_key_check: %d, %v", fk, err)
	}
}

// queryPlan returns SQLite's plan for q as one string.
func queryPlan(t *testing.T, db *sql.DB, q string, args ...any) string {
	t.Helper()
	rows, err := db.Query("EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// TestCurationQueryPlans checks that PendingVisits reads the captures through
// their time and visit indexes, and that WireGroups and the retention of
// verdicts use visit_verdicts' partial indexes, instead of scanning tables.
func TestCurationQueryPlans(t *testing.T) {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "plan.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	plan := queryPlan(t, db.w, pendingSQL, int64(1), int64(2), int64(2), 100)
	for _, want := range []string{"requests_created_at_idx", "requests_visit_key_idx", "sqlite_autoindex_visit_verdicts_1"} {
		if !strings.Contains(plan, want) {
			t.Errorf("PendingVisits plan does not use %s:\n%s", want, plan)
		}
	}
	if strings.Contains(plan, "SCAN requests") || strings.Contains(plan, "SCAN n") || strings.Contains(plan, "SCAN c\n") {
		t.Errorf("PendingVisits plan scans captures:\n%s", plan)
	}
	// Without Since the lower bound is MinInt64: still the same shape.
	if p := queryPlan(t, db.w, pendingSQL, int64(math.MinInt64), int64(2), int64(2), 100); !strings.Contains(p, "requests_visit_key_idx") {
		t.Errorf("unbounded PendingVisits plan:\n%s", p)
	}
	t.Logf("PendingVisits plan:\n%s", plan)
	plan = queryPlan(t, db.w, wireGroupsSQL)
	t.Logf("WireGroups plan:\n%s", plan)
	if !strings.Contains(plan, "visit_verdicts_groups_idx") || strings.Contains(plan, "USE TEMP B-TREE FOR ORDER BY") {
		t.Errorf("WireGroups plan:\n%s", plan)
	}
	plan = queryPlan(t, db.w, "SELECT rowid FROM visit_verdicts WHERE accepted = 0 AND seen_at < ? LIMIT ?", int64(1), 10)
	if !strings.Contains(plan, "visit_verdicts_refused_idx") {
		t.Errorf("verdict retention plan:\n%s", plan)
	}
}

// TestPutVisitVerdictsRejected checks that a verdict the database refuses
// (here a key that grows past the limit once its invalid UTF-8 is repaired)
// fails with ErrRejected and rolls the whole batch back.
func TestPutVisitVerdictsRejected(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, Memory, Options{})
	if err != nil {
		t.Fatal(err)
	}
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
