//go:build unix

package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/guanaco-fp/guanaco/curate"
	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/fingerprint"
	"github.com/guanaco-fp/guanaco/store"
)

// browserKind says how to launch one browser.
type browserKind struct {
	// marker is the user agent token of the browser ("Chrome/", "Firefox/").
	marker string
	// firefox browsers need an NSS profile that trusts the test CA.
	firefox bool
	// hints: the browser sends client hints, so it also visits the origin
	// that never asks for them (plainHost).
	hints bool
	// h3: the browser also visits over HTTP/3 (QUIC), in a fresh browser
	// profile of its own, and the profile's h3 section is built from that
	// visit's HTTP/3 captures. A visit that yields none is an error.
	h3 bool
}

// plainHost is the second name of fpserver's listeners, on which its page
// sends no Accept-CH (-no-client-hints-host): Chromium resolves every
// *.localhost name to loopback itself.
const plainHost = "plain.localhost"

// browserKinds are the browsers profilegen knows, by executable name.
var browserKinds = map[string]browserKind{
	"chromium":    {marker: "Chrome/", hints: true, h3: true},
	"firefox-esr": {marker: "Firefox/", firefox: true, h3: true},
}

// protocols are the two visits made per browser: the main listener (h2 and
// http/1.1 offered; browsers pick h2) and the HTTP/1.1-only listener.
var protocols = []struct {
	name, listener, httpVersion string
}{
	{"h2", "https", "2"},
	{"http1.1", "https-h1", "1.1"},
}

// h3Visit is the HTTP/3 visit: fpserver's HTTP/3 listener shares the main
// listener's port (over UDP).
var h3Visit = struct {
	name, listener, httpVersion string
}{"h3", "https", "3"}

// generator runs the captures.
type generator struct {
	cfg config
	log io.Writer
	tmp string
}

// generate captures every configured browser and returns the files written.
func (g *generator) generate(ctx context.Context) ([]string, error) {
	tmp, err := os.MkdirTemp("", "profilegen-")
	if err != nil {
		return nil, fmt.Errorf("creating temporary directory: %w", err)
	}
	g.tmp = tmp
	if g.cfg.keep {
		fmt.Fprintf(g.log, "profilegen: keeping %s\n", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	if g.cfg.fpserver == "" {
		bin := filepath.Join(tmp, "fpserver")
		fmt.Fprintln(g.log, "profilegen: building ./cmd/fpserver")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/fpserver")
		cmd.Stdout, cmd.Stderr = g.log, g.log
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("building fpserver (run profilegen from the repository root or pass -fpserver): %w", err)
		}
		g.cfg.fpserver = bin
	}
	if err := os.MkdirAll(g.cfg.out, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", g.cfg.out, err)
	}
	var written []string
	var errs []error
	for _, b := range g.cfg.browsers {
		path, err := g.captureBrowser(ctx, b)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", b, err))
			continue
		}
		written = append(written, path)
	}
	return written, errors.Join(errs...)
}

