package main

// The test of the whole product: real browsers visit fpserver running on
// Postgres, one curation pass publishes their profiles into the database,
// an emuproxy started before the visits picks them up without a restart,
// and requests sent through it (as a forward proxy, and with `emuproxy
// get`) are fingerprinted by fpserver exactly like the browsers' own
// visits. Tools and liars never become profiles.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/curate"
	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/internal/testenv"
	"github.com/guanaco-fp/guanaco/store"
	"github.com/guanaco-fp/guanaco/store/pgtest"
)

// identityHeaders are the headers whose values come from the profile, not
// from the caller: the emulation must reproduce them exactly.
var identityHeaders = []string{
	"user-agent", "sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform", "upgrade-insecure-requests",
	"sec-fetch-site", "sec-fetch-mode", "sec-fetch-user", "sec-fetch-dest", "accept-encoding", "priority", "te",
}

// buildEmuproxy compiles cmd/emuproxy into a temporary directory.
func buildEmuproxy(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "emuproxy")
	out, err := exec.Command("go", "build", "-o", bin, "../emuproxy").CombinedOutput()
	if err != nil {
		t.Fatalf("building emuproxy: %v\n%s", err, out)
	}
	return bin
}

// runFpserver runs an fpserver subcommand in-process and returns its
// stdout; a non-zero status fails t.
func runFpserver(t *testing.T, args ...string) []byte {
	t.Helper()
	var out, errOut bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Getenv: func(string) (string, bool) { return "", false }}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if code := m.Run(ctx, args); code != exitOK {
		t.Fatalf("fpserver %q: status %d\n%s%s", args, code, out.String(), errOut.String())
	}
	return out.Bytes()
}

// namesWithout is r's header names without the caller-only ones (cookie,
// referer, ...), whose presence depends on the visit, and without the
// client hints a site asked for.
func namesWithout(headers [][2]string) []string {
	var out []string
	for _, h := range headers {
		n := strings.ToLower(h[0])
		if emulation.IsCallerOnly(n) || strings.HasPrefix(n, ":") {
			continue
		}
		if strings.HasPrefix(n, "sec-ch-") && n != "sec-ch-ua" && n != "sec-ch-ua-mobile" && n != "sec-ch-ua-platform" {
			continue
		}
		out = append(out, h[0])
	}
	return out
}

func pseudoNames(headers [][2]string) []string {
	var out []string
	for _, h := range headers {
		if strings.HasPrefix(h[0], ":") {
			out = append(out, h[0])
		}
	}
	return out
}

// fidelityRow is one line of the comparison table.
type fidelityRow struct {
	browser, via, field, real, emulated string
}

// compareCaptures compares the emulated capture with the real browser's
// navigation field by field, records every field in rows and fails t on
// any difference.
func compareCaptures(t *testing.T, browser, via string, real, emu *reportJSON, rows *[]fidelityRow) {
	t.Helper()
	add := func(field, a, b string) {
		*rows = append(*rows, fidelityRow{browser, via, field, a, b})
		if a != b {
			t.Errorf("%s via %s: %s differs:\n real     %s\n emulated %s", browser, via, field, a, b)
		}
	}
	keys := []string{"ja4", "ja4_r", "ja3n_hash", "peetprint_hash", "akamai"}
	if browser == "firefox" {
		keys = append(keys, "ja3_hash") // Firefox does not shuffle its extensions
	}
	for _, k := range keys {
		add(k, real.Fingerprints[k], emu.Fingerprints[k])
	}
	prio := func(r *reportJSON) string {
		if r.HTTP.H2 == nil || r.HTTP.H2.HeadersPriority == nil {
			return "none"
		}
		p := r.HTTP.H2.HeadersPriority
		return fmt.Sprintf("exclusive=%t depends_on=%d weight=%d", p.Exclusive, p.DependsOn, p.Weight)
	}
	add("headers_priority", prio(real), prio(emu))
	add("http_version", real.HTTP.Version, emu.HTTP.Version)
	add("pseudo_order", strings.Join(pseudoNames(real.HTTP.Headers), ","), strings.Join(pseudoNames(emu.HTTP.Headers), ","))
	add("header_names", strings.Join(namesWithout(real.HTTP.Headers), ","), strings.Join(namesWithout(emu.HTTP.Headers), ","))
	for _, h := range identityHeaders {
		rv, rok := lowerHeader(real, h)
		ev, eok := lowerHeader(emu, h)
		if !rok && !eok {
			continue
		}
		if !rok {
			rv = "(absent)"
		}
		if !eok {
			ev = "(absent)"
		}
		add(h, rv, ev)
	}
}

