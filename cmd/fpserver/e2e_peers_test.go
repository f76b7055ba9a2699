package main

// End-to-end tests of fpserver against real third-party peers: curl
// (HTTP/1.1 and HTTP/2), h2load (load, and an Akamai fingerprint checked
// against h2load's SETTINGS as observed by a separate listener), haproxy
// (PROXY protocol v2 in front of fpserver) and h2spec (HTTP/2
// conformance). A missing tool skips its test, or fails it under CI=true.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/guanaco-fp/guanaco/internal/testenv"
)

// runTool runs a command with a deadline and returns its combined output.
func runTool(t testing.TB, timeout time.Duration, dir string, name string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return out, fmt.Errorf("%s timed out after %v: %w", filepath.Base(name), timeout, ctx.Err())
	}
	return out, err
}

// curlVersion returns the version curl reports ("7.88.1").
func curlVersion(t testing.TB, curl string) string {
	t.Helper()
	out, err := runTool(t, 10*time.Second, "", curl, "--version")
	if err != nil {
		t.Fatalf("curl --version: %v\n%s", err, out)
	}
	f := strings.Fields(string(out))
	if len(f) < 2 || f[0] != "curl" {
		t.Fatalf("unexpected curl --version output %q", out)
	}
	return f[1]
}

// TestE2ECurl fetches /api/fingerprint with curl over HTTP/1.1 and HTTP/2
// (and HTTP/2 asked of the HTTP/1.1-only listener, and plain HTTP), with
// certificate verification against the server's own certificate, and checks
// the header order curl sends, the stored capture and its fingerprints.
//
// Observed with curl 7.88.1 (Debian 12): HTTP/1.1 sends Host, User-Agent,
// Accept; HTTP/2 sends :method, :path, :scheme, :authority, user-agent,
// accept (pseudo order m,p,s,a).
func TestE2ECurl(t *testing.T) {
	curl := testenv.RequireTool(t, "curl")
	s := startServer(t)
	ver := curlVersion(t, curl)
	ca := filepath.Join(s.dataDir, "tls", "cert.pem")

	h1 := func(addr string) [][2]string {
		return [][2]string{{"Host", addr}, {"User-Agent", "curl/" + ver}, {"Accept", "*/*"}}
	}
	cases := []struct {
		name    string
		flag    string
		lst     string
		version string
		alpn    string
		headers func(addr string) [][2]string
	}{
		{"http1.1", "--http1.1", lnHTTPS, "1.1", "http/1.1", h1},
		{"http2", "--http2", lnHTTPS, "2", "h2", func(addr string) [][2]string {
			return [][2]string{{":method", "GET"}, {":path", "/api/fingerprint"}, {":scheme", "https"},
				{":authority", addr}, {"user-agent", "curl/" + ver}, {"accept", "*/*"}}
		}},
		{"http2 on the h1-only listener", "--http2", lnHTTPSH1, "1.1", "http/1.1", h1},
		{"plain", "--http1.1", lnHTTP, "1.1", "", h1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url := s.url(t, tc.lst, "/api/fingerprint")
			// -q first: ignore any .curlrc.
			out, err := runTool(t, 30*time.Second, "", curl, "-q", "-sS", "--fail", "--max-time", "15",
				"--noproxy", "*", "--cacert", ca, tc.flag, url)
			if err != nil {
				t.Fatalf("curl %s %s: %v\n%s", tc.flag, url, err, out)
			}
			live, err := decodeReport(out)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.headers(s.addr(t, tc.lst))
			if !equalPairs(live.HTTP.Headers, want) {
				t.Errorf("headers\n got %q\nwant %q", live.HTTP.Headers, want)
			}
			if live.HTTP.Version != tc.version || live.UserAgent != "curl/"+ver {
				t.Errorf("version %q user agent %q", live.HTTP.Version, live.UserAgent)
			}
			stored := s.waitCapture(t, live.CaptureID)
			checkStoredHTTP(t, live, stored)
			if tc.lst == lnHTTP {
				return
			}
			if live.TLS == nil || live.TLS.Negotiated.ALPN != tc.alpn {
				t.Fatalf("tls %+v, want ALPN %q", live.TLS, tc.alpn)
			}
			fp := checkStoredTLS(t, live, stored)
			t.Logf("curl %s: JA4 %s, ALPN offered %q", tc.flag, fp.JA4, live.TLS.ALPN)
			if tc.version == "2" {
				ak := live.Fingerprints["akamai"]
				if !strings.HasSuffix(ak, "|m,p,s,a") || stored.HTTP.H2 == nil || stored.HTTP.H2.Akamai != ak {
					t.Errorf("akamai %q (stored %+v)", ak, stored.HTTP.H2)
				}
				t.Logf("curl HTTP/2 Akamai: %s", ak)
			}
		})
	}
}

