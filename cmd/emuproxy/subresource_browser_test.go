//go:build unix

package main

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/curate"
	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/internal/testenv"
	"github.com/guanaco-fp/guanaco/store"
)

// pageDestinations are the destinations every visit of fpserver's page
// captures in both browsers over the visit's protocol: over HTTP/2 the
// WebSocket is an RFC 8441 extended CONNECT on the page's connection
// (fpserver enables it), directly and through the proxy alike (its tunnels
// enable it too, and the transport sends the profile's extended CONNECT
// upstream). optionalDestinations depend on the browser (Firefox fetches
// no manifest) and are compared when both visits have them.
var (
	pageDestinations = []emulation.Initiator{emulation.Navigate, emulation.Fetch, emulation.XHR, emulation.Form,
		emulation.Iframe, emulation.Style, emulation.Script, emulation.Image, emulation.Font, emulation.WebSocket}
	optionalDestinations = []emulation.Initiator{emulation.Media, emulation.Manifest}
)

// visitDestinations are the destinations a visit must capture: the page's,
// except the WebSocket of Firefox through the proxy. Firefox ESR 153 sends
// its extended CONNECT through an HTTP proxy's tunnel (which speaks HTTP/2
// to it whatever the origin speaks) with User-Agent, Sec-WebSocket-Version
// and -Extensions only, without the Origin and Cookie it sends directly
// (seen in emuproxy's debug log: "websocket handshake from the client"),
// so fpserver stores the handshake without the visit's cookie, outside
// the visit.
func visitDestinations(br pageBrowser, proxied bool, proto string) []emulation.Initiator {
	if br.firefox && proxied {
		return slices.DeleteFunc(slices.Clone(pageDestinations), func(in emulation.Initiator) bool { return in == emulation.WebSocket })
	}
	return pageDestinations
}

// pageBrowser is one browser the sub-resource fidelity test drives.
type pageBrowser struct {
	name    string // the program
	profile string // its built-in profile
	firefox bool
	// as, when set, is another browser's profile the proxy emulates: the
	// proxied visit is compared with that profile only (no direct visit).
	as string
}

// TestServeSubresourcesChromium and TestServeSubresourcesFirefox load
// fpserver's fingerprint page (navigation, fetch, XHR, form, an iframe, a
// stylesheet, a script, an image, a font, a manifest, a video) in the real
// browser, headed under Xvfb, once directly and once through `emuproxy
// serve` with the browser's own built-in profile, each against a fresh
// fpserver. fpserver's records of the proxied visit must give, per
// destination, the profile's header list (names and values, in order) and
// HTTP/2 HEADERS priority (weight and exclusivity), and the same lists as
// the direct visit. The comparison table is printed. -short skips them.
func TestServeSubresourcesChromium(t *testing.T) {
	testServeSubresources(t, pageBrowser{name: "chromium", profile: "chromium-156-linux"})
}

func TestServeSubresourcesFirefox(t *testing.T) {
	testServeSubresources(t, pageBrowser{name: "firefox-esr", profile: "firefox-153-linux", firefox: true})
}

// TestServeSubresourcesChromiumAsFirefox drives chromium through the
// Firefox profile: every destination must leave with Firefox's list
// (Accept, fetch metadata, priority header, HTTP/2 priority), not
// Chromium's, although the client sent Chromium's.
func TestServeSubresourcesChromiumAsFirefox(t *testing.T) {
	testServeSubresources(t, pageBrowser{name: "chromium", profile: "chromium-156-linux", as: "firefox-153-linux"})
}

