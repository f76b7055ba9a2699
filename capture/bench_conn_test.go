package capture_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/capture"
)

// BenchmarkNewConnectionOverhead measures what the capture layer adds to a
// new TLS connection: the same trivial handler behind a capture.Listener
// (wired as fpserver wires it: net/http with unencrypted HTTP/2, the
// capture middleware claiming each request) and behind crypto/tls's own
// listener, one request per connection, HTTP/1.1 and HTTP/2. Both servers
// run in this process with the client; rounds alternate between them so
// that a busy machine slows both alike. It reports process CPU per
// connection for each and the difference ("capture-µs/conn"), which is
// the listener, hello capture, fingerprints and stream parsers (the TLS
// handshake, most of the cost, is common).
func BenchmarkNewConnectionOverhead(b *testing.B) {
	capAddr, plainAddr := startOverheadServers(b)
	for _, proto := range []string{"http/1.1", "h2"} {
		b.Run(proto, func(b *testing.B) {
			const perRound = 100
			conns := 0
			var capCPU, plainCPU time.Duration
			for b.Loop() {
				capCPU += newConnRound(b, capAddr, proto, perRound)
				plainCPU += newConnRound(b, plainAddr, proto, perRound)
				conns += perRound
			}
			per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(conns) }
			b.ReportMetric(per(capCPU), "fp-µs/conn")
			b.ReportMetric(per(plainCPU), "plain-µs/conn")
			b.ReportMetric(per(capCPU-plainCPU), "capture-µs/conn")
			b.ReportMetric(float64(plainCPU)/float64(capCPU), "ratio")
		})
	}
}

// startOverheadServers starts the two servers of
// BenchmarkNewConnectionOverhead and returns their addresses.
func startOverheadServers(b testing.TB) (capAddr, plainAddr string) {
	cert := testCert(b)
	body := []byte(`{"ok":true}`)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	captured := capture.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := capture.FromRequest(r); !ok {
			http.Error(w, "no capture", http.StatusInternalServerError)
			return
		}
		handler(w, r)
	}))
	serverTLS := func() *tls.Config {
		return &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
	}

	// The capture server.
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	capSrv := &http.Server{
		Handler: captured, Protocols: &protos, ReadHeaderTimeout: 10 * time.Second,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return capture.ContextWithConn(ctx, c.(*capture.Conn))
		},
	}
	// Each server's goroutines carry a "server" profiler label, so that a
	// CPU profile of the benchmark (-cpuprofile) splits by server with
	// -tagfocus.
	var ln *capture.Listener
	pprof.Do(context.Background(), pprof.Labels("server", "capture"), func(context.Context) {
		ln = capture.NewListener(inner, capture.Config{TLS: serverTLS()})
		go func() { _ = capSrv.Serve(ln) }()
	})
	// The plain server.
	plainLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	plainSrv := &http.Server{Handler: handler, TLSConfig: serverTLS(), ReadHeaderTimeout: 10 * time.Second}
	pprof.Do(context.Background(), pprof.Labels("server", "plain"), func(context.Context) {
		go func() { _ = plainSrv.ServeTLS(plainLn, "", "") }()
	})
	b.Cleanup(func() {
		_ = capSrv.Close()
		_ = plainSrv.Close()
		ln.Wait()
	})
	return ln.Addr().String(), plainLn.Addr().String()
}

// newConnRound makes n requests to addr, each on a new connection, from
// four concurrent clients, and returns the process CPU they took.
func newConnRound(b testing.TB, addr, proto string, n int) time.Duration {
	const workers = 4
	h2Client := newH2Client()
	cpu0 := processCPU()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range n / workers {
				if err := newConnRequest(h2Client, addr, proto); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return processCPU() - cpu0
}

// newH2Client returns a transport whose NewClientConn opens HTTP/2
// connections.
func newH2Client() *http.Transport {
	var protos http.Protocols
	protos.SetHTTP2(true)
	return &http.Transport{TLSClientConfig: clientTLS("h2"), Protocols: &protos}
}

// newConnRequest makes one GET over a new TLS connection speaking proto
// (h2 through h2Client).
func newConnRequest(h2Client *http.Transport, addr, proto string) error {
	req, err := http.NewRequest(http.MethodGet, "https://localhost/api/clean", nil)
	if err != nil {
		return err
	}
	var resp *http.Response
	if proto == "h2" {
		cc, err := h2Client.NewClientConn(context.Background(), "https", addr)
		if err != nil {
			return err
		}
		defer cc.Close()
		if resp, err = cc.RoundTrip(req); err != nil {
			return err
		}
	} else {
		conn, err := tls.Dial("tcp", addr, clientTLS(proto))
		if err != nil {
			return err
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, "GET /api/clean HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"); err != nil {
			return err
		}
		if resp, err = http.ReadResponse(bufio.NewReader(conn), req); err != nil {
			return err
		}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != map[string]int{"h2": 2, "http/1.1": 1}[proto] {
		return fmt.Errorf("%s: %s %s", proto, resp.Proto, resp.Status)
	}
	return nil
}
