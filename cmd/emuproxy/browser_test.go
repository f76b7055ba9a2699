package main

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/internal/testenv"
)

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
	chromium := testenv.RequireTool(t, "chromium")
	display := testenv.StartXvfb(t)
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

	chromeLog := &testenv.SyncBuffer{}
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
