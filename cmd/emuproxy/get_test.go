package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/internal/proxytest"
	"github.com/guanaco-fp/guanaco/internal/testenv"
)

// seenRequest is what the test server saw of one request.
type seenRequest struct {
	method, path, site, referer, origin, cookie, auth string
}

// getServer is an HTTPS test server (h2 and http/1.1) with a certificate
// for localhost and 127.0.0.1 issued by a test CA; it records requests.
type getServer struct {
	ca   string
	port string
	mu   sync.Mutex
	seen []seenRequest
}

func (s *getServer) requests() []seenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seenRequest(nil), s.seen...)
}

// url returns https://host:port+path.
func (s *getServer) url(host, path string) string { return "https://" + host + ":" + s.port + path }

func startGetServer(t *testing.T) *getServer {
	t.Helper()
	dir := t.TempDir()
	ca, certFile, keyFile := testenv.WritePKI(t, dir)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	s := &getServer{ca: ca}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.seen = append(s.seen, seenRequest{method: r.Method, path: r.URL.Path, site: r.Header.Get("Sec-Fetch-Site"),
			referer: r.Header.Get("Referer"), origin: r.Header.Get("Origin"), cookie: r.Header.Get("Cookie"), auth: r.Header.Get("Authorization")})
		s.mu.Unlock()
		switch {
		case r.URL.Path == "/redirect":
			// /redirect?to=URL&code=N
			code := http.StatusFound
			_, _ = fmt.Sscan(r.URL.Query().Get("code"), &code)
			http.Redirect(w, r, r.URL.Query().Get("to"), code)
		case r.URL.Path == "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case r.URL.Path == "/setcookie":
			http.SetCookie(w, &http.Cookie{Name: "sid", Value: "abc", Path: "/", HttpOnly: true, MaxAge: 3600})
			http.SetCookie(w, &http.Cookie{Name: "theme", Value: "dark"})
			_, _ = io.WriteString(w, "set\n")
		case r.URL.Path == "/missing":
			http.Error(w, "no such thing", http.StatusNotFound)
		case r.URL.Path == "/slow":
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		default:
			w.Header().Set("Content-Type", "text/plain")
			_, _ = fmt.Fprintf(w, "%s %s %s\n", r.Method, r.URL.Path, r.Header.Get("Cookie"))
		}
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, s.port, _ = net.SplitHostPort(srv.Listener.Addr().String())
	return s
}

func getEnv(t *testing.T) map[string]string {
	return map[string]string{"EMUPROXY_PROFILES_DIR": t.TempDir()}
}

