package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/guanaco-fp/guanaco/emulation"
)

// headerRecorder is an origin handler that records the request headers
// and answers with the User-Agent.
type headerRecorder struct {
	mu   sync.Mutex
	last http.Header
	host string
}

func (h *headerRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.last = r.Header.Clone()
	h.host = r.Host
	h.mu.Unlock()
	w.Header().Set("Connection", "X-Hop")
	w.Header().Set("X-Hop", "secret")
	w.Header().Set("X-Kept", "1")
	_, _ = io.WriteString(w, r.UserAgent())
}

func (h *headerRecorder) headers() http.Header {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestForwardHTTPAndStripHopByHop: an absolute-form http:// request is
// re-originated with the profile's user agent; Proxy-Authorization, the
// Connection-listed and other hop-by-hop headers, and X-Guanaco-Profile
// never reach the origin, nor a hop-by-hop response header the client.
func TestForwardHTTPAndStripHopByHop(t *testing.T) {
	logs := &recordHandler{}
	env := startProxy(t, Options{AllowPrivate: true, Credentials: []Credential{{"alice", "pw"}}, Logger: slog.New(logs)})
	rec := &headerRecorder{}
	origin := httptest.NewServer(rec)
	defer origin.Close()
	env.allowPort(t, origin.URL)
	req, _ := http.NewRequest("GET", origin.URL+"/x?y=1", nil)
	req.Header.Set("Connection", "X-Private")
	req.Header.Set("X-Private", "1")
	req.Header.Set("Keep-Alive", "timeout=5")
	req.Header.Set("X-Guanaco-Profile", "firefox-153-linux")
	req.Header.Set("X-Caller", "kept")
	resp, err := env.client(url.UserPassword("alice", "pw")).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	ff, _ := emulation.Lookup("firefox-153-linux")
	if resp.StatusCode != 200 || body != ff.UserAgent {
		t.Fatalf("status %d body %q, want the Firefox user agent", resp.StatusCode, body)
	}
	got := rec.headers()
	for _, name := range []string{"Proxy-Authorization", "X-Private", "Keep-Alive", "X-Guanaco-Profile", "Proxy-Connection"} {
		if got.Get(name) != "" {
			t.Errorf("origin received %s: %q", name, got.Get(name))
		}
	}
	if got.Get("X-Caller") != "kept" {
		t.Errorf("caller header lost: %v", got)
	}
	if resp.Header.Get("X-Hop") != "" || resp.Header.Get("X-Kept") != "1" {
		t.Errorf("response headers: %v", resp.Header)
	}
	if v := testutil.ToFloat64(env.p.m.requests.WithLabelValues("firefox-153-linux", "http/1.1", "200")); v != 1 {
		t.Errorf("requests metric %v, want 1", v)
	}

	// At debug level each request logs its profile and how it was chosen.
	host := strings.TrimPrefix(origin.URL, "http://")
	sel := logs.find("proxy: profile selected")
	if len(sel) != 1 || sel[0]["host"] != host || sel[0]["profile"] != "firefox-153-linux" ||
		sel[0]["selected_by"] != "header" || sel[0]["initiator"] == "" || sel[0]["method"] != "GET" {
		t.Errorf("selection log = %v, want one record for %s by header", sel, host)
	}
	req, _ = http.NewRequest("GET", origin.URL+"/ua", nil)
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:150.0) Gecko/20100101 Firefox/150.0")
	resp, err = env.client(url.UserPassword("alice+profile=chromium-156-linux", "pw")).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	req, _ = http.NewRequest("GET", origin.URL+"/ua", nil)
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:150.0) Gecko/20100101 Firefox/150.0")
	resp, err = env.client(url.UserPassword("alice", "pw")).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	sel = logs.find("proxy: profile selected")
	if len(sel) != 3 || sel[1]["selected_by"] != "label" || sel[1]["profile"] != "chromium-156-linux" ||
		sel[2]["selected_by"] != "user-agent" || sel[2]["profile"] != "firefox-153-linux" {
		t.Errorf("selection logs = %v", sel)
	}
}

