package main

// End-to-end tests with real browsers: Debian's chromium run headed under
// an Xvfb display started by the test and driven by chromedp, and
// firefox-esr run from the command line with a fresh profile that trusts
// fpserver's certificate. The page "/" runs its fetch, XHR, form and
// WebSocket probes; the tests then read the captures the store holds for
// the visit. -short skips them.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/emulation/transport"
	"github.com/guanaco-fp/guanaco/fingerprint"
	"github.com/guanaco-fp/guanaco/internal/testenv"
	"github.com/guanaco-fp/guanaco/store"
)

// chromiumName is Debian's chromium launcher (/usr/bin/chromium).
const chromiumName = "chromium"

// skipBrowserShort skips browser tests under -short.
func skipBrowserShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("browser end-to-end test skipped with -short")
	}
}

// pageState is what the test reads from the fingerprint page's DOM.
type pageState struct {
	UserAgent string            `json:"ua"`
	JA4       string            `json:"ja4"`
	Status    map[string]string `json:"status"` // probe column -> status pill text
	Captures  map[string]string `json:"captures"`
	Meta      map[string]string `json:"meta"`
	// VisitKey is taken from the page's link to the visit's profile; it
	// is the value of the HttpOnly visit cookie.
	VisitKey string `json:"visit_key"`
}

// pageStateJS collects pageState: the JA4 row of the fingerprints table,
// each probe column's status and the capture its link points to.
const pageStateJS = `(() => {
  const out = {ua: navigator.userAgent, ja4: "", status: {}, captures: {}, meta: {}, visit_key: ""};
  const prof = document.querySelector('a[href^="/api/profiles/visit/"]');
  if (prof) { out.visit_key = decodeURIComponent(prof.getAttribute("href").slice(20)); }
  for (const tr of document.querySelectorAll("#fingerprints tr")) {
    const name = tr.querySelector(".fp-name");
    const val = tr.querySelector(".fp-value");
    if (name && val && name.textContent.trim() === "JA4") {
      const a = val.querySelector("a");
      out.ja4 = (a ? a.textContent : val.textContent).trim();
    }
  }
  for (const col of ["navigate", "fetch", "xhr", "form", "websocket", "iframe", "style", "script", "image", "font", "media", "manifest"]) {
    const el = document.getElementById("probe-" + col);
    if (!el) { continue; }
    const st = el.querySelector(".status");
    out.status[col] = st ? st.textContent.trim() : "";
    const a = el.querySelector(".meta a");
    const href = a ? a.getAttribute("href") : "";
    out.captures[col] = href.startsWith("/captures/") ? decodeURIComponent(href.slice(10)) : "";
    const meta = el.querySelector(".meta");
    out.meta[col] = meta ? meta.textContent.trim() : "";
  }
  return out;
})()`

// visitCaptures are the stored captures of one page visit, by initiator.
type visitCaptures map[string]*reportJSON

// lowerHeader returns the value of the first header named name in any
// case.
func lowerHeader(r *reportJSON, name string) (string, bool) {
	for _, h := range r.HTTP.Headers {
		if strings.EqualFold(h[0], name) {
			return h[1], true
		}
	}
	return "", false
}