// observedPreface is the HTTP/2 connection preface a client sent, as
// parsed by observeH2Preface.
type observedPreface struct {
	settings     []http2.Setting
	windowUpdate uint32 // connection increment before the first HEADERS
	priorities   []string
	pseudo       []string
}

// akamai formats the preface as an Akamai fingerprint, written out here
// from DESIGN §4.2 rather than with package fingerprint.
func (p observedPreface) akamai() string {
	var set []string
	for _, s := range p.settings {
		set = append(set, fmt.Sprintf("%d:%d", uint16(s.ID), s.Val))
	}
	wu := "00"
	if p.windowUpdate > 0 {
		wu = strconv.FormatUint(uint64(p.windowUpdate), 10)
	}
	prio := "0"
	if len(p.priorities) > 0 {
		prio = strings.Join(p.priorities, ",")
	}
	var letters []string
	for _, ps := range p.pseudo {
		letters = append(letters, ps[1:2])
	}
	return strings.Join(set, ";") + "|" + wu + "|" + prio + "|" + strings.Join(letters, ",")
}

// observeH2Preface listens with TLS (ALPN h2) on a loopback port, runs
// client against it, and parses the frames the first connection sends up
// to and including its first HEADERS block. The connection is then closed,
// so the client's own result is ignored.
func observeH2Preface(t *testing.T, s *e2eServer, client func(addr string)) observedPreface {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(s.dataDir, "tls", "cert.pem"), filepath.Join(s.dataDir, "tls", "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		p   observedPreface
		err error
	}
	res := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			res <- result{err: err}
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(requestTimeout))
		p, err := readPreface(c)
		res <- result{p, err}
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		client(ln.Addr().String())
	}()
	var r result
	select {
	case r = <-res:
	case <-time.After(2 * requestTimeout):
		t.Fatal("no HTTP/2 preface observed")
	}
	ln.Close()
	<-done
	if r.err != nil {
		t.Fatalf("observing the HTTP/2 preface: %v", r.err)
	}
	return r.p
}

// readPreface reads the client preface and frames up to the first complete
// header block.
func readPreface(c net.Conn) (observedPreface, error) {
	var p observedPreface
	magic := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(c, magic); err != nil || string(magic) != http2.ClientPreface {
		return p, fmt.Errorf("no client preface (%q): %v", magic, err)
	}
	fr := http2.NewFramer(io.Discard, c)
	dec := hpack.NewDecoder(4096, nil)
	sawSettings := false
	var block []byte
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return p, err
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() && !sawSettings {
				sawSettings = true
				_ = f.ForeachSetting(func(s http2.Setting) error {
					p.settings = append(p.settings, s)
					return nil
				})
			}
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				p.windowUpdate += f.Increment
			}
		case *http2.PriorityFrame:
			ex := 0
			if f.Exclusive {
				ex = 1
			}
			p.priorities = append(p.priorities, fmt.Sprintf("%d:%d:%d:%d", f.StreamID, ex, f.StreamDep, int(f.Weight)+1))
		case *http2.HeadersFrame:
			block = append(block, f.HeaderBlockFragment()...)
			if !f.HeadersEnded() {
				continue
			}
		case *http2.ContinuationFrame:
			block = append(block, f.HeaderBlockFragment()...)
			if !f.HeadersEnded() {
				continue
			}
		}
		if _, isH := f.(*http2.HeadersFrame); !isH {
			if _, isC := f.(*http2.ContinuationFrame); !isC {
				continue
			}
		}
		fields, err := dec.DecodeFull(block)
		if err != nil {
			return p, err
		}
		for _, hf := range fields {
			if strings.HasPrefix(hf.Name, ":") {
				p.pseudo = append(p.pseudo, hf.Name)
			}
		}
		return p, nil
	}
}

