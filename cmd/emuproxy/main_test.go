package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/internal/testenv"
)

// fpserverBin is built once by TestMain.
var fpserverBin string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "emuproxy-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	fpserverBin = filepath.Join(dir, "fpserver")
	if out, err := exec.Command("go", "build", "-o", fpserverBin, "../fpserver").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building fpserver: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// testServer is an fpserver subprocess with a leaf for localhost issued by
// a test CA.
type testServer struct {
	ca      string
	h2, h1  string // host:port of the main and the HTTP/1.1-only listener
	dataDir string
}

func startFPServer(t *testing.T) *testServer {
	t.Helper()
	dir := t.TempDir()
	ca, cert, key := testenv.WritePKI(t, dir)
	var ports []string
	var lns []net.Listener
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	}
	for _, ln := range lns {
		ln.Close()
	}
	s := &testServer{ca: ca, h2: "localhost:" + ports[0], h1: "localhost:" + ports[1], dataDir: filepath.Join(dir, "data")}
	var log bytes.Buffer
	cmd := exec.Command(fpserverBin, "serve", "-https", "127.0.0.1:"+ports[0], "-https-h1", "127.0.0.1:"+ports[1],
		"-http", "", "-debug", "", "-data", s.dataDir, "-cert", cert, "-key", key, "-log-level", "warn")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("fpserver log:\n%s", log.String())
		}
	})
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	deadline := time.Now().Add(30 * time.Second)
	for _, addr := range []string{"127.0.0.1:" + ports[0], "127.0.0.1:" + ports[1]} {
		for {
			c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "localhost", RootCAs: roots})
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("fpserver not serving on %s: %v\n%s", addr, err, log.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return s
}

// runMain runs emuproxy in-process with env as its whole environment.
func runMain(t *testing.T, env map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	m := &Main{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code = m.Run(ctx, args)
	return code, out.String(), errb.String()
}

// report is the part of fpserver's /api/fingerprint JSON the tests read.
type report struct {
	UserAgent string `json:"user_agent"`
	Method    string `json:"method"`
	Initiator string `json:"initiator"`
	HTTP      struct {
		Version string             `json:"version"`
		Headers []emulation.Header `json:"headers"`
	} `json:"http"`
	Fingerprints struct {
		JA4    string `json:"ja4"`
		Akamai string `json:"akamai"`
	} `json:"fingerprints"`
}

func getReport(t *testing.T, env map[string]string, args ...string) (report, string) {
	t.Helper()
	code, out, errOut := runMain(t, env, "", append([]string{"get"}, args...)...)
	if code != exitOK {
		t.Fatalf("emuproxy get %q: exit %d\n%s", args, code, errOut)
	}
	var r report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("decoding fpserver's report: %v\n%s", err, out)
	}
	return r, errOut
}

func headerNames(hs []emulation.Header) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return out
}

// TestGetFingerprints sends `emuproxy get` through every built-in profile
// to an fpserver over HTTP/2 and HTTP/1.1 and checks that fpserver saw the
// profile's expected JA4 and Akamai fingerprint, user agent and header
// order.
func TestGetFingerprints(t *testing.T) {
	s := startFPServer(t)
	profiles, err := emulation.Catalogue()
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"EMUPROXY_CACERT": s.ca, "EMUPROXY_PROFILES_DIR": t.TempDir()}
	for _, p := range profiles {
		for _, lst := range []struct {
			name, addr, version string
			list                []emulation.Header
		}{
			{"h2", s.h2, "2", p.H2.Headers[emulation.Navigate]},
			{"http1.1", s.h1, "1.1", p.H1.Headers[emulation.Navigate]},
		} {
			t.Run(p.Name+"/"+lst.name, func(t *testing.T) {
				r, verbose := getReport(t, env, "-v", "-profile", p.Name, "https://"+lst.addr+"/api/fingerprint")
				if r.Fingerprints.JA4 != p.Expected.JA4 {
					t.Errorf("fpserver saw JA4 %s, profile expects %s", r.Fingerprints.JA4, p.Expected.JA4)
				}
				if lst.version == "2" && r.Fingerprints.Akamai != p.Expected.Akamai {
					t.Errorf("fpserver saw Akamai %s, profile expects %s", r.Fingerprints.Akamai, p.Expected.Akamai)
				}
				if r.HTTP.Version != lst.version || r.UserAgent != p.UserAgent {
					t.Errorf("HTTP/%s with user agent %q; want HTTP/%s, %q", r.HTTP.Version, r.UserAgent, lst.version, p.UserAgent)
				}
				// A navigation without cookies sends exactly the browser's
				// navigation headers in its order (high-entropy client hints
				// excepted), pseudo headers first over HTTP/2.
				var want []string
				if lst.version == "2" {
					want = append(want, p.H2.PseudoOrder...)
				}
				for _, h := range lst.list {
					l := strings.ToLower(h.Name)
					if (emulation.IsCallerOnly(l) && l != "host") || strings.HasPrefix(l, "sec-ch-ua-") && l != "sec-ch-ua-mobile" && l != "sec-ch-ua-platform" {
						continue
					}
					want = append(want, h.Name)
				}
				if got := headerNames(r.HTTP.Headers); strings.Join(got, ",") != strings.Join(want, ",") {
					t.Errorf("header order\n got %v\nwant %v", got, want)
				}
				alpn := map[string]string{"2": "h2", "1.1": "http/1.1"}[lst.version]
				for _, line := range []string{"* profile " + p.Name + " ", "(ALPN " + alpn + ")", "< HTTP/", " 200 OK", "< Content-Type: application/json"} {
					if !strings.Contains(verbose, line) {
						t.Errorf("-v output lacks %q:\n%s", line, verbose)
					}
				}
			})
		}
	}
}

