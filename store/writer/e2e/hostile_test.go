//go:build unix

package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/guanaco-fp/guanaco/store/model"
	"github.com/guanaco-fp/guanaco/store/pgtest"
	"github.com/guanaco-fp/guanaco/store/postgres"
	"github.com/guanaco-fp/guanaco/store/sqlite"
	"github.com/guanaco-fp/guanaco/store/storetest"
	"github.com/guanaco-fp/guanaco/store/writer"
)

// hostileStore is what the hostile-capture test needs from a backend.
type hostileStore interface {
	writer.Inserter
	Capture(ctx context.Context, id string) (model.Capture, error)
	CapturesByFingerprint(ctx context.Context, q model.FingerprintQuery) ([]model.Capture, model.FingerprintKind, error)
}

// hostileCaptures returns captures of sizes a client controls, all storable: a
// 64 KB ClientHello with a 30,000-entry cipher list (and its TLS summary and
// fingerprint texts), a 60 KB JA4_r, a 3 KB JA4_r (over Postgres's btree entry
// limit, and short enough to look up), 5,000 headers and a 20 KB User-Agent.
func hostileCaptures(g *storetest.Generator) []model.Capture {
	var out []model.Capture
	rng := rand.New(rand.NewPCG(1, 2))

	c := g.Next()
	ciphers := make([]string, 30000)
	for i := range ciphers {
		ciphers[i] = fmt.Sprint(i%65000 + 1)
	}
	hello := make([]byte, 64<<10)
	hello[0], hello[1], hello[2] = 0x16, 0x03, 0x01
	for i := 5; i+1 < len(hello); i += 2 {
		hello[i], hello[i+1] = byte(i>>8), byte(i)
	}
	c.ClientHello = hello
	summary, _ := json.Marshal(map[string]any{"cipher_suites": ciphers})
	c.TLSSummary = summary
	c.JA3 = "771," + strings.Join(ciphers, "-") + ",0-23,29,0"
	c.PeetPrint = strings.Join(ciphers, "-")
	c.JA4R = "t13d9999h2_" + hexList(rng, 12000)
	c.JA4RO = c.JA4R
	out = append(out, c)

	c = g.Next()
	c.JA4R = "t13d1516h2_" + hexList(rng, 600)
	out = append(out, c)

	c = g.Next()
	c.Headers = make([]model.HeaderPair, 5000)
	for i := range c.Headers {
		c.Headers[i] = model.HeaderPair{Name: fmt.Sprintf("x-h%d", i), Value: strings.Repeat("v", 40)}
	}
	c.HeaderOrder = strings.Repeat("x-header,", 5000)
	out = append(out, c)

	c = g.Next()
	c.UserAgent = strings.Repeat("Mozilla/5.0 ", 1700)
	out = append(out, c)
	return out
}

// hexList returns n random 4-hex values joined by ",": a JA4_r list Postgres
// cannot compress below its index entry limit.
func hexList(rng *rand.Rand, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%04x", rng.IntN(1<<16))
	}
	return b.String()
}

// TestHostileCaptures offers, among ordinary captures in the same batches,
// hostile ones through the Writer into each backend: every storable capture is
// stored and reads back equal (the long JA4_r is found by lookup), a 16 KB visit
// key is refused by validation at Offer, and on Postgres captures the database
// refuses (a CHECK violation) land in the dead-letter file next
// to the spool while the good ones in their batch are stored. On the schema before
// migration 0003 the long JA4_r made Postgres refuse the index entry and the
// writer retried the batch forever.
func TestHostileCaptures(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t.Run("sqlite", func(t *testing.T) {
		db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db.sqlite"), sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		runHostile(ctx, t, db, false)
	})
	t.Run("postgres", func(t *testing.T) {
		c := pgtest.NewCluster(t, pgtest.Options{})
		db, err := postgres.Open(ctx, c.DSN(""), postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		// Every size a client controls is storable now, so the database is made
		// to refuse some rows with a test-only CHECK (SQLSTATE 23514), as it
		// refused a long ja4_r's index entry (54000) before migration 0003.
		conn, err := pgx.Connect(ctx, c.DSN(""))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "ALTER TABLE dict ADD CONSTRAINT test_refused CHECK (value <> 'refused-by-check')"); err != nil {
			t.Fatal(err)
		}
		runHostile(ctx, t, db, true)
	})
}

func runHostile(ctx context.Context, t *testing.T, db hostileStore, refuses bool) {
	g := storetest.NewGenerator(23, time.Now().Add(-time.Hour).Truncate(time.Millisecond).UTC(), time.Millisecond)
	spool := filepath.Join(t.TempDir(), "captures.spool")
	w, err := writer.New(writer.Config{Store: db, BatchSize: 64, FlushInterval: 20 * time.Millisecond,
		InsertTimeout: 20 * time.Second, SpoolPath: spool,
		Backoff: writer.ExponentialBackoff(20*time.Millisecond, 200*time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	good := g.Batch(40)
	good = append(good, hostileCaptures(g)...)
	good = append(good, g.Batch(20)...)
	var bad []model.Capture
	if refuses {
		for range 2 {
			c := g.Next()
			c.UserAgent = "refused-by-check"
			bad = append(bad, c)
		}
	}
	offer := append(append([]model.Capture{}, good[:30]...), bad...)
	offer = append(offer, good[30:]...)
	for _, c := range offer {
		if !w.Offer(c) {
			t.Fatalf("Offer(%s) refused", c.ID)
		}
	}
	long := g.Next()
	long.VisitKey = strings.Repeat("k", 16<<10)
	if w.Offer(long) {
		t.Fatal("a capture with a 16 KB visit key was accepted")
	}
	cctx, ccancel := context.WithTimeout(ctx, time.Minute)
	defer ccancel()
	if err := w.Close(cctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := w.Healthy(); err != nil {
		t.Fatalf("Healthy: %v", err)
	}
	for _, c := range good {
		got, err := db.Capture(ctx, c.ID)
		if err != nil {
			t.Fatalf("capture %s: %v", c.ID, err)
		}
		if d := storetest.DiffCapture(c, got); d != "" {
			t.Fatalf("capture %s read back differs: %s", c.ID, d)
		}
	}
	cs, kind, err := db.CapturesByFingerprint(ctx, model.FingerprintQuery{Hash: good[41].JA4R})
	if err != nil || kind != model.KindJA4R || len(cs) != 1 || cs[0].ID != good[41].ID {
		t.Fatalf("lookup by a 3 KB ja4_r: kind %q, %d captures, %v", kind, len(cs), err)
	}
	for _, c := range bad {
		if got, err := db.Capture(ctx, c.ID); err == nil {
			t.Fatalf("refused capture %s is stored: ua %q host %q", c.ID, got.UserAgent, got.Host)
		}
	}
	st := w.Stats()
	if st.DeadLetters != int64(len(bad)) {
		t.Fatalf("dead letters = %d, want %d", st.DeadLetters, len(bad))
	}
	if len(bad) == 0 {
		return
	}
	data, err := os.ReadFile(spool + ".dead")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != len(bad) {
		t.Fatalf("dead-letter file has %d lines, want %d", len(lines), len(bad))
	}
	for i, line := range lines {
		var rec struct {
			ID, Reason string
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.ID != bad[i].ID || !strings.Contains(rec.Reason, "rejected") {
			t.Fatalf("dead letter %d: id %s reason %q, want %s", i, rec.ID, rec.Reason, bad[i].ID)
		}
	}
}
