package proxy

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	xproxy "golang.org/x/net/proxy"

	"github.com/guanaco-fp/guanaco/emulation/upstream"
	"github.com/guanaco-fp/guanaco/internal/proxytest"
	"github.com/guanaco-fp/guanaco/internal/testenv"
)

// flowLog collects flows and the JSON access log.
type flowLog struct {
	mu    sync.Mutex
	flows []Flow
	buf   testenv.SyncBuffer
}

func (l *flowLog) add(f Flow) {
	l.mu.Lock()
	l.flows = append(l.flows, f)
	l.mu.Unlock()
}

func (l *flowLog) all() []Flow {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.flows)
}

// lines returns the JSON access log lines whose msg is "request".
func (l *flowLog) lines(t *testing.T) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("access log line %q: %v", line, err)
		}
		if m["msg"] == "request" {
			out = append(out, m)
		}
	}
	return out
}

func mustUpstream(t *testing.T, raw string) *upstream.Proxy {
	t.Helper()
	p, err := upstream.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func uaEcho() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.UserAgent())
	})
}

// TestUpstreamChaining: requests leave through the default upstream (an
// HTTP CONNECT proxy) or the one their label names (a SOCKS5 server), or
// directly with "+upstream=direct"; an unknown label is refused with the
// valid ones. Every request makes one access log line and one flow.
func TestUpstreamChaining(t *testing.T) {
	connectPx := proxytest.StartConnect(t, "cu", "cp")
	socksPx := proxytest.StartSOCKS5(t, "su", "sp")
	var log flowLog
	env := startProxy(t, Options{
		AllowPrivate: true,
		Upstream:     mustUpstream(t, "http://cu:cp@"+connectPx.Addr),
		Upstreams: map[string]*upstream.Proxy{
			"pool2": mustUpstream(t, "socks5://su:sp@"+socksPx.Addr),
			"bad":   mustUpstream(t, "http://cu:wrong@"+connectPx.Addr),
		},
		OnFlow: log.add,
		Logger: slog.New(slog.NewJSONHandler(&log.buf, nil)),
	})
	origin := startOrigin(t, env.originCA, uaEcho())
	env.allowPort(t, origin.URL)
	originAddr := strings.TrimPrefix(origin.URL, "https://")

	get := func(user *url.Userinfo) (int, string) {
		t.Helper()
		resp, err := env.client(user).Get(origin.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, readAll(t, resp)
	}
	if code, _ := get(nil); code != http.StatusOK {
		t.Fatalf("default upstream: %d", code)
	}
	if got := connectPx.Targets(); len(got) != 1 || got[0] != originAddr {
		t.Errorf("CONNECT upstream saw %v, want [%s]", got, originAddr)
	}
	if code, _ := get(url.UserPassword("bob+upstream=pool2+profile=firefox-153-linux", "x")); code != http.StatusOK {
		t.Fatalf("labelled upstream: %d", code)
	}
	if got := socksPx.Targets(); len(got) != 1 || got[0] != originAddr {
		t.Errorf("SOCKS5 upstream saw %v, want [%s]", got, originAddr)
	}
	if code, _ := get(url.UserPassword("bob+upstream=direct", "x")); code != http.StatusOK {
		t.Fatalf("direct: %d", code)
	}
	if len(connectPx.Targets()) != 1 || len(socksPx.Targets()) != 1 {
		t.Errorf("+upstream=direct went through a proxy: %v %v", connectPx.Targets(), socksPx.Targets())
	}
	auth := base64.StdEncoding.EncodeToString([]byte("bob+upstream=nope:x"))
	resp, body := rawProxyRequest(t, env.addr, "GET "+origin.URL+"/ HTTP/1.1\r\nHost: "+originAddr+"\r\nProxy-Authorization: Basic "+auth+"\r\n\r\n")
	if code := resp.StatusCode; code != http.StatusBadRequest || !strings.Contains(body, "bad, direct, pool2") || !strings.Contains(body, "-upstreams-file") {
		t.Errorf("unknown upstream: %d %q", resp.StatusCode, body)
	}

	auth = base64.StdEncoding.EncodeToString([]byte("bob+upstream=bad:x"))
	resp, body = rawProxyRequest(t, env.addr, "GET "+origin.URL+"/ HTTP/1.1\r\nHost: "+originAddr+"\r\nProxy-Authorization: Basic "+auth+"\r\n\r\n")
	if resp.StatusCode != http.StatusBadGateway || body != "emuproxy: upstream proxy refused the tunnel\n" {
		t.Errorf("upstream refusing the tunnel: %d %q", resp.StatusCode, body)
	}

	flows := log.all()
	if len(flows) != 5 {
		t.Fatalf("%d flows, want 5 (the CONNECTs are not flows): %+v", len(flows), flows)
	}
	if f := flows[4]; f.Status != http.StatusBadGateway || !strings.Contains(f.Err, "407") {
		t.Errorf("refused tunnel's flow: %+v, want 502 with the proxy's 407 in Err", f)
	}
	want := []struct {
		upstream, profile string
		status            int
	}{
		{"http://cu:xxxxx@" + connectPx.Addr, "chromium-156-linux", 200},
		{"pool2", "firefox-153-linux", 200},
		{"", "chromium-156-linux", 200},
		{"", "", 400},
	}
	for i, w := range want {
		f := flows[i]
		if f.Upstream != w.upstream || f.Profile != w.profile || f.Status != w.status || f.Method != "GET" || f.Host != originAddr {
			t.Errorf("flow %d: %+v, want upstream %q profile %q status %d", i, f, w.upstream, w.profile, w.status)
		}
		if w.status == 200 && (f.UpstreamProto != "h2" || f.Bytes == 0 || f.URL != origin.URL+"/" || f.Client == "") {
			t.Errorf("flow %d: %+v", i, f)
		}
	}
	lines := log.lines(t)
	if len(lines) != 5 {
		t.Fatalf("%d access log lines, want 4:\n%s", len(lines), log.buf.String())
	}
	for _, key := range []string{"client", "profile", "method", "host", "status", "bytes", "duration", "upstream_proto"} {
		if _, ok := lines[0][key]; !ok {
			t.Errorf("access log line lacks %q: %v", key, lines[0])
		}
	}
	if lines[0]["level"] != "INFO" || lines[1]["upstream"] != "pool2" {
		t.Errorf("access log lines: %v", lines[:2])
	}
}

// TestUpstreamEgress: the egress policy applies to the upstream proxy's
// own address (a loopback proxy is refused without AllowPrivate), and to
// IP-literal destinations; names are left to the proxy to resolve.
func TestUpstreamEgress(t *testing.T) {
	px := proxytest.StartConnect(t, "", "")
	var log flowLog
	env := startProxy(t, Options{Upstream: mustUpstream(t, "http://"+px.Addr), OnFlow: log.add, Logger: slog.New(slog.NewJSONHandler(&log.buf, nil))})
	for _, u := range []string{"http://example.com/", "http://10.1.2.3/"} {
		resp, err := env.client(nil).Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "-allow-private") {
			t.Errorf("%s: %d %q, want 403 naming -allow-private", u, resp.StatusCode, body)
		}
	}
	if got := px.Targets(); len(got) != 0 {
		t.Errorf("the refused upstream was reached: %v", got)
	}
	// The operator's access log line carries the full reason (the client's
	// body does not): the upstream's loopback address, then the literal.
	lines := log.lines(t)
	if len(lines) != 2 {
		t.Fatalf("%d access log lines, want 2:\n%s", len(lines), log.buf.String())
	}
	for i, want := range []string{"127.0.0.1", "10.1.2.3"} {
		if e, _ := lines[i]["err"].(string); !strings.Contains(e, want) || lines[i]["level"] != "INFO" {
			t.Errorf("line %d: %v, want an info line whose err names %s", i, lines[i], want)
		}
	}
}

