package writer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/guanaco-fp/guanaco/store/model"
)

var errDown = errors.New("fake store: database unreachable")

// fakeStore records inserts by ID. It can fail (down), block on a gate, and
// reject captures whose ID is in poison.
type fakeStore struct {
	mu      sync.Mutex
	rows    map[string]int // id -> number of times it was newly inserted
	batches []int
	down    atomic.Bool
	gate    chan struct{}
	poison  map[string]bool
	calls   atomic.Int64
}

func newFakeStore() *fakeStore { return &fakeStore{rows: map[string]int{}} }

func (f *fakeStore) InsertCaptures(ctx context.Context, batch []model.Capture) (int64, error) {
	f.calls.Add(1)
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	if f.down.Load() {
		return 0, errDown
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range batch {
		if f.poison[c.ID] {
			return 0, fmt.Errorf("fake: %w: capture %s", model.ErrRejected, c.ID)
		}
	}
	var n int64
	for _, c := range batch {
		if _, ok := f.rows[c.ID]; !ok {
			f.rows[c.ID] = 1
			n++
		}
	}
	f.batches = append(f.batches, len(batch))
	return n, nil
}

func (f *fakeStore) stored() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.rows))
	for k, v := range f.rows {
		out[k] = v
	}
	return out
}

func (f *fakeStore) batchSizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.batches...)
}

// manualClock fires timers only when Advance moves time past their deadline.
type manualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer
}

type manualTimer struct {
	c        chan time.Time
	deadline time.Time
	active   bool
	clock    *manualClock
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &manualTimer{c: make(chan time.Time, 1), deadline: c.now.Add(d), active: true, clock: c}
	c.timers = append(c.timers, t)
	return t
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for _, t := range c.timers {
		if t.active && !t.deadline.After(c.now) {
			t.active = false
			t.c <- c.now
		}
	}
}

// waiting is the number of armed timers.
func (c *manualClock) waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if t.active {
			n++
		}
	}
	return n
}

