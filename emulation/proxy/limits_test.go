package proxy

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// funcResolver answers lookups with a function.
type funcResolver func(host string) ([]netip.Addr, error)

func (f funcResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	return f(host)
}

// rawProxyRequest writes one request head to the proxy and returns the
// response.
func rawProxyRequest(t *testing.T, proxyAddr, head string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// TestPortPolicy: one port policy for CONNECT and absolute-form requests
// (http and https): a port outside Options.Ports gets 403 and the origin
// is never reached; the default is 443 and 80; the deprecated
// ConnectPorts still sets it.
func TestPortPolicy(t *testing.T) {
	var otherHits atomic.Int32
	allowed := httptest.NewServer(&headerRecorder{})
	defer allowed.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { otherHits.Add(1) }))
	defer other.Close()
	allowedPort := portOf(t, allowed.Listener.Addr().String())
	otherAddr := other.Listener.Addr().String()
	otherPort := portOf(t, otherAddr)

	env := startProxy(t, Options{AllowPrivate: true, Ports: []int{allowedPort}})
	cl := env.client(nil)
	resp, err := cl.Get(allowed.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	if readAll(t, resp); resp.StatusCode != 200 {
		t.Errorf("allowed port: %d", resp.StatusCode)
	}
	resp, err = cl.Get(other.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("emuproxy: destination not allowed: port %d (emuproxy serve -ports, alias -connect-ports, allows it)\n", otherPort)
	if body := readAll(t, resp); resp.StatusCode != http.StatusForbidden || body != want {
		t.Errorf("absolute-form http to port %d: %d %q, want 403 %q", otherPort, resp.StatusCode, body, want)
	}
	resp2, body := rawProxyRequest(t, env.addr, fmt.Sprintf("GET https://%s/ HTTP/1.1\r\nHost: %s\r\n\r\n", otherAddr, otherAddr))
	if resp2.StatusCode != http.StatusForbidden || body != want {
		t.Errorf("absolute-form https to port %d: %d %q", otherPort, resp2.StatusCode, body)
	}
	for _, target := range []string{otherAddr, "127.0.0.1:22", "127.0.0.1:443"} {
		_, _, r := connect(t, env.addr, target, "")
		if r.StatusCode != http.StatusForbidden {
			t.Errorf("CONNECT %s: %d, want 403", target, r.StatusCode)
		}
	}
	if n := otherHits.Load(); n != 0 {
		t.Errorf("the origin on a refused port was reached %d times", n)
	}
	if v := testutil.ToFloat64(env.p.m.refused.WithLabelValues("port")); v != 5 {
		t.Errorf("port refusals metric %v, want 5", v)
	}

	// Defaults: 443 and 80 only, for absolute-form requests too.
	def := startProxy(t, Options{AllowPrivate: true})
	if fmt.Sprint(def.p.ports) != "[443 80]" {
		t.Errorf("default ports %v", def.p.ports)
	}
	resp, err = def.client(nil).Get(other.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	if readAll(t, resp); resp.StatusCode != http.StatusForbidden || otherHits.Load() != 0 {
		t.Errorf("default policy, absolute-form to port %d: %d", otherPort, resp.StatusCode)
	}

	// The former option name sets the same policy.
	old := startProxy(t, Options{AllowPrivate: true, ConnectPorts: []int{otherPort}})
	resp, err = old.client(nil).Get(other.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	if readAll(t, resp); resp.StatusCode != 200 || otherHits.Load() != 1 {
		t.Errorf("ConnectPorts, absolute-form: %d", resp.StatusCode)
	}
}

// TestErrorBodiesHideAddresses: a refused name, a name that does not
// resolve, a failing resolver and a refused connection get a fixed
// reason; no resolved address, resolver address or dialled address
// reaches the client. The detail is logged at debug level.
func TestErrorBodiesHideAddresses(t *testing.T) {
	const resolverAddr = "10.53.0.1:53"
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := portOf(t, closed.Addr().String())
	closed.Close()
	res := funcResolver(func(host string) ([]netip.Addr, error) {
		switch host {
		case "internal.test":
			return []netip.Addr{netip.MustParseAddr("10.1.2.3")}, nil
		case "nxdomain.test":
			return nil, &net.DNSError{Err: "no such host", Name: host, Server: resolverAddr, IsNotFound: true}
		case "servfail.test":
			return nil, &net.DNSError{Err: "server misbehaving", Name: host, Server: resolverAddr}
		case "closed.test":
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}
		return nil, &net.DNSError{Err: "unexpected", Name: host, Server: resolverAddr}
	})
	logs := &recordHandler{}
	strict := startProxy(t, Options{Resolver: res, Logger: slog.New(logs)})
	open := startProxy(t, Options{Resolver: res, AllowPrivate: true, Ports: []int{closedPort}})
	secrets := []string{"10.1.2.3", "10.53.0.1", "127.0.0.1", ":53"}
	for _, tc := range []struct {
		env      *testEnv
		url      string
		code     int
		wantBody string
	}{
		{strict, "http://internal.test/", 403, "destination not allowed: a loopback, private, link-local or other special-purpose address (emuproxy serve -allow-private allows it)"},
		{strict, "http://nxdomain.test/", 502, "upstream host not found"},
		{strict, "http://servfail.test/", 502, "upstream name resolution failed"},
		{open, fmt.Sprintf("http://closed.test:%d/", closedPort), 502, "upstream refused the connection"},
	} {
		resp, err := tc.env.client(nil).Get(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		if resp.StatusCode != tc.code || body != "emuproxy: "+tc.wantBody+"\n" {
			t.Errorf("%s: %d %q, want %d %q", tc.url, resp.StatusCode, body, tc.code, tc.wantBody)
		}
		for _, s := range secrets {
			if strings.Contains(body, s) {
				t.Errorf("%s: body %q reveals %s", tc.url, body, s)
			}
		}
	}
	for _, target := range []string{"internal.test:443", "nxdomain.test:443", "servfail.test:443"} {
		_, _, resp := connect(t, strict.addr, target, "")
		b, _ := io.ReadAll(resp.Body)
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Errorf("CONNECT %s: body %q reveals %s", target, b, s)
			}
		}
		if resp.StatusCode == 200 {
			t.Errorf("CONNECT %s: 200", target)
		}
	}
	var found bool
	for _, rec := range logs.find("proxy: destination refused") {
		if rec["level"] == "DEBUG" && strings.Contains(rec["err"], "10.1.2.3") {
			found = true
		}
	}
	if !found {
		t.Errorf("no debug log naming the refused address: %v", logs.find("proxy: destination refused"))
	}
}

// TestPoolsPerDestination: refused destinations leave no upstream pool
// (the policy runs before the transport), unreachable ones neither (the
// pool of a failed dial is dropped), and reachable ones stay under the
// cap.
func TestPoolsPerDestination(t *testing.T) {
	origin := httptest.NewServer(&headerRecorder{})
	defer origin.Close()
	originPort := portOf(t, origin.Listener.Addr().String())
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := portOf(t, closed.Addr().String())
	closed.Close()
	res := funcResolver(func(host string) ([]netip.Addr, error) {
		if strings.HasSuffix(host, ".internal.test") {
			return []netip.Addr{netip.MustParseAddr("10.9.8.7")}, nil
		}
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	})

	strict := startProxy(t, Options{Resolver: res})
	cl := strict.client(nil)
	for i := range 300 {
		u := fmt.Sprintf("http://h%d.internal.test/", i)
		if i%2 == 1 {
			u = fmt.Sprintf("http://10.%d.%d.1/", i/256, i%256)
		}
		resp, err := cl.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		if readAll(t, resp); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s: %d", u, resp.StatusCode)
		}
	}
	if n := strict.p.tr.Pools(); n != 0 {
		t.Errorf("%d upstream pools after 300 refused destinations, want 0", n)
	}
	if v := testutil.ToFloat64(strict.p.m.pools); v != 0 {
		t.Errorf("emuproxy_upstream_pools %v", v)
	}

	open := startProxy(t, Options{Resolver: res, AllowPrivate: true, MaxUpstreamPools: 4, Ports: []int{originPort, closedPort}})
	cl = open.client(nil)
	for i := range 50 {
		resp, err := cl.Get(fmt.Sprintf("http://down%d.test:%d/", i, closedPort))
		if err != nil {
			t.Fatal(err)
		}
		if readAll(t, resp); resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("unreachable destination: %d", resp.StatusCode)
		}
	}
	if n := open.p.tr.Pools(); n != 0 {
		t.Errorf("%d upstream pools after 50 unreachable destinations, want 0", n)
	}
	for i := range 40 {
		resp, err := cl.Get(fmt.Sprintf("http://up%d.test:%d/", i, originPort))
		if err != nil {
			t.Fatal(err)
		}
		if readAll(t, resp); resp.StatusCode != 200 {
			t.Fatalf("reachable destination: %d", resp.StatusCode)
		}
		if n := open.p.tr.Pools(); n > 4 {
			t.Fatalf("%d upstream pools, cap 4", n)
		}
	}
	if v := testutil.ToFloat64(open.p.m.pools); v < 1 || v > 4 {
		t.Errorf("emuproxy_upstream_pools %v, want 1..4", v)
	}
}