// h2loadSummary matches h2load's result lines.
var (
	h2loadRequests = regexp.MustCompile(`requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout`)
	h2loadStatus   = regexp.MustCompile(`status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx`)
)

// TestE2EH2load loads the HTTP/2 listener with h2load, checks every request
// succeeded with a 2xx and the server is still healthy, and that the
// stored Akamai fingerprint of h2load's requests equals the one formatted
// from h2load's preface as observed on a separate listener.
func TestE2EH2load(t *testing.T) {
	h2load := testenv.RequireTool(t, "h2load")
	s := startServer(t, "-public-captures") // the test follows recent_captures to a stored capture
	const n = 200
	flags := []string{"-c", "4", "-m", "10"}

	// h2load's preface, with the same flags (SETTINGS depend on -m).
	obs := observeH2Preface(t, s, func(addr string) {
		_, _ = runTool(t, 2*requestTimeout, "", h2load, append([]string{"-n", "1", "-c", "1", "-m", "10"}, "https://"+addr+"/api/fingerprint")...)
	})
	wantAkamai := obs.akamai()
	t.Logf("h2load preface as observed: %s", wantAkamai)
	if len(obs.settings) == 0 || len(obs.pseudo) != 4 {
		t.Fatalf("implausible h2load preface %+v", obs)
	}

	start := time.Now()
	out, err := runTool(t, 60*time.Second, "", h2load, append(append([]string{"-n", strconv.Itoa(n)}, flags...), s.url(t, lnHTTPS, "/api/fingerprint"))...)
	if err != nil {
		t.Fatalf("h2load: %v\n%s", err, out)
	}
	elapsed := time.Since(start)
	m := h2loadRequests.FindSubmatch(out)
	st := h2loadStatus.FindSubmatch(out)
	if m == nil || st == nil {
		t.Fatalf("no summary in h2load output:\n%s", out)
	}
	if string(m[1]) != strconv.Itoa(n) || string(m[4]) != strconv.Itoa(n) || string(st[1]) != strconv.Itoa(n) {
		t.Fatalf("h2load: %s; %s\n%s", m[0], st[0], out)
	}
	t.Logf("h2load: %s; %s in %v", m[0], st[0], elapsed.Round(time.Millisecond))
	s.checkHealthy(t)

	// Every h2load request is stored under the Akamai hash computed from
	// the observed preface.
	sum := md5.Sum([]byte(wantAkamai))
	hash := hex.EncodeToString(sum[:])
	var pop struct {
		Count          int64 `json:"count"`
		RecentCaptures []struct {
			ID        string `json:"id"`
			UserAgent string `json:"user_agent"`
		} `json:"recent_captures"`
	}
	popURL := s.url(t, lnHTTP, "/api/fingerprints/"+hash+"?kind=akamai_hash")
	waitFor(t, 2*captureTimeout, fmt.Sprintf("%d captures with Akamai %s", n, wantAkamai), func() (bool, error) {
		code, body := get(t, plainClient(), popURL)
		if code != http.StatusOK {
			return false, fmt.Errorf("status %d: %.200s", code, body)
		}
		if err := json.Unmarshal(body, &pop); err != nil {
			return false, err
		}
		return pop.Count == n, fmt.Errorf("count %d", pop.Count)
	})
	if len(pop.RecentCaptures) == 0 {
		t.Fatal("no recent captures listed")
	}
	stored := s.waitCapture(t, pop.RecentCaptures[0].ID)
	if !strings.HasPrefix(stored.UserAgent, "h2load") || stored.HTTP.Version != "2" {
		t.Errorf("stored capture: user agent %q, version %q", stored.UserAgent, stored.HTTP.Version)
	}
	if stored.Fingerprints["akamai"] != wantAkamai || stored.HTTP.H2 == nil || stored.HTTP.H2.Akamai != wantAkamai {
		t.Errorf("stored akamai %q, observed %q", stored.Fingerprints["akamai"], wantAkamai)
	}
	checkStoredTLS(t, nil, stored)
}