// TestGetSelectionAndHeaders checks profile selection by header and by
// user agent, that internal headers are stripped, that caller headers
// reach the server and that a body is sent.
func TestGetSelectionAndHeaders(t *testing.T) {
	s := startFPServer(t)
	ff, err := emulation.Lookup("firefox-153-linux")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"EMUPROXY_CACERT": s.ca, "EMUPROXY_PROFILES_DIR": t.TempDir()}
	url := "https://" + s.h2 + "/api/echo"

	r, _ := getReport(t, env, "-H", "X-Guanaco-Profile: firefox-153-linux", "-H", "Accept-Language: de-CH", "-H", "X-Custom: 1", url)
	if r.Fingerprints.JA4 != ff.Expected.JA4 || r.UserAgent != ff.UserAgent {
		t.Errorf("X-Guanaco-Profile: got JA4 %s UA %q", r.Fingerprints.JA4, r.UserAgent)
	}
	got := map[string]string{}
	for _, h := range r.HTTP.Headers {
		got[strings.ToLower(h.Name)] = h.Value
	}
	if _, ok := got["x-guanaco-profile"]; ok {
		t.Error("X-Guanaco-Profile was forwarded")
	}
	if got["accept-language"] != "de-CH" || got["x-custom"] != "1" {
		t.Errorf("caller headers not forwarded: %v", got)
	}

	// A Firefox user agent selects the Firefox profile, whose own user agent is sent.
	r, _ = getReport(t, env, "-H", "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:150.0) Gecko/20100101 Firefox/150.0", url)
	if r.UserAgent != ff.UserAgent || r.Fingerprints.JA4 != ff.Expected.JA4 {
		t.Errorf("user agent selection: got UA %q JA4 %s", r.UserAgent, r.Fingerprints.JA4)
	}

	// A POST with a body is a fetch; content-type and length arrive.
	r, _ = getReport(t, env, "-d", `{"k":1}`, "-H", "Content-Type: application/json", url)
	found := 0
	for _, h := range r.HTTP.Headers {
		if strings.EqualFold(h.Name, "content-length") && h.Value == "7" || strings.EqualFold(h.Name, "content-type") && h.Value == "application/json" {
			found++
		}
	}
	if r.Method != "POST" || found != 2 {
		t.Errorf("POST with -d: method %s, headers %v", r.Method, r.HTTP.Headers)
	}

	// An unknown profile fails cleanly.
	code, _, errOut := runMain(t, env, "", "get", "-profile", "netscape-4", url)
	if code != exitFail || !strings.Contains(errOut, "unknown profile") {
		t.Errorf("unknown profile: exit %d, %s", code, errOut)
	}
}