// TestGetOutputFlags: -o, -i, -I, -f, -w, -s and combined short flags.
func TestGetOutputFlags(t *testing.T) {
	s := startGetServer(t)
	env := getEnv(t)
	out := filepath.Join(t.TempDir(), "body.txt")
	code, stdout, errOut := runMain(t, env, "", "get", "-cacert", s.ca, "-o", out, "-w", `%{http_code} %{http_version} %{alpn} %{profile}\n`, s.url("localhost", "/hello"))
	if code != exitOK || stdout != "200 2 h2 "+defaultProfile+"\n" {
		t.Fatalf("-o -w: exit %d, stdout %q, %s", code, stdout, errOut)
	}
	if b, _ := os.ReadFile(out); string(b) != "GET /hello \n" {
		t.Errorf("-o file holds %q", b)
	}

	code, stdout, _ = runMain(t, env, "", "get", "-cacert", s.ca, "-i", "--http1.1", s.url("localhost", "/hello"))
	if code != exitOK || !strings.HasPrefix(stdout, "HTTP/1.1 200 OK\r\n") || !strings.Contains(stdout, "Content-Type: text/plain\r\n") || !strings.HasSuffix(stdout, "\r\n\r\nGET /hello \n") {
		t.Errorf("-i --http1.1: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = runMain(t, env, "", "get", "-cacert", s.ca, "-I", s.url("localhost", "/hello"))
	if code != exitOK || !strings.HasPrefix(stdout, "HTTP/2 200\r\n") || !strings.Contains(stdout, "content-type: text/plain\r\n") || strings.Contains(stdout, "GET /hello") {
		t.Errorf("-I: exit %d\n%s", code, stdout)
	}
	if r := s.requests(); r[len(r)-1].method != http.MethodHead {
		t.Errorf("-I sent %s", r[len(r)-1].method)
	}

	code, stdout, errOut = runMain(t, env, "", "get", "-cacert", s.ca, "-f", "-w", "%{http_code}", s.url("localhost", "/missing"))
	if code != getExitHTTP || stdout != "404" || !strings.Contains(errOut, "404") {
		t.Errorf("-f on 404: exit %d, stdout %q, stderr %q", code, stdout, errOut)
	}
	code, stdout, _ = runMain(t, env, "", "get", "-cacert", s.ca, s.url("localhost", "/missing"))
	if code != exitOK || !strings.Contains(stdout, "no such thing") {
		t.Errorf("404 without -f: exit %d, %q", code, stdout)
	}
	code, _, errOut = runMain(t, env, "", "get", "-cacert", s.ca, "-fs", s.url("localhost", "/missing"))
	if code != getExitHTTP || errOut != "" {
		t.Errorf("-fs: exit %d, stderr %q (want silence)", code, errOut)
	}
	code, _, errOut = runMain(t, env, "", "get", "-cacert", s.ca, "-fsS", s.url("localhost", "/missing"))
	if code != getExitHTTP || errOut == "" {
		t.Errorf("-fsS: exit %d, stderr %q (want the error)", code, errOut)
	}
	if code, _, errOut = runMain(t, env, "", "get", "-w", "%{nope}", "-cacert", s.ca, s.url("localhost", "/hello")); code != exitUsage || !strings.Contains(errOut, "http_code") {
		t.Errorf("unknown -w variable: exit %d, %s", code, errOut)
	}
}

// TestGetExitCodes: the exit status tells the failure class as curl's.
func TestGetExitCodes(t *testing.T) {
	s := startGetServer(t)
	env := getEnv(t)
	closed := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		return addr
	}()
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer plain.Close()
	for _, c := range []struct {
		name string
		args []string
		code int
		msg  []string
	}{
		{"resolve", []string{"https://no-such-host.invalid/"}, getExitResolve, []string{"resolve"}},
		{"connect", []string{"https://" + closed + "/"}, getExitConnect, []string{"connect"}},
		{"timeout", []string{"-cacert", s.ca, "-m", "0.5", s.url("localhost", "/slow")}, getExitTimeout, []string{"timed out"}},
		{"tls", []string{"https://" + plain.Listener.Addr().String() + "/"}, getExitTLS, []string{"TLS"}},
		{"certificate", []string{s.url("localhost", "/hello")}, getExitCert, []string{"-cacert", "-k"}},
		{"redirects", []string{"-cacert", s.ca, "-L", "--max-redirs", "3", s.url("localhost", "/loop")}, getExitRedirects, []string{"redirects"}},
		{"unknown profile", []string{"-profile", "netscape-4", s.url("localhost", "/")}, exitFail, []string{"chromium-156-linux", "firefox-153-linux"}},
		{"ftp", []string{"ftp://example.invalid/"}, getExitUnsupported, []string{"http or https"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errOut := runMain(t, env, "", append([]string{"get"}, c.args...)...)
			if code != c.code {
				t.Errorf("exit %d, want %d: %s", code, c.code, errOut)
			}
			for _, m := range c.msg {
				if !strings.Contains(errOut, m) {
					t.Errorf("message %q does not say %q", errOut, m)
				}
			}
		})
	}
	// -k accepts the untrusted certificate.
	if code, out, errOut := runMain(t, env, "", "get", "-k", s.url("localhost", "/hello")); code != exitOK || out != "GET /hello \n" {
		t.Errorf("-k: exit %d %q %s", code, out, errOut)
	}
}

// TestGetRedirects: -L follows as a browser: method rewriting, Referer
// cut to the origin on a cross-origin hop, Sec-Fetch-Site the most
// cross-site relation over the chain, Authorization dropped across
// origins, Origin tainted to null.
func TestGetRedirects(t *testing.T) {
	s := startGetServer(t)
	env := getEnv(t)
	final := s.url("localhost", "/final")
	viaOther := s.url("127.0.0.1", "/redirect?to="+final)
	start := s.url("localhost", "/redirect?code=307&to="+viaOther)
	referer := s.url("localhost", "/page?q=1")
	code, out, errOut := runMain(t, env, "", "get", "-cacert", s.ca, "-L", "-w", "\n%{num_redirects} %{url_effective}",
		"-X", "POST", "-d", "x=1", "-H", "X-Guanaco-Initiator: fetch", "-H", "Referer: "+referer,
		"-H", "Origin: "+s.url("localhost", ""), "-H", "Authorization: Bearer t", start)
	if code != exitOK || !strings.HasSuffix(out, "\n2 "+final) || !strings.HasPrefix(out, "GET /final") {
		t.Fatalf("exit %d, out %q: %s", code, out, errOut)
	}
	r := s.requests()
	if len(r) != 3 {
		t.Fatalf("server saw %d requests, want 3: %+v", len(r), r)
	}
	origin := s.url("localhost", "/")
	want := []seenRequest{
		{method: "POST", path: "/redirect", site: "same-origin", referer: referer, origin: s.url("localhost", ""), auth: "Bearer t"},
		{method: "POST", path: "/redirect", site: "cross-site", referer: origin, origin: "null"}, // 307 keeps the method
		{method: "GET", path: "/final", site: "cross-site", referer: referer},                    // 302 after POST: GET; the chain was cross-site
	}
	for i := range want {
		if r[i] != want[i] {
			t.Errorf("hop %d: server saw %+v\nwant %+v", i, r[i], want[i])
		}
	}

	// A navigation without a Referer stays "none" along the chain.
	code, _, errOut = runMain(t, env, "", "get", "-cacert", s.ca, "-L", s.url("localhost", "/redirect?to="+s.url("127.0.0.1", "/end")))
	r = s.requests()
	if code != exitOK || r[len(r)-1].path != "/end" || r[len(r)-1].site != "none" || r[len(r)-1].referer != "" {
		t.Errorf("navigation: exit %d, last hop %+v: %s", code, r[len(r)-1], errOut)
	}
	// Without -L the redirect is the answer; -w names where it points.
	code, out, _ = runMain(t, env, "", "get", "-cacert", s.ca, "-w", "%{http_code} %{redirect_url}", "-o", os.DevNull, s.url("localhost", "/redirect?to=/x"))
	if code != exitOK || out != "302 "+s.url("localhost", "/x") {
		t.Errorf("without -L: exit %d, %q", code, out)
	}
}

// TestGetCookiesWithCurl: the cookie files are curl's format both ways,
// checked against the real curl.
func TestGetCookiesWithCurl(t *testing.T) {
	curl := testenv.RequireTool(t, "curl")
	s := startGetServer(t)
	env := getEnv(t)
	dir := t.TempDir()

	// emuproxy writes a jar (-c) that curl reads (-b).
	jar := filepath.Join(dir, "emu.txt")
	if code, _, errOut := runMain(t, env, "", "get", "-cacert", s.ca, "-c", jar, "-L", s.url("localhost", "/redirect?to=/setcookie")); code != exitOK {
		t.Fatalf("-c: exit %d %s", code, errOut)
	}
	b, _ := os.ReadFile(jar)
	if !strings.Contains(string(b), "#HttpOnly_localhost\tFALSE\t/\tFALSE\t") || !strings.Contains(string(b), "\ttheme\tdark") {
		t.Errorf("jar:\n%s", b)
	}
	cmd := exec.Command(curl, "-sS", "--cacert", s.ca, "-b", jar, s.url("localhost", "/echo"))
	got, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(got), "sid=abc") || !strings.Contains(string(got), "theme=dark") {
		t.Errorf("curl -b emuproxy's jar: %v %q", err, got)
	}

	// curl writes a jar that emuproxy reads, and updates.
	cjar := filepath.Join(dir, "curl.txt")
	if out, err := exec.Command(curl, "-sS", "--cacert", s.ca, "-c", cjar, s.url("localhost", "/setcookie")).CombinedOutput(); err != nil {
		t.Fatalf("curl -c: %v %s", err, out)
	}
	code, out, errOut := runMain(t, env, "", "get", "-cacert", s.ca, "-b", cjar, s.url("localhost", "/echo"))
	if code != exitOK || !strings.Contains(out, "sid=abc") || !strings.Contains(out, "theme=dark") {
		t.Errorf("emuproxy -b curl's jar: exit %d %q %s", code, out, errOut)
	}
	// Cookies are host-only: not sent to 127.0.0.1.
	code, out, _ = runMain(t, env, "", "get", "-cacert", s.ca, "-b", cjar, s.url("127.0.0.1", "/echo"))
	if code != exitOK || strings.Contains(out, "sid") {
		t.Errorf("host-only cookie sent to another host: %q", out)
	}
	// A literal -b is sent as is.
	code, out, _ = runMain(t, env, "", "get", "-cacert", s.ca, "-b", "a=1; b=2", s.url("localhost", "/echo"))
	if code != exitOK || !strings.Contains(out, "a=1; b=2") {
		t.Errorf("-b literal: %q", out)
	}
}

