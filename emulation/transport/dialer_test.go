package transport

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/emulation/upstream"
	"github.com/guanaco-fp/guanaco/internal/proxytest"
)

// TestWithDialer: requests whose context names an upstream proxy reach the
// server through it, on connections pooled apart from direct ones.
func TestWithDialer(t *testing.T) {
	ca := newTestCA(t)
	srv, conns := startGoServer(t, ca, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.Proto))
	}))
	url := "https://localhost:" + portOf(srv.Listener.Addr().String()) + "/"
	up := proxytest.StartConnect(t, "u", "p")
	px, err := upstream.Parse("http://u:p@" + up.Addr)
	if err != nil {
		t.Fatal(err)
	}
	tr := New(Options{Profile: testProfile(t), RootCAs: ca.pool})
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	viaCtx := WithDialer(ctx, px.Name, px.Dialer(nil))
	for range 2 {
		resp, err := get(t, tr, viaCtx, url)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	if got := up.Targets(); len(got) != 1 {
		t.Fatalf("proxy tunnels %v, want one (the HTTP/2 connection reused)", got)
	}
	resp, err := get(t, tr, ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if got := up.Targets(); len(got) != 1 {
		t.Errorf("a direct request went through the proxy: %v", got)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("server saw %d connections, want 2 (proxied and direct pooled apart)", n)
	}
	if n := tr.Pools(); n != 2 {
		t.Errorf("%d pools, want 2", n)
	}
}

// TestInsecureAndHTTP1Only: InsecureSkipVerify accepts an unknown CA only
// when set; HTTP1Only makes an h2-capable server speak HTTP/1.1.
func TestInsecureAndHTTP1Only(t *testing.T) {
	ca, other := newTestCA(t), newTestCA(t)
	srv, _ := startGoServer(t, ca, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	url := "https://localhost:" + portOf(srv.Listener.Addr().String()) + "/"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := get(t, New(Options{Profile: testProfile(t), RootCAs: other.pool}), ctx, url)
	var ua x509.UnknownAuthorityError
	if !errors.As(err, &ua) {
		t.Fatalf("verifying: err %v, want unknown authority", err)
	}
	tr := New(Options{Profile: testProfile(t), RootCAs: other.pool, InsecureSkipVerify: true, HTTP1Only: true})
	defer tr.CloseIdleConnections()
	resp, err := get(t, tr, ctx, url)
	if err != nil {
		t.Fatalf("-k: %v", err)
	}
	if resp.Proto != "HTTP/1.1" || resp.TLS == nil || resp.TLS.NegotiatedProtocol != "http/1.1" {
		t.Errorf("HTTP1Only: proto %s, want HTTP/1.1 negotiated by ALPN", resp.Proto)
	}
}
