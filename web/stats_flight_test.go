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