func testServeSubresources(t *testing.T, br pageBrowser) {
	if testing.Short() {
		t.Skip("browser end-to-end test skipped with -short")
	}
	bin := testenv.RequireTool(t, br.name)
	if br.firefox {
		testenv.RequireTool(t, "certutil")
	}
	display := testenv.StartXvfb(t)
	emulated := br.profile
	if br.as != "" {
		emulated = br.as
	}
	want, err := emulation.Lookup(emulated)
	if err != nil {
		t.Fatal(err)
	}

	for _, proto := range []string{"h2", "http/1.1"} {
		t.Run(proto, func(t *testing.T) {
			directVisit := want // cross-browser: the emulated profile stands in
			// The WebSocket's pseudo headers as sent over HTTP/2 (profiles
			// keep none): the profile's order, then :protocol.
			var directPseudo []string
			if proto == "h2" {
				directPseudo = append(slices.Clone(want.H2.PseudoOrder), ":protocol")
			}
			if br.as == "" {
				directVisit, directPseudo = browserVisit(t, br, bin, display, startFPServer(t), nil, proto)
			}
			proxied := startFPServer(t)
			_, port, _ := net.SplitHostPort(proxied.addr(proto))
			rp := startProxy(t, "-cacert", proxied.ca, "-allow-private", "-connect-ports", port, "-profile", emulated, "-no-ua-match")
			proxiedVisit, proxiedPseudo := browserVisit(t, br, bin, display, proxied, rp, proto)
			compareVisits(t, br, emulated, proto, want, directVisit, proxiedVisit)
			if proto == "h2" {
				wantPseudo := append(slices.Clone(want.H2.PseudoOrder), ":protocol")
				t.Logf("websocket pseudo headers: profile %q, direct %q, proxied %q", wantPseudo, directPseudo, proxiedPseudo)
				if !slices.Equal(directPseudo, wantPseudo) {
					t.Errorf("%s websocket: direct pseudo headers %q, want the profile's order then :protocol %q", br.name, directPseudo, wantPseudo)
				}
				if slices.Contains(visitDestinations(br, true, proto), emulation.WebSocket) &&
					(!slices.Equal(proxiedPseudo, wantPseudo) || !slices.Equal(proxiedPseudo, directPseudo)) {
					t.Errorf("%s websocket: proxied pseudo headers %q, direct %q, profile order then :protocol %q", br.name, proxiedPseudo, directPseudo, wantPseudo)
				}
			}
		})
	}
}

// visitLists are a visit profile's header lists and HEADERS priorities for
// one protocol (no priorities over HTTP/1.1). fpserver's page asks for
// client hints, so every request after its navigation goes to an origin
// that sent Accept-CH: where the profile has a client_hints list (Chromium),
// that is the list the request used and the one returned; elsewhere the
// ordinary list (the built-in profile's are what Chromium sends to origins
// that never asked, see TestE2EChromiumNoAcceptCH in cmd/fpserver).
func visitLists(p *emulation.Profile, proto string) (map[emulation.Initiator][]emulation.Header, map[emulation.Initiator]emulation.Priority) {
	var lists, hinted map[emulation.Initiator][]emulation.Header
	var prio map[emulation.Initiator]emulation.Priority
	switch {
	case proto == "h2" && p.H2 != nil:
		lists, prio = p.H2.Headers, p.H2.HeadersPriority
		if p.ClientHints != nil {
			hinted = p.ClientHints.H2
		}
	case proto != "h2" && p.H1 != nil:
		lists = p.H1.Headers
		if p.ClientHints != nil {
			hinted = p.ClientHints.H1
		}
	default:
		return nil, nil
	}
	out := maps.Clone(lists)
	for in, hs := range hinted {
		out[in] = hs
	}
	return out, prio
}