// checkBrowserVisit checks the captures of a browser's page visit: every
// initiator stored with its own header order, the request shapes that tell
// them apart, and fingerprints that agree with the stored ClientHellos.
func checkBrowserVisit(t *testing.T, caps visitCaptures, version string) {
	t.Helper()
	for _, in := range []string{"navigate", "fetch", "xhr", "form"} {
		c := caps[in]
		if c == nil {
			t.Fatalf("no %s capture", in)
		}
		if c.Initiator != in || c.HTTP.Version != version || len(c.HTTP.Headers) == 0 {
			t.Errorf("%s capture %s: initiator %q, version %q, %d headers", in, c.CaptureID, c.Initiator, c.HTTP.Version, len(c.HTTP.Headers))
		}
		checkStoredTLS(t, nil, c)
		if wantALPN := alpnOf(version); c.TLS.Negotiated.ALPN != wantALPN {
			t.Errorf("%s capture: negotiated ALPN %q", in, c.TLS.Negotiated.ALPN)
		}
		t.Logf("%s %s: %s", in, c.CaptureID, c.Fingerprints["header_order"])
	}
	nav, fetch, xhr, form := caps["navigate"], caps["fetch"], caps["xhr"], caps["form"]
	want := []struct {
		c              *reportJSON
		method         string
		mode, dest     string
		upgradeRequest bool
		contentType    string
	}{
		{nav, "GET", "navigate", "document", true, ""},
		{fetch, "POST", "cors", "empty", false, "text/plain;charset=UTF-8"},
		{xhr, "POST", "cors", "empty", false, "text/plain;charset=UTF-8"},
		{form, "POST", "navigate", "iframe", true, "application/x-www-form-urlencoded"},
	}
	for _, w := range want {
		c := w.c
		if c.Method != w.method {
			t.Errorf("%s: method %s, want %s", c.Initiator, c.Method, w.method)
		}
		if v, _ := lowerHeader(c, "sec-fetch-mode"); v != w.mode {
			t.Errorf("%s: sec-fetch-mode %q, want %q", c.Initiator, v, w.mode)
		}
		if v, _ := lowerHeader(c, "sec-fetch-dest"); v != w.dest {
			t.Errorf("%s: sec-fetch-dest %q, want %q", c.Initiator, v, w.dest)
		}
		if _, ok := lowerHeader(c, "upgrade-insecure-requests"); ok != w.upgradeRequest {
			t.Errorf("%s: upgrade-insecure-requests present=%v, want %v", c.Initiator, ok, w.upgradeRequest)
		}
		if v, _ := lowerHeader(c, "content-type"); v != w.contentType {
			t.Errorf("%s: content-type %q, want %q", c.Initiator, v, w.contentType)
		}
		if !strings.Contains(c.UserAgent, "Chrome/") || strings.Contains(c.UserAgent, "HeadlessChrome") {
			t.Errorf("%s: user agent %q is not a headed Chrome's", c.Initiator, c.UserAgent)
		}
	}
	for _, pair := range [][2]*reportJSON{{nav, fetch}, {nav, form}, {fetch, form}, {nav, xhr}} {
		if pair[0].Fingerprints["header_order_hash"] == pair[1].Fingerprints["header_order_hash"] {
			t.Errorf("%s and %s captures have the same header order %q", pair[0].Initiator, pair[1].Initiator, pair[0].Fingerprints["header_order"])
		}
	}
	if fetch.Fingerprints["header_order"] == xhr.Fingerprints["header_order"] {
		t.Logf("fetch and XHR send the same header order")
	}
}

