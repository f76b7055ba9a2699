//go:build unix

package main

import (
	"bytes"
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/fingerprint"
	"github.com/guanaco-fp/guanaco/store"
)

func TestMissingInitiators(t *testing.T) {
	rows := []store.Capture{
		{Initiator: "navigate", HTTPVersion: "2"}, {Initiator: "fetch", HTTPVersion: "2"},
		{Initiator: "xhr", HTTPVersion: "1.1"}, {Initiator: "form", HTTPVersion: "2"},
		{Initiator: "websocket", HTTPVersion: "1.1"},
		{Initiator: "style", HTTPVersion: "2"}, {Initiator: "script", HTTPVersion: "2"},
		{Initiator: "image", HTTPVersion: "1.1"}, {Initiator: "font", HTTPVersion: "2"},
		{Initiator: "iframe", HTTPVersion: "1.1"}, {Initiator: "manifest", HTTPVersion: "2"},
	}
	if got := strings.Join(missingInitiators(rows, "2"), ","); got != "xhr,websocket,iframe,image" {
		t.Errorf("missing over h2: %s", got)
	}
	if got := strings.Join(missingInitiators(rows, "1.1"), ","); got != "navigate,fetch,form,style,script,font" {
		t.Errorf("missing over http/1.1: %s", got)
	}
	// Over HTTP/3 the WebSocket goes over TCP, so it is not required.
	var h3 []store.Capture
	for _, r := range rows {
		r.HTTPVersion = "3"
		h3 = append(h3, r)
	}
	if got := strings.Join(missingInitiators(h3, "3"), ","); got != "" {
		t.Errorf("missing over HTTP/3: %s", got)
	}
	if got := strings.Join(missingInitiators(h3[:1], "3"), ","); got != "fetch,xhr,form,iframe,style,script,image,font" {
		t.Errorf("missing over HTTP/3 with only a navigation: %s", got)
	}
}

func TestUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"-browsers", "netscape"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "netscape") {
		t.Errorf("unknown browser: exit %d, %s", code, errb.String())
	}
	if code := run(context.Background(), []string{"extra"}, &out, &errb); code != 2 {
		t.Errorf("extra argument: exit %d", code)
	}
	if code := run(context.Background(), []string{"-h"}, &out, &errb); code != 0 {
		t.Errorf("-h: exit %d", code)
	}
}