// TestGetDecodesAddedEncoding: the profile asks for gzip, br and zstd; the
// caller asked for none, so the body arrives decoded.
func TestGetDecodesAddedEncoding(t *testing.T) {
	const body = "decoded body of the test server"
	var mu sync.Mutex
	var sawAE string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sawAE = r.Header.Get("Accept-Encoding")
		mu.Unlock()
		w.Header().Set("Content-Encoding", "gzip")
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write([]byte(body))
		zw.Close()
		w.Write(b.Bytes())
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"EMUPROXY_CACERT": caFile, "EMUPROXY_PROFILES_DIR": t.TempDir()}
	code, out, errOut := runMain(t, env, "", "get", "-v", srv.URL+"/")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if out != body {
		t.Errorf("body %q, want %q", out, body)
	}
	mu.Lock()
	ae := sawAE
	mu.Unlock()
	if !strings.Contains(ae, "gzip") || !strings.Contains(errOut, "body decoded") {
		t.Errorf("server saw Accept-Encoding %q; -v: %s", ae, errOut)
	}
	// The caller asking for gzip itself gets the coded bytes.
	code, out, _ = runMain(t, env, "", "get", "-H", "Accept-Encoding: gzip", srv.URL+"/")
	if code != exitOK || out == body || !strings.HasPrefix(out, "\x1f\x8b") {
		t.Errorf("caller accepting gzip: exit %d, body %q", code, out)
	}
}

func TestProfilesCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "profiles")
	env := map[string]string{"EMUPROXY_PROFILES_DIR": dir}

	code, out, errOut := runMain(t, env, "", "profiles", "list")
	if code != exitOK || !strings.Contains(out, "chromium-156-linux") || !strings.Contains(out, "firefox-153-linux") || strings.Contains(out, "imported") {
		t.Fatalf("list: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runMain(t, env, "", "profiles", "show", "firefox-153-linux")
	if code != exitOK {
		t.Fatalf("show: exit %d", code)
	}
	p, err := emulation.Unmarshal([]byte(out))
	if err != nil || p.Name != "firefox-153-linux" {
		t.Fatalf("show printed no valid profile: %v", err)
	}

	// A built-in name is refused; a renamed copy is imported, from a file
	// and from stdin, and listed.
	src := filepath.Join(t.TempDir(), "p.json")
	if err := os.WriteFile(src, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut = runMain(t, env, "", "profiles", "import", src); code != exitFail || !strings.Contains(errOut, "built-in") {
		t.Errorf("importing a built-in name: exit %d, %s", code, errOut)
	}
	if code, out, errOut = runMain(t, env, "", "profiles", "import", "--name", "ff-renamed", src); code != exitOK || !strings.Contains(out, "imported ff-renamed") {
		t.Errorf("import --name: exit %d, %s%s", code, out, errOut)
	}
	if code, _, _ = runMain(t, env, "", "profiles", "show", "ff-renamed"); code != exitOK {
		t.Errorf("show the renamed import: exit %d", code)
	}
	if code, _, errOut = runMain(t, env, "", "profiles", "import", "-name", "Bad Name!", src); code != exitFail || !strings.Contains(errOut, "-name") {
		t.Errorf("import -name with an invalid name: exit %d, %s", code, errOut)
	}
	p.Name = "my-firefox"
	b, _ := p.Marshal()
	if err := os.WriteFile(src, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut = runMain(t, env, "", "profiles", "import", src); code != exitOK || !strings.Contains(out, "imported my-firefox") {
		t.Fatalf("import: exit %d, %s%s", code, out, errOut)
	}
	fi, err := os.Stat(filepath.Join(dir, "my-firefox.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("imported file: %v, %v", fi, err)
	}
	p.Name = "my-firefox-2"
	b, _ = p.Marshal()
	if code, _, errOut = runMain(t, env, string(b), "profiles", "-profiles-dir", dir, "import", "-"); code != exitOK {
		t.Fatalf("import from stdin: exit %d, %s", code, errOut)
	}
	code, out, _ = runMain(t, env, "", "profiles", "list")
	if code != exitOK || !strings.Contains(out, "my-firefox ") || !strings.Contains(out, "my-firefox-2") || !strings.Contains(out, "imported") {
		t.Errorf("list after import:\n%s", out)
	}
	if code, out, _ = runMain(t, env, "", "profiles", "show", "my-firefox"); code != exitOK || !strings.Contains(out, `"my-firefox"`) {
		t.Errorf("show imported: exit %d", code)
	}

	// Invalid JSON and invalid profiles are refused and not stored.
	bad := filepath.Join(t.TempDir(), "bad.json")
	broken := strings.Replace(string(b), `"format": 1`, `"format": 9`, 1)
	if err := os.WriteFile(bad, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut = runMain(t, env, "", "profiles", "import", bad); code != exitFail || !strings.Contains(errOut, "format") {
		t.Errorf("invalid profile: exit %d, %s", code, errOut)
	}
	if code, _, _ = runMain(t, env, "not json", "profiles", "import", "-"); code != exitFail {
		t.Errorf("not JSON: exit %d", code)
	}
	// An invalid file in the directory is skipped with a warning.
	if err := os.WriteFile(filepath.Join(dir, "junk.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut = runMain(t, env, "", "profiles", "list"); code != exitOK || !strings.Contains(errOut, "junk.json") {
		t.Errorf("junk file: exit %d, %s", code, errOut)
	}
	if code, _, _ = runMain(t, env, "", "profiles", "show", "nope"); code != exitFail {
		t.Errorf("show unknown: exit %d", code)
	}
	if code, _, _ = runMain(t, env, "", "profiles", "frobnicate"); code != exitUsage {
		t.Errorf("unknown verb: exit %d", code)
	}
}

func TestUsageAndFlags(t *testing.T) {
	if code, _, _ := runMain(t, nil, ""); code != exitUsage {
		t.Errorf("no command: exit %d", code)
	}
	if code, _, errOut := runMain(t, nil, "", "serve-everything"); code != exitUsage || !strings.Contains(errOut, "unknown command") {
		t.Errorf("unknown command: exit %d %s", code, errOut)
	}
	if code, out, _ := runMain(t, nil, "", "-h"); code != exitOK || !strings.Contains(out, "-allow-private") || !strings.Contains(out, "EMUPROXY_LISTEN") {
		t.Errorf("-h: exit %d, does not list the serve flags with their variables: %s", code, out)
	}
	code, _, help := runMain(t, nil, "", "get", "-h")
	if code != exitOK {
		t.Errorf("get -h: exit %d", code)
	}
	for _, f := range []string{"profile", "X", "H", "d", "v", "cacert", "profiles-dir", "timeout"} {
		if !strings.Contains(help, "\n  -"+f+" ") && !strings.Contains(help, "\n  -"+f+"\n") || !strings.Contains(help, "EMUPROXY_"+strings.ToUpper(strings.ReplaceAll(f, "-", "_"))) {
			t.Errorf("get -h does not document -%s and its environment variable:\n%s", f, help)
		}
	}
	if code, _, errOut := runMain(t, map[string]string{"EMUPROXY_TIMEOUT": "soon"}, "", "get", "https://example.invalid/"); code != exitUsage || !strings.Contains(errOut, "EMUPROXY_TIMEOUT") {
		t.Errorf("bad environment value: exit %d %s", code, errOut)
	}
	if code, _, _ := runMain(t, nil, "", "get", "-H", "no colon", "https://example.invalid/"); code != exitUsage {
		t.Errorf("bad -H: exit %d", code)
	}
	if code, _, _ := runMain(t, nil, "", "get"); code != exitUsage {
		t.Errorf("get without URL: exit %d", code)
	}
	if code, _, errOut := runMain(t, map[string]string{"EMUPROXY_PROFILES_DIR": t.TempDir()}, "", "get", "ftp://example.invalid/"); code != exitFail || !strings.Contains(errOut, "http or https") {
		t.Errorf("ftp URL: exit %d %s", code, errOut)
	}
}

func TestHeaderFlag(t *testing.T) {
	var h headerFlag
	for _, v := range []string{"A: 1", "b:2", "C: x: y\nD:  4 "} {
		if err := h.Set(v); err != nil {
			t.Fatal(err)
		}
	}
	if got := h.String(); got != "A: 1\nb: 2\nC: x: y\nD: 4" {
		t.Errorf("headers %q", got)
	}
	for _, bad := range []string{"nocolon", ": v", "Bad Name: v"} {
		if err := h.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
}

// TestGetPlainHTTP: over http:// the profile's client hints and fetch
// metadata are not sent, the rest of the navigation list is, in order.
func TestGetPlainHTTP(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		for k := range r.Header {
			got = append(got, strings.ToLower(k))
		}
		_, _ = io.WriteString(w, r.UserAgent())
	}))
	defer srv.Close()
	p, err := emulation.Lookup("chromium-156-linux")
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runMain(t, map[string]string{"EMUPROXY_PROFILES_DIR": t.TempDir()}, "", "get", "-profile", p.Name, srv.URL+"/")
	if code != exitOK || out != p.UserAgent {
		t.Fatalf("exit %d, body %q: %s", code, out, errOut)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, name := range got {
		if strings.HasPrefix(name, "sec-ch-") || strings.HasPrefix(name, "sec-fetch-") {
			t.Errorf("plain HTTP request carried %s", name)
		}
	}
	for _, want := range []string{"user-agent", "accept", "accept-encoding", "accept-language", "upgrade-insecure-requests"} {
		if !slices.Contains(got, want) {
			t.Errorf("plain HTTP request lacks %s: %v", want, got)
		}
	}
}
