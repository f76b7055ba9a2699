package web

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestLimitBodiesCutsTrickledBody sends a body at 10 B/s to a server that
// asks for 50 B/s after a short grace: the handler's read must fail long
// before the body could have arrived (10 s), and the connection is closed.
// A body sent at once on the same server is read whole.
func TestLimitBodiesCutsTrickledBody(t *testing.T) {
	type result struct {
		n   int
		err error
	}
	results := make(chan result, 4)
	h := LimitBodies(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		results <- result{len(b), err}
		fmt.Fprintf(w, "%d", len(b))
	}), BodyLimits{Timeout: time.Minute, MinRate: 50, Grace: 300 * time.Millisecond})
	srv := httptest.NewServer(h)
	defer srv.Close()

	// A whole body at once is read.
	resp, err := http.Post(srv.URL, "text/plain", strings.NewReader(strings.Repeat("x", 100)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if r := <-results; r.err != nil || r.n != 100 {
		t.Fatalf("fast body: read %d bytes, err %v; want 100, nil", r.n, r.err)
	}

	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for range 100 {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := c.Write([]byte("x")); err != nil {
				return
			}
		}
	}()
	select {
	case r := <-results:
		if r.err == nil {
			t.Fatalf("trickled body read whole (%d bytes); want a timeout", r.n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("trickled body still being read after 5 s")
	}
	// The server closes the connection: reads end (after any response).
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, bufio.NewReader(c)); err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
}