// checkWebSocketCapture checks the page's WebSocket handshake as stored:
// initiator websocket, the stored ClientHello's fingerprints, and the
// names browsers always send in their order. Over HTTP/2 (version "2")
// that is an extended CONNECT (RFC 8441: :protocol websocket, no
// Upgrade, Connection or key); over HTTP/1.1 an RFC 6455 GET whose first
// header is Host, with the browser's casing. wantOrder lists names that
// must appear in that relative order (exact case).
func checkWebSocketCapture(t *testing.T, c *reportJSON, version string, wantOrder []string) {
	t.Helper()
	if c == nil {
		t.Fatal("no websocket capture")
	}
	t.Logf("websocket %s over HTTP/%s: %s", c.CaptureID, c.HTTP.Version, c.Fingerprints["header_order"])
	if c.Initiator != "websocket" || c.HTTP.Version != version || c.Path != "/probe/ws" || !c.Complete {
		t.Errorf("websocket capture %s: initiator %q, version %q (want %s), path %q, complete %v",
			c.CaptureID, c.Initiator, c.HTTP.Version, version, c.Path, c.Complete)
	}
	checkStoredTLS(t, nil, c)
	names := c.headerNames()
	if version == "2" {
		if c.Method != "CONNECT" {
			t.Errorf("websocket over HTTP/2: method %q, want an extended CONNECT", c.Method)
		}
		if v, _ := c.header(":protocol"); v != "websocket" {
			t.Errorf("websocket over HTTP/2: :protocol %q", v)
		}
		for _, n := range []string{"upgrade", "connection", "sec-websocket-key"} {
			if slices.Contains(names, n) {
				t.Errorf("extended CONNECT carries %s: %q", n, names)
			}
		}
	} else {
		if c.Method != "GET" || len(names) == 0 || names[0] != "Host" {
			t.Errorf("websocket over HTTP/1.1: method %q, names %q", c.Method, names)
		}
		if v, _ := c.header("Upgrade"); !strings.EqualFold(v, "websocket") {
			t.Errorf("Upgrade %q", v)
		}
		if v, _ := c.header("Connection"); !strings.Contains(strings.ToLower(v), "upgrade") {
			t.Errorf("Connection %q", v)
		}
		if v, _ := c.header("Sec-WebSocket-Key"); len(v) != 24 {
			t.Errorf("Sec-WebSocket-Key %q", v)
		}
	}
	if v, _ := lowerHeader(c, "sec-websocket-version"); v != "13" {
		t.Errorf("Sec-WebSocket-Version %q", v)
	}
	last := -1
	for _, n := range wantOrder {
		i := slices.Index(names, n)
		if i < 0 {
			t.Errorf("websocket handshake lacks %q: %q", n, names)
			continue
		}
		if i < last {
			t.Errorf("websocket handshake: %q out of the expected order %q: %q", n, wantOrder, names)
		}
		last = i
	}
}

// Names Chromium always sends in its WebSocket handshakes, in its order.
var (
	chromiumWSOrderH2 = []string{":method", ":authority", ":scheme", ":path", ":protocol", "user-agent", "origin", "sec-websocket-version"}
	chromiumWSOrderH1 = []string{"Host", "Connection", "User-Agent", "Upgrade", "Origin", "Sec-WebSocket-Version", "Sec-WebSocket-Key"}
)

// alpnOf is the ALPN protocol that carries HTTP version v ("2", "1.1").
func alpnOf(v string) string {
	if v == "2" {
		return "h2"
	}
	return "http/1.1"
}

// probeColumns are the page's probe columns the script fills.
var probeColumns = []string{"fetch", "xhr", "form", "websocket"}

// subresourceColumns are the page's sub-resource columns every browser
// fills (media and manifest depend on the browser).
var subresourceColumns = []string{"iframe", "style", "script", "image", "font"}

// loadVisit waits for the page's probes, reads the DOM and fetches the
// stored captures the page links to. It returns the page state and the
// captures.
func loadVisit(t *testing.T, s *e2eServer, ctx context.Context, pageURL string) (pageState, visitCaptures) {
	t.Helper()
	nctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(nctx, chromedp.Navigate(pageURL)); err != nil {
		t.Fatalf("navigating to %s: %v", pageURL, err)
	}
	var st pageState
	waitFor(t, 30*time.Second, "the page's fetch, xhr, form and websocket probes", func() (bool, error) {
		ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		v, err := chromedp.Run(ectx, chromedp.Evaluate[pageState](pageStateJS))
		if err != nil {
			return false, err
		}
		st = v
		for _, col := range probeColumns {
			if s := st.Status[col]; s != "captured" && s != "failed" {
				return false, fmt.Errorf("probe %s: %q", col, s)
			}
		}
		return true, nil
	})
	for _, col := range probeColumns {
		if st.Status[col] != "captured" {
			t.Fatalf("probe %s: status %q (%s)", col, st.Status[col], st.Meta[col])
		}
	}
	// The sub-resource columns, filled from the visit's profile once the
	// probes are done.
	waitFor(t, 30*time.Second, "the page's sub-resource columns", func() (bool, error) {
		ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		v, err := chromedp.Run(ectx, chromedp.Evaluate[pageState](pageStateJS))
		if err != nil {
			return false, err
		}
		for _, col := range subresourceColumns {
			if s := v.Status[col]; s != "captured" {
				return false, fmt.Errorf("sub-resource %s: %q (%s)", col, s, v.Meta[col])
			}
		}
		return true, nil
	})
	caps := visitCaptures{}
	for _, col := range append([]string{"navigate"}, probeColumns...) {
		id := st.Captures[col]
		if id == "" {
			t.Fatalf("the page shows no capture link for %s: %+v", col, st)
		}
		caps[col] = s.waitCapture(t, id)
	}
	return st, caps
}

