package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/guanaco-fp/guanaco/capture"
)

// startPlainH3Server runs the HTTP/3 baseline: quic-go's http3.Server on
// its own UDP socket, same certificate, answering each path with a body of
// sizes[path] bytes. With captureOnly, the same answers come from a
// capture.H3Server (Initial decryption, control stream and header capture,
// the request's capture claimed by capture.Middleware) instead: the cost of
// the capture layer alone, without fingerprint rendering and storage.
func startPlainH3Server(b *testing.B, certDir string, sizes map[string]int, captureOnly bool) string {
	b.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(certDir, "tls", "cert.pem"), filepath.Join(certDir, "tls", "key.pem"))
	if err != nil {
		b.Fatal(err)
	}
	bodies := map[string][]byte{}
	for path, size := range sizes {
		bodies[path] = []byte(strings.Repeat("x", size))
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	answer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(bodies[r.URL.Path])
	})
	if captureOnly {
		srv := capture.NewH3Server(capture.H3Config{TLS: tlsCfg, Handler: capture.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if rc, ok := capture.FromRequest(r); !ok || !rc.Matched {
				http.Error(w, "no capture", http.StatusInternalServerError)
				return
			}
			answer.ServeHTTP(w, r)
		}))})
		go func() { _ = srv.Serve(udp) }()
		b.Cleanup(func() { _ = srv.Close(); udp.Close() })
		return udp.LocalAddr().String()
	}
	srv := &http3.Server{TLSConfig: tlsCfg, Handler: answer}
	go func() { _ = srv.Serve(udp) }()
	b.Cleanup(func() { _ = srv.Close(); udp.Close() })
	return udp.LocalAddr().String()
}

// h3LoadClient makes HTTP/3 requests to one server: newConn dials a new
// QUIC connection per request (over the worker's own UDP socket, as a
// browser reuses its socket), otherwise requests share one kept-alive
// connection per worker.
type h3LoadClient struct {
	url     string
	newConn bool
	tlsCfg  *tls.Config
}

func (c *h3LoadClient) worker() (func() error, func(), error) {
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, nil, err
	}
	qt := &quic.Transport{Conn: udp}
	dial := func(ctx context.Context, addr string, tlsCfg *tls.Config, cfg *quic.Config) (*quic.Conn, error) {
		ua, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			return nil, err
		}
		return qt.Dial(ctx, ua, tlsCfg, cfg)
	}
	newTransport := func() *http3.Transport { return &http3.Transport{TLSClientConfig: c.tlsCfg, Dial: dial} }
	tr := newTransport()
	get := func() error {
		rt := tr
		if c.newConn {
			rt = newTransport()
			defer rt.Close()
		}
		req, _ := http.NewRequest("GET", c.url, nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s", resp.Status)
		}
		return err
	}
	return get, func() { tr.Close(); qt.Close(); udp.Close() }, nil
}

// run drives c with workers goroutines for d and returns requests/second,
// the number of requests and the process CPU time (getrusage: clients and
// servers, which share this process) the round took.
func (c *h3LoadClient) run(d time.Duration, workers int) (float64, int, time.Duration, error) {
	type result struct {
		n   int
		err error
	}
	res := make(chan result, workers)
	deadline := time.Now().Add(d)
	start, cpu0 := time.Now(), processCPU()
	for range workers {
		go func() {
			get, closeFn, err := c.worker()
			if err != nil {
				res <- result{0, err}
				return
			}
			defer closeFn()
			n := 0
			for time.Now().Before(deadline) {
				if err := get(); err != nil {
					res <- result{n, err}
					return
				}
				n++
			}
			res <- result{n, nil}
		}()
	}
	total := 0
	var firstErr error
	for range workers {
		r := <-res
		total += r.n
		if r.err != nil && firstErr == nil {
			firstErr = r.err
		}
	}
	return float64(total) / time.Since(start).Seconds(), total, processCPU() - cpu0, firstErr
}