// recordHandler is a slog.Handler that keeps every record's message and
// attributes (as text), at every level.
type recordHandler struct {
	mu   sync.Mutex
	recs []map[string]string
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	m := map[string]string{"msg": r.Message, "level": r.Level.String()}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	h.mu.Lock()
	h.recs = append(h.recs, m)
	h.mu.Unlock()
	return nil
}

func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

// find returns the records with message msg, in order.
func (h *recordHandler) find(msg string) []map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]string
	for _, m := range h.recs {
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// TestAuth: no or wrong credentials get 407 with Proxy-Authenticate, on
// absolute-form requests and on CONNECT.
func TestAuth(t *testing.T) {
	env := startProxy(t, Options{AllowPrivate: true, Credentials: []Credential{{"alice", "pw"}, {"bob", "pw2"}}})
	origin := httptest.NewServer(&headerRecorder{})
	defer origin.Close()
	env.allowPort(t, origin.URL)
	for _, tc := range []struct {
		user *url.Userinfo
		want int
	}{
		{nil, 407},
		{url.UserPassword("alice", "wrong"), 407},
		{url.UserPassword("alice", "pw2"), 407},
		{url.UserPassword("carol", "pw"), 407},
		{url.UserPassword("alice", "pw"), 200},
		{url.UserPassword("bob+profile=firefox-153-linux", "pw2"), 200},
	} {
		resp, err := env.client(tc.user).Get(origin.URL)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		if resp.StatusCode != tc.want {
			t.Errorf("%v: status %d, want %d", tc.user, resp.StatusCode, tc.want)
		}
		if tc.want == 407 && !strings.HasPrefix(resp.Header.Get("Proxy-Authenticate"), "Basic realm=") {
			t.Errorf("407 without Proxy-Authenticate: %v", resp.Header)
		}
	}
	// CONNECT without credentials.
	c, err := net.Dial("tcp", env.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 407 || resp.Header.Get("Proxy-Authenticate") == "" {
		t.Errorf("CONNECT without credentials: %d %v", resp.StatusCode, resp.Header)
	}
}

// connect sends CONNECT target on a new connection and returns it with
// the proxy's response.
func connect(t *testing.T, addr, target, auth string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	extra := ""
	if auth != "" {
		extra = "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(auth)) + "\r\n"
	}
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", target, target, extra)
	br := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Time{})
	return c, br, resp
}

// TestEgressPolicy: without AllowPrivate, loopback, metadata, names
// resolving to private addresses and IPv6 forms embedding a private IPv4
// address get 403 "destination not allowed" (absolute-form and CONNECT),
// a disallowed port gets 403, and with AllowPrivate loopback works.
func TestEgressPolicy(t *testing.T) {
	res := staticResolver{
		"internal.test": {netip.MustParseAddr("10.1.2.3")},
		"mixed.test":    {netip.MustParseAddr("192.168.1.1"), netip.MustParseAddr("fd00::1")},
		"cgnat.test":    {netip.MustParseAddr("100.64.0.1")},
		"mapped.test":   {netip.MustParseAddr("::ffff:127.0.0.1")},
		"nat64.test":    {netip.MustParseAddr("64:ff9b::a00:1")},
		"nat64l.test":   {netip.MustParseAddr("64:ff9b:1::808:808")},
		"compat.test":   {netip.MustParseAddr("::7f00:1")},
		"6to4.test":     {netip.MustParseAddr("2002:a9fe:a9fe::1")},
		"teredo.test":   {netip.MustParseAddr("2001:0:808:808::80ff:fffe")},
	}
	origin := httptest.NewServer(&headerRecorder{})
	defer origin.Close()
	env := startProxy(t, Options{Resolver: res, Ports: []int{443, 80, 1, portOf(t, origin.Listener.Addr().String())}})
	cl := env.client(nil)
	urls := []string{
		origin.URL + "/",
		"http://169.254.169.254/latest/meta-data/",
		"http://[fd00:ec2::254]/latest/meta-data/",
		"http://[::ffff:169.254.169.254]/",
		"http://[64:ff9b::a9fe:a9fe]/",
		"http://internal.test/",
		"http://mixed.test/",
		"http://cgnat.test/",
		"http://mapped.test/",
		"http://nat64.test/",
		"http://nat64l.test/",
		"http://compat.test/",
		"http://6to4.test/",
		"http://teredo.test/",
		"http://[::1]:1/",
		"http://0.0.0.0:1/",
	}
	for _, u := range urls {
		resp, err := cl.Get(u)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusForbidden || body != "emuproxy: destination not allowed: a loopback, private, link-local or other special-purpose address (emuproxy serve -allow-private allows it)\n" {
			t.Errorf("%s: %d %q, want 403", u, resp.StatusCode, body)
		}
	}
	targets := []string{"127.0.0.1:443", "169.254.169.254:443", "internal.test:443", "localhost:443", "nat64.test:443", "6to4.test:443", "teredo.test:443", "[64:ff9b::7f00:1]:443"}
	for _, target := range targets {
		_, _, resp := connect(t, env.addr, target, "")
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("CONNECT %s: %d, want 403", target, resp.StatusCode)
		}
	}
	_, _, resp := connect(t, env.addr, "example.com:22", "")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "port 22") {
		t.Errorf("CONNECT to port 22: %d %q", resp.StatusCode, body)
	}
	if v := testutil.ToFloat64(env.p.m.refused.WithLabelValues("egress")); v != float64(len(urls)+len(targets)) {
		t.Errorf("egress refusals metric %v, want %d", v, len(urls)+len(targets))
	}

	// The same origin through a proxy that allows private destinations.
	open := startProxy(t, Options{AllowPrivate: true})
	open.allowPort(t, origin.URL)
	r2, err := open.client(nil).Get(origin.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	if readAll(t, r2); r2.StatusCode != 200 {
		t.Errorf("AllowPrivate: status %d", r2.StatusCode)
	}
}