func (t *manualTimer) C() <-chan time.Time { return t.c }
func (t *manualTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	was := t.active
	t.active = false
	return was
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func fastBackoff(int) time.Duration { return time.Millisecond }

func closeW(t *testing.T, w *Writer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func checkExactlyOnce(t *testing.T, st *fakeStore, offered []model.Capture) {
	t.Helper()
	rows := st.stored()
	if len(rows) != len(offered) {
		t.Fatalf("stored %d distinct captures, offered %d", len(rows), len(offered))
	}
	for _, c := range offered {
		if rows[c.ID] != 1 {
			t.Fatalf("capture %s stored %d times", c.ID, rows[c.ID])
		}
	}
}

func TestFlushBySizeAndTime(t *testing.T) {
	st := newFakeStore()
	clk := &manualClock{now: time.Unix(1000, 0)}
	reg := prometheus.NewRegistry()
	w, err := New(Config{Store: st, BatchSize: 10, FlushInterval: time.Second, Clock: clk, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	cs := sample(25)
	for _, c := range cs {
		if !w.Offer(c) {
			t.Fatal("Offer refused")
		}
	}
	// Two full batches go out without any time passing.
	waitFor(t, "two full batches", func() bool { return len(st.batchSizes()) == 2 })
	// The remaining 5 wait for the flush interval.
	waitFor(t, "the partial batch's timer", func() bool { return clk.waiting() == 1 })
	time.Sleep(20 * time.Millisecond)
	if got := st.batchSizes(); len(got) != 2 {
		t.Fatalf("partial batch flushed before its interval: %v", got)
	}
	clk.Advance(999 * time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	if got := st.batchSizes(); len(got) != 2 {
		t.Fatalf("partial batch flushed before its interval: %v", got)
	}
	clk.Advance(time.Millisecond)
	waitFor(t, "the partial batch", func() bool { return len(st.batchSizes()) == 3 })
	if got := st.batchSizes(); got[0] != 10 || got[1] != 10 || got[2] != 5 {
		t.Fatalf("batch sizes %v, want [10 10 5]", got)
	}
	if v := testutil.ToFloat64(w.m.written.WithLabelValues("direct")); v != 25 {
		t.Errorf("written_total{direct} = %v, want 25", v)
	}
	if v := testutil.ToFloat64(w.m.queued); v != 25 {
		t.Errorf("queued_total = %v, want 25", v)
	}
	if n := testutil.CollectAndCount(reg, "guanaco_store_writer_batch_duration_seconds"); n == 0 {
		t.Error("batch latency histogram not registered")
	}
	closeW(t, w)
	checkExactlyOnce(t, st, cs)
}

// TestPartialBatchCompletedWakesFlusher: a flusher sleeping on a partial
// batch wakes as soon as the queue holds what completes it, not only once
// the queue alone holds a full batch.
func TestPartialBatchCompletedWakesFlusher(t *testing.T) {
	st := newFakeStore()
	clk := &manualClock{now: time.Unix(1000, 0)}
	w, err := New(Config{Store: st, BatchSize: 10, FlushInterval: time.Hour, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	cs := sample(10)
	for _, c := range cs[:6] {
		if !w.Offer(c) {
			t.Fatal("Offer refused")
		}
	}
	waitFor(t, "the partial batch's timer", func() bool { return clk.waiting() == 1 })
	// The flusher holds 6 (it takes what is queued before sleeping); 4
	// more complete the batch though the queue never holds 10.
	for _, c := range cs[6:] {
		if !w.Offer(c) {
			t.Fatal("Offer refused")
		}
	}
	waitFor(t, "the completed batch", func() bool { return len(st.batchSizes()) == 1 })
	if got := st.batchSizes(); got[0] != 10 {
		t.Fatalf("batch sizes %v before the interval, want [10]", got)
	}
	closeW(t, w)
	checkExactlyOnce(t, st, cs)
}

// TestFullBatchWakesSleepingFlusher: a flusher sleeping on a partial batch
// (it does not wake for each capture) writes as soon as a full batch is
// queued, without waiting for the interval.
func TestFullBatchWakesSleepingFlusher(t *testing.T) {
	st := newFakeStore()
	clk := &manualClock{now: time.Unix(1000, 0)}
	w, err := New(Config{Store: st, BatchSize: 10, FlushInterval: time.Hour, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	cs := sample(23)
	for _, c := range cs[:3] {
		if !w.Offer(c) {
			t.Fatal("Offer refused")
		}
	}
	waitFor(t, "the partial batch's timer", func() bool { return clk.waiting() == 1 })
	for _, c := range cs[3:] {
		if !w.Offer(c) {
			t.Fatal("Offer refused")
		}
	}
	waitFor(t, "two full batches", func() bool { return len(st.batchSizes()) == 2 })
	time.Sleep(20 * time.Millisecond)
	if got := st.batchSizes(); len(got) != 2 || got[0] != 10 || got[1] != 10 {
		t.Fatalf("batch sizes %v before the interval, want [10 10]", got)
	}
	closeW(t, w) // Close flushes the last 3 at once
	if got := st.batchSizes(); len(got) != 3 || got[2] != 3 {
		t.Fatalf("batch sizes %v after Close, want [10 10 3]", got)
	}
	checkExactlyOnce(t, st, cs)
}

func TestOfferNeverBlocksAndDropsWhenFull(t *testing.T) {
	st := newFakeStore()
	st.gate = make(chan struct{}) // the database hangs
	w, err := New(Config{Store: st, QueueSize: 8, BatchSize: 4, FlushInterval: time.Millisecond, Backoff: fastBackoff})
	if err != nil {
		t.Fatal(err)
	}
	cs := sample(100)
	start := time.Now()
	accepted := 0
	for _, c := range cs {
		if w.Offer(c) {
			accepted++
		}
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("100 Offers took %v with a hung database", el)
	}
	// At most one batch in flight plus a full queue.
	if accepted < 8 || accepted > 8+4 {
		t.Fatalf("accepted %d of 100 with queue 8 and batch 4", accepted)
	}
	dropped := testutil.ToFloat64(w.m.dropped.WithLabelValues(DropQueueFull))
	if int(dropped) != 100-accepted {
		t.Fatalf("dropped_total{queue_full} = %v, want %d", dropped, 100-accepted)
	}
	if w.Offer(model.Capture{ID: "bad id"}) {
		t.Fatal("invalid capture accepted")
	}
	if v := testutil.ToFloat64(w.m.dropped.WithLabelValues(DropInvalid)); v != 1 {
		t.Fatalf("dropped_total{invalid} = %v", v)
	}
	close(st.gate)
	closeW(t, w)
	if got := len(st.stored()); got != accepted {
		t.Fatalf("stored %d, accepted %d", got, accepted)
	}
	if w.Offer(cs[0]) {
		t.Fatal("Offer after Close accepted")
	}
}

// TestSpoolWhileDown: with the database down, captures go to the spool; when it
// comes back they are replayed, each stored once, and the spool is emptied.
func TestSpoolWhileDown(t *testing.T) {
	st := newFakeStore()
	st.down.Store(true)
	path := filepath.Join(t.TempDir(), "spool")
	w, err := New(Config{Store: st, BatchSize: 50, FlushInterval: 5 * time.Millisecond, SpoolPath: path, Backoff: fastBackoff})
	if err != nil {
		t.Fatal(err)
	}
	cs := sample(1000)
	for _, c := range cs {
		if !w.Offer(c) {
			t.Fatal("Offer refused while spooling")
		}
	}
	waitFor(t, "everything spooled", func() bool { return testutil.ToFloat64(w.m.spooled) == 1000 })
	if !w.isSpooling() {
		t.Fatal("not in spool mode with the database down")
	}
	if q, b := w.Backlog(); q != 0 || b <= spoolHeaderLen {
		t.Fatalf("backlog = %d queued, %d spool bytes", q, b)
	}
	waitFor(t, "replay retries", func() bool { return testutil.ToFloat64(w.m.retried) >= 3 })
	st.down.Store(false)
	waitFor(t, "replay", func() bool { return len(st.stored()) == 1000 })
	waitFor(t, "direct mode", func() bool { return !w.isSpooling() })
	if _, b := w.Backlog(); b != spoolHeaderLen {
		t.Fatalf("spool not truncated: %d bytes", b)
	}
	// New captures go directly again.
	more := sample(10)
	for i := range more {
		more[i].ID = fmt.Sprintf("more%d", i)
		w.Offer(more[i])
	}
	closeW(t, w)
	checkExactlyOnce(t, st, append(cs, more...))
	if v := testutil.ToFloat64(w.m.written.WithLabelValues("spool")); v != 1000 {
		t.Errorf("written_total{spool} = %v, want 1000", v)
	}
	if v := testutil.ToFloat64(w.m.written.WithLabelValues("direct")); v != 10 {
		t.Errorf("written_total{direct} = %v, want 10", v)
	}
}

// TestSpoolSurvivesRestart: a writer closed while the database is down leaves the
// captures spooled; the next writer on the same path replays them.
func TestSpoolSurvivesRestart(t *testing.T) {
	st := newFakeStore()
	st.down.Store(true)
	path := filepath.Join(t.TempDir(), "spool")
	w1, err := New(Config{Store: st, BatchSize: 64, SpoolPath: path, Backoff: fastBackoff})
	if err != nil {
		t.Fatal(err)
	}
	cs := sample(500)
	for _, c := range cs {
		w1.Offer(c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := w1.Close(ctx); err != nil {
		t.Fatalf("Close with the database down but a spool: %v", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("Close waited %v on a failing database", el)
	}
	if len(st.stored()) != 0 {
		t.Fatal("stored while down")
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Size() <= spoolHeaderLen {
		t.Fatalf("spool after close: %v, %v", fi, err)
	}
	st.down.Store(false)
	w2, err := New(Config{Store: st, SpoolPath: path, Backoff: fastBackoff})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "replay by the second writer", func() bool { return len(st.stored()) == 500 })
	closeW(t, w2)
	checkExactlyOnce(t, st, cs)
}

func TestSpoolCapDrops(t *testing.T) {
	st := newFakeStore()
	st.down.Store(true)
	cs := sample(200)
	one := int64(recHeaderLen + len(appendCapture(nil, &cs[0])))
	reg := prometheus.NewRegistry()
	w, err := New(Config{Store: st, BatchSize: 20, FlushInterval: time.Millisecond, Backoff: fastBackoff,
		SpoolPath: filepath.Join(t.TempDir(), "spool"), SpoolMaxBytes: spoolHeaderLen + 50*one, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		w.Offer(c)
	}
	waitFor(t, "spool or drop of every capture", func() bool {
		return testutil.ToFloat64(w.m.spooled)+testutil.ToFloat64(w.m.dropped.WithLabelValues(DropSpoolFull)) == 200
	})
	spooled := testutil.ToFloat64(w.m.spooled)
	if spooled < 40 || spooled > 55 {
		t.Fatalf("spooled %v captures under a cap of about 50", spooled)
	}
	st.down.Store(false)
	closeW(t, w)
	if got := float64(len(st.stored())); got != spooled {
		t.Fatalf("stored %v, spooled %v", got, spooled)
	}
}

func TestRejectedCaptureIsolated(t *testing.T) {
	st := newFakeStore()
	cs := sample(30)
	st.poison = map[string]bool{cs[7].ID: true, cs[21].ID: true}
	w, err := New(Config{Store: st, BatchSize: 30, FlushInterval: time.Millisecond, Backoff: fastBackoff})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		w.Offer(c)
	}
	closeW(t, w)
	rows := st.stored()
	if len(rows) != 28 || rows[cs[7].ID] != 0 || rows[cs[21].ID] != 0 {
		t.Fatalf("stored %d (poison stored: %v %v)", len(rows), rows[cs[7].ID], rows[cs[21].ID])
	}
	if v := testutil.ToFloat64(w.m.dropped.WithLabelValues(DropRejected)); v != 2 {
		t.Fatalf("dropped_total{rejected} = %v, want 2", v)
	}
}

// TestNoSpoolShutdownWithDatabaseDown: without a spool, Close gives up at its
// deadline and reports the loss.
func TestNoSpoolShutdownWithDatabaseDown(t *testing.T) {
	st := newFakeStore()
	st.down.Store(true)
	w, err := New(Config{Store: st, BatchSize: 10, FlushInterval: time.Millisecond, Backoff: func(int) time.Duration { return 10 * time.Millisecond }})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range sample(35) {
		w.Offer(c)
	}
	waitFor(t, "retries", func() bool { return testutil.ToFloat64(w.m.retried) >= 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = w.Close(ctx)
	if err == nil {
		t.Fatal("Close reported success although nothing was written")
	}
	if v := testutil.ToFloat64(w.m.dropped.WithLabelValues(DropShutdown)); v != 35 {
		t.Fatalf("dropped_total{shutdown} = %v, want 35 (err %v)", v, err)
	}
	// Idempotent.
	if err2 := w.Close(context.Background()); err2 == nil || err2.Error() != err.Error() {
		t.Fatalf("second Close = %v", err2)
	}
}

// TestBacklogSpills: when the database is slower than producers and the queue
// reaches 3/4, the excess goes to the spool (down to half the queue) while the
// flusher keeps writing directly; everything ends up stored once.
func TestBacklogSpills(t *testing.T) {
	st := newFakeStore()
	st.gate = make(chan struct{})
	w, err := New(Config{Store: st, QueueSize: 100, BatchSize: 10, FlushInterval: time.Millisecond, Backoff: fastBackoff,
		SpoolPath: filepath.Join(t.TempDir(), "spool")})
	if err != nil {
		t.Fatal(err)
	}
	cs := sample(90)
	for _, c := range cs[:10] {
		w.Offer(c)
	}
	// The flusher is now stuck in the store with the first batch.
	waitFor(t, "the flusher to block in the store", func() bool { return st.calls.Load() == 1 })
	for _, c := range cs[10:] {
		if !w.Offer(c) {
			t.Fatal("Offer refused")
		}
	}
	// 80 queued >= 75: the spiller moves captures to the spool until <= 50,
	// while the database is still blocked.
	// The queue shrinks as the spiller takes captures; the spooled counter
	// moves once they are fsync'd to the spool, a moment later.
	waitFor(t, "the spill of at least 30 captures", func() bool {
		q, _ := w.Backlog()
		return q <= 50 && testutil.ToFloat64(w.m.spooled) >= 30
	})
	if w.isSpooling() {
		t.Fatal("a backlog switched the flushers to spool mode; only database failures should")
	}
	close(st.gate)
	cs2 := sample(400)
	for i := range cs2 {
		cs2[i].ID = fmt.Sprintf("late%d", i)
		for !w.Offer(cs2[i]) {
			time.Sleep(time.Millisecond)
		}
	}
	closeW(t, w)
	checkExactlyOnce(t, st, append(cs, cs2...))
	if direct := testutil.ToFloat64(w.m.written.WithLabelValues("direct")); direct == 0 {
		t.Error("nothing written directly while the spool was in use")
	}
}

func TestMetricsRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	st := newFakeStore()
	w1, err := New(Config{Store: st, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Store: st, Registerer: reg}); err == nil {
		t.Fatal("two writers registered on one registry")
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	sort.Strings(names)
	for _, want := range []string{"guanaco_store_writer_queued_total", "guanaco_store_writer_written_total", "guanaco_store_writer_retried_total",
		"guanaco_store_writer_spooled_total", "guanaco_store_writer_dropped_total", "guanaco_store_writer_queue_length"} {
		if i := sort.SearchStrings(names, want); i == len(names) || names[i] != want {
			t.Errorf("metric %s not exported (have %v)", want, names)
		}
	}
	closeW(t, w1)
	// Close unregisters: a new writer can use the registry.
	w2, err := New(Config{Store: st, Registerer: reg})
	if err != nil {
		t.Fatalf("registering after Close: %v", err)
	}
	closeW(t, w2)
	if _, err := New(Config{}); err == nil {
		t.Fatal("New without a store succeeded")
	}
}

func TestExponentialBackoff(t *testing.T) {
	b := ExponentialBackoff(100*time.Millisecond, time.Second)
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 5: time.Second, 50: time.Second} {
		for i := 0; i < 100; i++ {
			d := b(attempt)
			if d < want/2 || d > want {
				t.Fatalf("attempt %d: %v not in [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
}
