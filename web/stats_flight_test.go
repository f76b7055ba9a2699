package web

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/guanaco-fp/guanaco/store"
)

// gatedStore is a real store whose TopFingerprints calls are counted and
// held until two of them run at once or a short wait has passed.
type gatedStore struct {
	store.Store
	calls   atomic.Int64
	mu      sync.Mutex
	inside  int
	release chan struct{}
}

func (g *gatedStore) TopFingerprints(ctx context.Context, k store.FingerprintKind, w store.TimeWindow, n int) ([]store.FingerprintCount, error) {
	g.calls.Add(1)
	g.mu.Lock()
	g.inside++
	if g.inside == 2 {
		close(g.release)
	}
	g.mu.Unlock()
	select {
	case <-g.release:
	case <-time.After(500 * time.Millisecond):
	}
	return g.Store.TopFingerprints(ctx, k, w, n)
}

// TestStatsSingleFlight: 16 concurrent /api/stats requests for one window
// run the stats queries once, and every request gets the result.
func TestStatsSingleFlight(t *testing.T) {
	var g *gatedStore
	e := newEnv(t, func(d *Deps) {
		g = &gatedStore{Store: d.Store, release: make(chan struct{})}
		d.Store = g
	})
	var wg sync.WaitGroup
	codes := make(chan int, 16)
	for range 16 {
		wg.Go(func() {
			codes <- e.do("GET", "https://fp.example/api/stats?window=7d", nil, nil).Code
		})
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != http.StatusOK {
			t.Errorf("status %d", c)
		}
	}
	if n, want := g.calls.Load(), int64(len(statsKinds())); n != want {
		t.Errorf("TopFingerprints ran %d times for 16 concurrent requests; want %d (one computation)", n, want)
	}
	if err := testutil.GatherAndCompare(e.reg, strings.NewReader(`
# HELP fpserver_web_stats_computations_total Runs of the /stats queries (one per window and cache interval, shared by concurrent requests).
# TYPE fpserver_web_stats_computations_total counter
fpserver_web_stats_computations_total 1
`), "fpserver_web_stats_computations_total"); err != nil {
		t.Error(err)
	}
}

// TestStatsStaleWhileRevalidate: after the cache interval, the expired
// result is served at once while one background computation refreshes it;
// the next request sees the new data.
func TestStatsStaleWhileRevalidate(t *testing.T) {
	e := newEnv(t, nil)
	count := func() int64 {
		t.Helper()
		var res struct {
			UserAgents []struct {
				Count int64 `json:"count"`
			} `json:"user_agents"`
		}
		decodeJSON(t, e.do("GET", "https://fp.example/api/stats?window=30d", nil, nil), &res)
		if len(res.UserAgents) == 0 {
			return 0
		}
		return res.UserAgents[0].Count
	}
	if n := count(); n != 0 {
		t.Fatalf("empty store: %d", n)
	}
	e.do("GET", "https://fp.example/", nil, nil)
	e.now = e.now.Add(statsCacheTTL + time.Second)
	if n := count(); n != 0 {
		t.Errorf("expired result: count %d; want the stale 0 while it is refreshed", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for count() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("stale result never refreshed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