// TestPrivateAddr checks the address classification.
func TestPrivateAddr(t *testing.T) {
	for _, s := range []string{"127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.0.1", "169.254.169.254", "100.64.1.1",
		"0.0.0.0", "::1", "::", "fe80::1", "fd00:ec2::254", "fc00::1", "::ffff:10.0.0.1", "224.0.0.1", "255.255.255.255"} {
		if !PrivateAddr(netip.MustParseAddr(s)) {
			t.Errorf("%s allowed", s)
		}
	}
	for _, s := range []string{"1.1.1.1", "93.184.216.34", "2606:4700::1111", "100.128.0.1", "172.32.0.1"} {
		if PrivateAddr(netip.MustParseAddr(s)) {
			t.Errorf("%s refused", s)
		}
	}
}

// TestMITMHTTP2AndHTTP1: inside a CONNECT tunnel the client speaks h2 or
// http/1.1 (by ALPN) to a leaf issued by the proxy CA; requests reach the
// origin with the selected profile.
func TestMITMHTTP2AndHTTP1(t *testing.T) {
	env := startProxy(t, Options{AllowPrivate: true})
	rec := &headerRecorder{}
	origin := startOrigin(t, env.originCA, rec)
	env.p.ports = append(env.p.ports, portOf(t, origin.Listener.Addr().String()))
	ch, _ := emulation.Lookup("chromium-156-linux")
	for _, h2 := range []bool{true, false} {
		cl := env.client(nil)
		if !h2 {
			tr := cl.Transport.(*http.Transport)
			tr.ForceAttemptHTTP2 = false
			tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
		}
		resp, err := cl.Get(origin.URL + "/path")
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		if want := map[bool]int{true: 2, false: 1}[h2]; resp.ProtoMajor != want {
			t.Errorf("client spoke HTTP/%d to the proxy, want %d", resp.ProtoMajor, want)
		}
		if resp.StatusCode != 200 || body != ch.UserAgent {
			t.Errorf("status %d body %q", resp.StatusCode, body)
		}
		if resp.TLS == nil || resp.TLS.PeerCertificates[0].Issuer.CommonName != "test MITM CA" {
			t.Errorf("leaf not issued by the MITM CA")
		}
		if rec.headers().Get("Sec-Fetch-Mode") != "navigate" {
			t.Errorf("origin headers lack the profile's fetch metadata: %v", rec.headers())
		}
	}
	if v := testutil.ToFloat64(env.p.m.leafCache.WithLabelValues("miss")); v != 1 {
		t.Errorf("leaf misses %v, want 1 (one host)", v)
	}
	if v := testutil.ToFloat64(env.p.m.leafCache.WithLabelValues("hit")); v < 1 {
		t.Errorf("leaf hits %v", v)
	}
}

