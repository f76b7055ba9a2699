package writer

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/guanaco-fp/guanaco/store/storetest"
)

// readDeadLetters returns the records of a dead-letter file.
func readDeadLetters(t *testing.T, path string) []deadLetterRecord {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []deadLetterRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var r deadLetterRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("dead-letter line: %v", err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDeadLetterBisect: a batch holding refused captures is split; every good
// capture is written, each refused one is in the dead-letter file (next to the
// spool) with the database's reason and counted, and the writer goes on.
func TestDeadLetterBisect(t *testing.T) {
	st := newFakeStore()
	cs := sample(200)
	st.poison = map[string]bool{cs[0].ID: true, cs[77].ID: true, cs[78].ID: true, cs[199].ID: true}
	dir := t.TempDir()
	spool := filepath.Join(dir, "captures.spool")
	w, err := New(Config{Store: st, BatchSize: 200, FlushInterval: time.Millisecond, Backoff: fastBackoff, SpoolPath: spool})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if !w.Offer(c) {
			t.Fatalf("offer %s refused", c.ID)
		}
	}
	more := storetest.NewGenerator(7, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), time.Millisecond).Batch(50)
	for _, c := range more {
		w.Offer(c)
	}
	if err := w.Healthy(); err != nil {
		t.Fatalf("Healthy = %v", err)
	}
	closeW(t, w)
	rows := st.stored()
	if len(rows) != 196+50 {
		t.Fatalf("stored %d captures, want %d", len(rows), 196+50)
	}
	for id := range st.poison {
		if rows[id] != 0 {
			t.Fatalf("refused capture %s stored", id)
		}
	}
	recs := readDeadLetters(t, spool+".dead")
	if len(recs) != 4 {
		t.Fatalf("dead-letter file holds %d records, want 4", len(recs))
	}
	for _, r := range recs {
		if !st.poison[r.ID] || r.Capture.ID != r.ID || !strings.Contains(r.Reason, "rejected") {
			t.Fatalf("dead-letter record %s: reason %q, capture %s", r.ID, r.Reason, r.Capture.ID)
		}
	}
	if v := testutil.ToFloat64(w.m.deadLetters); v != 4 {
		t.Fatalf("dead_letter_total = %v, want 4", v)
	}
	// Bisection, not one insert per capture: 200 captures with 4 bad ones take
	// far fewer than 200 single inserts.
	if n := st.calls.Load(); n > 80 {
		t.Fatalf("%d insert calls for 250 captures with 4 refused", n)
	}
}

// TestDeadLetterFileCapped: past DeadLetterMaxBytes refused captures are only
// counted.
func TestDeadLetterFileCapped(t *testing.T) {
	st := newFakeStore()
	cs := sample(10)
	st.poison = map[string]bool{}
	for _, c := range cs {
		st.poison[c.ID] = true
	}
	path := filepath.Join(t.TempDir(), "dead.jsonl")
	w, err := New(Config{Store: st, BatchSize: 10, FlushInterval: time.Millisecond, Backoff: fastBackoff,
		DeadLetterPath: path, DeadLetterMaxBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		w.Offer(c)
	}
	closeW(t, w)
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Fatalf("dead-letter file: %v, %v", fi, err)
	}
	if v := testutil.ToFloat64(w.m.deadLetters); v != 10 {
		t.Fatalf("dead_letter_total = %v, want 10", v)
	}
}

// TestHealthyStall: Healthy fails once inserts have failed with nothing written
// for longer than StallAfter, and recovers when a batch is written.
func TestHealthyStall(t *testing.T) {
	st := newFakeStore()
	st.down.Store(true)
	clk := &manualClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	w, err := New(Config{Store: st, BatchSize: 1, FlushInterval: time.Millisecond, Clock: clk,
		Backoff: func(int) time.Duration { return time.Second }, StallAfter: time.Minute,
		SpoolPath: filepath.Join(t.TempDir(), "spool")})
	if err != nil {
		t.Fatal(err)
	}
	w.Offer(sample(1)[0])
	waitFor(t, "a failed insert", func() bool { return st.calls.Load() > 0 })
	if err := w.Healthy(); err != nil {
		t.Fatalf("Healthy right after a failure = %v", err)
	}
	clk.Advance(61 * time.Second)
	if err := w.Healthy(); err == nil || !errors.Is(err, errDown) {
		t.Fatalf("Healthy after 61 s of failures = %v, want the database error", err)
	}
	st.down.Store(false)
	waitFor(t, "the spool replay", func() bool {
		clk.Advance(time.Second)
		return len(st.stored()) == 1
	})
	if err := w.Healthy(); err != nil {
		t.Fatalf("Healthy after recovery = %v", err)
	}
	closeW(t, w)
}

// TestQueueReasons: Queue says why a capture was dropped.
func TestQueueReasons(t *testing.T) {
	st := newFakeStore()
	st.gate = make(chan struct{}) // inserts block until the gate is closed
	w, err := New(Config{Store: st, QueueSize: 1, FlushInterval: time.Millisecond, BatchSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	cs := sample(3)
	bad := cs[2]
	bad.Initiator = "bot"
	var de *DropError
	if err := w.Queue(&bad); !errors.As(err, &de) || de.Reason != DropInvalid {
		t.Fatalf("invalid capture: %v", err)
	}
	if err := w.Queue(&cs[0]); err != nil {
		t.Fatalf("first capture: %v", err)
	}
	// The flusher holds at most one capture (blocked in its insert) and the
	// queue one more.
	var full error
	for i := 0; i < 100 && full == nil; i++ {
		c := sample(1)[0]
		c.ID = fmt.Sprintf("q%d", i)
		full = w.Queue(&c)
	}
	if !errors.As(full, &de) || de.Reason != DropQueueFull {
		t.Fatalf("full queue: %v", full)
	}
	close(st.gate)
	closeW(t, w)
	if err := w.Queue(&cs[1]); !errors.As(err, &de) || de.Reason != DropClosed || de.DropReason() != DropClosed {
		t.Fatalf("after Close: %v", err)
	}
}
