package warmstack

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// onWorker reports whether the calling goroutine is one of a Pool's workers.
func onWorker() bool {
	buf := make([]byte, 64<<10)
	return strings.Contains(string(buf[:runtime.Stack(buf, false)]), "warmstack.(*Pool).work")
}

func request(major int) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.ProtoMajor = major
	return r
}

func TestHTTP2OnWorkerHTTP1InPlace(t *testing.T) {
	var worker bool
	p := Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		worker = onWorker()
		w.WriteHeader(http.StatusTeapot)
	}), 2)
	defer p.Stop()
	for _, tc := range []struct {
		major  int
		worker bool
	}{{2, true}, {1, false}, {2, true}} {
		// Workers start asynchronously: wait until one takes the job.
		deadline := time.Now().Add(5 * time.Second)
		for {
			rec := httptest.NewRecorder()
			p.ServeHTTP(rec, request(tc.major))
			if rec.Code != http.StatusTeapot {
				t.Fatalf("HTTP/%d: status %d, want the handler's 418", tc.major, rec.Code)
			}
			if worker == tc.worker || !tc.worker || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if worker != tc.worker {
			t.Errorf("HTTP/%d: served on a worker = %v, want %v", tc.major, worker, tc.worker)
		}
	}
}

// TestHandlerFuncChooses: HandlerFunc hands over exactly the requests its
// function picks (here by a header), whatever their protocol.
func TestHandlerFuncChooses(t *testing.T) {
	var worker bool
	var asked int
	p := HandlerFunc(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		worker = onWorker()
	}), 2, func(r *http.Request) bool {
		asked++
		return r.Header.Get("Warm") != ""
	})
	defer p.Stop()
	for i, tc := range []struct {
		major        int
		warm, worker bool
	}{{1, true, true}, {1, false, false}, {2, false, false}, {2, true, true}} {
		deadline := time.Now().Add(5 * time.Second)
		for {
			r := request(tc.major)
			if tc.warm {
				r.Header.Set("Warm", "1")
			}
			p.ServeHTTP(httptest.NewRecorder(), r)
			if worker == tc.worker || !tc.worker || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if worker != tc.worker {
			t.Errorf("case %d (HTTP/%d, warm %v): served on a worker = %v", i, tc.major, tc.warm, worker)
		}
	}
	if asked < 4 {
		t.Errorf("the function was asked %d times for 4 requests", asked)
	}
}

func TestBusyWorkersServeInPlace(t *testing.T) {
	hold, held := make(chan struct{}), make(chan struct{})
	p := Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			if onWorker() {
				close(held)
				<-hold
			}
			return
		}
		if onWorker() {
			t.Error("a request was queued behind a busy worker instead of served in place")
		}
	}), 1)
	defer p.Stop()
	first := make(chan struct{})
	go func() {
		defer close(first)
		for {
			r := request(2)
			r.URL.Path = "/hold"
			p.ServeHTTP(httptest.NewRecorder(), r)
			select {
			case <-held:
				return
			default: // served in place before the worker was ready; try again
			}
		}
	}()
	<-held
	// The only worker is busy: this must not wait for it.
	done := make(chan struct{})
	go func() { p.ServeHTTP(httptest.NewRecorder(), request(2)); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("request waited for the busy worker")
	}
	close(hold)
	<-first
}

func TestPanicReachesCaller(t *testing.T) {
	p := Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		if !onWorker() {
			panic("not on a worker")
		}
		panic(http.ErrAbortHandler)
	}), 1)
	defer p.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for {
		v := func() (v any) {
			defer func() { v = recover() }()
			p.ServeHTTP(httptest.NewRecorder(), request(2))
			return nil
		}()
		if v == "not on a worker" && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
			continue
		}
		err, ok := v.(error)
		if !ok || !errors.Is(err, http.ErrAbortHandler) {
			t.Fatalf("caller saw panic %v, want http.ErrAbortHandler", v)
		}
		break
	}
	// The worker survived its handler's panic.
	var ran bool
	p2 := Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { ran = true }), 1)
	defer p2.Stop()
	p2.ServeHTTP(httptest.NewRecorder(), request(2))
	if !ran {
		t.Fatal("handler did not run")
	}
}