// TestCaptureChromium runs the real capture for Chromium and checks it
// reproduces the committed catalogue profile's fingerprints and records the
// HTTP/2 encoding fields.
func TestCaptureChromium(t *testing.T) {
	p := captureProfile(t, "chromium")
	if p.TLS.ClientHello == nil || p.H1 == nil || p.H2 == nil {
		t.Fatalf("incomplete profile %s", p.Name)
	}
	for _, in := range emulation.Initiators() {
		if len(p.H1.Headers[in]) == 0 || len(p.H2.Headers[in]) == 0 {
			t.Errorf("%s: no %s headers", p.Name, in)
		}
	}
	// HTTP/2 encoding recorded from the capture (issue 13.4).
	if p.H2.FirstStreamID != 1 || p.H2.StreamWindowUpdate != 0 || p.H2.HuffmanAlways || p.H2.TableSizeUpdate {
		t.Errorf("chromium: first stream %d, stream WINDOW_UPDATE %d, Huffman always %v, table size update %v; want 1, 0, false, false",
			p.H2.FirstStreamID, p.H2.StreamWindowUpdate, p.H2.HuffmanAlways, p.H2.TableSizeUpdate)
	}
	for _, in := range emulation.Initiators() {
		if p.H2.HPACK[in] == "" {
			t.Errorf("no HPACK codes for %s", in)
		}
	}
	if p.H2.HPACKIndexing[":path"] != "w" || p.H2.HPACKIndexing["user-agent"] != "l" {
		t.Errorf("HPACK indexing %v: want :path w, user-agent l", p.H2.HPACKIndexing)
	}
	// Client hints after fpserver's Accept-CH (issue 13.5): the Critical-CH
	// repeat of the navigation and the page's fetch carry them.
	if p.ClientHints == nil {
		t.Error("no client_hints lists")
	} else {
		for _, in := range []emulation.Initiator{emulation.Navigate, emulation.Fetch} {
			if !slices.ContainsFunc(p.ClientHints.H2[in], func(h emulation.Header) bool { return h.Name == "sec-ch-ua-full-version-list" && h.Value != "" }) {
				t.Errorf("client_hints h2 %s lacks sec-ch-ua-full-version-list: %v", in, p.ClientHints.H2[in])
			}
		}
	}
	if !strings.Contains(p.Source.Note, "h2/navigate:cookie") {
		t.Errorf("the Critical-CH repeat navigation gave no cookie slot: %s", p.Source.Note)
	}
	// The HTTP/3 visit (issue 17.5): the h3 section carries the QUIC
	// hello, transport parameters, SETTINGS and the header lists, and the
	// TCP lists are not the HTTP/3 visit's.
	requireH3(t, p)
	if p.H3.PseudoOrder == nil || strings.Join(p.H3.PseudoOrder, ",") != ":method,:authority,:scheme,:path" {
		t.Errorf("h3 pseudo order %v", p.H3.PseudoOrder)
	}
	for _, in := range []emulation.Initiator{emulation.Fetch, emulation.XHR, emulation.Form} {
		if len(p.H3.Headers[in]) == 0 {
			t.Errorf("no h3 %s headers", in)
		}
	}
	if !strings.Contains(p.Source.Note, "h3 from the HTTP/3 visit") {
		t.Errorf("the note does not name the HTTP/3 visit: %s", p.Source.Note)
	}
	if built, err := emulation.Lookup(p.Name); err == nil {
		if built.Expected.JA4 != p.Expected.JA4 || built.Expected.Akamai != p.Expected.Akamai {
			t.Errorf("capture gives %s / %s, the catalogue has %s / %s", p.Expected.JA4, p.Expected.Akamai, built.Expected.JA4, built.Expected.Akamai)
		}
	} else {
		t.Logf("the catalogue has no %s (a new Chromium version?): %v", p.Name, err)
	}
}

// requireH3 fails t unless p's h3 section has a QUIC ClientHello that
// parses (with transport parameters and a q JA4), transport parameters,
// SETTINGS with QPACK's table capacity and a navigate header list with
// the browser's user agent.
func requireH3(t *testing.T, p *emulation.Profile) {
	t.Helper()
	h := p.H3
	if h == nil {
		t.Fatalf("%s: no h3 section", p.Name)
	}
	ch, err := fingerprint.ParseClientHelloQUIC(h.ClientHello)
	if err != nil {
		t.Fatalf("%s: h3 client_hello: %v", p.Name, err)
	}
	if tps, err := ch.QUICTransportParams(); err != nil || len(tps) < 5 {
		t.Errorf("%s: the hello's transport parameters: %d, %v", p.Name, len(tps), err)
	}
	if ja4 := ch.Fingerprints().JA4; !strings.HasPrefix(ja4, "q13") || ja4 != h.JA4 {
		t.Errorf("%s: hello JA4 %s, h3.ja4 %s", p.Name, ja4, h.JA4)
	}
	if h.QUICVersion != "0x00000001" {
		t.Errorf("%s: QUIC version %q", p.Name, h.QUICVersion)
	}
	if len(h.TransportParameters) < 5 || h.QUICTP == "" || h.QUICTPHash == "" {
		t.Errorf("%s: transport parameters %v, quic_tp %q", p.Name, h.TransportParameters, h.QUICTP)
	}
	if !slices.ContainsFunc(h.Settings, func(s fingerprint.H3Setting) bool { return s.ID == 0x01 }) {
		t.Errorf("%s: SETTINGS %+v lack QPACK_MAX_TABLE_CAPACITY", p.Name, h.Settings)
	}
	nav := h.Headers[emulation.Navigate]
	if !slices.ContainsFunc(nav, func(x emulation.Header) bool { return x.Name == "user-agent" && x.Value == p.UserAgent }) {
		t.Errorf("%s: h3 navigate headers %v lack the user agent", p.Name, nav)
	}
	if slices.ContainsFunc(nav, func(x emulation.Header) bool { return strings.HasPrefix(x.Name, ":") }) {
		t.Errorf("%s: h3 navigate headers %v carry pseudo headers", p.Name, nav)
	}
}

