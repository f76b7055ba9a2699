package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/internal/testenv"
	"github.com/guanaco-fp/guanaco/store"
)

// runningProxy is an in-process `emuproxy serve`.
type runningProxy struct {
	addr   string // 127.0.0.1:port
	caFile string // the local CA certificate
	log    *testenv.SyncBuffer
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startProxy runs `emuproxy serve` in-process with args after -listen,
// -ca-dir and -profiles-dir; it stops (and must exit 0) when the test ends.
func startProxy(t testing.TB, args ...string) *runningProxy {
	t.Helper()
	caDir := filepath.Join(t.TempDir(), "ca")
	rp := &runningProxy{addr: freeAddr(t), caFile: filepath.Join(caDir, "ca.pem"), log: &testenv.SyncBuffer{}}
	m := &Main{Stdin: strings.NewReader(""), Stdout: rp.log, Stderr: rp.log,
		Getenv: func(string) (string, bool) { return "", false }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	all := append([]string{"serve", "-listen", rp.addr, "-ca-dir", caDir, "-profiles-dir", t.TempDir(), "-shutdown-timeout", "2s", "-log-level", "debug"}, args...)
	go func() { done <- m.Run(ctx, all) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != exitOK {
				t.Errorf("emuproxy serve exited %d\n%s", code, rp.log.String())
			}
		case <-time.After(15 * time.Second):
			t.Errorf("emuproxy serve did not stop\n%s", rp.log.String())
		}
		if t.Failed() {
			t.Logf("emuproxy log:\n%s", rp.log.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", rp.addr)
		if err == nil {
			c.Close()
			break
		}
		select {
		case code := <-done:
			t.Fatalf("emuproxy serve exited %d:\n%s", code, rp.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("emuproxy serve not listening: %v\n%s", err, rp.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return rp
}

// curlThrough runs curl through the proxy and returns the body and the
// HTTP version curl spoke (to the origin, through the tunnel).
func curlThrough(t *testing.T, rp *runningProxy, args ...string) (body, version string) {
	t.Helper()
	curl := testenv.RequireTool(t, "curl")
	out := filepath.Join(t.TempDir(), "body")
	all := append([]string{"-sS", "--max-time", "30", "-x", "http://" + rp.addr, "--cacert", rp.caFile, "-o", out, "-w", "%{http_version} %{http_code}"}, args...)
	var stderr bytes.Buffer
	cmd := exec.Command(curl, all...)
	cmd.Stderr = &stderr
	w, err := cmd.Output()
	if err != nil {
		t.Fatalf("curl %q: %v\n%s", args, err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	version, code, _ := strings.Cut(string(w), " ")
	if code != "200" {
		t.Fatalf("curl %q: status %s\n%s", args, code, b)
	}
	return string(b), version
}

// wantHeaderOrder is the header order fpserver should see for a plain
// navigation through profile p (as in TestGetFingerprints).
func wantHeaderOrder(p *emulation.Profile, h2 bool) []string {
	var want []string
	list := p.H1.Headers[emulation.Navigate]
	if h2 {
		want = append(want, p.H2.PseudoOrder...)
		list = p.H2.Headers[emulation.Navigate]
	}
	for _, h := range list {
		l := strings.ToLower(h.Name)
		if (emulation.IsCallerOnly(l) && l != "host") || strings.HasPrefix(l, "sec-ch-ua-") && l != "sec-ch-ua-mobile" && l != "sec-ch-ua-platform" {
			continue
		}
		want = append(want, h.Name)
	}
	return want
}

// TestServeCurl sends curl through `emuproxy serve` (CONNECT, MITM TLS
// with the local CA that curl trusts through --cacert) to an fpserver,
// with HTTP/1.1 and HTTP/2 between curl and the proxy, and checks that
// fpserver saw the selected profile's JA4, Akamai fingerprint, user agent
// and header order, not curl's.
func TestServeCurl(t *testing.T) {
	s := startFPServer(t)
	_, h2Port, _ := net.SplitHostPort(s.h2)
	_, h1Port, _ := net.SplitHostPort(s.h1)
	rp := startProxy(t, "-cacert", s.ca, "-allow-private", "-connect-ports", h2Port+","+h1Port)
	cases := []struct {
		name, profile, clientProto, upstream, upstreamVersion string
		selectArgs                                            []string
	}{
		{"default/h2-client/h2-upstream", "chromium-156-linux", "--http2", s.h2, "2", nil},
		{"default/h1-client/h2-upstream", "chromium-156-linux", "--http1.1", s.h2, "2", nil},
		{"label/h2-client/h2-upstream", "firefox-153-linux", "--http2", s.h2, "2", []string{"--proxy-user", "anyone+profile=firefox-153-linux:x"}},
		{"header/h1-client/h2-upstream", "firefox-153-linux", "--http1.1", s.h2, "2", []string{"-H", "X-Guanaco-Profile: firefox-153-linux"}},
		{"ua/h2-client/h1-upstream", "firefox-153-linux", "--http2", s.h1, "1.1", []string{"-A", "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"}},
		{"default/h1-client/h1-upstream", "chromium-156-linux", "--http1.1", s.h1, "1.1", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := emulation.Lookup(tc.profile)
			if err != nil {
				t.Fatal(err)
			}
			args := append([]string{tc.clientProto}, tc.selectArgs...)
			body, version := curlThrough(t, rp, append(args, "https://"+tc.upstream+"/api/fingerprint")...)
			wantVersion := map[string]string{"--http2": "2", "--http1.1": "1.1"}[tc.clientProto]
			if version != wantVersion {
				t.Errorf("curl spoke HTTP/%s to the proxy, want %s", version, wantVersion)
			}
			var r report
			if err := json.Unmarshal([]byte(body), &r); err != nil {
				t.Fatalf("decoding fpserver's report: %v\n%s", err, body)
			}
			resumed, err := p.ResumedFingerprints()
			if err != nil {
				t.Fatal(err)
			}
			// A later connection resumes the session (pre_shared_key added).
			if r.Fingerprints.JA4 != p.Expected.JA4 && r.Fingerprints.JA4 != resumed.JA4 {
				t.Errorf("fpserver saw JA4 %s, profile %s expects %s (or %s resumed)", r.Fingerprints.JA4, p.Name, p.Expected.JA4, resumed.JA4)
			}
			if r.HTTP.Version != tc.upstreamVersion {
				t.Errorf("fpserver saw HTTP/%s, want %s", r.HTTP.Version, tc.upstreamVersion)
			}
			if tc.upstreamVersion == "2" && r.Fingerprints.Akamai != p.Expected.Akamai {
				t.Errorf("fpserver saw Akamai %s, profile expects %s", r.Fingerprints.Akamai, p.Expected.Akamai)
			}
			if r.UserAgent != p.UserAgent {
				t.Errorf("fpserver saw user agent %q, want %q", r.UserAgent, p.UserAgent)
			}
			want := wantHeaderOrder(p, tc.upstreamVersion == "2")
			if got := headerNames(r.HTTP.Headers); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("header order\n got %v\nwant %v", got, want)
			}
			for _, h := range r.HTTP.Headers {
				if l := strings.ToLower(h.Name); l == "proxy-authorization" || l == "x-guanaco-profile" || l == "proxy-connection" {
					t.Errorf("origin received %s", h.Name)
				}
			}
		})
	}
}

// TestServeFlagsAndCA checks `serve -h`, the loopback-without-auth rule
// and `emuproxy ca`.
func TestServeFlagsAndCA(t *testing.T) {
	code, _, help := runMain(t, nil, "", "serve", "-h")
	if code != exitOK {
		t.Errorf("serve -h: exit %d", code)
	}
	for _, f := range []string{"listen", "auth", "auth-file", "allow-private", "ports", "connect-ports", "ca-dir", "cacert", "profile", "profiles-db", "profiles-file", "profiles-url", "profiles-dir", "debug", "shutdown-timeout"} {
		if !strings.Contains(help, "\n  -"+f+" ") && !strings.Contains(help, "\n  -"+f+"\n") || !strings.Contains(help, "EMUPROXY_"+strings.ToUpper(strings.ReplaceAll(f, "-", "_"))) {
			t.Errorf("serve -h does not document -%s and its environment variable", f)
		}
	}
	dir := filepath.Join(t.TempDir(), "ca")
	code, _, errOut := runMain(t, nil, "", "serve", "-listen", "0.0.0.0:0", "-ca-dir", dir)
	if code != exitFail || !strings.Contains(errOut, "-auth") {
		t.Errorf("non-loopback without auth: exit %d %s", code, errOut)
	}
	code, out, errOut := runMain(t, nil, "", "ca", "-ca-dir", dir)
	if code != exitOK || !strings.HasPrefix(out, filepath.Join(dir, "ca.pem")+"\n-----BEGIN CERTIFICATE-----") {
		t.Fatalf("ca: exit %d %q %s", code, out, errOut)
	}
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("CA directory mode %v, %v", st.Mode().Perm(), err)
	}
	if st, err := os.Stat(filepath.Join(dir, "ca-key.pem")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("CA key mode %v, %v", st.Mode().Perm(), err)
	}
	// The same CA is printed again; a key readable by others is refused.
	if code, out2, _ := runMain(t, nil, "", "ca", "-ca-dir", dir); code != exitOK || out2 != out {
		t.Errorf("second ca: exit %d, same output %v", code, out2 == out)
	}
	if err := os.Chmod(filepath.Join(dir, "ca-key.pem"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runMain(t, nil, "", "ca", "-ca-dir", dir); code != exitFail || !strings.Contains(errOut, "chmod 600") {
		t.Errorf("world-readable key: exit %d %s", code, errOut)
	}
	if code, _, errOut := runMain(t, nil, "", "serve", "-listen", freeAddr(t), "-ca-dir", dir); code != exitFail || !strings.Contains(errOut, "chmod 600") {
		t.Errorf("serve with a world-readable key: exit %d %s", code, errOut)
	}
}

// TestServeAuthAndEgress: through a running proxy with credentials and
// without -allow-private, curl gets 407 without or with wrong
// credentials, and 403 for 127.0.0.1, 169.254.169.254 and localhost.
func TestServeAuthAndEgress(t *testing.T) {
	rp := startProxy(t, "-auth", "alice:s3cret", "-debug", "")
	curl := testenv.RequireTool(t, "curl")
	status := func(args ...string) string {
		all := append([]string{"-s", "--max-time", "20", "-x", "http://" + rp.addr, "-o", "/dev/null", "-w", "%{http_code}"}, args...)
		out, _ := exec.Command(curl, all...).Output()
		return string(out)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no credentials", []string{"http://example.com/"}, "407"},
		{"wrong password", []string{"-U", "alice:wrong", "http://example.com/"}, "407"},
		{"wrong user", []string{"-U", "bob:s3cret", "http://example.com/"}, "407"},
		{"loopback", []string{"-U", "alice:s3cret", "http://127.0.0.1:1/"}, "403"},
		{"metadata", []string{"-U", "alice:s3cret", "http://169.254.169.254/latest/meta-data/"}, "403"},
		{"name resolving to loopback", []string{"-U", "alice:s3cret", "http://localhost/"}, "403"},
	} {
		if got := status(tc.args...); got != tc.want {
			t.Errorf("%s: status %s, want %s", tc.name, got, tc.want)
		}
	}
	// CONNECT is refused the same way: curl reports the proxy's status.
	out, _ := exec.Command(curl, "-s", "--max-time", "20", "-x", "http://"+rp.addr, "-U", "alice:s3cret", "-o", "/dev/null",
		"-w", "%{http_connect}", "https://127.0.0.1/").Output()
	if string(out) != "403" {
		t.Errorf("CONNECT 127.0.0.1:443: %q, want 403", out)
	}
	out, _ = exec.Command(curl, "-s", "--max-time", "20", "-x", "http://"+rp.addr, "-o", "/dev/null",
		"-w", "%{http_connect}", "https://127.0.0.1/").Output()
	if string(out) != "407" {
		t.Errorf("CONNECT without credentials: %q, want 407", out)
	}
}

// TestServeProfileSources: profiles from -profiles-file, -profiles-db
// (reloaded: a profile stored after start becomes selectable) and
// -profiles-url are selectable by name and fingerprint as their browser.
func TestServeProfileSources(t *testing.T) {
	s := startFPServer(t)
	ff, err := emulation.Lookup("firefox-153-linux")
	if err != nil {
		t.Fatal(err)
	}
	renamed := func(name string) []byte {
		c := *ff
		c.Name = name
		b, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "ff.json")
	if err := os.WriteFile(file, renamed("ff-from-file"), 0o600); err != nil {
		t.Fatal(err)
	}
	dsn := "sqlite:" + filepath.Join(dir, "profiles.db")
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	put := func(name string) {
		t.Helper()
		if err := st.UpsertProfile(ctx, store.Profile{Name: name, Browser: ff.Browser, Version: ff.Version, Platform: ff.Platform, JSON: renamed(name)}); err != nil {
			t.Fatal(err)
		}
	}
	put("ff-from-db")
	_, port, _ := net.SplitHostPort(s.h2)
	rp := startProxy(t, "-cacert", s.ca, "-allow-private", "-connect-ports", port, "-profiles-file", file,
		"-profiles-db", dsn, "-profiles-url", "https://"+s.h2+"/api/profiles", "-profiles-reload", "100ms")
	check := func(name string) {
		t.Helper()
		body, _ := curlThrough(t, rp, "-H", "X-Guanaco-Profile: "+name, "https://"+s.h2+"/api/fingerprint")
		var r report
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, body)
		}
		if r.Fingerprints.JA4 != ff.Expected.JA4 || r.UserAgent != ff.UserAgent {
			t.Errorf("%s: JA4 %s UA %q, want Firefox's", name, r.Fingerprints.JA4, r.UserAgent)
		}
	}
	check("ff-from-file")
	check("ff-from-db")
	put("ff-later")
	curl := testenv.RequireTool(t, "curl")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, _ := exec.Command(curl, "-s", "-x", "http://"+rp.addr, "--cacert", rp.caFile, "-o", "/dev/null", "-w", "%{http_code}",
			"-H", "X-Guanaco-Profile: ff-later", "https://"+s.h2+"/api/fingerprint").Output()
		if string(out) == "200" {
			break
		}
		if string(out) != "400" || time.Now().After(deadline) {
			t.Fatalf("profile stored after start: status %q", out)
		}
	}
	check("ff-later")
}

func TestDecodeProfiles(t *testing.T) {
	ff, err := emulation.Lookup("firefox-153-linux")
	if err != nil {
		t.Fatal(err)
	}
	one, err := ff.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	list := []byte(`{"count": 2, "profiles": [` + string(one) + `, {"format": 9}]}`)
	ps, err := decodeProfiles(list, log)
	if err != nil || len(ps) != 1 || ps[0].Name != ff.Name {
		t.Errorf("list: %v %v", ps, err)
	}
	if ps, err := decodeProfiles(one, log); err != nil || len(ps) != 1 {
		t.Errorf("single: %v %v", ps, err)
	}
	if _, err := decodeProfiles([]byte(`{"name": 1}`), log); err == nil {
		t.Error("garbage accepted")
	}
}

// TestServeCurlDestinations sends curl's request shapes through `emuproxy
// serve -profile firefox-153-linux` to fpserver's echo: the proxy infers the
// destination from the path's extension, Accept and X-Requested-With, and
// fpserver sees Firefox's list for it (order and values: Accept,
// Sec-Fetch-Dest/-Mode, priority), never curl's "*/*" on a page.
func TestServeCurlDestinations(t *testing.T) {
	s := startFPServer(t)
	_, port, _ := net.SplitHostPort(s.h2)
	rp := startProxy(t, "-cacert", s.ca, "-allow-private", "-connect-ports", port, "-profile", "firefox-153-linux", "-no-ua-match")
	p, err := emulation.Lookup("firefox-153-linux")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path  string
		args  []string
		in    emulation.Initiator
		extra []emulation.Header // the caller's own headers after the list
	}{
		{"/api/echo/", nil, emulation.Navigate, nil},
		{"/api/echo/site.css", nil, emulation.Style, nil},
		{"/api/echo/app.js?v=1", nil, emulation.Script, nil},
		{"/api/echo/logo.png", nil, emulation.Image, nil},
		{"/api/echo/f.woff2", nil, emulation.Font, nil},
		{"/api/echo/v.webm", nil, emulation.Media, nil},
		{"/api/echo/frame", []string{"-H", "Sec-Fetch-Dest: iframe", "-H", "Sec-Fetch-Mode: navigate"}, emulation.Iframe, nil},
		{"/api/echo/items", []string{"-H", "Accept: application/json"}, emulation.Fetch, nil}, // script's Accept kept
		{"/api/echo/items", []string{"-H", "X-Requested-With: XMLHttpRequest"}, emulation.XHR,
			[]emulation.Header{{Name: "x-requested-with", Value: "XMLHttpRequest"}}},
	} {
		t.Run(string(tc.in)+tc.path, func(t *testing.T) {
			body, _ := curlThrough(t, rp, append([]string{"--http2"}, append(tc.args, "https://"+s.h2+tc.path)...)...)
			var r report
			if err := json.Unmarshal([]byte(body), &r); err != nil {
				t.Fatalf("decoding fpserver's echo: %v\n%s", err, body)
			}
			want := append([]string(nil), p.H2.PseudoOrder...)
			for _, h := range emulation.ProfileList(p, tc.in, true, false) {
				if emulation.IsCallerOnly(h.Name) {
					continue // curl sends no cookie, referer or origin
				}
				if h.Name == "accept" && tc.in == emulation.Fetch {
					h.Value = "application/json" // page script chooses a fetch's Accept
				}
				want = append(want, h.Name+": "+h.Value)
			}
			for _, h := range tc.extra {
				want = append(want, h.Name+": "+h.Value)
			}
			var got []string
			for _, h := range r.HTTP.Headers {
				if strings.HasPrefix(h.Name, ":") {
					got = append(got, h.Name)
					continue
				}
				got = append(got, h.Name+": "+h.Value)
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("fpserver saw\n  %s\nwant Firefox's %s list\n  %s", strings.Join(got, "\n  "), tc.in, strings.Join(want, "\n  "))
			}
		})
	}
}
