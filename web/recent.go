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
	mu    sync.Mutex
	byID  map[string]recentCapture
	order []string // insertion order, oldest first
	max   int
	ttl   time.Duration
}

type recentCapture struct {
	c    store.Capture
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
	return &recentCaptures{byID: map[string]recentCapture{}, max: max, ttl: ttl}
}

// add remembers c, queued at now.
func (rc *recentCaptures) add(c store.Capture, now time.Time) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.expireLocked(now)
	if _, ok := rc.byID[c.ID]; ok {
		return
	}
	if len(rc.order) >= rc.max {
		delete(rc.byID, rc.order[0])
		rc.order = rc.order[1:]
	}
	rc.byID[c.ID] = recentCapture{c: c, when: now}
	rc.order = append(rc.order, c.ID)
}

// get returns the capture id if it was queued within the TTL.
func (rc *recentCaptures) get(id string, now time.Time) (store.Capture, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.expireLocked(now)
	r, ok := rc.byID[id]
	return r.c, ok
}

func (rc *recentCaptures) expireLocked(now time.Time) {
	n := 0
	for n < len(rc.order) && now.Sub(rc.byID[rc.order[n]].when) > rc.ttl {
		delete(rc.byID, rc.order[n])
		n++
	}
	// Reslice, not copy: add runs on every queued capture.
	rc.order = rc.order[n:]
}