// BenchmarkServeRatioHTTP3 measures fpserver's HTTP/3 (QUIC hello capture
// from the Initial packets, control stream and header capture, fingerprints,
// storing every request) against a plain quic-go http3.Server in the same
// run, alternating short rounds, for a new QUIC connection per request and
// for kept-alive connections; it reports fpserver's throughput as a
// fraction of the baseline's ("ratio", target at least 0.85). The
// capture-layer cases measure capture.H3Server with the baseline's fixed
// answer, so their ratio is the cost of the QUIC/HTTP/3 capture alone.
// Each case also reports the process CPU per request of both sides and
// their ratio (cpu_ratio), which the machine's other jobs move less than
// throughput; it includes the clients' CPU and whatever background work
// (the store writer, GC) a round leaves to the next.
//
//	go test -run '^$' -bench ServeRatioHTTP3 -benchtime 1x ./cmd/fpserver
func BenchmarkServeRatioHTTP3(b *testing.B) {
	fpAddr, dataDir := startBenchFPServer(b)                                 // HTTP/3 on the -https port
	tlsCfg := &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"} //nolint:gosec // benchmark against our own self-signed server
	paths := []string{"/api/clean", "/api/fingerprint"}
	sizes := map[string]int{}
	for _, p := range paths {
		tr := &http3.Transport{TLSClientConfig: tlsCfg}
		resp, err := (&http.Client{Transport: tr}).Get("https://" + fpAddr + p)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		tr.Close()
		if resp.ProtoMajor != 3 {
			b.Fatalf("%s over %s", p, resp.Proto)
		}
		sizes[p] = int(n)
	}
	plainAddr := startPlainH3Server(b, dataDir, sizes, false)
	captureAddr := startPlainH3Server(b, dataDir, sizes, true)
	rounds, roundLen := 4, 1500*time.Millisecond
	if s := os.Getenv("GUANACO_BENCH_ROUNDS"); s != "" {
		_, _ = fmt.Sscan(s, &rounds)
	}
	for _, path := range append(paths, "capture-layer") {
		for _, mode := range []struct {
			name    string
			newConn bool
			workers int
		}{{"new_connection_h3", true, 8}, {"keepalive_h3", false, 32}} {
			b.Run(strings.TrimPrefix(path, "/api/")+"/"+mode.name, func(b *testing.B) {
				target, fpURL := path, "https://"+fpAddr+path
				if path == "capture-layer" {
					// capture.H3Server with a fixed answer against the plain
					// server with the same answer.
					target = "/api/clean"
					fpURL = "https://" + captureAddr + target
				}
				fp := &h3LoadClient{url: fpURL, newConn: mode.newConn, tlsCfg: tlsCfg}
				plain := &h3LoadClient{url: "https://" + plainAddr + target, newConn: mode.newConn, tlsCfg: tlsCfg}
				var fpRPS, plainRPS float64
				var fpN, plainN int
				var fpCPU, plainCPU time.Duration
				for i := 0; i < b.N; i++ {
					for r := 0; r < rounds; r++ {
						order := []*h3LoadClient{fp, plain}
						if r%2 == 1 {
							order = []*h3LoadClient{plain, fp}
						}
						for _, c := range order {
							rps, n, cpu, err := c.run(roundLen, mode.workers)
							if err != nil {
								b.Fatal(err)
							}
							if c == fp {
								fpRPS, fpN, fpCPU = fpRPS+rps, fpN+n, fpCPU+cpu
							} else {
								plainRPS, plainN, plainCPU = plainRPS+rps, plainN+n, plainCPU+cpu
							}
						}
					}
				}
				n := float64(rounds * b.N)
				b.ReportMetric(fpRPS/n, "fpserver_req/s")
				b.ReportMetric(plainRPS/n, "plain_req/s")
				b.ReportMetric(fpRPS/plainRPS, "ratio")
				// CPU per request of the whole process (clients included, so
				// it understates the servers' difference) depends less on
				// the machine's other jobs than throughput does.
				fpPer, plainPer := fpCPU/time.Duration(max(fpN, 1)), plainCPU/time.Duration(max(plainN, 1))
				b.ReportMetric(float64(fpPer.Nanoseconds()), "fpserver_cpu_ns/req")
				b.ReportMetric(float64(plainPer.Nanoseconds()), "plain_cpu_ns/req")
				b.ReportMetric(float64(plainPer)/float64(max(fpPer, 1)), "cpu_ratio")
				b.Logf("%s %s: fpserver %.0f req/s, plain quic-go %.0f req/s, ratio %.3f; CPU per request %v vs %v, ratio %.3f (response %d bytes)",
					path, mode.name, fpRPS/n, plainRPS/n, fpRPS/plainRPS, fpPer, plainPer, float64(plainPer)/float64(max(fpPer, 1)), sizes[target])
			})
		}
	}
}
