package web

import (
	"sync"
	"time"

	"github.com/guanaco-fp/guanaco/store"
)

// recentCaptures keeps the captures this process queued for the store
// until they can be read back from it: an answer says "stored": "queued"
// and links to the capture, which the writer may flush a moment later, so
// /captures/{id} and /api/captures/{id} serve it from here meanwhile
// (read-your-write). Bounded by count and age; safe for concurrent use.
type recentCaptures struct {
	mu sync.Mutex
	// ring holds the captures in insertion order from head, n of them; it
	// grows up to max slots, then an add overwrites the oldest. The ring
	// holds the very captures the writer queued (read-only on both sides),
	// not copies: a copy was ~600 bytes written into a cold slot per request.
	// There is no index by id: an add is on every fingerprinted request's
	// path and a lookup only on a capture page the store does not have yet,
	// so get scans the ring (a few microseconds at most) and add does not
	// hash, insert into and delete from a map of thousands of ids (~1 µs).
	ring []recentCapture
	head int
	n    int
	max  int
	ttl  time.Duration
}

type recentCapture struct {
	c    *store.Capture
	when time.Time
}

// Bounds of recentCaptures: the writer flushes within its flush interval
// (default 200 ms) unless the database is away, when the spool holds the
// captures and these copies keep them readable for a while.
const (
	recentMax = 4096
	recentTTL = 2 * time.Minute
)

func newRecentCaptures(max int, ttl time.Duration) *recentCaptures {
	return &recentCaptures{max: max, ttl: ttl}
}

// add remembers c, queued at now; c must not change afterwards. Capture ids
// are unique (store.NewCaptureID), so c is not looked for first.
func (rc *recentCaptures) add(c *store.Capture, now time.Time) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.expireLocked(now)
	if rc.max <= 0 {
		return
	}
	if rc.n == len(rc.ring) {
		if len(rc.ring) < rc.max {
			rc.growLocked()
		} else {
			rc.dropOldestLocked()
		}
	}
	i := (rc.head + rc.n) % len(rc.ring)
	rc.ring[i] = recentCapture{c: c, when: now}
	rc.n++
}

// get returns the capture id if it was queued within the TTL.
func (rc *recentCaptures) get(id string, now time.Time) (store.Capture, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.expireLocked(now)
	for k := rc.n - 1; k >= 0; k-- { // newest first
		if c := rc.ring[(rc.head+k)%len(rc.ring)].c; c.ID == id {
			return *c, true
		}
	}
	return store.Capture{}, false
}

func (rc *recentCaptures) expireLocked(now time.Time) {
	for rc.n > 0 && now.Sub(rc.ring[rc.head].when) > rc.ttl {
		rc.dropOldestLocked()
	}
}

// dropOldestLocked forgets the oldest capture (rc.n > 0), clearing its slot
// so the ring holds no references to it.
func (rc *recentCaptures) dropOldestLocked() {
	rc.ring[rc.head] = recentCapture{}
	rc.head = (rc.head + 1) % len(rc.ring)
	rc.n--
}

// growLocked doubles the ring (up to max slots), oldest capture first.
func (rc *recentCaptures) growLocked() {
	ring := make([]recentCapture, min(max(2*len(rc.ring), 64), rc.max))
	for k := range rc.n {
		ring[k] = rc.ring[(rc.head+k)%len(rc.ring)]
	}
	rc.ring, rc.head = ring, 0
}