// visitProfile is the part of a profile document the tests read.
type visitProfile struct {
	Browser   string `json:"browser"`
	UserAgent string `json:"user_agent"`
	H1        *struct {
		Headers map[string][][2]string `json:"headers"`
	} `json:"h1"`
	H2 *struct {
		Headers map[string][][2]string `json:"headers"`
	} `json:"h2"`
	Expected struct {
		JA4 string `json:"ja4"`
	} `json:"expected"`
	Source struct {
		VisitKey string   `json:"visit_key"`
		Captures []string `json:"captures"`
	} `json:"source"`
	ClientHints *struct {
		H1 map[string][][2]string `json:"h1"`
		H2 map[string][][2]string `json:"h2"`
	} `json:"client_hints"`
}

// checkVisitProfile builds the visit's profile through the API and checks
// it holds the visit's captures, a header list per initiator, and the
// browser's user agent (containing uaMarker).
func checkVisitProfile(t *testing.T, s *e2eServer, key string, caps visitCaptures, version, uaMarker string) {
	t.Helper()
	code, body := get(t, plainClient(), s.url(t, lnHTTP, "/api/profiles/visit/"+url.PathEscape(key)))
	if code != http.StatusOK {
		t.Fatalf("visit profile: status %d: %.500s", code, body)
	}
	var p visitProfile
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("visit profile: %v", err)
	}
	if p.Source.VisitKey != key && p.Source.VisitKey != "" {
		t.Errorf("profile visit key %q, want %q", p.Source.VisitKey, key)
	}
	// The probes ran once; the navigation may have run twice (Chromium
	// retries it once to send the client hints that Critical-CH asks
	// for): the profile's lists take the visit's first one, its
	// client_hints list the repeat that carried the hints.
	for _, in := range probeColumns {
		if c := caps[in]; !slices.Contains(p.Source.Captures, c.CaptureID) {
			t.Errorf("profile source lacks the %s capture %s: %q", in, c.CaptureID, p.Source.Captures)
		}
	}
	navs := 0
	for _, id := range p.Source.Captures {
		c := s.waitCapture(t, id)
		if c.Initiator == "navigate" {
			navs++
			if c.UserAgent != caps["navigate"].UserAgent || c.HTTP.Version != version {
				t.Errorf("profile navigation %s: user agent %q, version %q", id, c.UserAgent, c.HTTP.Version)
			}
		}
	}
	wantNavs := 1
	if p.ClientHints != nil {
		proto := map[string]map[string][][2]string{"2": p.ClientHints.H2, "1.1": p.ClientHints.H1}[version]
		if len(proto["navigate"]) > 0 {
			wantNavs = 2
		}
	}
	if navs != wantNavs {
		t.Errorf("profile built from %d navigate captures, want %d", navs, wantNavs)
	}
	var lists map[string][][2]string
	switch {
	case version == "2" && p.H2 != nil:
		lists = p.H2.Headers
	case version == "1.1" && p.H1 != nil:
		lists = p.H1.Headers
	}
	for _, in := range []string{"navigate", "fetch", "xhr", "form", "websocket"} {
		if len(lists[in]) == 0 {
			t.Errorf("profile has no HTTP/%s header list for %s", version, in)
		}
	}
	// The websocket list is the handshake's header order without pseudo
	// headers.
	var want []string
	for _, name := range caps["websocket"].headerNames() {
		if !strings.HasPrefix(name, ":") {
			want = append(want, name)
		}
	}
	var got []string
	for _, h := range lists["websocket"] {
		got = append(got, h[0])
	}
	if !slices.Equal(got, want) {
		t.Errorf("profile websocket list %q, the handshake sent %q", got, want)
	}
	if !strings.Contains(p.UserAgent, uaMarker) || p.UserAgent != caps["navigate"].UserAgent {
		t.Errorf("profile user agent %q, navigation's %q", p.UserAgent, caps["navigate"].UserAgent)
	}
	checkSubresourceLists(t, s, key, version)
}

