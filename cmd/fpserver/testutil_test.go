package main

// Helpers of the end-to-end tests: an fpserver started in-process on
// loopback ports chosen by the kernel, HTTP clients that trust its
// self-signed certificate, polling of the store through the JSON API, the
// Prometheus metrics of the debug listener, and lookup of external tools.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/fingerprint"
	"github.com/guanaco-fp/guanaco/internal/testenv"
	"github.com/guanaco-fp/guanaco/store"
)

// Bounds used by the helpers.
const (
	startTimeout    = 20 * time.Second // until every listener is bound
	stopTimeout     = 30 * time.Second // until Main.Run returns after cancel
	captureTimeout  = 10 * time.Second // until the writer stored a capture
	requestTimeout  = 10 * time.Second // one HTTP exchange
	e2eShutdownFlag = "3s"             // -shutdown-timeout of test servers
)

// Listener names, as Main.OnListening reports them.
const (
	lnHTTPS   = "https"
	lnHTTPSH1 = "https-h1"
	lnHTTP    = "http"
	lnDebug   = "debug"
	lnHTTP3   = "http3"
)

// e2eServer is an fpserver started in-process by startServer. It is stopped
// (context cancelled, Run awaited, exit status checked) when the test ends.
type e2eServer struct {
	dataDir string
	addrs   map[string]net.Addr
	certPEM []byte
	roots   *x509.CertPool
	logs    *testenv.SyncBuffer
}

// startServer runs `fpserver serve` in-process with a fresh data directory
// and every listener on 127.0.0.1:0, plus the extra flags (later flags win,
// so extra may also override a listener address, or disable one with "").
// It returns once every enabled listener accepts. The server's debug log is
// printed when the test fails.
func startServer(t *testing.T, extra ...string) *e2eServer {
	t.Helper()
	dir := t.TempDir()
	args := []string{"serve",
		"-data", dir,
		"-https", "127.0.0.1:0",
		"-https-h1", "127.0.0.1:0",
		"-http", "127.0.0.1:0",
		"-debug", "127.0.0.1:0",
		"-shutdown-timeout", e2eShutdownFlag,
		"-log-level", "debug",
	}
	args = append(args, extra...)
	want := enabledListeners(args)

	s := &e2eServer{dataDir: dir, addrs: map[string]net.Addr{}, logs: &testenv.SyncBuffer{}}
	type bound struct {
		name string
		addr net.Addr
	}
	boundc := make(chan bound, 8)
	m := &Main{
		Stdin:       strings.NewReader(""),
		Stdout:      s.logs,
		Stderr:      s.logs,
		Getenv:      func(string) (string, bool) { return "", false }, // ignore FPSERVER_* of the environment
		OnListening: func(name string, addr net.Addr) { boundc <- bound{name, addr} },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- m.Run(ctx, args) }()

	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != exitOK {
				t.Errorf("fpserver exited with status %d after shutdown", code)
			}
		case <-time.After(stopTimeout):
			t.Errorf("fpserver did not stop within %v of its context being cancelled", stopTimeout)
		}
		if t.Failed() {
			t.Logf("fpserver log:\n%s", tail(s.logs.String(), 200))
		}
	})

	deadline := time.After(startTimeout)
	for len(s.addrs) < len(want) {
		select {
		case b := <-boundc:
			s.addrs[b.name] = b.addr
		case code := <-done:
			done <- code // let the cleanup see it
			t.Fatalf("fpserver exited with status %d before listening:\n%s", code, s.logs.String())
		case <-deadline:
			t.Fatalf("fpserver listeners not up after %v (have %v, want %v):\n%s", startTimeout, s.addrs, want, s.logs.String())
		}
	}
	// The clients trust the server's certificate: the generated
	// self-signed one, or the chain given with -cert.
	certFile := filepath.Join(dir, "tls", "cert.pem")
	if f := flagValue(args, "-cert"); f != "" {
		certFile = f
	}
	if _, ok := s.addrs[lnHTTPS]; ok {
		pemBytes, err := os.ReadFile(certFile)
		if err != nil {
			t.Fatalf("reading the server certificate: %v", err)
		}
		s.certPEM = pemBytes
		s.roots = x509.NewCertPool()
		if !s.roots.AppendCertsFromPEM(pemBytes) {
			t.Fatalf("no certificate in %s", certFile)
		}
	}
	return s
}