// gzipN gzips b n times.
func gzipN(t *testing.T, b []byte, n int) []byte {
	t.Helper()
	for range n {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(b)
		_ = zw.Close()
		b = buf.Bytes()
	}
	return b
}

// TestDecodeLimitsThroughProxy: a response with more than five stacked
// codings the client did not ask for gets 502 with the reason; a
// decompression bomb is cut short and the client sees a failed body,
// never a complete-looking one.
func TestDecodeLimitsThroughProxy(t *testing.T) {
	five := gzipN(t, []byte("hello"), 5)
	six := gzipN(t, []byte("hello"), 6)
	bomb := gzipN(t, make([]byte, 10<<20), 1)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		switch r.URL.Path {
		case "/five":
			w.Header().Set("Content-Encoding", "gzip, gzip, gzip, gzip, gzip")
			body = five
		case "/six":
			w.Header().Set("Content-Encoding", "gzip, gzip, gzip, gzip, gzip, gzip")
			body = six
		case "/bomb":
			w.Header().Set("Content-Encoding", "gzip")
			body = bomb
		}
		_, _ = w.Write(body)
	}))
	defer origin.Close()
	env := startProxy(t, Options{AllowPrivate: true})
	env.allowPort(t, origin.URL)
	cl := env.client(nil)
	get := func(path string) (*http.Response, []byte, error) {
		req, _ := http.NewRequest("GET", origin.URL+path, nil)
		req.Header.Set("Accept-Encoding", "identity")
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, b, err
	}
	if resp, b, err := get("/five"); err != nil || resp.StatusCode != 200 || string(b) != "hello" {
		t.Errorf("5 codings: %d %q %v", resp.StatusCode, b, err)
	}
	resp, b, err := get("/six")
	if err != nil || resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(b), "6 content codings, at most 5") {
		t.Errorf("6 codings: %d %q %v, want 502 with the reason", resp.StatusCode, b, err)
	}
	start := time.Now()
	resp, b, err = get("/bomb")
	if err == nil || len(b) >= 10<<20 {
		t.Errorf("bomb: status %d, %d bytes, err %v; want a failed body well under 10 MiB", resp.StatusCode, len(b), err)
	}
	t.Logf("bomb: %d bytes in %v, then %v", len(b), time.Since(start), err)
	// The proxy keeps serving.
	if resp, b, err := get("/five"); err != nil || resp.StatusCode != 200 || string(b) != "hello" {
		t.Errorf("after the bomb: %d %q %v", resp.StatusCode, b, err)
	}
}