// checkSubresourceLists waits until the visit's profile has a header list
// for each sub-resource the page loads in every browser (the captures are
// stored asynchronously) and checks that each was fetched as its
// destination (its Sec-Fetch-Dest; the page is served over https).
func checkSubresourceLists(t *testing.T, s *e2eServer, key, version string) {
	t.Helper()
	wantDest := map[string]string{"iframe": "iframe", "style": "style", "script": "script", "image": "image", "font": "font"}
	var lists map[string][][2]string
	waitFor(t, 20*time.Second, "the page's sub-resources in the visit profile", func() (bool, error) {
		code, body := get(t, plainClient(), s.url(t, lnHTTP, "/api/profiles/visit/"+url.PathEscape(key)))
		if code != http.StatusOK {
			return false, fmt.Errorf("visit profile: status %d", code)
		}
		var p visitProfile
		if err := json.Unmarshal(body, &p); err != nil {
			return false, err
		}
		lists = nil
		switch {
		case version == "2" && p.H2 != nil:
			lists = p.H2.Headers
		case version == "1.1" && p.H1 != nil:
			lists = p.H1.Headers
		}
		for in := range wantDest {
			if len(lists[in]) == 0 {
				return false, fmt.Errorf("no %s list yet", in)
			}
		}
		return true, nil
	})
	for in, dest := range wantDest {
		got := ""
		for _, h := range lists[in] {
			if strings.EqualFold(h[0], "sec-fetch-dest") {
				got = h[1]
			}
		}
		if got != dest {
			t.Errorf("HTTP/%s %s list: Sec-Fetch-Dest %q, want %q (%q)", version, in, got, dest, lists[in])
		}
	}
}

// startChromium starts a headed Chromium on display with a fresh user data
// directory and returns its browser context; it is stopped when the test
// ends, and its output is logged when the test failed.
func startChromium(t *testing.T, chromium, display string, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	chromeLog := &testenv.SyncBuffer{}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", false),
		chromedp.NoSandbox,
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Env("DISPLAY=" + display),
		chromedp.CombinedOutput(chromeLog),
		chromedp.WSURLReadTimeout(60 * time.Second),
	}
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	start := time.Now()
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("starting chromium: %v\n%s", err, tail(chromeLog.String(), 40))
	}
	t.Logf("chromium started on DISPLAY=%s in %v", display, time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chromium output:\n%s", tail(chromeLog.String(), 60))
		}
	})
	return browserCtx
}

