package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// stdMITM is the reference: a MITM forward proxy built only from the
// standard library (crypto/tls with a leaf from the same CA, net/http
// serving h2 and http/1.1 inside the tunnel, net/http's Transport
// upstream). No emulation, no policy.
type stdMITM struct {
	leaves *LeafCache
	up     *http.Transport
	inner  *http.Server
	innerL *chanListener
	outer  *http.Server
}

func startStdMITM(b *testing.B, ca *CA, roots *x509.CertPool) string {
	b.Helper()
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	s := &stdMITM{
		leaves: NewLeafCache(ca, 0, nil),
		up:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 64},
		innerL: newChanListener(),
	}
	s.inner = &http.Server{Protocols: &protos, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := r.Clone(r.Context())
		out.RequestURI = ""
		out.URL.Scheme = "https"
		out.URL.Host = r.Host
		stripHopByHop(out.Header)
		resp, err := s.up.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		stripHopByHop(w.Header())
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})}
	s.outer = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusBadRequest)
			return
		}
		host, _, _ := net.SplitHostPort(r.Host)
		nc, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		_, _ = nc.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
		tc := tls.Server(nc, &tls.Config{NextProtos: []string{"h2", "http/1.1"}, GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if h.ServerName != "" {
				return s.leaves.Get(h.ServerName)
			}
			return s.leaves.Get(host)
		}})
		if err := tc.Handshake(); err != nil {
			nc.Close()
			return
		}
		if !s.innerL.push(tc) {
			tc.Close()
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = s.inner.Serve(s.innerL) }()
	go func() { _ = s.outer.Serve(ln) }()
	b.Cleanup(func() {
		s.outer.Close()
		s.inner.Close()
		s.innerL.Close()
		s.up.CloseIdleConnections()
	})
	return ln.Addr().String()
}

// benchClient is the same client for every path: HTTP/2 to the proxy
// (inside the tunnel) or to the origin, keep-alive.
func benchClient(proxyAddr string, roots *x509.CertPool) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 64}
	if proxyAddr != "" {
		tr.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: proxyAddr})
	}
	return &http.Client{Transport: tr}
}

func benchGet(b *testing.B, c *http.Client, u string) {
	resp, err := c.Get(u)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("status %d", resp.StatusCode)
	}
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*p)]
}

// BenchmarkMITM compares emuproxy in MITM mode with a plain
// standard-library MITM proxy, same client (HTTP/2 inside the tunnel,
// keep-alive), same local HTTPS origin, same run. Metrics:
// emu-req/s and std-req/s with 8 concurrent workers and their ratio
// (emu/std; the target is >= 0.8); the latency added over a direct
// request, sequentially, p50 and p99, for both proxies.
func BenchmarkMITM(b *testing.B) {
	env := startProxy(b, Options{AllowPrivate: true})
	origin := startOrigin(b, env.originCA, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	env.p.ports = append(env.p.ports, portOf(b, origin.Listener.Addr().String()))
	originRoots := x509.NewCertPool()
	originRoots.AddCert(env.originCA.Cert)
	stdAddr := startStdMITM(b, env.ca, originRoots)
	mitmRoots := x509.NewCertPool()
	mitmRoots.AddCert(env.ca.Cert)

	u := origin.URL + "/"
	direct := benchClient("", originRoots)
	emu := benchClient(env.addr, mitmRoots)
	std := benchClient(stdAddr, mitmRoots)
	clients := []*http.Client{direct, emu, std}
	for _, c := range clients {
		benchGet(b, c, u) // connect and warm up outside the timing
		defer c.CloseIdleConnections()
	}
	n := max(b.N, 50)
	lat := make([][]time.Duration, len(clients))
	throughput := make([]float64, len(clients))
	b.ResetTimer()
	// Sequential latency, the paths interleaved so drift hits all alike.
	for range n {
		for i, c := range clients {
			start := time.Now()
			benchGet(b, c, u)
			lat[i] = append(lat[i], time.Since(start))
		}
	}
	// Throughput with 8 concurrent workers.
	const workers = 8
	for i, c := range clients {
		var wg sync.WaitGroup
		start := time.Now()
		for w := range workers {
			wg.Go(func() {
				for k := w; k < n; k += workers {
					benchGet(b, c, u)
				}
			})
		}
		wg.Wait()
		throughput[i] = float64(n) / time.Since(start).Seconds()
	}
	b.StopTimer()
	// The emuproxy path really went through the emulating transport over h2.
	if v := testutil.ToFloat64(env.p.m.requests.WithLabelValues("chromium-156-linux", "h2", "200")); v < float64(2*n) {
		b.Fatalf("emuproxy forwarded %v requests over h2, want >= %d", v, 2*n)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(throughput[1], "emu-req/s")
	b.ReportMetric(throughput[2], "std-req/s")
	b.ReportMetric(throughput[1]/throughput[2], "ratio")
	b.ReportMetric(ms(percentile(lat[1], 0.5)-percentile(lat[0], 0.5)), "emu-added-p50-ms")
	b.ReportMetric(ms(percentile(lat[1], 0.99)-percentile(lat[0], 0.99)), "emu-added-p99-ms")
	b.ReportMetric(ms(percentile(lat[2], 0.5)-percentile(lat[0], 0.5)), "std-added-p50-ms")
	b.ReportMetric(ms(percentile(lat[2], 0.99)-percentile(lat[0], 0.99)), "std-added-p99-ms")
	b.ReportMetric(0, "ns/op")
}