// TestE2EHAProxy puts a real haproxy (mode tcp, send-proxy-v2) in front of
// the HTTPS and plain listeners of a server that trusts 127.0.0.1 for PROXY
// headers, connects to haproxy from 127.0.0.2, and checks that the client
// address shown and stored is 127.0.0.2, not haproxy's.
func TestE2EHAProxy(t *testing.T) {
	haproxy := testenv.RequireTool(t, "haproxy")
	s := startServer(t, "-store-full-ip", "-proxy-protocol", "-trusted-proxies", "127.0.0.1/32")
	dir := t.TempDir()
	feHTTPS, feHTTP := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1")
	cfg := fmt.Sprintf(`global
    maxconn 256

defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend fe_https
    bind 127.0.0.1:%d
    default_backend be_https

backend be_https
    server s1 %s send-proxy-v2

frontend fe_http
    bind 127.0.0.1:%d
    default_backend be_http

backend be_http
    server s1 %s send-proxy-v2
`, feHTTPS, s.addr(t, lnHTTPS), feHTTP, s.addr(t, lnHTTP))
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := runTool(t, 10*time.Second, dir, haproxy, "-c", "-f", cfgPath); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	exited, _ := startProcess(t, exec.Command(haproxy, "-db", "-f", cfgPath))
	for _, p := range []int{feHTTPS, feHTTP} {
		waitDial(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), 10*time.Second, exited)
	}

	// A client bound to 127.0.0.2, so its address differs from haproxy's.
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: requestTimeout}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	tr := &http.Transport{DialContext: dialer.DialContext, TLSClientConfig: s.tlsConfig(), Protocols: &protos}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: requestTimeout}

	for _, tc := range []struct {
		url, version string
	}{
		{fmt.Sprintf("https://127.0.0.1:%d/api/fingerprint", feHTTPS), "2"},
		{fmt.Sprintf("http://127.0.0.1:%d/api/echo?via=haproxy", feHTTP), "1.1"},
	} {
		live, _ := getReport(t, c, tc.url)
		if live.ClientIP != "127.0.0.2" {
			t.Errorf("%s: client_ip %q, want 127.0.0.2 from the PROXY header", tc.url, live.ClientIP)
		}
		if live.HTTP.Version != tc.version || !live.Complete {
			t.Errorf("%s: version %q complete %v", tc.url, live.HTTP.Version, live.Complete)
		}
		// Through haproxy: a direct connection from the trusted peer is refused.
		stored := waitCaptureVia(t, c, fmt.Sprintf("http://127.0.0.1:%d/api/captures/%s", feHTTP, live.CaptureID), live.CaptureID)
		if stored.ClientIP != "127.0.0.2" {
			t.Errorf("%s: stored client_ip %q, want 127.0.0.2", tc.url, stored.ClientIP)
		}
		checkStoredHTTP(t, live, stored)
		if tc.version == "2" {
			checkStoredTLS(t, live, stored)
		}
	}

	if n := s.metricValue(t, "fpserver_handshake_failures_total", map[string]string{"reason": "proxy_protocol"}); n != 0 {
		t.Errorf("%v PROXY protocol failures through haproxy", n)
	}
	// A direct connection from the trusted address without a header is
	// refused, not recorded under the proxy's own address.
	if resp, err := s.client(true).Get(s.url(t, lnHTTPS, "/api/fingerprint")); err == nil {
		resp.Body.Close()
		t.Errorf("direct request from the trusted peer without a PROXY header: %s, want refused", resp.Status)
	}
	waitFor(t, 5*time.Second, "proxy_protocol failure", func() (bool, error) {
		n := s.metricValue(t, "fpserver_handshake_failures_total", map[string]string{"reason": "proxy_protocol"})
		return n >= 1, fmt.Errorf("%v", n)
	})
}