// TestE2EChromium loads the fingerprint page in a headed Chromium under
// Xvfb over HTTP/2 (main listener) and HTTP/1.1 (h1-only listener), each in
// a fresh browser context, and checks the visit's stored captures, the JA4
// the page shows and the visit profile.
func TestE2EChromium(t *testing.T) {
	skipBrowserShort(t)
	chromium := testenv.RequireTool(t, chromiumName)
	display := testenv.StartXvfb(t)
	s := startServer(t)

	browserCtx := startChromium(t, chromium, display)

	for _, tc := range []struct {
		name, lst, version string
	}{
		{"h2", lnHTTPS, "2"},
		{"http1.1", lnHTTPSH1, "1.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A browser context of its own: no cookies or TLS sessions
			// shared with the other visit.
			tabCtx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
			defer cancel()
			pageURL := s.url(t, tc.lst, "/")
			st, caps := loadVisit(t, s, tabCtx, pageURL)
			if !strings.Contains(st.UserAgent, "Chrome/") || strings.Contains(st.UserAgent, "HeadlessChrome") {
				t.Errorf("navigator.userAgent %q", st.UserAgent)
			}
			checkBrowserVisit(t, caps, tc.version)
			// Chromium opens the page's WebSocket with extended CONNECT on
			// the page's HTTP/2 connection, since fpserver advertises it.
			wsOrder := chromiumWSOrderH1
			if tc.version == "2" {
				wsOrder = chromiumWSOrderH2
			}
			checkWebSocketCapture(t, caps["websocket"], tc.version, wsOrder)
			nav := caps["navigate"]
			// The JA4 the page shows is the one package fingerprint computes
			// from the navigation's stored ClientHello.
			ch, err := fingerprint.ParseClientHello(nav.TLS.Raw)
			if err != nil {
				t.Fatalf("stored ClientHello of the navigation: %v", err)
			}
			if want := ch.Fingerprints().JA4; st.JA4 != want {
				t.Errorf("page shows JA4 %q, the stored ClientHello gives %q", st.JA4, want)
			}
			if nav.UserAgent != st.UserAgent {
				t.Errorf("stored user agent %q, navigator.userAgent %q", nav.UserAgent, st.UserAgent)
			}
			if tc.version == "1.1" {
				// HTTP/1.1 keeps the browser's casing: Chromium sends Host
				// and User-Agent capitalised and the client hints in lower
				// case.
				names := nav.headerNames()
				if len(names) == 0 || names[0] != "Host" || !slices.Contains(names, "User-Agent") || !slices.Contains(names, "Upgrade-Insecure-Requests") {
					t.Errorf("HTTP/1.1 navigation header names %q lack Chromium's casing", names)
				}
				if slices.ContainsFunc(names, func(n string) bool {
					return strings.HasPrefix(strings.ToLower(n), "sec-ch-ua") && n != strings.ToLower(n)
				}) {
					t.Errorf("client hints not in lower case: %q", names)
				}
			} else {
				if nav.HTTP.H2 == nil || nav.Fingerprints["akamai"] == "" {
					t.Errorf("HTTP/2 navigation without Akamai: %+v", nav.HTTP.H2)
				}
				t.Logf("chromium Akamai: %s", nav.Fingerprints["akamai"])
			}
			t.Logf("chromium over %s: JA4 %s", tc.name, st.JA4)
			if st.VisitKey == "" {
				t.Fatal("the page links to no visit profile")
			}
			checkVisitProfile(t, s, st.VisitKey, caps, tc.version, "Chrome/")
			checkEmulationAfterAcceptCH(t, s, st.VisitKey, caps, s.url(t, tc.lst, ""))
		})
	}
}

