package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// proxyGet sends an absolute-form GET through the proxy.
func proxyGet(t *testing.T, rp *runningProxy, target string) (int, string) {
	t.Helper()
	cl := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: rp.addr})}}
	resp, err := cl.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServePorts: -ports is the one port policy, for absolute-form
// requests as for CONNECT; -connect-ports is its alias; without either,
// only 443 and 80 are reached.
func TestServePorts(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "origin") }))
	defer origin.Close()
	_, port, _ := net.SplitHostPort(origin.Listener.Addr().String())
	for _, f := range []string{"-ports", "-connect-ports"} {
		rp := startProxy(t, "-allow-private", f, "1,"+port)
		if code, body := proxyGet(t, rp, origin.URL+"/"); code != 200 || body != "origin" {
			t.Errorf("%s %s: %d %q", f, port, code, body)
		}
		if code, _ := proxyGet(t, rp, "http://127.0.0.1:2/"); code != http.StatusForbidden {
			t.Errorf("%s %s, port 2: %d, want 403", f, port, code)
		}
	}
	rp := startProxy(t, "-allow-private")
	want := fmt.Sprintf("emuproxy: destination not allowed: port %s (emuproxy serve -ports, alias -connect-ports, allows it)\n", port)
	if code, body := proxyGet(t, rp, origin.URL+"/"); code != http.StatusForbidden || body != want {
		t.Errorf("default ports, absolute-form to %s: %d %q, want 403 %q", port, code, body, want)
	}
	dir := filepath.Join(t.TempDir(), "ca")
	if code, _, errOut := runMain(t, nil, "", "serve", "-listen", freeAddr(t), "-ca-dir", dir, "-ports", "0"); code != exitUsage || !strings.Contains(errOut, "-ports: bad port") {
		t.Errorf("-ports 0: exit %d %s", code, errOut)
	}
}