// h2specAllowed lists the h2spec v2.2.1 cases fpserver is known to fail,
// each because of a deliberate golang.org/x/net/http2 server behaviour.
// Keys are "section/number" as h2spec prints them; the value is the case's
// description, which must match so that renumbering is noticed.
var h2specAllowed = map[string]struct{ desc, reason string }{
	"http2/4.2/3": {
		"Sends a large size HEADERS frame that exceeds the SETTINGS_MAX_FRAME_SIZE",
		"x/net/http2 advertises SETTINGS_MAX_FRAME_SIZE = MaxReadFrameSize (1 MiB by default, which fpserver keeps and " +
			"capture.StreamLimits mirrors); h2spec sends a ~20 KB frame assuming the 16384 default, which is legal here",
	},
	"http2/6.5.3/1": {
		"Sends multiple values of SETTINGS_INITIAL_WINDOW_SIZE",
		"x/net/http2's server hangs up on a SETTINGS frame with duplicate ids (serverConn.processSettings: " +
			`"settings_big_or_dups", a PROTOCOL_ERROR), by design against abusive peers`,
	},
	"http2/8.1.2.2/1": {
		"Sends a HEADERS frame that contains the connection-specific header field",
		"x/net/http2 answers a request with connection-specific headers with 400 Bad Request " +
			"(checkValidHTTP2RequestHeaders + new400Handler) instead of a PROTOCOL_ERROR stream error",
	},
	"http2/8.1.2.2/2": {
		`Sends a HEADERS frame that contains the TE header field with any value other than "trailers"`,
		`x/net/http2 answers TE other than "trailers" with 400 Bad Request, as for 8.1.2.2/1`,
	},
}

// junitSuites is the part of h2spec's JUnit report the test reads.
type junitSuites struct {
	Suites []struct {
		Package string `xml:"package,attr"`
		Cases   []struct {
			Name    string    `xml:"classname,attr"`
			Error   *struct{} `xml:"error"`
			Failure *struct{} `xml:"failure"`
			Skipped *struct{} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// h2specBinary returns h2spec from PATH, or builds it with `go install`
// into a temporary GOBIN (outside this module). A build failure skips the
// test, or fails it under CI=true.
func h2specBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("h2spec"); err == nil {
		return p
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		testenv.RequireTool(t, "h2spec") // skips, or fails under CI
	}
	dir := t.TempDir()
	gobin := filepath.Join(dir, "bin")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "install", "github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOBIN="+gobin, "GOFLAGS=-mod=mod", "GOWORK=off")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("h2spec is not on PATH and building it failed: %v\n%s", err, out)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Logf("built h2spec v2.2.1 in %v", time.Since(start).Round(time.Millisecond))
	return filepath.Join(gobin, "h2spec")
}

// h2specCase is one case of an h2spec run.
type h2specCase struct {
	id, desc string // "http2/4.2/3", "Sends a large size HEADERS frame ..."
	status   string // "passed", "skipped" or "failed"
}

// runH2spec runs h2spec against the HTTPS listener (path /api/echo, which
// reads request bodies as h2spec's content-length cases need), restricted
// to the given case ids when any, and returns the cases of its JUnit report
// and its text output.
func runH2spec(t *testing.T, bin string, s *e2eServer, ids ...string) ([]h2specCase, []byte) {
	t.Helper()
	report := filepath.Join(t.TempDir(), "h2spec.xml")
	args := append(slices.Clone(ids), "-t", "-k", "-h", "127.0.0.1",
		"-p", strconv.Itoa(s.port(t, lnHTTPS)), "-P", "/api/echo", "-o", "3", "-j", report)
	out, err := runTool(t, 150*time.Second, "", bin, args...)
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) { // failing cases make it exit 1
		t.Fatalf("h2spec: %v\n%s", err, out)
	}
	xmlBytes, rerr := os.ReadFile(report)
	if rerr != nil {
		t.Fatalf("h2spec wrote no report (%v): %v\n%s", err, rerr, out)
	}
	var rep junitSuites
	if err := xml.Unmarshal(xmlBytes, &rep); err != nil {
		t.Fatalf("decoding the h2spec report: %v", err)
	}
	var cases []h2specCase
	for _, su := range rep.Suites {
		for i, c := range su.Cases {
			hc := h2specCase{id: fmt.Sprintf("%s/%d", su.Package, i+1), desc: c.Name, status: "failed"}
			switch {
			case c.Skipped != nil:
				hc.status = "skipped"
			case c.Error == nil && c.Failure == nil:
				hc.status = "passed"
			}
			cases = append(cases, hc)
		}
	}
	return cases, out
}