// firefoxProfile creates a fresh Firefox profile directory whose NSS
// database trusts certPath as a CA, plus preferences that keep Firefox
// from opening other pages at start.
func firefoxProfile(t *testing.T, certPath string) string {
	t.Helper()
	certutil := testenv.RequireTool(t, "certutil")
	dir := t.TempDir()
	for _, args := range [][]string{
		{"-N", "-d", "sql:" + dir, "--empty-password"},
		{"-A", "-d", "sql:" + dir, "-n", "fp", "-t", "C,,", "-i", certPath},
	} {
		if out, err := runTool(t, 30*time.Second, dir, certutil, args...); err != nil {
			t.Fatalf("certutil %v: %v\n%s", args, err, out)
		}
	}
	prefs := []string{
		`user_pref("browser.shell.checkDefaultBrowser", false);`,
		`user_pref("browser.startup.homepage_override.mstone", "ignore");`,
		`user_pref("browser.aboutwelcome.enabled", false);`,
		`user_pref("datareporting.policy.dataSubmissionEnabled", false);`,
		`user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);`,
		`user_pref("app.update.disabledForTesting", true);`,
		`user_pref("browser.tabs.warnOnClose", false);`,
	}
	if err := os.WriteFile(filepath.Join(dir, "user.js"), []byte(strings.Join(prefs, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestE2EFirefox opens the fingerprint page in firefox-esr (headed, under
// Xvfb) with a profile that trusts the server's certificate, then finds
// the visit's captures in the store and checks them against the stored
// ClientHellos.
func TestE2EFirefox(t *testing.T) {
	skipBrowserShort(t)
	firefox := testenv.RequireTool(t, "firefox-esr")
	display := testenv.StartXvfb(t)
	// fpserver's generated certificate is issued by its own local CA
	// (DATA/tls/ca.pem); Firefox trusts that CA through NSS certutil, as a
	// user would. (mozilla::pkix refuses a CA certificate used as the server
	// certificate, which is why fpserver does not serve a bare self-signed
	// CA.)
	s := startServer(t)
	profile := firefoxProfile(t, filepath.Join(s.dataDir, "tls", "ca.pem"))

	pageURL := fmt.Sprintf("https://localhost:%d/", s.port(t, lnHTTPS))
	cmd := exec.Command(firefox, "--no-remote", "--profile", profile, pageURL)
	cmd.Env = append(os.Environ(), "DISPLAY="+display, "MOZ_CRASHREPORTER_DISABLE=1", "HOME="+t.TempDir())
	exited, _ := startProcess(t, cmd)
	launched := time.Now()

	// Find Firefox's navigation through the store (the only client of this
	// server is Firefox), then the captures of that visit.
	st := s.openStore(t)
	var visit visitCaptures
	var visitKey string
	waitFor(t, 60*time.Second, "Firefox's navigate, fetch, xhr, form and websocket captures", func() (bool, error) {
		select {
		case <-exited:
			t.Fatal("firefox exited early")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if visitKey == "" {
			now := time.Now()
			top, err := st.TopFingerprints(ctx, store.KindJA4, store.TimeWindow{Since: now.Add(-time.Hour), Until: now.Add(time.Hour)}, 20)
			if err != nil {
				return false, err
			}
			for _, fc := range top {
				caps, _, err := st.CapturesByFingerprint(ctx, store.FingerprintQuery{Hash: fc.Hash, Kind: store.KindJA4, Limit: 100})
				if err != nil {
					return false, err
				}
				for _, c := range caps {
					if c.Initiator == store.InitiatorNavigate && strings.Contains(c.UserAgent, "Firefox/") && c.VisitKey != "" {
						visitKey = c.VisitKey
						t.Logf("firefox navigation %s stored %v after launch", c.ID, time.Since(launched).Round(time.Millisecond))
					}
				}
			}
			if visitKey == "" {
				return false, fmt.Errorf("no Firefox navigation among %d JA4 values", len(top))
			}
		}
		caps, err := st.CapturesByVisit(ctx, visitKey)
		if err != nil {
			return false, err
		}
		visit = visitCaptures{}
		for _, c := range caps {
			if _, ok := visit[c.Initiator]; !ok {
				visit[c.Initiator] = &reportJSON{CaptureID: c.ID}
			}
		}
		for _, in := range []string{"navigate", "fetch", "xhr", "form", "websocket"} {
			if visit[in] == nil {
				return false, fmt.Errorf("visit has %v", slices.Sorted(maps.Keys(visit)))
			}
		}
		return true, nil
	})
	t.Logf("firefox visit complete %v after launch", time.Since(launched).Round(time.Millisecond))
	var orders []string
	for _, in := range []string{"navigate", "fetch", "xhr", "form"} {
		// Through the API, as a user would share it.
		c := s.waitCapture(t, visit[in].CaptureID)
		visit[in] = c
		if c.Initiator != in || !strings.Contains(c.UserAgent, "Firefox/") {
			t.Errorf("%s capture %s: initiator %q, user agent %q", in, c.CaptureID, c.Initiator, c.UserAgent)
		}
		if c.HTTP.Version != "2" || c.TLS == nil || c.TLS.SNI != "localhost" {
			t.Errorf("%s: version %q, tls %+v", in, c.HTTP.Version, c.TLS)
		}
		fp := checkStoredTLS(t, nil, c)
		if !strings.HasPrefix(fp.JA4, "t13d") {
			t.Errorf("%s: JA4 %q, want TLS 1.3 with SNI", in, fp.JA4)
		}
		t.Logf("firefox %s: JA4 %s, Akamai %s, headers %s", in, fp.JA4, c.Fingerprints["akamai"], c.Fingerprints["header_order"])
		orders = append(orders, c.Fingerprints["header_order_hash"])
	}
	if orders[0] == orders[1] || orders[0] == orders[3] {
		t.Errorf("Firefox's navigate, fetch and form captures share header orders: %q", orders)
	}
	// Firefox too opens the WebSocket with extended CONNECT on the page's
	// HTTP/2 connection.
	visit["websocket"] = s.waitCapture(t, visit["websocket"].CaptureID)
	checkWebSocketCapture(t, visit["websocket"], "2",
		[]string{":method", ":path", ":authority", ":scheme", ":protocol", "user-agent", "sec-websocket-version", "origin"})
	checkVisitProfile(t, s, visitKey, visit, "2", "Firefox/")
}

// checkEmulationAfterAcceptCH sends, with the profile built from the
// browser's visit, what the browser sent after the page's Accept-CH and
// Critical-CH: the transport navigates to the page (and repeats the
// navigation with the hints, as Chromium did), then sends a navigation and
// a fetch to the same origin. fpserver's records of those must list the
// headers in the order and with the hint values of the browser's own
// navigation repeat and fetch probe (pseudo headers included).
func checkEmulationAfterAcceptCH(t *testing.T, s *e2eServer, key string, caps visitCaptures, base string) {
	t.Helper()
	code, body := get(t, plainClient(), s.url(t, lnHTTP, "/api/profiles/visit/"+url.PathEscape(key)))
	if code != http.StatusOK {
		t.Fatalf("visit profile: status %d: %.300s", code, body)
	}
	p, err := emulation.Unmarshal(body)
	if err != nil {
		t.Fatal(err)
	}
	if p.ClientHints == nil {
		t.Fatal("the visit profile has no client_hints lists")
	}
	tr := transport.New(transport.Options{Profile: p, RootCAs: s.roots})
	defer tr.CloseIdleConnections()
	send := func(in emulation.Initiator, method, path string, rd io.Reader) []string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(transport.WithInitiator(ctx, in), method, base+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Cookie", "gv=emulated")
		if rd != nil {
			req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
			req.Header.Set("Origin", base)
			req.Header.Set("Referer", base+"/")
		}
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("emulated %s: %v", in, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || path == "/" {
			return nil
		}
		rep, err := decodeReport(b)
		if err != nil {
			t.Fatalf("emulated %s: %v", in, err)
		}
		var names []string
		for _, h := range rep.HTTP.Headers {
			names = append(names, h[0])
			if emulation.IsRequestedHint(h[0]) {
				if v, _ := lowerHeader(caps[string(in)], h[0]); v != h[1] {
					t.Errorf("emulated %s: %s = %q, chromium sent %q", in, h[0], h[1], v)
				}
			}
		}
		return names
	}
	send(emulation.Navigate, http.MethodGet, "/", nil)
	for _, tc := range []struct {
		in           emulation.Initiator
		method, path string
		body         io.Reader
	}{
		{emulation.Navigate, http.MethodGet, "/api/fingerprint", nil},
		{emulation.Fetch, http.MethodPost, "/api/echo", strings.NewReader("{}")},
	} {
		got, want := send(tc.in, tc.method, tc.path, tc.body), caps[string(tc.in)].headerNames()
		if !slices.Equal(got, want) {
			t.Errorf("%s after Accept-CH:\n emulation %q\n chromium  %q", tc.in, got, want)
		} else {
			t.Logf("%s after Accept-CH: emulation = chromium (%d headers)", tc.in, len(got))
		}
	}
}
