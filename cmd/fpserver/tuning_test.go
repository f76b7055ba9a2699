package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"
)

// TestFirstOrHTTP2 checks which requests go to a warm worker: every HTTP/2
// request and the first of each HTTP/1 connection, never a WebSocket.
func TestFirstOrHTTP2(t *testing.T) {
	connA := context.WithValue(context.Background(), servedKey{}, new(atomic.Bool))
	connB := context.WithValue(context.Background(), servedKey{}, new(atomic.Bool))
	req := func(ctx context.Context, major int, method string, upgrade bool) *http.Request {
		r := httptest.NewRequestWithContext(ctx, method, "/", nil)
		r.ProtoMajor = major
		if upgrade {
			r.Header.Set("Upgrade", "websocket")
		}
		return r
	}
	for i, tc := range []struct {
		r    *http.Request
		want bool
	}{
		{req(connA, 1, http.MethodGet, true), false}, // an upgrade does not use up the first request
		{req(connA, 1, http.MethodGet, false), true},
		{req(connA, 1, http.MethodGet, false), false},
		{req(connA, 1, http.MethodPost, false), false},
		{req(connB, 1, http.MethodPost, false), true},
		{req(connB, 2, http.MethodGet, false), true},
		{req(connB, 2, http.MethodGet, false), true},
		{req(connB, 2, http.MethodConnect, false), false},
		{req(context.Background(), 1, http.MethodGet, false), false}, // no connection flag
	} {
		if got := firstOrHTTP2(tc.r); got != tc.want {
			t.Errorf("request %d (HTTP/%d %s): %v, want %v", i, tc.r.ProtoMajor, tc.r.Method, got, tc.want)
		}
	}
}

// gcPercent returns the runtime's current GC percent.
func gcPercent() int {
	v := debug.SetGCPercent(100)
	debug.SetGCPercent(v)
	return v
}

// TestGCPercent: serve sets the collector's target from -gc-percent while it
// runs and restores the previous one when it stops; with GOGC in the
// environment the runtime's setting is left alone.
func TestGCPercent(t *testing.T) {
	before := gcPercent()
	_, gogc := os.LookupEnv("GOGC")
	for _, flagValue := range []string{"250", "0"} {
		want := 250
		if gogc || flagValue == "0" {
			want = before
		}
		func() {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			up := make(chan struct{}, 8)
			m := &Main{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) (string, bool) { return "", false },
				OnListening: func(string, net.Addr) { up <- struct{}{} }}
			done := make(chan int, 1)
			go func() {
				done <- m.Run(ctx, []string{"serve", "-data", t.TempDir(), "-https", "127.0.0.1:0", "-https-h1", "", "-http", "", "-debug", "",
					"-log-level", "error", "-gc-percent", flagValue})
			}()
			select {
			case <-up:
			case code := <-done:
				t.Fatalf("fpserver exited with %d", code)
			case <-time.After(30 * time.Second):
				t.Fatal("fpserver did not start")
			}
			if got := gcPercent(); got != want {
				t.Errorf("-gc-percent %s: GC percent %d while serving, want %d", flagValue, got, want)
			}
			cancel()
			<-done
		}()
		if got := gcPercent(); got != before {
			t.Errorf("-gc-percent %s: GC percent %d after serving, want the previous %d", flagValue, got, before)
		}
	}
}