// TestE2EH2spec runs the h2spec conformance suite against the HTTPS
// listener and fails on any failing case not in h2specAllowed. A case that
// fails unexpectedly is run once more on its own: h2spec waits at most 3 s
// for each answer, which a loaded 2-core machine can miss, so a case that
// then passes is reported as a timing failure, not a conformance one. The
// server must stay healthy afterwards.
func TestE2EH2spec(t *testing.T) {
	bin := h2specBinary(t)
	s := startServer(t)
	cases, out := runH2spec(t, bin, s)
	if len(cases) < 100 {
		t.Fatalf("only %d h2spec cases ran:\n%s", len(cases), out)
	}
	counts := map[string]int{}
	var unexpected, allowed []string
	seenAllowed := map[string]bool{}
	for _, c := range cases {
		counts[c.status]++
		if c.status != "failed" {
			continue
		}
		if a, ok := h2specAllowed[c.id]; ok && a.desc == c.desc {
			allowed = append(allowed, c.id+" "+c.desc+" (allowed: "+a.reason+")")
			seenAllowed[c.id] = true
			continue
		}
		unexpected = append(unexpected, c.id)
	}
	t.Logf("h2spec: %d cases, %d passed, %d skipped, %d failed (%d of them allow-listed)",
		len(cases), counts["passed"], counts["skipped"], counts["failed"], len(allowed))
	for _, a := range allowed {
		t.Logf("  allowed: %s", a)
	}
	var failed []string
	for _, id := range unexpected {
		again, againOut := runH2spec(t, bin, s, id)
		if len(again) == 1 && again[0].status == "passed" {
			t.Logf("h2spec case %s failed in the full run and passed alone (a timing failure):\n%s", id, h2specFailures(out))
			continue
		}
		failed = append(failed, fmt.Sprintf("%s (alone: %+v)\n%s", id, again, h2specFailures(againOut)))
	}
	if len(failed) > 0 {
		t.Errorf("h2spec cases failed:\n%s", strings.Join(failed, "\n"))
	}
	for id := range h2specAllowed {
		if !seenAllowed[id] {
			t.Logf("allow-listed case %s passed: consider removing it from h2specAllowed", id)
		}
	}
	s.checkHealthy(t)
}

// h2specFailures returns the "Failures:" part of h2spec's text output.
func h2specFailures(out []byte) string {
	if i := bytes.Index(out, []byte("Failures:")); i >= 0 {
		return string(out[i:])
	}
	var b strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "×") {
			b.WriteString(sc.Text() + "\n")
		}
	}
	return b.String()
}
