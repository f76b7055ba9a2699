package capture_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/guanaco-fp/guanaco/capture"
)

// h3Cost is one side's per-request cost: CPU of the whole process (client
// and server) and heap allocations, per request.
type h3Cost struct {
	cpu     time.Duration
	allocs  float64
	packets float64 // QUIC packets both ways
}

// measureH3KeepAlive sends n GET requests over workers kept-alive quic-go
// connections to addr and returns the per-request process CPU and
// allocations.
func measureH3KeepAlive(b *testing.B, addr string, n, workers int) h3Cost {
	b.Helper()
	trs := make([]*http3.Transport, workers)
	conns := make([]*quic.Conn, workers)
	for i := range trs {
		trs[i] = &http3.Transport{TLSClientConfig: h3ClientTLS(), Dial: func(ctx context.Context, addr string, tlsCfg *tls.Config, cfg *quic.Config) (*quic.Conn, error) {
			qc, err := quic.DialAddr(ctx, addr, tlsCfg, cfg)
			conns[i] = qc
			return qc, err
		}}
		defer trs[i].Close()
	}
	packets := func() (n uint64) {
		for _, qc := range conns {
			if qc != nil {
				st := qc.ConnectionStats()
				n += st.PacketsSent + st.PacketsReceived
			}
		}
		return n
	}
	get := func(tr *http3.Transport) {
		req, _ := http.NewRequest("GET", "https://"+addr+"/api/clean", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			b.Error(err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Errorf("status %s", resp.Status)
		}
	}
	for _, tr := range trs { // handshakes are not counted
		get(tr)
	}
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	cpu0, pk0 := processCPU(), packets()
	var wg sync.WaitGroup
	for _, tr := range trs {
		wg.Go(func() {
			for range n / workers {
				get(tr)
			}
		})
	}
	wg.Wait()
	cpu1, pk1 := processCPU(), packets()
	runtime.ReadMemStats(&ms1)
	total := float64(n / workers * workers)
	return h3Cost{cpu: time.Duration(float64(cpu1-cpu0) / total), allocs: float64(ms1.Mallocs-ms0.Mallocs) / total, packets: float64(pk1-pk0) / total}
}

// startH3Bench serves a fixed 64-byte answer over HTTP/3 with either a
// plain quic-go http3.Server or a capture.H3Server (the request's capture
// claimed by capture.Middleware).
func startH3Bench(b *testing.B, withCapture bool) string {
	b.Helper()
	body := make([]byte, 64)
	answer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{testCert(b)}}
	if withCapture {
		srv := capture.NewH3Server(capture.H3Config{TLS: tlsCfg, Handler: capture.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if rc, ok := capture.FromRequest(r); !ok || !rc.Matched || rc.H3 == nil {
				http.Error(w, "no capture", http.StatusInternalServerError)
				return
			}
			answer.ServeHTTP(w, r)
		}))})
		// The server's goroutines carry a profile label: pprof -tagfocus
		// server=capture (or plain) shows one server's samples.
		pprof.Do(context.Background(), pprof.Labels("server", "capture"), func(context.Context) {
			go func() { _ = srv.Serve(udp) }()
		})
		b.Cleanup(func() { _ = srv.Close(); udp.Close() })
	} else {
		srv := &http3.Server{TLSConfig: tlsCfg, Handler: answer}
		pprof.Do(context.Background(), pprof.Labels("server", "plain"), func(context.Context) {
			go func() { _ = srv.Serve(udp) }()
		})
		b.Cleanup(func() { _ = srv.Close(); udp.Close() })
	}
	return udp.LocalAddr().String()
}