// captureBrowser makes the HTTP/2 and HTTP/1.1 visits of one browser,
// builds the profile and writes it.
func (g *generator) captureBrowser(ctx context.Context, browser string) (string, error) {
	kind := browserKinds[browser]
	var caps []emulation.VisitCapture
	var keys []string
	for _, proto := range protocols {
		dir := filepath.Join(g.tmp, browser+"-"+proto.name)
		vcaps, key, err := g.visit(ctx, browser, kind, dir, proto.listener, proto.httpVersion, "localhost")
		if err != nil {
			return "", fmt.Errorf("%s visit: %w", proto.name, err)
		}
		caps = append(caps, withoutHTTP3(vcaps)...)
		keys = append(keys, key)
	}
	var plainKeys []string
	if kind.hints {
		// The same page on an origin that never sends Accept-CH, in a
		// fresh browser profile: the profile's ordinary lists.
		for _, proto := range protocols {
			dir := filepath.Join(g.tmp, browser+"-"+proto.name+"-no-accept-ch")
			vcaps, key, err := g.visit(ctx, browser, kind, dir, proto.listener, proto.httpVersion, plainHost)
			if err != nil {
				return "", fmt.Errorf("%s visit to %s: %w", proto.name, plainHost, err)
			}
			vcaps = withoutHTTP3(vcaps)
			for i := range vcaps {
				if j := slices.IndexFunc(vcaps[i].Headers, func(h emulation.Header) bool { return emulation.IsRequestedHint(h.Name) }); j >= 0 {
					return "", fmt.Errorf("%s visit to %s: capture %s carries %s although the origin asked for no client hints",
						proto.name, plainHost, vcaps[i].ID, vcaps[i].Headers[j].Name)
				}
				vcaps[i].NoAcceptCH = true
			}
			caps = append(caps, vcaps...)
			plainKeys = append(plainKeys, key)
		}
	}
	var h3Key string
	if kind.h3 {
		// The same page forced onto QUIC in a fresh browser profile; only
		// its HTTP/3 captures are kept (its WebSocket goes over TCP), so
		// the h1 and h2 lists stay the TCP visits'. A browser that sends
		// client hints visits the origin that asks for none, like the
		// ordinary lists.
		host := "localhost"
		if kind.hints {
			host = plainHost
		}
		dir := filepath.Join(g.tmp, browser+"-"+h3Visit.name)
		vcaps, key, err := g.visit(ctx, browser, kind, dir, h3Visit.listener, h3Visit.httpVersion, host)
		if err != nil {
			return "", fmt.Errorf("%s visit to %s: %w", h3Visit.name, host, err)
		}
		vcaps = onlyHTTP3(vcaps)
		if len(vcaps) == 0 {
			return "", fmt.Errorf("%s visit %s to %s: no HTTP/3 capture", h3Visit.name, key, host)
		}
		for i := range vcaps {
			vcaps[i].NoAcceptCH = host == plainHost
		}
		caps = append(caps, vcaps...)
		h3Key = key
	}
	p, err := emulation.Build(keys[0], "", caps, time.Now())
	if err != nil {
		return "", err
	}
	if kind.h3 {
		if err := checkH3(p); err != nil {
			return "", fmt.Errorf("%s visit %s: %w", h3Visit.name, h3Key, err)
		}
	}
	note := fmt.Sprintf("captured by profilegen from %s headed under Xvfb with a fresh browser profile per visit; HTTP/2 visit %s, HTTP/1.1 visit %s",
		browser, keys[0], keys[1])
	if len(plainKeys) == 2 {
		note += fmt.Sprintf("; header lists from the visits to an origin that sent no Accept-CH (HTTP/2 %s, HTTP/1.1 %s), client_hints from the others",
			plainKeys[0], plainKeys[1])
	}
	if h3Key != "" {
		note += fmt.Sprintf("; h3 from the HTTP/3 visit %s (forced onto QUIC)", h3Key)
	}
	if p.Source.Note != "" {
		note += "; " + p.Source.Note
	}
	p.Source.Note = note
	b, err := p.Marshal()
	if err != nil {
		return "", err
	}
	if _, err := emulation.Unmarshal(b); err != nil {
		return "", fmt.Errorf("the built profile does not survive a JSON round trip: %w", err)
	}
	summarize(g.log, p, caps)
	path := filepath.Join(g.cfg.out, p.Name+".json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	return path, nil
}

// visit starts fpserver with a fresh data directory, opens its page at
// host in a fresh browser profile on the given listener and returns the captures of
// the completed visit.
func (g *generator) visit(ctx context.Context, browser string, kind browserKind, dir, listener, httpVersion, host string) ([]emulation.VisitCapture, string, error) {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.timeout+30*time.Second)
	defer cancel()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, "", fmt.Errorf("creating %s: %w", data, err)
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, "", err
	}
	addr := map[string]string{
		"https":    net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])),
		"https-h1": net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1])),
	}
	srvLog, err := os.Create(filepath.Join(dir, "fpserver.log"))
	if err != nil {
		return nil, "", fmt.Errorf("creating fpserver log: %w", err)
	}
	defer srvLog.Close()
	srv := exec.Command(g.cfg.fpserver, "serve",
		"-https", addr["https"], "-https-h1", addr["https-h1"], "-http", "", "-debug", "",
		"-data", data, "-log-level", "warn",
		"-hosts", "localhost,127.0.0.1,::1,"+plainHost, "-no-client-hints-host", plainHost)
	srv.Stdout, srv.Stderr = srvLog, srvLog
	srvProc, err := startGroup(srv)
	if err != nil {
		return nil, "", fmt.Errorf("starting fpserver: %w", err)
	}
	defer srvProc.stop(15 * time.Second)
	// fpserver's certificate is issued by the local CA it creates in its
	// data directory before it listens; the browsers trust that CA.
	caFile := filepath.Join(data, "tls", "ca.pem")
	roots, err := waitRoots(ctx, caFile, srvProc.exited)
	if err != nil {
		return nil, "", fmt.Errorf("fpserver's CA: %w (log %s)", err, srvLog.Name())
	}
	if err := waitTLS(ctx, addr[listener], roots, srvProc.exited); err != nil {
		return nil, "", fmt.Errorf("fpserver on %s: %w (log %s)", addr[listener], err, srvLog.Name())
	}
	_, port, _ := net.SplitHostPort(addr[listener])
	pageURL := "https://" + host + ":" + port + "/"

	var quic *quicTarget
	if httpVersion == "3" {
		spki, err := leafSPKIHash(filepath.Join(data, "tls", "cert.pem"))
		if err != nil {
			return nil, "", err
		}
		quic = &quicTarget{origin: host + ":" + port, spki: spki}
	}
	browserCmd, err := g.browserCommand(ctx, browser, kind, dir, pageURL, caFile, quic)
	if err != nil {
		return nil, "", err
	}
	brLog, err := os.Create(filepath.Join(dir, "browser.log"))
	if err != nil {
		return nil, "", fmt.Errorf("creating browser log: %w", err)
	}
	defer brLog.Close()
	browserCmd.Stdout, browserCmd.Stderr = brLog, brLog
	fmt.Fprintf(g.log, "profilegen: %s -> %s (HTTP/%s)\n", browser, pageURL, httpVersion)
	brProc, err := startGroup(browserCmd)
	if err != nil {
		return nil, "", fmt.Errorf("starting %s: %w", browser, err)
	}
	defer brProc.stop(10 * time.Second)

	st, err := store.Open(ctx, filepath.Join(data, "fpserver.db"))
	if err != nil {
		return nil, "", fmt.Errorf("opening fpserver's store: %w", err)
	}
	defer st.Close()
	waitCtx, waitCancel := context.WithTimeout(ctx, g.cfg.timeout)
	defer waitCancel()
	rows, key, err := waitVisit(waitCtx, st, kind.marker, httpVersion, brProc.exited)
	if err != nil {
		return nil, "", fmt.Errorf("%w (browser log %s)", err, brLog.Name())
	}
	caps, err := curate.VisitCaptures(rows)
	if err != nil {
		return nil, "", err
	}
	return caps, key, nil
}