// chromiumVisit loads the fingerprint page in headed Chromium over the
// HTTP/2 listener and then the HTTP/1.1-only listener, in one browser
// session (so one visit key), and returns the visit key and the HTTP/2
// navigation capture.
func chromiumVisit(t *testing.T, s *e2eServer, st store.Store, display string) (string, *reportJSON) {
	browserCtx := startChromium(t, testenv.RequireTool(t, chromiumName), display)
	page, _ := loadVisit(t, s, browserCtx, s.url(t, lnHTTPS, "/"))
	page1, _ := loadVisit(t, s, browserCtx, s.url(t, lnHTTPSH1, "/"))
	if page.VisitKey == "" || page1.VisitKey != page.VisitKey {
		t.Fatalf("chromium visit keys %q (h2) and %q (h1): the visit cookie was not shared", page.VisitKey, page1.VisitKey)
	}
	// The page shows the second navigation (Chromium loads it again to
	// send the client hints Critical-CH asks for); the profile describes
	// the first, as any site that asks for no hints sees it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	caps, err := st.CapturesByVisit(ctx, page.VisitKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range caps {
		if c.Initiator == store.InitiatorNavigate && c.HTTPVersion == "2" {
			return page.VisitKey, s.waitCapture(t, c.ID)
		}
	}
	t.Fatalf("the chromium visit has no HTTP/2 navigation")
	return "", nil
}