// TestGetThroughProxy: -x reaches the server through a CONNECT or SOCKS5
// proxy, whose refusal is exit 97 and whose absence is exit 7.
func TestGetThroughProxy(t *testing.T) {
	s := startGetServer(t)
	env := getEnv(t)
	for _, c := range []struct {
		scheme string
		start  func(testing.TB, string, string) *proxytest.Server
	}{{"http", proxytest.StartConnect}, {"socks5", proxytest.StartSOCKS5}} {
		t.Run(c.scheme, func(t *testing.T) {
			px := c.start(t, "u", "pw")
			code, out, errOut := runMain(t, env, "", "get", "-cacert", s.ca, "-x", c.scheme+"://u:pw@"+px.Addr, s.url("localhost", "/hello"))
			if code != exitOK || out != "GET /hello \n" {
				t.Fatalf("exit %d %q %s", code, out, errOut)
			}
			if got := px.Targets(); len(got) != 1 || got[0] != "localhost:"+s.port {
				t.Errorf("proxy saw %v, want [localhost:%s] (the name, resolved by the proxy)", got, s.port)
			}
			code, _, errOut = runMain(t, env, "", "get", "-cacert", s.ca, "-x", c.scheme+"://u:wrong@"+px.Addr, s.url("localhost", "/hello"))
			if code != getExitProxy || strings.Contains(errOut, "wrong") {
				t.Errorf("bad proxy credentials: exit %d, %s", code, errOut)
			}
		})
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	_ = ln.Close()
	if code, _, errOut := runMain(t, env, "", "get", "-x", "http://"+addr, s.url("localhost", "/hello")); code != getExitConnect || !strings.Contains(errOut, "proxy") {
		t.Errorf("proxy down: exit %d, %s", code, errOut)
	}
}

// TestGetHeadsAndTiming: -i with -L writes every hop's head; -w reports
// timings as seconds; -c - writes the jar to stdout.
func TestGetHeadsAndTiming(t *testing.T) {
	s := startGetServer(t)
	env := getEnv(t)
	code, out, errOut := runMain(t, env, "", "get", "-cacert", s.ca, "-iL", s.url("localhost", "/redirect?to=/setcookie"))
	if code != exitOK || !strings.HasPrefix(out, "HTTP/2 302\r\n") || !strings.Contains(out, "location: /setcookie\r\n") ||
		!strings.Contains(out, "\r\n\r\nHTTP/2 200\r\n") || !strings.HasSuffix(out, "\r\n\r\nset\n") {
		t.Errorf("-iL: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runMain(t, env, "", "get", "-cacert", s.ca, "-o", os.DevNull, "-w", "%{time_total} %{time_starttransfer} %{size_download} %{scheme}", s.url("localhost", "/hello"))
	var total, ttfb float64
	var size int
	var scheme string
	if n, err := fmt.Sscanf(out, "%f %f %d %s", &total, &ttfb, &size, &scheme); code != exitOK || err != nil || n != 4 || total <= 0 || ttfb <= 0 || ttfb > total || size != len("GET /hello \n") || scheme != "HTTPS" {
		t.Errorf("-w timing: exit %d %q", code, out)
	}
	code, out, _ = runMain(t, env, "", "get", "-cacert", s.ca, "-o", os.DevNull, "-w", "%{remote_ip}:%{remote_port} %{time_connect}", s.url("127.0.0.1", "/hello"))
	if addr, tc, _ := strings.Cut(out, " "); code != exitOK || addr != "127.0.0.1:"+s.port || tc == "0.000000" {
		t.Errorf("-w remote_ip, time_connect: exit %d %q", code, out)
	}
	code, out, _ = runMain(t, env, "", "get", "-cacert", s.ca, "-o", os.DevNull, "-c", "-", s.url("localhost", "/setcookie"))
	if code != exitOK || !strings.HasPrefix(out, "# Netscape HTTP Cookie File") || !strings.Contains(out, "\tsid\tabc\n") {
		t.Errorf("-c -: exit %d\n%s", code, out)
	}
}

// TestGetProfilesFileAndURL: -profiles-file and -profiles-url add
// profiles to choose from, as on serve.
func TestGetProfilesFileAndURL(t *testing.T) {
	s := startGetServer(t)
	env := getEnv(t)
	code, doc, _ := runMain(t, env, "", "profiles", "show", "firefox-153-linux")
	if code != exitOK {
		t.Fatal("profiles show")
	}
	file := filepath.Join(t.TempDir(), "p.json")
	if err := os.WriteFile(file, []byte(strings.Replace(doc, `"firefox-153-linux"`, `"ff-from-file"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	list := `{"profiles":[` + strings.Replace(doc, `"firefox-153-linux"`, `"ff-from-url"`, 1) + `]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, list) }))
	defer srv.Close()
	for _, c := range [][]string{
		{"-profiles-file", file, "-profile", "ff-from-file"},
		{"-profiles-url", srv.URL + "/api/profiles", "-profile", "ff-from-url"},
	} {
		args := append([]string{"get", "-cacert", s.ca, "-w", "%{profile}", "-o", os.DevNull}, c...)
		if code, out, errOut := runMain(t, env, "", append(args, s.url("localhost", "/"))...); code != exitOK || out != c[3] {
			t.Errorf("%s: exit %d %q %s", c[0], code, out, errOut)
		}
	}
}

func TestExpandShort(t *testing.T) {
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	var cfg getConfig
	getFlags(fs, &cfg)
	got := expandShort(fs, []string{"-fsSL", "-d", "-fsS", "--max-time", "-iL", "-k", "-H", "X: 1", "URL", "--", "-fs"})
	want := []string{"-f", "-s", "-S", "-L", "-d", "-fsS", "--max-time", "-iL", "-k", "-H", "X: 1", "URL", "--", "-fs"}
	if !slices.Equal(got, want) {
		t.Errorf("expandShort:\n got %q\nwant %q", got, want)
	}
}