// quicTarget is the origin a browser is forced onto QUIC for.
type quicTarget struct {
	// origin is host:port.
	origin string
	// spki is the base64 SHA-256 of the server certificate's
	// SubjectPublicKeyInfo: Chromium verifies QUIC certificates without
	// --ignore-certificate-errors, so the leaf is trusted by its key.
	spki string
}

// leafSPKIHash returns the base64 SHA-256 of the SubjectPublicKeyInfo of
// the first certificate in the PEM file at path.
func leafSPKIHash(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading fpserver's certificate: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return "", fmt.Errorf("%s holds no PEM certificate", path)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return "", fmt.Errorf("parsing %s: %w", path, err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}

// withoutHTTP3 drops the HTTP/3 captures of a TCP visit (a browser that
// followed fpserver's Alt-Svc), so the h1 and h2 lists come from TCP only.
func withoutHTTP3(caps []emulation.VisitCapture) []emulation.VisitCapture {
	return slices.DeleteFunc(caps, func(c emulation.VisitCapture) bool { return c.HTTPVersion == "3" })
}

// onlyHTTP3 keeps the HTTP/3 captures of the HTTP/3 visit.
func onlyHTTP3(caps []emulation.VisitCapture) []emulation.VisitCapture {
	return slices.DeleteFunc(caps, func(c emulation.VisitCapture) bool { return c.HTTPVersion != "3" })
}

// checkH3 reports what the profile's h3 section lacks of a complete
// HTTP/3 visit: a QUIC ClientHello that parses, its transport parameters,
// the SETTINGS and a navigate header list.
func checkH3(p *emulation.Profile) error {
	h := p.H3
	if h == nil {
		return errors.New("the profile has no h3 section")
	}
	if _, err := fingerprint.ParseClientHelloQUIC(h.ClientHello); err != nil {
		return fmt.Errorf("h3 client_hello: %w", err)
	}
	var missing []string
	if len(h.TransportParameters) == 0 {
		missing = append(missing, "transport_parameters")
	}
	if len(h.Settings) == 0 {
		missing = append(missing, "settings")
	}
	if len(h.Headers[emulation.Navigate]) == 0 {
		missing = append(missing, "navigate headers")
	}
	if len(missing) > 0 {
		return fmt.Errorf("the h3 section has no %s", strings.Join(missing, ", "))
	}
	return nil
}

// browserCommand returns the command that opens pageURL in a fresh profile
// of browser, headed under xvfb-run; quic, when set, forces the browser
// onto QUIC for that origin.
func (g *generator) browserCommand(ctx context.Context, browser string, kind browserKind, dir, pageURL, caFile string, quic *quicTarget) (*exec.Cmd, error) {
	home := filepath.Join(dir, "home")
	profile := filepath.Join(dir, "profile")
	for _, d := range []string{home, profile} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("creating %s: %w", d, err)
		}
	}
	var args []string
	if kind.firefox {
		if err := firefoxProfile(ctx, profile, caFile, quic); err != nil {
			return nil, err
		}
		args = []string{"-a", browser, "--no-remote", "--profile", profile, pageURL}
	} else {
		args = []string{"-a", browser, "--no-sandbox", "--ignore-certificate-errors", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--user-data-dir=" + profile}
		if quic != nil {
			// QUIC has no fallback between addresses: the host name is
			// mapped to the IPv4 loopback fpserver listens on (SNI and
			// :authority keep the name).
			host, _, _ := strings.Cut(quic.origin, ":")
			args = append(args, "--enable-quic", "--origin-to-force-quic-on="+quic.origin,
				"--ignore-certificate-errors-spki-list="+quic.spki,
				"--host-resolver-rules=MAP "+host+" 127.0.0.1")
		}
		args = append(args, pageURL)
	}
	cmd := exec.Command("xvfb-run", args...)
	cmd.Env = append(os.Environ(), "HOME="+home, "MOZ_CRASHREPORTER_DISABLE=1")
	return cmd, nil
}