// compareVisits checks and tabulates, per destination, the proxied visit's
// lists against the profile's and the direct visit's (see
// TestServeSubresourcesChromium).
func compareVisits(t *testing.T, br pageBrowser, emulated, proto string, want, directVisit, proxiedVisit *emulation.Profile) {
	wantLists, wantPrio := visitLists(want, proto)
	directLists, directPrio := visitLists(directVisit, proto)
	proxiedLists, proxiedPrio := visitLists(proxiedVisit, proto)
	var table strings.Builder
	fmt.Fprintf(&table, "%s through emuproxy serve -profile %s, per destination (%s):\n", br.name, emulated, proto)
	if br.as != "" {
		fmt.Fprintf(&table, "  (no direct visit: the direct column compares with the profile again)\n")
	}
	fmt.Fprintf(&table, "  %-10s %-8s %-8s %-22s %-22s %-22s %s\n", "dest", "profile", "direct", "prio profile", "prio proxied", "prio direct", "proxied header names")
	must := visitDestinations(br, true, proto)
	for _, in := range append(slices.Clone(pageDestinations), optionalDestinations...) {
		required := slices.Contains(must, in)
		pl, dl, wl := proxiedLists[in], directLists[in], wantLists[in]
		if !required && (len(pl) == 0 || len(dl) == 0 || len(wl) == 0) {
			why := ""
			if in == emulation.WebSocket {
				why = ": Firefox sends it through a proxy without Origin and Cookie, outside the visit (see visitDestinations)"
			}
			fmt.Fprintf(&table, "  %-10s absent (profile %d, proxied %d, direct %d headers)%s\n", in, len(wl), len(pl), len(dl), why)
			continue
		}
		if len(pl) == 0 || len(dl) == 0 || len(wl) == 0 {
			t.Errorf("%s: no %s list (profile %d, proxied %d, direct %d headers)", br.name, in, len(wl), len(pl), len(dl))
			continue
		}
		if br.as != "" && in == emulation.XHR {
			// Chromium's XMLHttpRequest and fetch() send the same
			// headers (Priority included): the proxy cannot tell them
			// apart and sends the emulated browser's fetch list.
			fmt.Fprintf(&table, "  %-10s not compared: a Chromium client's XHR is indistinguishable from fetch\n", in)
			continue
		}
		var extra []string
		if br.as != "" {
			// Caller-only headers (cookie, origin, referer, ...) go out
			// when the client sends them; the other browser sends some
			// where the emulated one sends none (Chromium's Origin on a
			// same-origin font, its cookie on the Critical-CH retry).
			pl, extra = withoutExtraCallerSlots(pl, wl)
		}
		asProfile, asDirect := slices.Equal(pl, wl), slices.Equal(pl, dl)
		wp, wok := wantPrio[in]
		pp, pok := proxiedPrio[in]
		dp, dok := directPrio[in]
		prio := func(p emulation.Priority, ok bool) string {
			if !ok {
				return "none"
			}
			return fmt.Sprintf("w%d excl=%v dep=%d", p.Weight, p.Exclusive, p.DependsOn)
		}
		names := strings.Join(headerNames(pl), ",")
		if len(extra) > 0 {
			names += " (+ the client's " + strings.Join(extra, ",") + ")"
		}
		fmt.Fprintf(&table, "  %-10s %-8s %-8s %-22s %-22s %-22s %s\n", in, mark(asProfile), mark(asDirect),
			prio(wp, wok), prio(pp, pok), prio(dp, dok), names)
		if !asProfile {
			t.Errorf("%s %s: proxied list differs from the profile's:\n%s", br.name, in, listDiff(wl, pl))
		}
		if !asDirect {
			t.Errorf("%s %s: proxied list differs from the direct visit's:\n%s", br.name, in, listDiff(dl, pl))
		}
		// The dependency names a stream of the capturing connection;
		// weight and exclusivity are the browser's choice per destination.
		if wok != pok || pp.Weight != wp.Weight || pp.Exclusive != wp.Exclusive {
			t.Errorf("%s %s: proxied HEADERS priority %s, want the profile's %s", br.name, in, prio(pp, pok), prio(wp, wok))
		}
		if dok != pok || pp.Weight != dp.Weight || pp.Exclusive != dp.Exclusive {
			t.Errorf("%s %s: proxied HEADERS priority %s, direct %s", br.name, in, prio(pp, pok), prio(dp, dok))
		}
	}
	t.Log(table.String())
}

// withoutExtraCallerSlots drops from got the caller-only headers that
// want has no slot for, and names them.
func withoutExtraCallerSlots(got, want []emulation.Header) ([]emulation.Header, []string) {
	var out []emulation.Header
	var extra []string
	for _, h := range got {
		if emulation.IsCallerOnly(h.Name) && !slices.ContainsFunc(want, func(w emulation.Header) bool { return strings.EqualFold(w.Name, h.Name) }) {
			extra = append(extra, h.Name)
			continue
		}
		out = append(out, h)
	}
	return out, extra
}