// flagValue returns the last value given to flag in args, or "".
func flagValue(args []string, flag string) string {
	v := ""
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag {
			v = args[i+1]
		}
	}
	return v
}

// enabledListeners returns the names of the listeners args enable: a flag
// set to "" disables its listener; the last occurrence wins.
func enabledListeners(args []string) []string {
	var out []string
	for _, n := range []string{lnHTTPS, lnHTTPSH1, lnHTTP, lnDebug} {
		if flagValue(args, "-"+n) != "" {
			out = append(out, n)
		}
	}
	// -http3 defaults to auto: the -https address, when there is one and
	// -proxy-protocol is off.
	h3 := "auto"
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-http3" {
			h3 = args[i+1]
		}
	}
	if h3 != "" && (h3 != "auto" || flagValue(args, "-https") != "" && !slices.Contains(args, "-proxy-protocol")) {
		out = append(out, lnHTTP3)
	}
	return out
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d lines before)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// addr returns the host:port of listener name; the test fails when it is
// not enabled.
func (s *e2eServer) addr(t testing.TB, name string) string {
	t.Helper()
	a, ok := s.addrs[name]
	if !ok {
		t.Fatalf("listener %q is not enabled", name)
	}
	return a.String()
}

// port returns the port of listener name.
func (s *e2eServer) port(t testing.TB, name string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(s.addr(t, name))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// url returns the URL of path on listener name (https for the TLS
// listeners, http otherwise).
func (s *e2eServer) url(t testing.TB, name, path string) string {
	t.Helper()
	scheme := "https"
	if name == lnHTTP || name == lnDebug {
		scheme = "http"
	}
	return scheme + "://" + s.addr(t, name) + path
}

// tlsConfig is a client configuration that verifies the server against
// its self-signed certificate (no InsecureSkipVerify) and offers protos.
func (s *e2eServer) tlsConfig(protos ...string) *tls.Config {
	return &tls.Config{RootCAs: s.roots, ServerName: "127.0.0.1", NextProtos: protos}
}

// client returns an HTTP client that trusts the server certificate. h2
// selects whether HTTP/2 may be negotiated over TLS.
func (s *e2eServer) client(h2 bool) *http.Client {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetHTTP2(h2)
	tr := &http.Transport{TLSClientConfig: s.tlsConfig(), Protocols: &p}
	return &http.Client{Transport: tr, Timeout: requestTimeout}
}

// reportJSON is the part of fpserver's report JSON (web/report.go) the
// tests read, plus the echo fields.
type reportJSON struct {
	CaptureID  string  `json:"capture_id"`
	CaptureURL string  `json:"capture_url"`
	Stored     string  `json:"stored"`
	Initiator  string  `json:"initiator"`
	ClientIP   string  `json:"client_ip"`
	Host       string  `json:"host"`
	Method     string  `json:"method"`
	Path       string  `json:"path"`
	UserAgent  string  `json:"user_agent"`
	Complete   bool    `json:"complete"`
	TLS        *tlsRep `json:"tls"`
	HTTP       struct {
		Version     string      `json:"version"`
		Headers     [][2]string `json:"headers"`
		HeaderOrder string      `json:"header_order"`
		H2          *h2Rep      `json:"h2"`
		H3          *h3Rep      `json:"h3"`
	} `json:"http"`
	QUIC         *quicRep          `json:"quic"`
	Fingerprints map[string]string `json:"fingerprints"`

	// Echo API only.
	Query        [][2]string `json:"query"`
	Body         string      `json:"body"`
	BodyEncoding string      `json:"body_encoding"`
	BodyLength   int64       `json:"body_length"`
}

type tlsRep struct {
	Raw        []byte   `json:"raw"`
	SNI        string   `json:"sni"`
	ALPN       []string `json:"alpn"`
	Negotiated struct {
		Version     string `json:"version"`
		CipherSuite string `json:"cipher_suite"`
		ALPN        string `json:"alpn"`
	} `json:"negotiated"`
}

type h2Rep struct {
	StreamID        uint32                   `json:"stream_id"`
	Settings        []fingerprint.H2Setting  `json:"settings"`
	WindowUpdate    uint32                   `json:"window_update"`
	PriorityFrames  []fingerprint.H2Priority `json:"priority_frames"`
	HeadersPriority *fingerprint.H2Priority  `json:"headers_priority"`
	PseudoOrder     []string                 `json:"pseudo_order"`
	Akamai          string                   `json:"akamai"`
	AkamaiHash      string                   `json:"akamai_hash"`
}

type h3Rep struct {
	StreamID        uint64                         `json:"stream_id"`
	Settings        []fingerprint.H3Setting        `json:"settings"`
	SettingsSeen    bool                           `json:"settings_seen"`
	UniStreams      []uint64                       `json:"uni_streams"`
	PriorityUpdates []fingerprint.H3PriorityUpdate `json:"priority_updates"`
	Priority        string                         `json:"priority"`
	PseudoOrder     []string                       `json:"pseudo_order"`
}

type quicRep struct {
	Version             string                  `json:"version"`
	NegotiatedVersion   string                  `json:"negotiated_version"`
	InitialPackets      int                     `json:"initial_packets"`
	TransportParameters []fingerprint.QUICParam `json:"transport_parameters"`
	QUICTP              string                  `json:"quic_tp"`
	QUICTPHash          string                  `json:"quic_tp_hash"`
}

// headerNames returns the header names of r in order.
func (r *reportJSON) headerNames() []string {
	out := make([]string, len(r.HTTP.Headers))
	for i, h := range r.HTTP.Headers {
		out[i] = h[0]
	}
	return out
}

// header returns the first value of the header named name (exact case), and
// whether it was present.
func (r *reportJSON) header(name string) (string, bool) {
	for _, h := range r.HTTP.Headers {
		if h[0] == name {
			return h[1], true
		}
	}
	return "", false
}

// decodeReport decodes a report JSON document.
func decodeReport(b []byte) (*reportJSON, error) {
	var r reportJSON
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decoding report: %w: %.300s", err, b)
	}
	return &r, nil
}