// TestConnectPlainHTTP: a tunnel that does not start with TLS is served
// as plain HTTP and re-originated over http with the profile.
func TestConnectPlainHTTP(t *testing.T) {
	env := startProxy(t, Options{AllowPrivate: true})
	rec := &headerRecorder{}
	origin := httptest.NewServer(rec)
	defer origin.Close()
	target := origin.Listener.Addr().String()
	env.p.ports = append(env.p.ports, portOf(t, target))
	c, br, resp := connect(t, env.addr, target, "")
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	fmt.Fprintf(c, "GET /plain HTTP/1.1\r\nHost: %s\r\nUser-Agent: curl/8\r\n\r\n", target)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	ch, _ := emulation.Lookup("chromium-156-linux")
	if resp.StatusCode != 200 || body != ch.UserAgent {
		t.Errorf("status %d body %q", resp.StatusCode, body)
	}
	if rec.headers().Get("Sec-Fetch-Mode") != "" {
		t.Errorf("fetch metadata sent over plain http")
	}
}

// TestSilentConnect: a client that opens a tunnel and sends nothing is
// closed after the handshake timeout; the proxy keeps serving.
func TestSilentConnect(t *testing.T) {
	env := startProxy(t, Options{AllowPrivate: true, HandshakeTimeout: 300 * time.Millisecond})
	origin := httptest.NewServer(&headerRecorder{})
	defer origin.Close()
	env.allowPort(t, origin.URL)
	env.p.ports = append(env.p.ports, 9)
	c, br, resp := connect(t, env.addr, "127.0.0.1:9", "")
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	start := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("silent tunnel: read %v, want EOF", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("silent tunnel closed after %v", d)
	}
	if n := env.p.OpenTunnels(); n != 0 {
		t.Errorf("%d tunnels still tracked", n)
	}
	// A client that starts TLS but stalls is closed too, and counted.
	c2, _, _ := connect(t, env.addr, "127.0.0.1:9", "")
	_, _ = c2.Write([]byte{0x16, 0x03, 0x01})
	_ = c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(c2); err != nil {
		t.Errorf("stalled handshake: %v", err)
	}
	// The handshake's context closes the connection before the failure
	// is counted: wait for the count.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		v := testutil.ToFloat64(env.p.m.handshakes.WithLabelValues("client"))
		if v == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("client handshake failures %v, want 1", v)
		}
	}
	resp, err := env.client(nil).Get(origin.URL)
	if err != nil {
		t.Fatal(err)
	}
	if readAll(t, resp); resp.StatusCode != 200 {
		t.Errorf("proxy stopped serving: %d", resp.StatusCode)
	}
}

// TestUpstreamInvalidCertificate: an origin whose certificate the proxy
// cannot verify gets 502 with the reason, through CONNECT and
// absolute-form https.
func TestUpstreamInvalidCertificate(t *testing.T) {
	env := startProxy(t, Options{AllowPrivate: true})
	other, err := NewCA("untrusted CA")
	if err != nil {
		t.Fatal(err)
	}
	origin := startOrigin(t, other, &headerRecorder{})
	env.p.ports = append(env.p.ports, portOf(t, origin.Listener.Addr().String()))
	resp, err := env.client(nil).Get(origin.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "upstream certificate invalid") || !strings.Contains(body, "unknown authority") {
		t.Errorf("status %d body %q", resp.StatusCode, body)
	}
	if v := testutil.ToFloat64(env.p.m.handshakes.WithLabelValues("upstream")); v != 1 {
		t.Errorf("upstream handshake failures %v", v)
	}
}