// addr is the listener for proto: the main one for h2, the
// HTTP/1.1-only one for http/1.1.
func (s *testServer) addr(proto string) string {
	if proto == "h2" {
		return s.h2
	}
	return s.h1
}

// httpVersion is the stored HTTP version of proto.
func httpVersion(proto string) string {
	if proto == "h2" {
		return "2"
	}
	return "1.1"
}

func mark(ok bool) string {
	if ok {
		return "equal"
	}
	return "DIFF"
}

// listDiff shows two header lists side by side.
func listDiff(want, got []emulation.Header) string {
	var b strings.Builder
	for i := range max(len(want), len(got)) {
		w, g := "", ""
		if i < len(want) {
			w = want[i].Name + ": " + want[i].Value
		}
		if i < len(got) {
			g = got[i].Name + ": " + got[i].Value
		}
		sep := "  "
		if w != g {
			sep = "≠ "
		}
		fmt.Fprintf(&b, "    %s%-60.60s | %.60s\n", sep, w, g)
	}
	return b.String()
}

// browserVisit opens fpserver's page in a fresh profile of the browser,
// headed on display, directly or through the proxy rp, waits until
// fpserver has stored every destination of visitDestinations for the visit
// (and a moment for the optional ones), and returns the profile built
// from the visit's records and the pseudo header names of its WebSocket
// handshake in wire order (none over HTTP/1.1).
func browserVisit(t *testing.T, br pageBrowser, bin, display string, s *testServer, rp *runningProxy, proto string) (*emulation.Profile, []string) {
	t.Helper()
	dir := t.TempDir()
	home, profile := filepath.Join(dir, "home"), filepath.Join(dir, "profile")
	for _, d := range []string{home, profile} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	pageURL := "https://" + s.addr(proto) + "/"
	var args []string
	if br.firefox {
		ca := s.ca
		if rp != nil {
			ca = rp.caFile // the proxy issues the leaves Firefox sees
		}
		firefoxTestProfile(t, profile, ca, rp)
		args = []string{"--no-remote", "--profile", profile, pageURL}
	} else {
		// As profilegen captures the built-in profile.
		args = []string{"--no-sandbox", "--ignore-certificate-errors", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--user-data-dir=" + profile}
		if rp != nil {
			// Chromium never proxies loopback names unless told to.
			args = append(args, "--proxy-server=http://"+rp.addr, "--proxy-bypass-list=<-loopback>")
		}
		args = append(args, pageURL)
	}
	out := &testenv.SyncBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+home, "DISPLAY="+display, "MOZ_CRASHREPORTER_DISABLE=1")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", br.name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	st, err := store.Open(ctx, filepath.Join(s.dataDir, "fpserver.db"))
	if err != nil {
		t.Fatalf("opening fpserver's store: %v", err)
	}
	defer st.Close()
	var key string
	var missing []string
	for {
		key, missing = visitState(ctx, t, st, httpVersion(proto), visitDestinations(br, rp != nil, proto))
		if key != "" && len(missing) == 0 {
			break
		}
		select {
		case <-exited:
			t.Fatalf("%s exited before the visit was complete (visit %q lacks %v):\n%s", br.name, key, missing, out.String())
		case <-ctx.Done():
			t.Fatalf("%s visit %q incomplete after 90s, lacks %v:\n%s", br.name, key, missing, out.String())
		case <-time.After(300 * time.Millisecond):
		}
	}
	time.Sleep(3 * time.Second) // the optional destinations, Chromium's ranged media requests
	p, err := curate.BuildVisitProfile(ctx, st, key, time.Now())
	if err != nil {
		t.Fatalf("building the visit's profile: %v", err)
	}
	if lists, _ := visitLists(p, proto); len(lists) == 0 {
		t.Fatalf("%s visit %s has no %s lists", br.name, key, proto)
	}
	rows, err := st.CapturesByVisit(ctx, key)
	if err != nil {
		t.Fatalf("reading visit %s: %v", key, err)
	}
	var pseudo []string
	for _, r := range rows {
		if r.Initiator == string(emulation.WebSocket) && r.HTTPVersion == httpVersion(proto) {
			for _, h := range r.Headers {
				if strings.HasPrefix(h.Name, ":") {
					pseudo = append(pseudo, h.Name)
				}
			}
			break
		}
	}
	return p, pseudo
}

