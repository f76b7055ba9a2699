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
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/store/pgtest"
)

// startBenchFPServer runs fpserver in-process on loopback, storing every
// request, and returns its HTTPS address and data directory.
func startBenchFPServer(b testing.TB) (addr, dataDir string) {
	b.Helper()
	return startBenchFPServerCaps(b, "-1")
}

// startBenchFPServerCaps is startBenchFPServer storing at most perConn
// captures of each connection (-max-captures-per-conn; "-1": all). With
// GUANACO_BENCH_STORE=postgres it stores into a throwaway Postgres cluster
// of its own instead of the SQLite default.
func startBenchFPServerCaps(b testing.TB, perConn string) (addr, dataDir string) {
	b.Helper()
	dataDir = b.TempDir()
	var dbArgs []string
	switch store := os.Getenv("GUANACO_BENCH_STORE"); store {
	case "", "sqlite":
	case "postgres":
		dbArgs = []string{"-db", pgtest.NewCluster(b, pgtest.Options{}).DSN("")}
	default:
		b.Fatalf("GUANACO_BENCH_STORE=%q: want sqlite or postgres", store)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan net.Addr, 4)
	m := &Main{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) (string, bool) { return "", false },
		OnListening: func(name string, a net.Addr) {
			if name == "https" {
				addrs <- a
			}
		}}
	done := make(chan int, 1)
	go func() {
		done <- m.Run(ctx, append([]string{"serve", "-data", dataDir, "-https", "127.0.0.1:0", "-https-h1", "", "-http", "", "-debug", "", "-log-level", "error",
			// No per-client cap: the benchmark's one client makes far more
			// than a visitor's requests a minute.
			"-max-captures-per-conn", perConn, "-max-captures-per-minute", "-1"}, dbArgs...))
	}()
	select {
	case a := <-addrs:
		addr = a.String()
	case code := <-done:
		b.Fatalf("fpserver exited with %d", code)
	case <-time.After(30 * time.Second):
		b.Fatal("fpserver did not start")
	}
	b.Cleanup(func() {
		cancel()
		<-done
	})
	return addr, dataDir
}

// startPlainServer runs the baseline: crypto/tls + net/http (HTTP/2 on),
// same certificate, answering each path with a body of sizes[path] bytes.
func startPlainServer(b testing.TB, certDir string, sizes map[string]int) string {
	b.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(certDir, "tls", "cert.pem"), filepath.Join(certDir, "tls", "key.pem"))
	if err != nil {
		b.Fatal(err)
	}
	bodies := map[string][]byte{}
	for path, size := range sizes {
		bodies[path] = []byte(strings.Repeat("x", size))
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(bodies[r.URL.Path])
		}),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}},
		ReadHeaderTimeout: 10 * time.Second,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	b.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// loadClient makes requests to one server: newConn opens a TLS connection
// per request (HTTP/1.1), otherwise requests share keep-alive HTTP/2
// connections.
type loadClient struct {
	client *http.Client
	url    string
}

func newLoadClient(addr, path string, newConn bool) *loadClient {
	return newLoadClientProto(addr, path, newConn, !newConn)
}

// newLoadClientProto is a load client speaking HTTP/2 (h2) or HTTP/1.1, on a
// new connection per request (newConn) or on kept-alive connections.
func newLoadClientProto(addr, path string, newConn, h2 bool) *loadClient {
	tlsCfg := &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"} //nolint:gosec // benchmark against our own self-signed server
	var protos http.Protocols
	if h2 {
		protos.SetHTTP2(true)
	} else {
		protos.SetHTTP1(true)
	}
	rt := &http.Transport{TLSClientConfig: tlsCfg, DisableKeepAlives: newConn, Protocols: &protos, MaxIdleConnsPerHost: 64}
	return &loadClient{client: &http.Client{Transport: rt, Timeout: 30 * time.Second}, url: "https://" + addr + path}
}

func (c *loadClient) get() (int, error) {
	resp, err := c.client.Get(c.url)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return int(n), fmt.Errorf("status %s", resp.Status)
	}
	return int(n), err
}

// run drives c with workers goroutines for d and returns requests/second
// and per-request latencies.
func (c *loadClient) run(d time.Duration, workers int) (float64, []time.Duration, error) {
	var count atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if _, err := c.get(); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				local = append(local, time.Since(t0))
				count.Add(1)
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return float64(count.Load()) / time.Since(start).Seconds(), lat, firstErr
}

func percentile(lat []time.Duration, p float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat[int(float64(len(lat)-1)*p)]
}