// TestUnknownProfileAndWebSocket: an unknown profile name is a 400 naming
// it; a WebSocket upgrade the origin does not accept gets the origin's
// ordinary response (no longer a 501); a non-WebSocket Upgrade (h2c) is
// forwarded without its Upgrade header.
func TestUnknownProfileAndWebSocket(t *testing.T) {
	env := startProxy(t, Options{AllowPrivate: true})
	origin := httptest.NewServer(&headerRecorder{})
	defer origin.Close()
	env.allowPort(t, origin.URL)
	req, _ := http.NewRequest("GET", origin.URL, nil)
	req.Header.Set("X-Guanaco-Profile", "netscape-4")
	resp, err := env.client(nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 400 || !strings.Contains(body, "netscape-4") {
		t.Errorf("unknown profile: %d %q", resp.StatusCode, body)
	}
	req, _ = http.NewRequest("GET", origin.URL, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	resp, err = env.client(nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := emulation.Lookup("chromium-156-linux")
	if body := readAll(t, resp); resp.StatusCode != http.StatusOK || body != ch.UserAgent {
		t.Errorf("websocket to a plain origin: %d %q, want its 200 with the profile's user agent", resp.StatusCode, body)
	}
	rec := &headerRecorder{}
	h2cOrigin := httptest.NewServer(rec)
	defer h2cOrigin.Close()
	env.allowPort(t, h2cOrigin.URL)
	req, _ = http.NewRequest("GET", h2cOrigin.URL, nil)
	req.Header.Set("Connection", "Upgrade, HTTP2-Settings")
	req.Header.Set("Upgrade", "h2c")
	req.Header.Set("HTTP2-Settings", "AAMAAABkAAQCAAAAAAIAAAAA")
	resp, err = env.client(nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if readAll(t, resp); resp.StatusCode != http.StatusOK {
		t.Errorf("h2c upgrade: %d", resp.StatusCode)
	}
	for _, name := range []string{"Upgrade", "Http2-Settings"} {
		if v := rec.headers().Get(name); v != "" {
			t.Errorf("origin received %s: %q", name, v)
		}
	}
	// Origin-form requests to the proxy itself: /healthz, else 400.
	resp, err = http.Get("http://" + env.addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 200 || body != "ok\n" {
		t.Errorf("healthz: %d %q", resp.StatusCode, body)
	}
	resp, err = http.Get("http://" + env.addr + "/other")
	if err != nil {
		t.Fatal(err)
	}
	if readAll(t, resp); resp.StatusCode != 400 {
		t.Errorf("origin-form: %d", resp.StatusCode)
	}
}

// TestSelectProfile checks the selection order.
func TestSelectProfile(t *testing.T) {
	ps := catalogue(t)
	const ffUA = "Mozilla/5.0 (X11; Linux x86_64; rv:150.0) Gecko/20100101 Firefox/150.0"
	for _, tc := range []struct {
		header, label, ua, want string
		noMatch                 bool
	}{
		{"firefox-153-linux", "chromium-156-linux", "", "firefox-153-linux", false},
		{"", "firefox-153-linux", "", "firefox-153-linux", false},
		{"", "", ffUA, "firefox-153-linux", false},
		{"", "", ffUA, "chromium-156-linux", true},
		{"", "chromium-156-linux", ffUA, "chromium-156-linux", false},
		{"", "", "curl/8.0", "chromium-156-linux", false},
		{"", "", "", "chromium-156-linux", false},
	} {
		r := httptest.NewRequest("GET", "http://example.com/", nil)
		if tc.header != "" {
			r.Header.Set(emulation.ProfileHeader, tc.header)
		}
		if tc.ua != "" {
			r.Header.Set("User-Agent", tc.ua)
		}
		p, err := SelectProfile(ps, r, ProxyUser{Profile: tc.label}, "chromium-156-linux", !tc.noMatch)
		if err != nil || p.Name != tc.want {
			t.Errorf("%+v: got %v, %v", tc, p, err)
		}
	}
	r := httptest.NewRequest("GET", "http://example.com/", nil)
	if _, err := SelectProfile(ps, r, ProxyUser{Profile: "nope"}, "chromium-156-linux", true); err == nil {
		t.Error("unknown label accepted")
	}

	// Freshness: a stale profile loses the User-Agent match to a fresh one
	// of the same browser, but is still served when asked for by name.
	firefox, chromium := profileNamed(t, ps, "firefox-153-linux"), profileNamed(t, ps, "chromium-156-linux")
	stale, fresh := *firefox, *firefox
	stale.Name, stale.Source.Stale = "firefox-153-linux-old", true
	fresh.Name = "firefox-153-linux-zz"
	set := []*emulation.Profile{chromium, &stale, &fresh}
	r = httptest.NewRequest("GET", "http://example.com/", nil)
	r.Header.Set("User-Agent", ffUA)
	if p, by, err := ChooseProfile(set, r, ProxyUser{}, "chromium-156-linux", true); err != nil || p.Name != fresh.Name || by != ByUserAgent {
		t.Errorf("User-Agent match with a stale and a fresh profile: %v %s %v", p, by, err)
	}
	r.Header.Set(emulation.ProfileHeader, stale.Name)
	if p, by, err := ChooseProfile(set, r, ProxyUser{}, "chromium-156-linux", true); err != nil || p != &stale || by != ByHeader {
		t.Errorf("stale profile by header: %v %s %v", p, by, err)
	}
	r.Header.Del(emulation.ProfileHeader)
	if p, by, err := ChooseProfile(set, r, ProxyUser{Profile: stale.Name}, "chromium-156-linux", true); err != nil || p != &stale || by != ByLabel {
		t.Errorf("stale profile by label: %v %s %v", p, by, err)
	}
	if p, by, err := ChooseProfile(set, r, ProxyUser{}, stale.Name, false); err != nil || p != &stale || by != ByDefault {
		t.Errorf("stale default profile: %v %s %v", p, by, err)
	}
}

// TestParseProxyUser checks credentials and labels.
func TestParseProxyUser(t *testing.T) {
	r := httptest.NewRequest("GET", "http://x/", nil)
	r.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("alice+profile=firefox-153-linux+other=1:p:w")))
	u := ParseProxyUser(r)
	if !u.Present || u.User != "alice" || u.Password != "p:w" || u.Profile != "firefox-153-linux" {
		t.Errorf("%+v", u)
	}
	a := newAuthenticator([]Credential{{"alice", "p:w"}})
	if !a.check(u) || a.check(ProxyUser{User: "alice", Password: "p:x", Present: true}) || a.check(ProxyUser{}) {
		t.Error("authenticator")
	}
	for _, bad := range []string{"Bearer abc", "Basic !!!", "Basic " + base64.StdEncoding.EncodeToString([]byte("nocolon"))} {
		r.Header.Set("Proxy-Authorization", bad)
		if ParseProxyUser(r).Present {
			t.Errorf("%q parsed", bad)
		}
	}
	for _, bad := range []string{"a", "a:", ":b", "a+b:c"} {
		if _, err := ParseCredential(bad); err == nil {
			t.Errorf("ParseCredential(%q) accepted", bad)
		}
	}
}

// TestShutdownClosesTunnels: Shutdown waits for a tunnel with a request
// in flight until its context ends, then closes it.
func TestShutdownClosesTunnels(t *testing.T) {
	ca, _ := NewCA("grace CA")
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{}, 1)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer origin.Close()
	ps := catalogue(t)
	p, err := New(Options{Profiles: func() []*emulation.Profile { return ps }, DefaultProfile: "chromium-156-linux", CA: ca, AllowPrivate: true,
		ConnectPorts: []int{portOf(t, origin.Listener.Addr().String())}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.Serve(ln) }()
	c, br, resp := connect(t, ln.Addr().String(), origin.Listener.Addr().String(), "")
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT %d", resp.StatusCode)
	}
	fmt.Fprintf(c, "GET /slow HTTP/1.1\r\nHost: %s\r\n\r\n", origin.Listener.Addr())
	<-started
	if p.OpenTunnels() != 1 {
		t.Fatalf("%d tunnels open", p.OpenTunnels())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := p.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Errorf("Shutdown: %v, want the deadline", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 5*time.Second {
		t.Errorf("Shutdown took %v, want the grace period", d)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err == nil {
		t.Error("tunnel still open after Shutdown")
	}
	if p.OpenTunnels() != 0 {
		t.Errorf("%d tunnels tracked after Shutdown", p.OpenTunnels())
	}
}

// TestCAFiles: the CA directory is 0700, the key 0600; the CA loads
// again; a key readable by others and a mismatched pair are refused.
func TestCAFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	ca, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, CAKeyFile): 0o600, filepath.Join(dir, CACertFile): 0o644} {
		st, err := os.Stat(path)
		if err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %v", path, st.Mode().Perm(), err, want)
		}
	}
	again, err := LoadOrCreateCA(dir)
	if err != nil || !again.Cert.Equal(ca.Cert) {
		t.Fatalf("reload: %v", err)
	}
	if ca.Cert.PublicKeyAlgorithm != x509.ECDSA || !ca.Cert.IsCA {
		t.Errorf("CA certificate: %v IsCA %v", ca.Cert.PublicKeyAlgorithm, ca.Cert.IsCA)
	}
	if err := os.Chmod(filepath.Join(dir, CAKeyFile), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateCA(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("group-readable key: %v", err)
	}
	if err := os.Chmod(filepath.Join(dir, CAKeyFile), 0o600); err != nil {
		t.Fatal(err)
	}
	other, _ := NewCA("other")
	if err := os.WriteFile(filepath.Join(dir, CACertFile), other.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateCA(dir); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("mismatched pair: %v", err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateCA(dir); err == nil {
		t.Error("world-writable directory accepted")
	}
}

// TestLeafCache: a leaf is ECDSA, backdated, verifies against the CA for
// its host; concurrent Gets issue it once; the LRU is bounded.
func TestLeafCache(t *testing.T) {
	ca, err := NewCA("leaf CA")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	misses := 0
	c := NewLeafCache(ca, 2, func(hit bool) {
		if !hit {
			mu.Lock()
			misses++
			mu.Unlock()
		}
	})
	var wg sync.WaitGroup
	certs := make([]*tls.Certificate, 32)
	for i := range certs {
		wg.Go(func() {
			var err error
			certs[i], err = c.Get("Example.COM.")
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if misses != 1 {
		t.Errorf("%d issuances under concurrency, want 1", misses)
	}
	for _, x := range certs {
		if x != certs[0] {
			t.Fatal("different certificates for one host")
		}
	}
	leaf := certs[0].Leaf
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: pool}); err != nil {
		t.Errorf("leaf does not verify: %v", err)
	}
	if leaf.PublicKeyAlgorithm != x509.ECDSA || time.Since(leaf.NotBefore) < 23*time.Hour {
		t.Errorf("leaf %v not before %v", leaf.PublicKeyAlgorithm, leaf.NotBefore)
	}
	ipLeaf, err := c.Get("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ipLeaf.Leaf.Verify(x509.VerifyOptions{DNSName: "127.0.0.1", Roots: pool}); err != nil {
		t.Errorf("IP leaf: %v", err)
	}
	if _, err := c.Get("b.example"); err != nil {
		t.Fatal(err)
	}
	if c.Len() != 2 {
		t.Errorf("cache holds %d, want 2", c.Len())
	}
	again, _ := c.Get("example.com") // evicted: issued anew
	if again == certs[0] || misses != 4 {
		t.Errorf("eviction: same cert %v, misses %d", again == certs[0], misses)
	}
	if _, err := c.Get(""); err == nil {
		t.Error("empty host accepted")
	}
}

// FuzzParseProxyUser feeds Proxy-Authorization values to the parser and
// the authenticator.
func FuzzParseProxyUser(f *testing.F) {
	for _, s := range []string{
		"Basic " + base64.StdEncoding.EncodeToString([]byte("alice:pw")),
		"Basic " + base64.StdEncoding.EncodeToString([]byte("alice+profile=firefox-153-linux:pw")),
		"basic   " + base64.StdEncoding.EncodeToString([]byte("a+b+profile=:")),
		"Bearer x", "Basic", "",
	} {
		f.Add(s)
	}
	a := newAuthenticator([]Credential{{"alice", "pw"}})
	f.Fuzz(func(t *testing.T, v string) {
		r := &http.Request{Header: http.Header{"Proxy-Authorization": {v}}}
		u := ParseProxyUser(r)
		if !u.Present && (u.User != "" || u.Password != "" || u.Profile != "") {
			t.Fatalf("absent credentials with fields: %+v", u)
		}
		if strings.Contains(u.User, "+") {
			t.Fatalf("label left in the user name: %q", u.User)
		}
		if a.check(u) && (u.User != "alice" || u.Password != "pw") {
			t.Fatalf("accepted %+v", u)
		}
	})
}
