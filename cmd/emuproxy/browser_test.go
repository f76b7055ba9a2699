package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/guanaco-fp/guanaco/emulation"
)

// startXvfb starts an Xvfb server on a free display (Xvfb reports it
// through -displayfd) and returns the DISPLAY value; it is killed when
// the test ends.
func startXvfb(t *testing.T) string {
	t.Helper()
	xvfb := requireTool(t, "Xvfb")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := &syncBuffer{}
	cmd := exec.Command(xvfb, "-displayfd", "3", "-screen", "0", "1280x1024x24", "-nolisten", "tcp")
	cmd.ExtraFiles = []*os.File{w}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting Xvfb: %v", err)
	}
	w.Close()
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		got <- strings.TrimSpace(line)
	}()
	select {
	case n := <-got:
		if n == "" {
			t.Fatalf("Xvfb reported no display:\n%s", out.String())
		}
		return ":" + n
	case <-exited:
		t.Fatalf("Xvfb exited:\n%s", out.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("Xvfb did not report its display within 20s:\n%s", out.String())
	}
	return ""
}

// TestServeChromiumAsFirefox drives Debian's chromium, headed under Xvfb,
// through `emuproxy serve -profile firefox-153-linux -no-ua-match` to an
// fpserver: fpserver must record Firefox's JA4, Akamai fingerprint and
// user agent, not Chromium's. Chromium trusts the proxy's leaf with
// --ignore-certificate-errors (browser side only; the proxy verifies the
// fpserver certificate against the test CA). -short skips it.
func TestServeChromiumAsFirefox(t *testing.T) {
	if testing.Short() {
		t.Skip("browser end-to-end test skipped with -short")
	}
	chromium := requireTool(t, "chromium")
	display := startXvfb(t)
	s := startFPServer(t)
	_, port, _ := net.SplitHostPort(s.h2)
	rp := startProxy(t, "-cacert", s.ca, "-allow-private", "-connect-ports", port, "-profile", "firefox-153-linux", "-no-ua-match")
	ff, err := emulation.Lookup("firefox-153-linux")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := emulation.Lookup("chromium-156-linux")
	if err != nil {
		t.Fatal(err)
	}

	chromeLog := &syncBuffer{}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", false),
		chromedp.NoSandbox,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.ProxyServer("http://"+rp.addr),
		// Chromium never proxies loopback names unless told to.
		chromedp.Flag("proxy-bypass-list", "<-loopback>"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Env("DISPLAY="+display),
		chromedp.CombinedOutput(chromeLog),
		chromedp.WSURLReadTimeout(60*time.Second),
	)
	defer cancelAlloc()
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	defer func() {
		if t.Failed() {
			t.Logf("chromium output:\n%s", chromeLog.String())
		}
	}()
	ctx, cancel := context.WithTimeout(browserCtx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate("https://"+s.h2+"/api/fingerprint")); err != nil {
		t.Fatalf("chromium through emuproxy: %v", err)
	}
	navUA, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.userAgent`))
	if err != nil {
		t.Fatal(err)
	}
	body, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(navUA, "Chrome/") {
		t.Fatalf("the browser is not Chromium: %q", navUA)
	}
	var r report
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("decoding fpserver's report: %v\n%s", err, body)
	}
	t.Logf("fpserver saw JA4 %s Akamai %s HTTP/%s", r.Fingerprints.JA4, r.Fingerprints.Akamai, r.HTTP.Version)
	if r.Fingerprints.JA4 != ff.Expected.JA4 {
		t.Errorf("fpserver saw JA4 %s, want Firefox's %s", r.Fingerprints.JA4, ff.Expected.JA4)
	}
	if r.Fingerprints.JA4 == ch.Expected.JA4 {
		t.Errorf("fpserver saw Chromium's JA4 %s", r.Fingerprints.JA4)
	}
	if r.HTTP.Version != "2" || r.Fingerprints.Akamai != ff.Expected.Akamai {
		t.Errorf("fpserver saw HTTP/%s Akamai %s, want HTTP/2 and Firefox's %s", r.HTTP.Version, r.Fingerprints.Akamai, ff.Expected.Akamai)
	}
	if r.UserAgent != ff.UserAgent {
		t.Errorf("fpserver saw user agent %q, want Firefox's %q", r.UserAgent, ff.UserAgent)
	}
	for _, h := range r.HTTP.Headers {
		if l := strings.ToLower(h.Name); strings.HasPrefix(l, "sec-ch-ua") {
			t.Errorf("Chromium's client hint %s reached the origin as Firefox", h.Name)
		}
	}
}
