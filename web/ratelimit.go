package web

import (
	"container/list"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// codeRateLimited is the error code of a 429 from the expensive routes.
const codeRateLimited = "rate_limited"

// maxLimitedClients bounds the clients the expensive-route limiter tracks;
// the least recently seen is forgotten first.
const maxLimitedClients = 10000

// clientLimiter is a token bucket per client key (the IPv4 address, or the
// IPv6 /64), tracking at most max clients (least recently used evicted). A
// forgotten client starts again with a full bucket.
type clientLimiter struct {
	limit rate.Limit
	burst int
	max   int

	mu  sync.Mutex
	lru *list.List // of *limitedClient, most recent first
	m   map[netip.Prefix]*list.Element
}

type limitedClient struct {
	key netip.Prefix
	lim *rate.Limiter
}

func newClientLimiter(perSecond float64, burst, maxClients int) *clientLimiter {
	return &clientLimiter{limit: rate.Limit(perSecond), burst: max(burst, 1), max: maxClients,
		lru: list.New(), m: make(map[netip.Prefix]*list.Element)}
}

// allow takes one token of key's bucket at now. When there is none it
// returns false and how long until there is.
func (c *clientLimiter) allow(key netip.Prefix, now time.Time) (bool, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var lim *rate.Limiter
	if e, ok := c.m[key]; ok {
		c.lru.MoveToFront(e)
		lim = e.Value.(*limitedClient).lim
	} else {
		if c.lru.Len() >= c.max {
			old := c.lru.Back()
			c.lru.Remove(old)
			delete(c.m, old.Value.(*limitedClient).key)
		}
		lim = rate.NewLimiter(c.limit, c.burst)
		c.m[key] = c.lru.PushFront(&limitedClient{key: key, lim: lim})
	}
	if lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - lim.TokensAt(now)
	return false, time.Duration(missing / float64(c.limit) * float64(time.Second))
}

// limitKey is the rate-limit key of a client address: the address for
// IPv4, its /64 for IPv6.
func limitKey(a netip.Addr) netip.Prefix {
	bits := 32
	if !a.Is4() {
		bits = 64
	}
	p, _ := a.WithZone("").Prefix(bits) // valid address, bits in range
	return p
}

// expensive rate-limits a route per client (Deps.ExpensiveRate and
// ExpensiveBurst): beyond it the answer is 429 with Retry-After in whole
// seconds. Requests without a parsable client address are not limited.
func (h *handler) expensive(next http.Handler) http.Handler {
	if h.limiter == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a, ok := clientAddr(r); ok {
			if ok, wait := h.limiter.allow(limitKey(a), h.d.Now()); !ok {
				w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
				h.writeError(w, r, http.StatusTooManyRequests, codeRateLimited, "too many requests to this page; try again later")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
