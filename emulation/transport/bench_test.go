package transport

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// BenchmarkTransportH2KeepAlive measures sequential keep-alive HTTP/2
// requests through this transport and through net/http's Transport to the
// same local server in the same run, and reports both rates and their
// ratio (ours / net/http; 1.0 = as fast).
func BenchmarkTransportH2KeepAlive(b *testing.B) {
	ca := newTestCA(b)
	srv, _ := startGoServer(b, ca, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	url := "https://localhost:" + portOf(srv.Listener.Addr().String()) + "/"
	ours := New(Options{Profile: testProfile(b), RootCAs: ca.pool})
	defer ours.CloseIdleConnections()
	std := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}, ForceAttemptHTTP2: true}
	defer std.CloseIdleConnections()
	run := func(rt http.RoundTripper) time.Duration {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
		do := func() {
			resp, err := rt.RoundTrip(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != 2 {
				b.Fatalf("proto %s", resp.Proto)
			}
		}
		do() // connect outside the timing
		start := time.Now()
		for range b.N {
			do()
		}
		return time.Since(start)
	}
	b.ResetTimer()
	dOurs := run(ours)
	dStd := run(std)
	b.StopTimer()
	oursRate := float64(b.N) / dOurs.Seconds()
	stdRate := float64(b.N) / dStd.Seconds()
	b.ReportMetric(oursRate, "ours-req/s")
	b.ReportMetric(stdRate, "nethttp-req/s")
	b.ReportMetric(oursRate/stdRate, "ratio")
}

// BenchmarkTransportNewConn measures a new connection: TCP plus the utls
// handshake from a freshly parsed profile hello, against TCP plus a
// crypto/tls handshake, same server; ratio = ours / crypto/tls time.
func BenchmarkTransportNewConn(b *testing.B) {
	ca := newTestCA(b)
	srv, _ := startGoServer(b, ca, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	addr := srv.Listener.Addr().String()
	tr := New(Options{Profile: testProfile(b), RootCAs: ca.pool})
	p := testProfile(b)
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		uc, err := tr.dialTLS(ctx, p, addr, "localhost")
		if err != nil {
			b.Fatal(err)
		}
		uc.Close()
	}
	dOurs := time.Since(start)
	start = time.Now()
	for range b.N {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		tc := tls.Client(nc, &tls.Config{ServerName: "localhost", RootCAs: ca.pool, NextProtos: []string{"h2", "http/1.1"}})
		if err := tc.HandshakeContext(ctx); err != nil {
			b.Fatal(err)
		}
		tc.Close()
	}
	dStd := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(dOurs.Microseconds())/float64(b.N), "ours-us/conn")
	b.ReportMetric(float64(dStd.Microseconds())/float64(b.N), "cryptotls-us/conn")
	b.ReportMetric(float64(dOurs)/float64(dStd), "ratio")
}