// BenchmarkServeRatio measures fpserver against the plain crypto/tls +
// net/http baseline in the same run, alternating short rounds so both see
// the same machine load, and reports fpserver's throughput as a fraction of
// the baseline's ("ratio"). Every fpserver request is captured,
// fingerprinted and queued to the SQLite store, as in production.
//
// Four ways of connecting (a new connection per request and kept-alive
// connections, each over HTTP/1.1 and HTTP/2; targets: every ratio at least
// 0.85, new connections at least 0.92) and two endpoints: /api/clean answers
// with the fingerprints only, so its ratio is the cost of capture,
// fingerprinting and queuing; /api/fingerprint also renders the whole
// decoded handshake as JSON. The baseline answers each with a body of the
// same size.
//
// With GUANACO_BENCH_UNSTORED=1 the keep-alive cases also run a second
// fpserver that stores only the first request of each connection
// (-max-captures-per-conn 1) in the same rounds: its "unstored_ratio" is
// what fpserver costs when the store write of a kept-alive request is taken
// away and everything else (capture, fingerprinting, the answer) stays, so
// the two ratios split the cost between the store and the rest. (Off by
// default: a second server in the process adds its heap to every
// collection, so the ratios of runs with it are not comparable with runs
// without.)
//
// GUANACO_BENCH_STORE=postgres stores into throwaway Postgres clusters
// instead of SQLite files; the CPU figures are then this process's only
// (Postgres's own CPU is in its server processes), while the throughput
// ratios still pay for it on the shared cores.
//
//	go test -run '^$' -bench ServeRatio -benchtime 1x ./cmd/fpserver
func BenchmarkServeRatio(b *testing.B) {
	fpAddr, dataDir := startBenchFPServer(b)
	unstoredAddr := ""
	if os.Getenv("GUANACO_BENCH_UNSTORED") == "1" {
		unstoredAddr, _ = startBenchFPServerCaps(b, "1")
	}
	paths := []string{"/api/clean", "/api/fingerprint"}
	sizes := map[string]int{}
	for _, p := range paths {
		size, err := newLoadClient(fpAddr, p, true).get()
		if err != nil {
			b.Fatal(err)
		}
		sizes[p] = size
	}
	plainAddr := startPlainServer(b, dataDir, sizes)
	rounds, roundLen := 4, 1500*time.Millisecond
	if s := os.Getenv("GUANACO_BENCH_ROUNDS"); s != "" {
		_, _ = fmt.Sscan(s, &rounds)
	}
	for _, path := range paths {
		for _, mode := range []struct {
			name        string
			newConn, h2 bool
			workers     int
		}{
			{"new_connection_h1", true, false, 8}, {"new_connection_h2", true, true, 8},
			{"keepalive_h1", false, false, 32}, {"keepalive_h2", false, true, 32},
		} {
			b.Run(strings.TrimPrefix(path, "/api/")+"/"+mode.name, func(b *testing.B) {
				// servers[0] is fpserver, servers[1] the plain baseline, and
				// for kept-alive connections servers[2] the fpserver storing
				// one request a connection.
				servers := []*ratioServer{
					{name: "fpserver", c: newLoadClientProto(fpAddr, path, mode.newConn, mode.h2)},
					{name: "plain", c: newLoadClientProto(plainAddr, path, mode.newConn, mode.h2)},
				}
				if !mode.newConn && unstoredAddr != "" {
					servers = append(servers, &ratioServer{name: "unstored", c: newLoadClientProto(unstoredAddr, path, mode.newConn, mode.h2)})
				}
				for i := 0; i < b.N; i++ {
					for r := 0; r < rounds; r++ {
						// Rotate which server goes first to cancel drift.
						for k := range servers {
							if err := servers[(r+k)%len(servers)].round(roundLen, mode.workers); err != nil {
								b.Fatal(err)
							}
						}
					}
				}
				n := float64(rounds * b.N)
				fp, plain := servers[0], servers[1]
				b.ReportMetric(fp.rps/n, "fpserver_req/s")
				b.ReportMetric(plain.rps/n, "plain_req/s")
				b.ReportMetric(fp.rps/plain.rps, "ratio")
				b.ReportMetric(float64(percentile(fp.lat, 0.5).Microseconds()), "fpserver_p50_µs")
				b.ReportMetric(float64(percentile(plain.lat, 0.5).Microseconds()), "plain_p50_µs")
				// CPU per request is the whole process's (client, server and
				// the capture writer): less sensitive to other load on the
				// machine than throughput, and the difference between the two
				// is what fpserver adds per request.
				b.ReportMetric(fp.cpuPer(), "fpserver_cpu_µs/req")
				b.ReportMetric(plain.cpuPer(), "plain_cpu_µs/req")
				b.Logf("%s %s: fpserver %.0f req/s, plain %.0f req/s, ratio %.3f (response %d bytes); CPU per request (client included) %.1f µs vs %.1f µs",
					path, mode.name, fp.rps/n, plain.rps/n, fp.rps/plain.rps, sizes[path], fp.cpuPer(), plain.cpuPer())
				if len(servers) > 2 {
					u := servers[2]
					b.ReportMetric(u.rps/plain.rps, "unstored_ratio")
					b.ReportMetric(u.cpuPer(), "unstored_cpu_µs/req")
					b.Logf("%s %s storing one request a connection: %.0f req/s, ratio %.3f; CPU per request %.1f µs",
						path, mode.name, u.rps/n, u.rps/plain.rps, u.cpuPer())
				}
			})
		}
	}
}

// ratioServer is one server of a BenchmarkServeRatio case and what its
// rounds measured.
type ratioServer struct {
	name string
	c    *loadClient
	rps  float64 // summed over rounds
	cpu  time.Duration
	lat  []time.Duration
}

// round drives the server for d with workers and adds what it measured.
func (s *ratioServer) round(d time.Duration, workers int) error {
	cpu0 := processCPU()
	rps, lat, err := s.c.run(d, workers)
	if err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	s.cpu += processCPU() - cpu0
	s.rps += rps
	s.lat = append(s.lat, lat...)
	return nil
}

// cpuPer is the process CPU per request in µs over the rounds.
func (s *ratioServer) cpuPer() float64 {
	if len(s.lat) == 0 {
		return 0
	}
	return float64(s.cpu.Microseconds()) / float64(len(s.lat))
}
