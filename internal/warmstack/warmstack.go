// Package warmstack serves HTTP/2 requests on long-lived goroutines whose
// stacks have already grown.
//
// net/http's HTTP/2 server starts a new goroutine for every request. A new
// goroutine starts with a small stack (the runtime's average of the stacks it
// scanned at the last GC, mostly idle ones), and a handler chain as deep as
// fpserver's (middleware, chi's recursive route lookup, fingerprinting, JSON
// encoding) outgrows it on every request: the runtime then copies the stack
// and adjusts every frame's pointers, which costs more than handing the
// request to a goroutine that has served one before. HTTP/1 requests of a
// connection run one after another on the connection's goroutine, whose
// stack stays grown after the first, so only the first is worth handing
// over (see HandlerFunc).
//
// Idle workers wait above a frame of ballastBytes, so that the garbage
// collector, which halves the stack of a goroutine using less than a
// quarter of it, leaves their grown stacks alone between jobs.
package warmstack

import (
	"net/http"
	"runtime"
	"sync"
)

// Pool hands requests to a fixed set of worker goroutines.
type Pool struct {
	jobs    chan *job
	next    http.Handler
	warm    func(*http.Request) bool
	workers int
	once    sync.Once
	// free recycles jobs (and their done channels) between requests.
	free sync.Pool
}

// job is one request handed to a worker; done receives nil or the value
// the handler panicked with.
type job struct {
	w    http.ResponseWriter
	r    *http.Request
	done chan any
}

// panicked wraps a handler's panic value so that panic(nil) is told apart
// from a normal return.
type panicked struct{ v any }

// Handler returns a Pool serving next with workers goroutines (at least 1),
// handing over HTTP/2 (and later) requests. Stop ends the workers.
func Handler(next http.Handler, workers int) *Pool {
	return HandlerFunc(next, workers, func(r *http.Request) bool { return r.ProtoMajor >= 2 })
}

// HandlerFunc is Handler handing over the requests for which warm returns
// true (called once per request, on the caller's goroutine); the others are
// served in place.
func HandlerFunc(next http.Handler, workers int, warm func(*http.Request) bool) *Pool {
	p := &Pool{jobs: make(chan *job), next: next, warm: warm, workers: max(workers, 1)}
	p.free.New = func() any { return &job{done: make(chan any, 1)} }
	for range p.workers {
		go withBallast(p.work)
	}
	return p
}

// ballastBytes is the stack a worker keeps in use while it waits. The
// garbage collector halves the stack of a goroutine using less than a
// quarter of it, so a worker idle in a receive would lose, at every GC
// cycle, the stack its last job grew, and the next job would grow it again
// (copying it each time). With this much in use below the waiting frame,
// a stack of up to four times as much (32 KiB: a TLS handshake needs about
// 16 KiB) is kept. It also counts in the runtime's average of stack use
// that sizes new goroutines' stacks: more would push that average over
// 16 KiB, the largest size the runtime allocates from its per-P cache.
const ballastBytes = 8 << 10

// withBallast runs f above a frame holding ballastBytes of stack.
//
//go:noinline
func withBallast(f func()) {
	var ballast [ballastBytes]byte
	f()
	runtime.KeepAlive(&ballast)
}

// ServeHTTP serves a request the Pool hands over (see Handler and
// HandlerFunc) on an idle worker, waiting for it; every other request, and
// one that finds no idle worker, is served on the caller's goroutine, so a
// slow handler never delays another. A panic in the handler is raised again
// on the caller's goroutine, where net/http handles it
// (http.ErrAbortHandler included).
func (p *Pool) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !p.warm(r) {
		p.next.ServeHTTP(w, r)
		return
	}
	j := p.free.Get().(*job)
	j.w, j.r = w, r
	select {
	case p.jobs <- j:
	default:
		j.w, j.r = nil, nil
		p.free.Put(j)
		p.next.ServeHTTP(w, r)
		return
	}
	v := <-j.done
	p.free.Put(j)
	if pv, ok := v.(panicked); ok {
		panic(pv.v)
	}
}

// Stop ends each worker once it is idle, without waiting for them.
// Requests arriving later are served on their own goroutines.
func (p *Pool) Stop() {
	p.once.Do(func() {
		go func() {
			for range p.workers {
				p.jobs <- nil // a worker's signal to end
			}
		}()
	})
}

// work serves jobs until it receives nil. A plain receive: a select with a
// second case costs a request more than the handoff itself.
func (p *Pool) work() {
	for j := range p.jobs {
		if j == nil {
			return
		}
		j.done <- p.serve(j)
	}
}

// serve runs one job and returns nil, or the panic it raised.
func (p *Pool) serve(j *job) (res any) {
	w, r := j.w, j.r
	j.w, j.r = nil, nil
	defer func() {
		if v := recover(); v != nil {
			res = panicked{v}
		}
	}()
	p.next.ServeHTTP(w, r)
	return nil
}

// Runner runs functions on long-lived worker goroutines, for work that would
// otherwise start a goroutine each time and grow its stack (a TLS handshake
// does, deeply).
type Runner struct {
	jobs chan func()
	wg   sync.WaitGroup
}

// NewRunner starts workers goroutines (at least 1) that run the functions
// given to Go until done is closed.
func NewRunner(workers int, done <-chan struct{}) *Runner {
	r := &Runner{jobs: make(chan func())}
	for range max(workers, 1) {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			withBallast(func() {
				for {
					select {
					case f := <-r.jobs:
						f()
					case <-done:
						return
					}
				}
			})
		}()
	}
	return r
}

// Go runs f on an idle worker, or on a new goroutine when none is idle (or
// the workers have ended); it never waits. f must not panic: nothing
// recovers it, as with a plain go statement.
func (r *Runner) Go(f func()) {
	select {
	case r.jobs <- f:
	default:
		go f()
	}
}

// Wait blocks until the workers have ended (done closed and their current
// function returned). Functions started on their own goroutines are not
// waited for.
func (r *Runner) Wait() { r.wg.Wait() }
