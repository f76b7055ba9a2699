package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// poolCount reads the number of pools the transport holds.
func poolCount(tr *Transport) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.pools)
}

// waitPools waits until the transport holds want pools.
func waitPools(t *testing.T, tr *Transport, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for poolCount(tr) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%d pools, want %d", poolCount(tr), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// countedConn counts the connections open at once.
type countedConn struct {
	net.Conn
	open   *atomic.Int32
	closed atomic.Bool
}

func (c *countedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.open.Add(-1)
	}
	return c.Conn.Close()
}

// dialTo returns a DialContext that connects every address to addr (so
// that any number of host names reach one test server) and counts the
// open connections.
func dialTo(addr string, open *atomic.Int32) func(ctx context.Context, network, _ string) (net.Conn, error) {
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		open.Add(1)
		return &countedConn{Conn: c, open: open}, nil
	}
}

func getBody(t *testing.T, tr *Transport, url string) {
	t.Helper()
	resp, err := get(t, tr, context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%s: status %d", url, resp.StatusCode)
	}
}

// TestPoolFailedDialsLeaveNoPool: requests whose dial fails (a refused
// destination, an unreachable one) leave no pool behind, however many
// distinct destinations there are.
func TestPoolFailedDialsLeaveNoPool(t *testing.T) {
	refused := errors.New("destination not allowed")
	tr := New(Options{Profile: testProfile(t), DialContext: func(context.Context, string, string) (net.Conn, error) {
		return nil, refused
	}})
	for i := range 500 {
		scheme := "http"
		if i%2 == 1 {
			scheme = "https"
		}
		_, err := get(t, tr, context.Background(), fmt.Sprintf("%s://10.%d.%d.1:%d/", scheme, i/256, i%256, 1000+i))
		if !errors.Is(err, refused) {
			t.Fatalf("request %d: err = %v", i, err)
		}
	}
	if n := poolCount(tr); n != 0 {
		t.Errorf("%d pools after 500 failed dials to distinct destinations, want 0", n)
	}
}

// TestPoolsBounded: many distinct allowed destinations keep at most
// MaxPools pools, and the connections of evicted pools are closed.
func TestPoolsBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	defer srv.Close()
	var open atomic.Int32
	tr := New(Options{Profile: testProfile(t), MaxPools: 8, DialContext: dialTo(srv.Listener.Addr().String(), &open)})
	defer tr.CloseIdleConnections()
	for i := range 100 {
		getBody(t, tr, fmt.Sprintf("http://host%d.test/", i))
		if n := poolCount(tr); n > 8 {
			t.Fatalf("after %d destinations: %d pools, cap 8", i+1, n)
		}
	}
	if n := open.Load(); n > 8 {
		t.Errorf("%d upstream connections open, want at most 8 (one idle per kept pool)", n)
	}
	// The most recently used destination kept its pool and connection.
	before := open.Load()
	getBody(t, tr, "http://host99.test/")
	if open.Load() != before || poolCount(tr) > 8 {
		t.Errorf("reusing the newest pool: %d -> %d connections, %d pools", before, open.Load(), poolCount(tr))
	}
}

// TestPoolsIdleEvicted: a pool whose connections closed after the idle
// timeout is dropped, for HTTP/1.1 and HTTP/2.
func TestPoolsIdleEvicted(t *testing.T) {
	t.Run("http1", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
		defer srv.Close()
		var open atomic.Int32
		tr := New(Options{Profile: testProfile(t), IdleConnTimeout: 50 * time.Millisecond, DialContext: dialTo(srv.Listener.Addr().String(), &open)})
		for i := range 20 {
			getBody(t, tr, fmt.Sprintf("http://idle%d.test/", i))
		}
		if n := poolCount(tr); n == 0 {
			t.Fatal("no pool right after the requests")
		}
		waitPools(t, tr, 0)
		if n := open.Load(); n != 0 {
			t.Errorf("%d connections open after the idle timeout", n)
		}
	})
	t.Run("h2", func(t *testing.T) {
		ca := newTestCA(t)
		srv, _ := startGoServer(t, ca, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
		tr := New(Options{Profile: testProfile(t), RootCAs: ca.pool, IdleConnTimeout: 50 * time.Millisecond})
		resp, err := get(t, tr, context.Background(), srv.URL+"/")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("protocol %s, want HTTP/2", resp.Proto)
		}
		waitPools(t, tr, 0)
	})
}