// firefoxProfile prepares a fresh Firefox profile in dir whose NSS database
// trusts caFile, with preferences that keep Firefox from opening other
// pages or talking to Mozilla at start; quic, when set, makes Firefox use
// HTTP/3 for that origin from the first request.
func firefoxProfile(ctx context.Context, dir, caFile string, quic *quicTarget) error {
	for _, args := range [][]string{
		{"-N", "-d", "sql:" + dir, "--empty-password"},
		{"-A", "-d", "sql:" + dir, "-n", "fp", "-t", "C,,", "-i", caFile},
	} {
		out, err := exec.CommandContext(ctx, "certutil", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("certutil %s: %w: %s", strings.Join(args, " "), err, out)
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
	if quic != nil {
		host, port, _ := strings.Cut(quic.origin, ":")
		prefs = append(prefs,
			`user_pref("network.http.http3.enable", true);`,
			// The test CA is a root the user added: Firefox turns HTTP/3
			// off when it finds one unless told not to.
			`user_pref("network.http.http3.disable_when_third_party_roots_found", false);`,
			fmt.Sprintf(`user_pref("network.http.http3.alt-svc-mapping-for-testing", "%s;h3=:%s");`, host, port),
			`user_pref("network.http.http3.force-use-alt-svc-mapping-for-testing", true);`,
			`user_pref("network.dns.disableIPv6", true);`,
		)
	}
	if err := os.WriteFile(filepath.Join(dir, "user.js"), []byte(strings.Join(prefs, "\n")+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing Firefox preferences: %w", err)
	}
	return nil
}

// freePorts returns n distinct free loopback TCP ports.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// waitTLS waits until a TLS handshake with addr succeeds against roots.
// waitRoots waits for fpserver to write its CA certificate to path and
// returns a pool holding it.
func waitRoots(ctx context.Context, path string, exited <-chan struct{}) (*x509.CertPool, error) {
	for {
		if pemBytes, err := os.ReadFile(path); err == nil {
			roots := x509.NewCertPool()
			if roots.AppendCertsFromPEM(pemBytes) {
				return roots, nil
			}
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("fpserver exited before writing %s", path)
		case <-ctx.Done():
			return nil, fmt.Errorf("no CA certificate at %s: %w", path, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func waitTLS(ctx context.Context, addr string, roots *x509.CertPool, exited <-chan struct{}) error {
	d := tls.Dialer{Config: &tls.Config{ServerName: "localhost", RootCAs: roots, NextProtos: []string{"http/1.1"}}}
	var last error
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		last = err
		select {
		case <-exited:
			return fmt.Errorf("exited before serving: %w", last)
		case <-ctx.Done():
			return fmt.Errorf("not serving: %w", last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// requiredInitiators are the captures a visit must have to be complete.
var requiredInitiators = []string{store.InitiatorNavigate, store.InitiatorFetch, store.InitiatorXHR, store.InitiatorForm, store.InitiatorWebSocket,
	store.InitiatorIframe, store.InitiatorStyle, store.InitiatorScript, store.InitiatorImage, store.InitiatorFont}

// waitVisit polls st until one visit, navigated by a browser whose user
// agent contains marker, has a navigate, fetch, xhr and form capture over
// httpVersion. It returns that visit's captures and key.
func waitVisit(ctx context.Context, st store.Store, marker, httpVersion string, exited <-chan struct{}) ([]store.Capture, string, error) {
	var last error
	for {
		rows, key, err := findVisit(ctx, st, marker, httpVersion)
		if err == nil {
			return rows, key, nil
		}
		last = err
		select {
		case <-exited:
			return nil, "", fmt.Errorf("the browser exited before the visit was complete: %w", last)
		case <-ctx.Done():
			return nil, "", fmt.Errorf("waiting for the visit: %w", last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// findVisit looks once for a complete visit (see waitVisit).
func findVisit(ctx context.Context, st store.Store, marker, httpVersion string) ([]store.Capture, string, error) {
	now := time.Now()
	top, err := st.TopFingerprints(ctx, store.KindJA4, store.TimeWindow{Since: now.Add(-time.Hour), Until: now.Add(time.Hour)}, 100)
	if err != nil {
		return nil, "", fmt.Errorf("listing fingerprints: %w", err)
	}
	var keys []string
	for _, fc := range top {
		rows, _, err := st.CapturesByFingerprint(ctx, store.FingerprintQuery{Hash: fc.Hash, Kind: store.KindJA4, Limit: 1000})
		if err != nil {
			return nil, "", fmt.Errorf("listing captures of %s: %w", fc.Hash, err)
		}
		for _, r := range rows {
			if r.Initiator == store.InitiatorNavigate && r.VisitKey != "" && strings.Contains(r.UserAgent, marker) && !slices.Contains(keys, r.VisitKey) {
				keys = append(keys, r.VisitKey)
			}
		}
	}
	if len(keys) == 0 {
		return nil, "", fmt.Errorf("no navigation by a %q user agent stored yet", marker)
	}
	slices.Sort(keys)
	var missing []string
	for _, key := range keys {
		rows, err := st.CapturesByVisit(ctx, key)
		if err != nil {
			return nil, "", fmt.Errorf("reading visit %s: %w", key, err)
		}
		if m := missingInitiators(rows, httpVersion); len(m) > 0 {
			missing = append(missing, fmt.Sprintf("visit %s lacks %s", key, strings.Join(m, ",")))
			continue
		}
		return rows, key, nil
	}
	return nil, "", errors.New(strings.Join(missing, "; "))
}

// missingInitiators lists the required initiators rows has no capture of
// over httpVersion. Over HTTP/3 the WebSocket is not required: browsers
// open it over TCP (no RFC 9220).
func missingInitiators(rows []store.Capture, httpVersion string) []string {
	var missing []string
	for _, in := range requiredInitiators {
		if httpVersion == "3" && in == store.InitiatorWebSocket {
			continue
		}
		if !slices.ContainsFunc(rows, func(r store.Capture) bool { return r.Initiator == in && r.HTTPVersion == httpVersion }) {
			missing = append(missing, in)
		}
	}
	return missing
}

// summarize writes what was captured: every navigation (Chromium navigates
// twice when a page sends Critical-CH) and the profile's fingerprints.
func summarize(w io.Writer, p *emulation.Profile, caps []emulation.VisitCapture) {
	fmt.Fprintf(w, "profilegen: %s: %s\n  user agent %s\n  ja4 %s\n  akamai %s\n", p.Name, p.Browser+" "+p.Version+" "+p.Platform, p.UserAgent, p.Expected.JA4, p.Expected.Akamai)
	sorted := slices.Clone(caps)
	slices.SortStableFunc(sorted, func(a, b emulation.VisitCapture) int { return a.CreatedAt.Compare(b.CreatedAt) })
	for _, c := range sorted {
		var names []string
		for _, h := range c.Headers {
			names = append(names, h.Name)
		}
		fmt.Fprintf(w, "  %s HTTP/%s %-8s %s\n", c.CreatedAt.Format("15:04:05.000"), c.HTTPVersion, c.Initiator, strings.Join(names, ","))
	}
}