// get performs a GET with c and returns the status and body.
func get(t testing.TB, c *http.Client, url string) (int, []byte) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp.StatusCode, b
}

// getReport GETs url, expects 200 and decodes the report.
func getReport(t testing.TB, c *http.Client, url string) (*reportJSON, *http.Response) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d: %.500s", url, resp.StatusCode, b)
	}
	r, err := decodeReport(b)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return r, resp
}

// plainClient is a client for the plain HTTP listener.
func plainClient() *http.Client { return &http.Client{Timeout: requestTimeout} }

// waitFor polls cond every 50 ms (backing off to 250 ms) until it reports
// true, failing the test with what and the last error after timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	delay := 50 * time.Millisecond
	var lastErr error
	for {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s (last error: %v)", timeout, what, lastErr)
		}
		time.Sleep(delay)
		delay = min(delay*2, 250*time.Millisecond)
	}
}

// waitCapture polls GET /api/captures/{id} on the plain listener until the
// writer has stored the capture, and returns it.
func (s *e2eServer) waitCapture(t testing.TB, id string) *reportJSON {
	t.Helper()
	return waitCaptureVia(t, plainClient(), s.url(t, lnHTTP, "/api/captures/"+id), id)
}

// waitCaptureVia is waitCapture reading url with c (e.g. through a proxy).
func waitCaptureVia(t testing.TB, c *http.Client, url, id string) *reportJSON {
	t.Helper()
	if id == "" {
		t.Fatal("waitCapture: empty capture id")
	}
	var rep *reportJSON
	waitFor(t, captureTimeout, "capture "+id+" to be stored", func() (bool, error) {
		resp, err := c.Get(url)
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return false, err
		}
		switch resp.StatusCode {
		case http.StatusOK:
			rep, err = decodeReport(b)
			// "queued": served from the server's memory, not stored yet.
			return err == nil && rep.Stored != "queued", err
		case http.StatusNotFound:
			return false, fmt.Errorf("404: %s", bytes.TrimSpace(b))
		}
		return false, fmt.Errorf("unexpected status %d: %.300s", resp.StatusCode, b)
	})
	return rep
}