// TestCatalogueH3 checks that the built-in profiles captured by
// profilegen carry their HTTP/3 visit.
func TestCatalogueH3(t *testing.T) {
	for _, name := range []string{"chromium-156-linux", "firefox-153-linux"} {
		p, err := emulation.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		requireH3(t, p)
	}
}

func TestCheckH3(t *testing.T) {
	good, err := emulation.Lookup("chromium-156-linux")
	if err != nil {
		t.Fatal(err)
	}
	if err := checkH3(good); err != nil {
		t.Fatalf("the catalogue profile: %v", err)
	}
	for name, spoil := range map[string]func(h *emulation.H3){
		"no h3":         nil,
		"bad hello":     func(h *emulation.H3) { h.ClientHello = h.ClientHello[:20] },
		"TCP hello":     func(h *emulation.H3) { h.ClientHello = good.TLS.ClientHello },
		"no parameters": func(h *emulation.H3) { h.TransportParameters = nil },
		"no settings":   func(h *emulation.H3) { h.Settings = nil },
		"no navigate":   func(h *emulation.H3) { delete(h.Headers, emulation.Navigate) },
	} {
		p := *good
		if spoil != nil {
			h := *good.H3
			h.Headers = maps.Clone(good.H3.Headers)
			spoil(&h)
			p.H3 = &h
		} else {
			p.H3 = nil
		}
		if err := checkH3(&p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestOnlyHTTP3(t *testing.T) {
	caps := []emulation.VisitCapture{{ID: "a", HTTPVersion: "3"}, {ID: "b", HTTPVersion: "1.1"}, {ID: "c", HTTPVersion: "2"}, {ID: "d", HTTPVersion: "3"}}
	ids := func(cs []emulation.VisitCapture) string {
		var out []string
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return strings.Join(out, ",")
	}
	if got := ids(onlyHTTP3(slices.Clone(caps))); got != "a,d" {
		t.Errorf("onlyHTTP3: %s", got)
	}
	if got := ids(withoutHTTP3(slices.Clone(caps))); got != "b,c" {
		t.Errorf("withoutHTTP3: %s", got)
	}
}

// captureProfile runs the real capture for browser (with a freshly built
// fpserver) and returns the profile it wrote.
func captureProfile(t *testing.T, browser string) *emulation.Profile {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a real browser")
	}
	for _, tool := range []string{browser, "xvfb-run", "certutil", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is missing", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	bin := filepath.Join(t.TempDir(), "fpserver")
	build := exec.Command("go", "build", "-o", bin, "./cmd/fpserver")
	build.Dir = root
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building fpserver: %v\n%s", err, b)
	}
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if code := run(ctx, []string{"-browsers", browser, "-fpserver", bin, "-out", out, "-timeout", "90s"}, &stdout, &stderr); code != 0 {
		t.Fatalf("profilegen: exit %d\n%s", code, stderr.String())
	}
	files, _ := filepath.Glob(filepath.Join(out, "*-linux.json"))
	if len(files) != 1 {
		t.Fatalf("wrote %v\n%s", files, stderr.String())
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	p, err := emulation.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCaptureFirefoxH3 runs the real capture for firefox-esr and checks
// that its HTTP/3 visit (alt-svc mapping preferences) gave the h3 section,
// with Firefox's pseudo-header order.
func TestCaptureFirefoxH3(t *testing.T) {
	p := captureProfile(t, "firefox-esr")
	requireH3(t, p)
	if got := strings.Join(p.H3.PseudoOrder, ","); got != ":method,:scheme,:authority,:path" {
		t.Errorf("h3 pseudo order %s", got)
	}
	if built, err := emulation.Lookup(p.Name); err == nil && built.H3 != nil && built.H3.QUICTPHash != p.H3.QUICTPHash {
		t.Errorf("capture gives quic_tp %s, the catalogue has %s", p.H3.QUICTP, built.H3.QUICTP)
	}
}
