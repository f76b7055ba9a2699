package web

import (
	"net/http"
	"net/netip"
	"testing"
	"time"
)

// TestExpensiveRoutesRateLimited: with 1 request per second and a burst of
// 2 per client, the third /api/stats from one address in the same instant
// is refused with 429 and Retry-After, another address (and another route
// class) is served, and a second later the first address is served again.
func TestExpensiveRoutesRateLimited(t *testing.T) {
	e := newEnv(t, func(d *Deps) {
		d.ExpensiveRate = 1
		d.ExpensiveBurst = 2
	})
	from := func(addr string) func(*http.Request) {
		return func(r *http.Request) { r.RemoteAddr = addr }
	}
	for i := range 2 {
		if w := e.do("GET", "https://fp.example/api/stats", nil, from("198.51.100.7:1000")); w.Code != http.StatusOK {
			t.Fatalf("request %d: %d", i, w.Code)
		}
	}
	w := e.do("GET", "https://fp.example/stats", nil, from("198.51.100.7:1001"))
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("third request: %d, Retry-After %q; want 429, 1", w.Code, w.Header().Get("Retry-After"))
	}
	// One IPv6 /64 is one client.
	for i, a := range []string{"[2001:db8::1]:1", "[2001:db8::2]:1", "[2001:db8::3]:1"} {
		w := e.do("GET", "https://fp.example/api/fingerprints/abc", nil, from(a))
		if limited := w.Code == http.StatusTooManyRequests; limited != (i == 2) {
			t.Errorf("IPv6 request %d: %d", i, w.Code)
		}
	}
	if w := e.do("GET", "https://fp.example/api/stats", nil, from("198.51.100.8:1000")); w.Code != http.StatusOK {
		t.Errorf("other address: %d", w.Code)
	}
	if w := e.do("GET", "https://fp.example/healthz", nil, from("198.51.100.7:1000")); w.Code != http.StatusOK {
		t.Errorf("cheap route: %d", w.Code)
	}
	e.now = e.now.Add(time.Second)
	if w := e.do("GET", "https://fp.example/api/stats", nil, from("198.51.100.7:1000")); w.Code != http.StatusOK {
		t.Errorf("a second later: %d", w.Code)
	}
}

// TestClientLimiterBounded: the limiter forgets the least recently seen
// client beyond its cap.
func TestClientLimiterBounded(t *testing.T) {
	l := newClientLimiter(1, 1, 3)
	now := time.Now()
	for i := range 10 {
		a := limitKey(netipAddr(t, i))
		l.allow(a, now)
	}
	if n := len(l.m); n != 3 || l.lru.Len() != 3 {
		t.Errorf("tracking %d clients (list %d); want 3", n, l.lru.Len())
	}
}

func netipAddr(t *testing.T, i int) netip.Addr {
	t.Helper()
	return netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
}