func TestStopEndsWorkers(t *testing.T) {
	before := runtime.NumGoroutine()
	p := Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), 8)
	p.Stop()
	p.Stop() // twice is fine
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after Stop, %d before Handler", n, before)
	}
	// Served in place after Stop.
	var ran bool
	p.next = http.HandlerFunc(func(http.ResponseWriter, *http.Request) { ran = true })
	p.ServeHTTP(httptest.NewRecorder(), request(2))
	if !ran {
		t.Fatal("request after Stop was not served")
	}
}

func TestRunner(t *testing.T) {
	done := make(chan struct{})
	r := NewRunner(2, done)
	// Functions run, on workers once they are idle.
	results := make(chan bool, 100)
	for range 100 {
		r.Go(func() { results <- onRunnerWorker() })
		time.Sleep(100 * time.Microsecond)
	}
	onWorkers := 0
	for range 100 {
		if <-results {
			onWorkers++
		}
	}
	if onWorkers == 0 {
		t.Error("no function ran on a worker")
	}
	// Busy workers: Go does not wait for them.
	hold := make(chan struct{})
	for range 2 {
		r.Go(func() { <-hold })
	}
	ran := make(chan struct{})
	r.Go(func() { close(ran) })
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("Go waited for a busy worker")
	}
	close(hold)
	close(done)
	r.Wait()
	// After the workers ended, functions still run.
	ran2 := make(chan struct{})
	r.Go(func() { close(ran2) })
	<-ran2
}

// onRunnerWorker reports whether the caller runs on a Runner's worker.
func onRunnerWorker() bool {
	buf := make([]byte, 64<<10)
	return strings.Contains(string(buf[:runtime.Stack(buf, false)]), "warmstack.NewRunner.func")
}

// deepStack recurses until it has used about n bytes of stack.
//
//go:noinline
func deepStack(n int) byte {
	var frame [1024]byte
	frame[n%len(frame)] = byte(n)
	if n <= len(frame) {
		return frame[0]
	}
	return deepStack(n-len(frame)) + frame[1]
}

// TestBallastKeepsGrownStacks: goroutines grow their stacks to 32 KiB,
// then wait through four GC cycles. Without the ballast the collector
// halves the idle stacks at each cycle; above withBallast's frame they
// stay grown (so a worker's next job does not grow and copy them again).
func TestBallastKeepsGrownStacks(t *testing.T) {
	const n = 8
	stackGrowth := func(ballast bool) int64 {
		runtime.GC()
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		grown, release := make(chan struct{}), make(chan struct{})
		var wg sync.WaitGroup
		for range n {
			body := func() {
				deepStack(16 << 10)
				grown <- struct{}{}
				<-release
			}
			wg.Go(func() {
				if ballast {
					withBallast(body)
				} else {
					body()
				}
			})
		}
		for range n {
			<-grown
		}
		for range 4 {
			runtime.GC()
		}
		runtime.ReadMemStats(&m1)
		close(release)
		wg.Wait()
		return int64(m1.StackInuse) - int64(m0.StackInuse)
	}
	without, with := stackGrowth(false), stackGrowth(true)
	t.Logf("stack in use by %d idle goroutines after 4 GCs: %d KiB without ballast, %d KiB with", n, without>>10, with>>10)
	if with < n*(24<<10) {
		t.Errorf("with the ballast %d KiB of stack kept by %d goroutines, want at least %d KiB", with>>10, n, n*24)
	}
	if without*2 > with {
		t.Errorf("without the ballast %d KiB kept, not under half of %d KiB: the collector did not shrink idle stacks as this test assumes", without>>10, with>>10)
	}
}