// checkStoredTLS checks that the stored capture's raw ClientHello parses
// and that the fingerprints computed from it by package fingerprint equal
// both the stored and the live values. It returns the computed ones.
func checkStoredTLS(t testing.TB, live, stored *reportJSON) fingerprint.TLSFingerprints {
	t.Helper()
	if stored.TLS == nil || len(stored.TLS.Raw) == 0 {
		t.Fatalf("capture %s: no stored ClientHello", stored.CaptureID)
	}
	parse := fingerprint.ParseClientHello
	if stored.HTTP.Version == "3" {
		parse = fingerprint.ParseClientHelloQUIC // the CRYPTO stream's bare message
	}
	ch, err := parse(stored.TLS.Raw)
	if err != nil {
		t.Fatalf("capture %s: stored ClientHello does not parse: %v", stored.CaptureID, err)
	}
	fp := ch.Fingerprints()
	for _, c := range []struct{ name, want string }{
		{"ja4", fp.JA4}, {"ja4_r", fp.JA4R}, {"ja4_o", fp.JA4O}, {"ja3_hash", fp.JA3Hash},
		{"ja3n_hash", fp.JA3NHash}, {"peetprint_hash", fp.PeetPrintHash},
	} {
		if got := stored.Fingerprints[c.name]; got != c.want {
			t.Errorf("capture %s: stored %s %q, computed from the stored hello %q", stored.CaptureID, c.name, got, c.want)
		}
		if live != nil {
			if got := live.Fingerprints[c.name]; got != c.want {
				t.Errorf("capture %s: live %s %q, computed from the stored hello %q", stored.CaptureID, c.name, got, c.want)
			}
		}
	}
	if live != nil && live.TLS != nil && !bytes.Equal(live.TLS.Raw, stored.TLS.Raw) {
		t.Errorf("capture %s: stored raw ClientHello differs from the live one", stored.CaptureID)
	}
	return fp
}

// checkStoredHTTP checks that the stored header list, order and HTTP
// version equal the live ones.
func checkStoredHTTP(t testing.TB, live, stored *reportJSON) {
	t.Helper()
	if stored.HTTP.Version != live.HTTP.Version {
		t.Errorf("capture %s: stored HTTP version %q, live %q", stored.CaptureID, stored.HTTP.Version, live.HTTP.Version)
	}
	if !equalStoredPairs(stored.HTTP.Headers, live.HTTP.Headers) {
		t.Errorf("capture %s: stored headers %q, live %q", stored.CaptureID, stored.HTTP.Headers, live.HTTP.Headers)
	}
	for _, k := range []string{"header_order", "header_order_hash", "akamai", "akamai_hash"} {
		if stored.Fingerprints[k] != live.Fingerprints[k] {
			t.Errorf("capture %s: stored %s %q, live %q", stored.CaptureID, k, stored.Fingerprints[k], live.Fingerprints[k])
		}
	}
	if stored.Initiator != live.Initiator || stored.Method != live.Method || stored.Path != live.Path || stored.UserAgent != live.UserAgent {
		t.Errorf("capture %s: stored %s %s %s %q, live %s %s %s %q", stored.CaptureID,
			stored.Initiator, stored.Method, stored.Path, stored.UserAgent, live.Initiator, live.Method, live.Path, live.UserAgent)
	}
}

// equalStoredPairs reports whether the stored header list is the live one
// as fpserver stores it: same names in the same order and casing, same values
// except credentials (Cookie, Authorization, Proxy-Authorization), which are
// stored as "[redacted len=N hmac=…]" with N the live value's length.
func equalStoredPairs(stored, live [][2]string) bool {
	if len(stored) != len(live) {
		return false
	}
	for i := range stored {
		if stored[i][0] != live[i][0] {
			return false
		}
		switch strings.ToLower(live[i][0]) {
		case "cookie", "authorization", "proxy-authorization":
			if !strings.HasPrefix(stored[i][1], "[redacted len="+strconv.Itoa(len(live[i][1]))+" hmac=") {
				return false
			}
		default:
			if stored[i][1] != live[i][1] {
				return false
			}
		}
	}
	return true
}

