package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/store/model"
	"github.com/guanaco-fp/guanaco/store/storetest"
)

// TestCaptureQueryPlans runs EXPLAIN QUERY PLAN on the capture reads of the
// Store interface (with the SQL the methods build) over a filled database
// and checks that each read is served by an index, that no read scans
// requests, connections or dict, and that every index of those tables
// serves at least one read, so none is written for nothing (see
// docs/architecture.md, "Normalised capture storage").
func TestCaptureQueryPlans(t *testing.T) {
	// The captures view's names of dict, and the reads' own.
	dictAliases := map[string]bool{"d": true}
	for _, a := range []string{"ua", "h", "ts", "hn", "hv", "h2", "ja3", "ja3n", "ja4", "ja4r", "ja4o", "ja4ro", "pp", "ak", "ho", "qtp"} {
		dictAliases[a] = true
	}
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "plans.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	g := storetest.NewGenerator(3, time.Now().Add(-time.Hour), time.Millisecond)
	var cs []model.Capture
	for len(cs) < 3000 {
		cs = append(cs, storetest.KeepAlive(g.Next(), 20, time.Millisecond)...)
	}
	if _, err := db.InsertCaptures(ctx, cs); err != nil {
		t.Fatal(err)
	}
	if _, err := db.w.Exec("ANALYZE"); err != nil {
		t.Fatal(err)
	}
	ref := func(k model.FingerprintKind) string { p, _ := refMatch(k, []int64{1}); return p }
	reads := map[string]string{
		"Capture":         selectCaptures + "WHERE id_key = ?",
		"CapturesByVisit": selectCaptures + "WHERE visit_key = ? AND visit_key <> '' ORDER BY created_at, id LIMIT ?",
		"dictIDs hashed":  "SELECT id FROM dict WHERE hash = ? AND hash <> '' AND kind = ? ORDER BY id",
		"dictIDs by key":  "SELECT id FROM dict WHERE id = ? AND value = ? AND kind = ?",
		"TopUserAgents": "SELECT d.value, x.n FROM (SELECT user_agent AS id, count(*) AS n FROM requests WHERE user_agent IS NOT NULL AND created_at >= ? AND created_at < ? " +
			"GROUP BY user_agent) x JOIN dict d ON d.id = x.id WHERE d.value <> '' ORDER BY x.n DESC, d.value ASC LIMIT ?",
		"CaptureTotals":      "SELECT count(*), count(DISTINCT conn_id), count(DISTINCT NULLIF(visit_key, '')) FROM requests WHERE created_at >= ? AND created_at < ?",
		"PendingVisits":      pendingSQL,
		"retention requests": "SELECT rowid FROM requests WHERE created_at < ? LIMIT ?",
		"retention connections": "SELECT c.seq FROM connections c WHERE c.created_at < ? " +
			"AND NOT EXISTS (SELECT 1 FROM requests r WHERE r.conn_id = c.seq) LIMIT ?",
		"writer's connection seq": connSeqSQL,
		"retention dict":          "SELECT rowid FROM dict WHERE last_seen < ? LIMIT ?",
	}
	for _, k := range model.Kinds() {
		reads["resolveKind "+string(k)] = "SELECT 1 FROM captures WHERE " + ref(k) + " LIMIT 1"
		reads["CapturesByFingerprint "+string(k)] = byFingerprintSQL(ref(k))
		reads["FingerprintStats "+string(k)] = "SELECT count(*), count(DISTINCT NULLIF(visit_key, '')), min(created_at), max(created_at) FROM captures WHERE " + ref(k)
	}
	used := map[string]bool{}
	for name, q := range reads {
		n := strings.Count(q, "?")
		args := make([]any, n)
		for i := range args {
			args[i] = int64(1)
		}
		plan := queryPlan(t, db.r, q, args...)
		for _, line := range strings.Split(plan, "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 && f[0] == "SCAN" && (f[1] == "r" || f[1] == "c" || f[1] == "n" || f[1] == "requests" || f[1] == "connections" || f[1] == "dict" || dictAliases[f[1]]) {
				t.Errorf("%s scans a table: %s", name, line)
			}
			for _, w := range f {
				used[w] = true
			}
		}
	}
	rows, err := db.r.Query("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name IN ('requests', 'connections', 'dict')")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		if !used[name] {
			t.Errorf("index %s serves no read", name)
		}
	}
}