// BenchmarkH3KeepAliveCost measures what the HTTP/3 capture layer costs
// per kept-alive request: process CPU time (getrusage, client and server
// in this process, so the difference between the two sides is the
// capture's) and heap allocations per request, for capture.H3Server and a
// plain quic-go http3.Server answering the same body in the same run,
// alternating. CPU time and allocation counts do not depend on the other
// jobs of a shared machine as wall-clock throughput does. The servers'
// goroutines are labelled (server=capture, server=plain), so a CPU profile
// (-cpuprofile; pprof -tags) splits the servers' CPU from the clients'.
//
//	go test -run '^$' -bench H3KeepAliveCost -benchtime 1x ./capture
func BenchmarkH3KeepAliveCost(b *testing.B) {
	benchH3Cost(b, 4000, 8, measureH3KeepAlive)
}

// BenchmarkH3NewConnCost is BenchmarkH3KeepAliveCost with a new QUIC
// connection (handshake, Initial decryption, hello capture) per request.
//
//	go test -run '^$' -bench H3NewConnCost -benchtime 1x ./capture
func BenchmarkH3NewConnCost(b *testing.B) {
	benchH3Cost(b, 400, 4, measureH3NewConn)
}

// measureH3NewConn is measureH3KeepAlive with a new connection for every
// request (packets are not counted).
func measureH3NewConn(b *testing.B, addr string, n, workers int) h3Cost {
	b.Helper()
	get := func() {
		tr := &http3.Transport{TLSClientConfig: h3ClientTLS()}
		defer tr.Close()
		req, _ := http.NewRequest("GET", "https://"+addr+"/api/clean", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			b.Error(err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Errorf("status %s", resp.Status)
		}
	}
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	cpu0 := processCPU()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range n / workers {
				get()
			}
		})
	}
	wg.Wait()
	cpu1 := processCPU()
	runtime.ReadMemStats(&ms1)
	total := float64(n / workers * workers)
	return h3Cost{cpu: time.Duration(float64(cpu1-cpu0) / total), allocs: float64(ms1.Mallocs-ms0.Mallocs) / total}
}

// benchH3Cost runs measure against both servers, alternating, and reports
// the per-request costs. GUANACO_H3_COST_ONLY=plain or capture runs one
// side only and GUANACO_H3_COST_N sets the requests of a single round, for
// instruction counts of the whole process (valgrind --tool=callgrind with
// GODEBUG=asyncpreemptoff=1).
func benchH3Cost(b *testing.B, n, workers int, measure func(*testing.B, string, int, int) h3Cost) {
	only := os.Getenv("GUANACO_H3_COST_ONLY")
	var plainAddr, capAddr string
	if only != "capture" {
		plainAddr = startH3Bench(b, false)
	}
	if only != "plain" {
		capAddr = startH3Bench(b, true)
	}
	rounds := 3
	if s := os.Getenv("GUANACO_H3_COST_N"); s != "" {
		n, _ = strconv.Atoi(s)
		rounds = 1
	}
	var plain, capt h3Cost
	for i := 0; i < b.N*rounds; i++ {
		var p, c h3Cost
		if plainAddr != "" {
			p = measure(b, plainAddr, n, workers)
		}
		if capAddr != "" {
			c = measure(b, capAddr, n, workers)
		}
		plain.cpu += p.cpu
		plain.allocs += p.allocs
		plain.packets += p.packets
		capt.cpu += c.cpu
		capt.allocs += c.allocs
		capt.packets += c.packets
	}
	k := float64(b.N * rounds)
	b.ReportMetric(float64(plain.cpu)/k, "plain_cpu_ns/req")
	b.ReportMetric(float64(capt.cpu)/k, "capture_cpu_ns/req")
	b.ReportMetric(float64(capt.cpu-plain.cpu)/k, "extra_cpu_ns/req")
	b.ReportMetric(plain.allocs/k, "plain_allocs/req")
	b.ReportMetric(capt.allocs/k, "capture_allocs/req")
	if plain.packets > 0 {
		b.ReportMetric(plain.packets/k, "plain_packets/req")
		b.ReportMetric(capt.packets/k, "capture_packets/req")
	}
	b.ReportMetric(float64(plain.cpu)/float64(capt.cpu), "cpu_ratio")
}