// firefoxVisit loads the page in firefox-esr over HTTP/2 and returns the
// visit key and the navigation capture.
func firefoxVisit(t *testing.T, s *e2eServer, st store.Store, display string) (string, *reportJSON) {
	firefox := testenv.RequireTool(t, "firefox-esr")
	profile := firefoxProfile(t, filepath.Join(s.dataDir, "tls", "ca.pem"))
	cmd := exec.Command(firefox, "--no-remote", "--profile", profile, s.url(t, lnHTTPS, "/"))
	cmd.Env = append(os.Environ(), "DISPLAY="+display, "MOZ_CRASHREPORTER_DISABLE=1", "HOME="+t.TempDir())
	exited, _ := startProcess(t, cmd)
	var key, navID string
	waitFor(t, 90*time.Second, "Firefox's visit (navigate, fetch, xhr, form)", func() (bool, error) {
		select {
		case <-exited:
			t.Fatal("firefox exited early")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if key == "" {
			ja4 := firefoxJA4(ctx, st)
			if ja4 == "" {
				return false, fmt.Errorf("no Firefox capture yet")
			}
			caps, _, err := st.CapturesByFingerprint(ctx, store.FingerprintQuery{Hash: ja4, Kind: store.KindJA4, Limit: 200})
			if err != nil {
				return false, err
			}
			for _, c := range caps {
				if c.Initiator == store.InitiatorNavigate && c.VisitKey != "" && strings.Contains(c.UserAgent, "Firefox/") {
					key, navID = c.VisitKey, c.ID
				}
			}
		}
		if key == "" {
			return false, fmt.Errorf("no Firefox navigation yet")
		}
		caps, err := st.CapturesByVisit(ctx, key)
		if err != nil {
			return false, err
		}
		seen := map[string]bool{}
		for _, c := range caps {
			seen[c.Initiator] = true
		}
		for _, in := range []string{"navigate", "fetch", "xhr", "form"} {
			if !seen[in] {
				return false, fmt.Errorf("firefox visit has %v", seen)
			}
		}
		return true, nil
	})
	// Let the page finish (late probes would unsettle the visit), then
	// close Firefox.
	time.Sleep(2 * time.Second)
	_ = killProcessTree(cmd)
	return key, s.waitCapture(t, navID)
}

// firefoxJA4 finds the JA4 of the stored Firefox captures.
func firefoxJA4(ctx context.Context, st store.Store) string {
	top, err := st.TopFingerprints(ctx, store.KindJA4, store.TimeWindow{}, 50)
	if err != nil {
		return ""
	}
	for _, f := range top {
		caps, _, err := st.CapturesByFingerprint(ctx, store.FingerprintQuery{Hash: f.Hash, Kind: store.KindJA4, Limit: 1})
		if err == nil && len(caps) > 0 && strings.Contains(caps[0].UserAgent, "Firefox/") {
			return f.Hash
		}
	}
	return ""
}

// liarVisits stores two visits that must never become profiles: curl with
// a Chrome User-Agent loading the page (no script, curl's TLS), and a Go
// client with Chrome's User-Agent and client hints that also sends the
// probes (Go's TLS).
func liarVisits(t *testing.T, s *e2eServer, chromeUA string) {
	curl := testenv.RequireTool(t, "curl")
	jar := filepath.Join(t.TempDir(), "jar")
	for _, path := range []string{"/", "/probe/fetch", "/probe/xhr"} {
		args := []string{"-sS", "-o", "/dev/null", "--cacert", filepath.Join(s.dataDir, "tls", "ca.pem"),
			"-A", chromeUA, "-c", jar, "-b", jar, s.url(t, lnHTTPS, path)}
		if path != "/" {
			args = append(args, "-X", "POST", "-d", "probe=x")
		}
		if out, err := exec.Command(curl, args...).CombinedOutput(); err != nil {
			t.Fatalf("curl %s: %v\n%s", path, err, out)
		}
		if path == "/" {
			break // curl runs no script: only the page load
		}
	}
	c := s.client(true)
	var cookie *http.Cookie
	for _, path := range []string{"/", "/probe/fetch", "/probe/xhr"} {
		method := http.MethodGet
		if path != "/" {
			method = http.MethodPost
		}
		req, err := http.NewRequest(method, s.url(t, lnHTTPS, path), strings.NewReader("probe=x"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("User-Agent", chromeUA)
		req.Header.Set("Sec-CH-UA", `"Chromium";v="156", "Not:A-Brand";v="8"`)
		req.Header.Set("Sec-CH-UA-Mobile", "?0")
		req.Header.Set("Sec-CH-UA-Platform", `"Linux"`)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for _, ck := range resp.Cookies() {
			if ck.Name == "gv" {
				cookie = ck
			}
		}
	}
	if cookie == nil {
		t.Fatal("the Go client got no visit cookie")
	}
}

func TestE2ECurationLoop(t *testing.T) {
	skipBrowserShort(t)
	curl := testenv.RequireTool(t, "curl")
	testenv.RequireTool(t, chromiumName)
	testenv.RequireTool(t, "firefox-esr")
	display := testenv.StartXvfb(t)
	pg := pgtest.NewCluster(t, pgtest.Options{})
	dsn := pg.DSN("postgres")

	// fpserver on Postgres; curation is run by hand below (one pass).
	s := startServer(t, "-db", dsn, "-curate=false")
	fpCA := filepath.Join(s.dataDir, "tls", "ca.pem")

	// emuproxy, started BEFORE the visits, reading the same database.
	bin := buildEmuproxy(t)
	caDir := filepath.Join(t.TempDir(), "ca")
	proxyAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	proxy := exec.Command(bin, "serve", "-listen", proxyAddr, "-profiles-db", dsn, "-profiles-reload", "300ms",
		"-allow-private", "-cacert", fpCA, "-ca-dir", caDir, "-no-ua-match", "-log-level", "debug",
		"-profiles-dir", t.TempDir(), "-connect-ports", strconv.Itoa(s.port(t, lnHTTPS)))
	proxyExited, proxyLog := startProcess(t, proxy)
	waitDial(t, proxyAddr, 30*time.Second, proxyExited)
	proxyCA := filepath.Join(caDir, "ca.pem")

	octx, ocancel := context.WithTimeout(context.Background(), 30*time.Second)
	st, err := store.Open(octx, dsn)
	ocancel()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	chromeKey, chromeNav := chromiumVisit(t, s, st, display)
	firefoxKey, firefoxNav := firefoxVisit(t, s, st, display)
	liarVisits(t, s, chromeNav.UserAgent)
	time.Sleep(1500 * time.Millisecond) // every visit settles (-curate-settle 1s)

	out := runFpserver(t, "profiles", "-db", dsn, "-curate-quorum", "1", "-curate-settle", "1s", "curate")
	var rep curate.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("curation report: %v\n%s", err, out)
	}
	t.Logf("curation pass: %s", out)
	if len(rep.Published) != 2 || rep.Refused < 2 {
		t.Fatalf("published %q (want one chromium and one firefox profile), refused %d (want the curl and Go visits)", rep.Published, rep.Refused)
	}
	names := map[string]string{} // family -> curated profile name
	for _, name := range rep.Published {
		rec, err := st.Profile(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Source != store.ProfileCurated || rec.Visits != 1 || rec.Addresses != 1 {
			t.Errorf("curated %s: source %s, %d visits, %d addresses", name, rec.Source, rec.Visits, rec.Addresses)
		}
		names[rec.Browser] = name
		t.Logf("published %s: %s %s %s", name, rec.Browser, rec.Version, rec.Platform)
	}
	chromeName, firefoxName := names["chromium"], names["firefox"]
	if chromeName == "" || firefoxName == "" {
		t.Fatalf("curated profiles by browser: %v", names)
	}
	for key, want := range map[string]bool{chromeKey: true, firefoxKey: true} {
		v, err := st.VisitVerdict(context.Background(), key)
		if err != nil || v.Accepted != want {
			t.Errorf("verdict of %s: %+v, %v", key, v, err)
		}
	}
	// The Chromium profile holds both protocols' header lists: the visit
	// loaded the HTTP/1.1-only page too.
	chromeRec, _ := st.Profile(context.Background(), chromeName)
	cp, err := emulation.Unmarshal(chromeRec.JSON)
	if err != nil {
		t.Fatalf("curated chromium profile: %v", err)
	}
	if cp.H1 == nil || cp.H2 == nil {
		t.Errorf("curated chromium profile: h1 %v, h2 %v", cp.H1 != nil, cp.H2 != nil)
	}
	// `fpserver profiles list` shows them.
	list := string(runFpserver(t, "profiles", "-db", dsn, "list"))
	for _, n := range []string{chromeName, firefoxName, "chromium-156-linux"} {
		if !strings.Contains(list, n) {
			t.Errorf("profiles list lacks %s:\n%s", n, list)
		}
	}

	var rows []fidelityRow
	target := s.url(t, lnHTTPS, "/api/fingerprint")
	for _, tc := range []struct {
		browser, profile string
		real             *reportJSON
	}{
		{"chromium", chromeName, chromeNav},
		{"firefox", firefoxName, firefoxNav},
	} {
		// Through the proxy: it picks the new profile up without a restart.
		var emu *reportJSON
		waitFor(t, 30*time.Second, "emuproxy to serve "+tc.profile, func() (bool, error) {
			cmd := exec.Command(curl, "-sS", "--fail-with-body", "-x", "http://"+proxyAddr, "--cacert", proxyCA,
				"-H", "X-Guanaco-Profile: "+tc.profile, "-H", "X-Guanaco-Initiator: navigate", target)
			b, err := cmd.Output()
			if err != nil {
				return false, fmt.Errorf("curl through emuproxy: %v: %.300s", err, b)
			}
			emu, err = decodeReport(b)
			return err == nil, err
		})
		stored := s.waitCapture(t, emu.CaptureID)
		compareCaptures(t, tc.browser, "emuproxy serve", tc.real, stored, &rows)

		// emuproxy get reading the same database.
		cmd := exec.Command(bin, "get", "-profile", tc.profile, "-profiles-db", dsn, "-cacert", fpCA,
			"-profiles-dir", t.TempDir(), "-H", "X-Guanaco-Initiator: navigate", target)
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("emuproxy get: %v: %s", err, b)
		}
		got, err := decodeReport(b)
		if err != nil {
			t.Fatalf("emuproxy get: %v: %.300s", err, b)
		}
		compareCaptures(t, tc.browser, "emuproxy get", tc.real, s.waitCapture(t, got.CaptureID), &rows)
	}
	if !strings.Contains(proxyLog.String(), chromeName) {
		t.Errorf("emuproxy's debug log does not name the profile that served a request")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-9s %-15s %-22s %-6s %s\n", "browser", "via", "field", "equal", "value (real | emulated when different)")
	for _, r := range rows {
		v := r.real
		if r.real != r.emulated {
			v = r.real + " | " + r.emulated
		}
		fmt.Fprintf(&b, "%-9s %-15s %-22s %-6s %s\n", r.browser, r.via, r.field, strconv.FormatBool(r.real == r.emulated), v)
	}
	t.Logf("fidelity of the curated profiles:\n%s", b.String())
	if !slices.ContainsFunc(rows, func(r fidelityRow) bool { return r.field == "akamai" && r.real != "" }) {
		t.Error("no HTTP/2 Akamai fingerprint was compared")
	}
}

// TestServeCurates: fpserver serve runs curation passes by itself; a Go
// client claiming to be Chrome gets a refused verdict that its capture
// page and JSON explain, and no profile.
func TestServeCurates(t *testing.T) {
	s := startServer(t, "-curate-quorum", "1", "-curate-settle", "0s", "-curate-interval", "100ms")
	c := s.client(true)
	req, err := http.NewRequest(http.MethodGet, s.url(t, lnHTTPS, "/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var id string
	for _, ck := range resp.Cookies() {
		if ck.Name == "gv" {
			id = ck.Value
		}
	}
	if id == "" {
		t.Fatal("no visit cookie")
	}
	st := s.openStore(t)
	var v store.VisitVerdict
	waitFor(t, 20*time.Second, "the serve loop's verdict", func() (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		v, err = st.VisitVerdict(ctx, id)
		return err == nil, err
	})
	if v.Accepted || !strings.Contains(v.Reason, "do not fit a Chromium-based browser") {
		t.Errorf("verdict %+v", v)
	}
	if len(v.CaptureIDs) == 0 {
		t.Fatal("verdict names no capture")
	}
	var got struct {
		Curation struct {
			Status string `json:"status"`
			Reason string `json:"reason"`
		} `json:"curation"`
	}
	code, body := get(t, plainClient(), s.url(t, lnHTTP, "/api/captures/"+v.CaptureIDs[0]))
	if err := json.Unmarshal(body, &got); code != http.StatusOK || err != nil || got.Curation.Status != "refused" || got.Curation.Reason != v.Reason {
		t.Errorf("capture JSON %d: %+v (%v)", code, got.Curation, err)
	}
	if code, body := get(t, plainClient(), s.url(t, lnHTTP, "/captures/"+v.CaptureIDs[0])); code != http.StatusOK || !strings.Contains(string(body), "do not fit") {
		t.Errorf("capture page %d does not say why the visit was not used", code)
	}
	ps, err := st.ListProfiles(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Source == store.ProfileCurated {
			t.Errorf("published %s from a Go client", p.Name)
		}
	}
	if n := s.metricValue(t, "fpserver_curation_visits_total", map[string]string{"outcome": "refused"}); n < 1 {
		t.Errorf("refused visits metric %v", n)
	}
}
