package transport

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/emulation"
)

// TestResumption checks that a later connection of the same profile to the
// same server resumes the TLS session with the ticket the first one got
// (pre_shared_key offered and accepted), as browsers do, over HTTP/2 and
// HTTP/1.1 servers, and that NoResumption and another profile do not.
func TestResumption(t *testing.T) {
	ca := newTestCA(t)
	for _, proto := range []string{"h2", "http/1.1"} {
		t.Run(proto, func(t *testing.T) {
			ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{ca.leaf(t)}, NextProtos: []string{proto}})
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var resumed []bool
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				resumed = append(resumed, r.TLS.DidResume)
				mu.Unlock()
				fmt.Fprint(w, "ok")
			})}
			if proto == "http/1.1" {
				srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
			}
			go func() { _ = srv.Serve(ln) }()
			t.Cleanup(func() { srv.Close() })
			url := "https://localhost:" + portOf(ln.Addr().String()) + "/"

			fetch := func(tr *Transport, p *emulation.Profile) bool {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				req, _ := http.NewRequestWithContext(WithProfile(ctx, p), http.MethodGet, url, nil)
				resp, err := tr.RoundTrip(req)
				if err != nil {
					t.Fatalf("%s: %v", p.Name, err)
				}
				// Read the body: the ticket arrives after the handshake.
				buf := make([]byte, 16)
				_, _ = resp.Body.Read(buf)
				resp.Body.Close()
				tr.CloseIdleConnections()
				mu.Lock()
				defer mu.Unlock()
				return resumed[len(resumed)-1]
			}
			for _, name := range []string{"chromium-156-linux", "firefox-153-linux"} {
				p, err := emulation.Lookup(name)
				if err != nil {
					t.Fatal(err)
				}
				tr := New(Options{RootCAs: ca.pool})
				if fetch(tr, p) {
					t.Errorf("%s: the first connection resumed", name)
				}
				if !fetch(tr, p) {
					t.Errorf("%s: the second connection did not resume", name)
				}
				off := New(Options{RootCAs: ca.pool, NoResumption: true})
				fetch(off, p)
				if fetch(off, p) {
					t.Errorf("%s: resumed with NoResumption", name)
				}
			}
			// Tickets are per profile: chromium's are not offered by firefox.
			tr := New(Options{RootCAs: ca.pool})
			c, _ := emulation.Lookup("chromium-156-linux")
			f, _ := emulation.Lookup("firefox-153-linux")
			fetch(tr, c)
			if fetch(tr, f) {
				t.Error("firefox resumed chromium's session")
			}
		})
	}
}