func equalPairs(a, b [][2]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// metricValue returns the value of the sample name{labels} on the debug
// listener's /metrics (0 when absent). Every label given must match; the
// sample may carry more labels.
func (s *e2eServer) metricValue(t testing.TB, name string, labels map[string]string) float64 {
	t.Helper()
	code, body := get(t, plainClient(), s.url(t, lnDebug, "/metrics"))
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d", code)
	}
	var sum float64
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		var lbls string
		switch {
		case strings.HasPrefix(rest, "{"):
			end := strings.Index(rest, "}")
			if end < 0 {
				continue
			}
			lbls, rest = rest[1:end], rest[end+1:]
		case strings.HasPrefix(rest, " "):
		default:
			continue // a longer metric name
		}
		if !labelsMatch(lbls, labels) {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// labelsMatch reports whether the Prometheus label text (a="x",b="y")
// carries every pair of want.
func labelsMatch(text string, want map[string]string) bool {
	have := map[string]string{}
	for _, kv := range strings.Split(text, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		}
		have[strings.TrimSpace(k)] = v
	}
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// checkHealthy checks /healthz on the plain listener and that a normal
// HTTPS request on the main listener still succeeds.
func (s *e2eServer) checkHealthy(t testing.TB) {
	t.Helper()
	code, body := get(t, plainClient(), s.url(t, lnHTTP, "/healthz"))
	if code != http.StatusOK || !strings.Contains(string(body), `"ok"`) {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	if _, ok := s.addrs[lnHTTPS]; ok {
		c := s.client(true)
		defer c.CloseIdleConnections()
		rep, _ := getReport(t, c, s.url(t, lnHTTPS, "/api/fingerprint"))
		if !rep.Complete || rep.HTTP.Version != "2" {
			t.Fatalf("request after the incident: complete=%v version=%q", rep.Complete, rep.HTTP.Version)
		}
	}
}

// freePort returns a TCP port on host that was free a moment ago. Prefer
// listening on :0 and passing the listener; use this only for programs
// that must be told a port.
func freePort(t testing.TB, host string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitDial waits until addr accepts TCP connections.
func waitDial(t testing.TB, addr string, timeout time.Duration, exited <-chan struct{}) {
	t.Helper()
	waitFor(t, timeout, addr+" to accept connections", func() (bool, error) {
		select {
		case <-exited:
			t.Fatalf("the process that should listen on %s exited", addr)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false, err
		}
		c.Close()
		return true, nil
	})
}

// startProcess starts cmd in a process group of its own, captures its
// output, and when the test ends kills the group (cmd and whatever it
// started) and waits for cmd. The returned channel is closed when cmd exits.
func startProcess(t testing.TB, cmd *exec.Cmd) (<-chan struct{}, *testenv.SyncBuffer) {
	t.Helper()
	ownProcessGroup(cmd)
	out := &testenv.SyncBuffer{}
	if cmd.Stdout == nil {
		cmd.Stdout = out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = out
	}
	if cmd.WaitDelay == 0 {
		// Children that inherited the output pipe must not hold Wait.
		cmd.WaitDelay = 5 * time.Second
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = killProcessTree(cmd) // also when cmd exited and left children
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			t.Errorf("%s (pid %d) did not exit after SIGKILL", cmd.Path, cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(cmd.Path), tail(out.String(), 60))
		}
	})
	return exited, out
}

// openStore opens the server's SQLite database a second time, read side
// by side with the running server (WAL mode), for lookups the JSON API
// does not offer; it is closed when the test ends.
func (s *e2eServer) openStore(t testing.TB) store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := store.Open(ctx, filepath.Join(s.dataDir, "fpserver.db"))
	if err != nil {
		t.Fatalf("opening the server's store: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("closing the store: %v", err)
		}
	})
	return st
}