// visitState finds the store's visits (one browser visits each fpserver;
// it may hold two keys when a navigation restarted before its cookie was
// kept) and returns a complete one, else the one that lacks the fewest page
// destinations over HTTP version, with what it lacks (and every key's
// initiators, for the failure message).
func visitState(ctx context.Context, t *testing.T, st store.Store, version string, want []emulation.Initiator) (string, []string) {
	t.Helper()
	now := time.Now()
	top, err := st.TopFingerprints(ctx, store.KindJA4, store.TimeWindow{Since: now.Add(-time.Hour), Until: now.Add(time.Hour)}, 10)
	if err != nil {
		t.Fatalf("listing fingerprints: %v", err)
	}
	var keys, wsRows []string
	for _, fc := range top {
		rows, _, err := st.CapturesByFingerprint(ctx, store.FingerprintQuery{Hash: fc.Hash, Kind: store.KindJA4, Limit: 100})
		if err != nil {
			t.Fatalf("listing captures: %v", err)
		}
		for _, r := range rows {
			if r.Initiator == store.InitiatorNavigate && r.VisitKey != "" && !slices.Contains(keys, r.VisitKey) {
				keys = append(keys, r.VisitKey)
			}
			if r.Initiator == string(emulation.WebSocket) {
				var names []string
				for _, h := range r.Headers {
					names = append(names, h.Name)
				}
				wsRows = append(wsRows, fmt.Sprintf("%q/%s %s", r.VisitKey, r.HTTPVersion, strings.Join(names, ",")))
			}
		}
	}
	if len(keys) == 0 {
		return "", []string{"navigate"}
	}
	best, bestMissing := "", []string(nil)
	var seen []string
	for _, key := range keys {
		rows, err := st.CapturesByVisit(ctx, key)
		if err != nil {
			t.Fatalf("reading visit %s: %v", key, err)
		}
		var missing, got []string
		for _, in := range want {
			if !slices.ContainsFunc(rows, func(r store.Capture) bool { return r.Initiator == string(in) && r.HTTPVersion == version }) {
				missing = append(missing, string(in))
			}
		}
		for _, r := range rows {
			got = append(got, r.Initiator+"/"+r.HTTPVersion)
		}
		seen = append(seen, key+": "+strings.Join(got, ","))
		if best == "" || len(missing) < len(bestMissing) {
			best, bestMissing = key, missing
		}
	}
	if len(bestMissing) > 0 {
		bestMissing = append(bestMissing, "(visits: "+strings.Join(seen, "; ")+"; websocket captures by visit: "+strings.Join(wsRows, ",")+")")
	}
	return best, bestMissing
}

// firefoxTestProfile prepares a fresh Firefox profile in dir whose NSS
// database trusts caFile, with the preferences profilegen captures with
// and, with rp, the proxy for every scheme and host (loopback included).
func firefoxTestProfile(t *testing.T, dir, caFile string, rp *runningProxy) {
	t.Helper()
	for _, args := range [][]string{
		{"-N", "-d", "sql:" + dir, "--empty-password"},
		{"-A", "-d", "sql:" + dir, "-n", "test-ca", "-t", "C,,", "-i", caFile},
	} {
		if out, err := exec.Command("certutil", args...).CombinedOutput(); err != nil {
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
	if rp != nil {
		host, port, _ := net.SplitHostPort(rp.addr)
		prefs = append(prefs,
			`user_pref("network.proxy.type", 1);`,
			fmt.Sprintf(`user_pref("network.proxy.http", %q);`, host),
			fmt.Sprintf(`user_pref("network.proxy.http_port", %s);`, port),
			fmt.Sprintf(`user_pref("network.proxy.ssl", %q);`, host),
			fmt.Sprintf(`user_pref("network.proxy.ssl_port", %s);`, port),
			`user_pref("network.proxy.no_proxies_on", "");`,
			`user_pref("network.proxy.allow_hijacking_localhost", true);`,
		)
	}
	if err := os.WriteFile(filepath.Join(dir, "user.js"), []byte(strings.Join(prefs, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}