// TestSOCKS5ListenerCurl: the real curl speaks SOCKS5 (remote name
// resolution) to the proxy's SOCKS5 listener, with credentials whose
// user name carries a profile label; the request is re-originated as
// that profile. Wrong credentials and a missing login are refused.
func TestSOCKS5ListenerCurl(t *testing.T) {
	curl := testenv.RequireTool(t, "curl")
	var log flowLog
	env := startProxy(t, Options{AllowPrivate: true, Credentials: []Credential{{User: "alice", Password: "pw"}}, OnFlow: log.add})
	origin := startOrigin(t, env.originCA, uaEcho())
	env.allowPort(t, origin.URL)
	ln, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = env.p.ServeSOCKS5(ln) }()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, env.ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(user string) (string, error) {
		var out, errb bytes.Buffer
		cmd := exec.Command(curl, "-sS", "--max-time", "20", "--cacert", caFile, "-x", "socks5h://"+user+"@"+ln.Addr().String(), origin.URL+"/")
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String() + errb.String(), err
	}
	ff := lookupProfile(catalogue(t), "firefox-153-linux")
	out, err := run("alice+profile=firefox-153-linux:pw")
	if err != nil || out != ff.UserAgent {
		t.Fatalf("curl through the SOCKS5 listener: %v %q", err, out)
	}
	if f := log.all(); len(f) != 1 || f[0].Profile != ff.Name || f[0].UpstreamProto != "h2" {
		t.Errorf("flows %+v", f)
	}
	if out, err := run("alice:wrong"); err == nil {
		t.Errorf("wrong credentials accepted: %q", out)
	}
	var out2, errb bytes.Buffer
	cmd := exec.Command(curl, "-sS", "--max-time", "20", "--cacert", caFile, "-x", "socks5h://"+ln.Addr().String(), origin.URL+"/")
	cmd.Stdout, cmd.Stderr = &out2, &errb
	if err := cmd.Run(); err == nil {
		t.Errorf("no credentials accepted: %q", out2.String())
	}
}

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// TestSOCKS5Refusals: the SOCKS5 listener applies the port policy, the
// egress policy and the upstream labels as the HTTP listener does, and
// answers BIND with "command not supported".
func TestSOCKS5Refusals(t *testing.T) {
	env := startProxy(t, Options{})
	ln, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = env.p.ServeSOCKS5(ln) }()
	dial := func(user, target string) error {
		var auth *xproxy.Auth
		if user != "" {
			auth = &xproxy.Auth{User: user, Password: "x"}
		}
		d, err := xproxy.SOCKS5("tcp", ln.Addr().String(), auth, xproxy.Direct)
		if err != nil {
			t.Fatal(err)
		}
		c, err := d.Dial("tcp", target)
		if err == nil {
			_ = c.Close()
		}
		return err
	}
	for _, c := range []struct{ user, target, why string }{
		{"", "127.0.0.1:443", "loopback refused without AllowPrivate"},
		{"", "example.com:8080", "port outside Ports"},
		{"bob+upstream=nope", "example.com:443", "unknown upstream label"},
	} {
		err := dial(c.user, c.target)
		if err == nil || !strings.Contains(err.Error(), "not allowed") {
			t.Errorf("%s: err %v, want a 'not allowed' reply", c.why, err)
		}
	}
	// BIND (command 2) is not supported.
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = conn.Write([]byte{5, 1, 0, 5, 2, 0, 1, 1, 2, 3, 4, 0, 80})
	reply := make([]byte, 12)
	n, _ := io.ReadAtLeast(conn, reply, 4)
	if n < 4 || reply[0] != 5 || reply[1] != 0 || reply[3] != socksCmdNotSupp {
		t.Errorf("BIND: reply % x, want method 0 then reply code 7", reply[:n])
	}
}
