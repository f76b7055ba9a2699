package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/internal/proxytest"
	"github.com/guanaco-fp/guanaco/internal/testenv"
)

// runServe runs `emuproxy serve` in-process until the returned stop is
// called; stop returns the exit status.
func runServe(t *testing.T, args ...string) (rp *runningProxy, stop func() int) {
	t.Helper()
	caDir := filepath.Join(t.TempDir(), "ca")
	rp = &runningProxy{addr: freeAddr(t), caFile: filepath.Join(caDir, "ca.pem"), log: &testenv.SyncBuffer{}}
	m := &Main{Stdin: strings.NewReader(""), Stdout: rp.log, Stderr: rp.log, Getenv: func(string) (string, bool) { return "", false }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	all := append([]string{"serve", "-listen", rp.addr, "-ca-dir", caDir, "-profiles-dir", t.TempDir(), "-shutdown-timeout", "2s"}, args...)
	go func() { done <- m.Run(ctx, all) }()
	stopped := false
	stop = func() int {
		if stopped {
			return exitOK
		}
		stopped = true
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(15 * time.Second):
			t.Fatalf("emuproxy serve did not stop\n%s", rp.log.String())
		}
		return -1
	}
	t.Cleanup(func() { stop() })
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(rp.log.String(), "emuproxy listening") {
		select {
		case code := <-done:
			t.Fatalf("emuproxy serve exited %d:\n%s", code, rp.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("emuproxy serve did not start:\n%s", rp.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return rp, stop
}

// TestServeUpstreamSOCKSAndHAR: the real curl goes through emuproxy's
// HTTP and SOCKS5 listeners; requests leave through the -upstream
// CONNECT proxy, or through a SOCKS5 upstream named in -upstreams-file
// when the user label asks; each request is one JSON access log line and
// one HAR entry.
func TestServeUpstreamSOCKSAndHAR(t *testing.T) {
	curl := testenv.RequireTool(t, "curl")
	s := startGetServer(t)
	connectPx := proxytest.StartConnect(t, "cu", "cp")
	socksPx := proxytest.StartSOCKS5(t, "", "")
	dir := t.TempDir()
	upFile := filepath.Join(dir, "upstreams")
	if err := os.WriteFile(upFile, []byte("# pools\npool2 socks5://"+socksPx.Addr+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	harFile := filepath.Join(dir, "flows.har")
	socksAddr := freeAddr(t)
	rp, stop := runServe(t, "-cacert", s.ca, "-allow-private", "-ports", s.port, "-log-format", "json",
		"-upstream", "http://cu:cp@"+connectPx.Addr, "-upstreams-file", upFile, "-socks5", socksAddr, "-har", harFile)
	run := func(proxyURL string) string {
		t.Helper()
		var out, errb bytes.Buffer
		cmd := exec.Command(curl, "-sS", "--max-time", "20", "--cacert", rp.caFile, "-x", proxyURL, s.url("localhost", "/hello"))
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("curl -x %s: %v %s\n%s", proxyURL, err, errb.String(), rp.log.String())
		}
		return out.String()
	}
	target := "localhost:" + s.port
	if out := run("http://" + rp.addr); out != "GET /hello \n" {
		t.Errorf("through the HTTP listener: %q", out)
	}
	if got := connectPx.Targets(); len(got) != 1 || got[0] != target {
		t.Errorf("-upstream saw %v, want [%s]", got, target)
	}
	if out := run("http://me+upstream=pool2:x@" + rp.addr); out != "GET /hello \n" {
		t.Errorf("with +upstream=pool2: %q", out)
	}
	if got := socksPx.Targets(); len(got) != 1 || got[0] != target {
		t.Errorf("pool2 saw %v, want [%s]", got, target)
	}
	if out := run("socks5h://" + socksAddr); out != "GET /hello \n" {
		t.Errorf("through the SOCKS5 listener: %q", out)
	}
	if code := stop(); code != exitOK {
		t.Fatalf("serve exited %d\n%s", code, rp.log.String())
	}

	var requests []map[string]any
	for _, line := range strings.Split(rp.log.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "request" {
			requests = append(requests, m)
		}
	}
	if len(requests) != 3 {
		t.Fatalf("%d access log lines, want 3:\n%s", len(requests), rp.log.String())
	}
	if r := requests[1]; r["host"] != target || r["status"] != 200.0 || r["upstream"] != "pool2" || r["upstream_proto"] != "h2" || r["profile"] == "" {
		t.Errorf("access log line %v", r)
	}
	// The SOCKS5 client's request used -upstream (on the pooled
	// connection of the first request: same profile, same upstream).
	if up, _ := requests[2]["upstream"].(string); !strings.Contains(up, connectPx.Addr) || strings.Contains(up, "cp@") {
		t.Errorf("SOCKS5 client's request: upstream %q, want the -upstream proxy (password hidden)", up)
	}
	b, err := os.ReadFile(harFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Log struct {
			Version string `json:"version"`
			Entries []struct {
				Request struct {
					URL string `json:"url"`
				} `json:"request"`
				Response struct {
					Status int `json:"status"`
				} `json:"response"`
				Comment string `json:"comment"`
			} `json:"entries"`
		} `json:"log"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("-har is not JSON: %v\n%s", err, b)
	}
	if doc.Log.Version != "1.2" || len(doc.Log.Entries) != 3 {
		t.Fatalf("HAR: %+v", doc.Log)
	}
	for _, e := range doc.Log.Entries {
		if e.Request.URL != s.url("localhost", "/hello") || e.Response.Status != 200 || !strings.Contains(e.Comment, "upstream_proto=h2") {
			t.Errorf("HAR entry %+v", e)
		}
	}
	if fi, err := os.Stat(harFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("-har file mode: %v %v", fi, err)
	}
}

// TestServeUsageErrors: bad flag values are usage errors (exit 2) that
// name the flag; an unknown -profile lists the valid ones.
func TestServeUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"-upstream", "ftp://proxy.example:21"},
		{"-ports", "443,https"},
		{"-socks5", "nonsense"},
		{"-log-level", "loud"},
		{"-no-such-flag"},
	} {
		code, _, errOut := runMain(t, nil, "", append([]string{"serve", "-ca-dir", dir, "-listen", freeAddr(t)}, args...)...)
		if code != exitUsage || !strings.Contains(errOut, strings.TrimPrefix(args[0], "-")) {
			t.Errorf("serve %q: exit %d, %s", args, code, errOut)
		}
	}
	code, _, errOut := runMain(t, map[string]string{"EMUPROXY_PROFILES_DIR": t.TempDir()}, "", "serve", "-ca-dir", dir, "-listen", freeAddr(t), "-profile", "netscape-4")
	if code != exitFail || !strings.Contains(errOut, "chromium-156-linux") || !strings.Contains(errOut, "firefox-153-linux") {
		t.Errorf("unknown -profile: exit %d, %s", code, errOut)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runMain(t, nil, "", "version")
	if code != exitOK || !strings.HasPrefix(out, "emuproxy ") || !strings.Contains(out, runtime.Version()) || !strings.Contains(out, "commit ") {
		t.Errorf("version: exit %d\n%s", code, out)
	}
	if code, _, _ := runMain(t, nil, "", "version", "extra"); code != exitUsage {
		t.Errorf("version extra: exit %d", code)
	}
}
