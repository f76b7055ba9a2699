package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
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
