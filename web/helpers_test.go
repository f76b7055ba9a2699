package web

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/guanaco-fp/guanaco/capture"
	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/fingerprint"
	"github.com/guanaco-fp/guanaco/store"
)

// goldenDir holds ClientHellos captured from real clients.
const goldenDir = "../fingerprint/testdata/golden"

// golden is one golden ClientHello and the values an independent
// implementation computed for it.
type golden struct {
	raw    []byte
	expect struct {
		SNI           string   `json:"sni"`
		ALPN          []string `json:"alpn"`
		JA3Hash       string   `json:"ja3_hash"`
		JA3NHash      string   `json:"ja3n_hash"`
		JA4           string   `json:"ja4"`
		JA4R          string   `json:"ja4_r"`
		PeetPrintHash string   `json:"peetprint_hash"`
	}
}

func loadGolden(t testing.TB, name string) golden {
	t.Helper()
	var g golden
	var err error
	g.raw, err = os.ReadFile(filepath.Join(goldenDir, name+".hello"))
	if err != nil {
		t.Fatalf("reading golden hello: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(goldenDir, name+".expect.json"))
	if err != nil {
		t.Fatalf("reading golden expectations: %v", err)
	}
	if err := json.Unmarshal(b, &g.expect); err != nil {
		t.Fatalf("decoding golden expectations: %v", err)
	}
	return g
}

// tlsInfo builds the TLS side of a fake capture from a golden hello.
func tlsInfo(t testing.TB, g golden, alpn string) *capture.TLSInfo {
	t.Helper()
	ch, err := fingerprint.ParseClientHello(g.raw)
	if err != nil {
		t.Fatalf("parsing golden hello: %v", err)
	}
	return &capture.TLSInfo{
		Raw:          g.raw,
		Hello:        ch,
		Fingerprints: ch.Fingerprints(),
		State: tls.ConnectionState{
			Version:            tls.VersionTLS13,
			CipherSuite:        tls.TLS_AES_128_GCM_SHA256,
			NegotiatedProtocol: alpn,
			ServerName:         g.expect.SNI,
		},
	}
}

// Chromium-like HTTP/2 connection preface values.
var chromeSettings = []fingerprint.H2Setting{{ID: 1, Value: 65536}, {ID: 2, Value: 0}, {ID: 4, Value: 6291456}, {ID: 6, Value: 262144}}

const chromeWindowUpdate = 15663105

// chromeAkamai is the Akamai text of chromeSettings, chromeWindowUpdate,
// no PRIORITY frames and pseudo order m,a,s,p (EMULATION-NOTES.md).
const chromeAkamai = "1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p"

// browserHeaders are the regular headers a Chromium navigation sends, in
// order (HTTP/2 names).
func browserHeaders() []fingerprint.Header {
	return []fingerprint.Header{
		{Name: "sec-ch-ua", Value: `"Chromium";v="156", "Not-A.Brand";v="24"`},
		{Name: "sec-ch-ua-mobile", Value: "?0"},
		{Name: "sec-ch-ua-platform", Value: `"Linux"`},
		{Name: "upgrade-insecure-requests", Value: "1"},
		{Name: "user-agent", Value: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"},
		{Name: "accept", Value: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
		{Name: "sec-fetch-site", Value: "none"},
		{Name: "sec-fetch-mode", Value: "navigate"},
		{Name: "sec-fetch-user", Value: "?1"},
		{Name: "sec-fetch-dest", Value: "document"},
		{Name: "accept-encoding", Value: "gzip, deflate, br, zstd"},
		{Name: "accept-language", Value: "en-US,en;q=0.9"},
		{Name: "priority", Value: "u=0, i"},
	}
}

// extraHeaders are r's headers that browserHeaders does not cover, sorted
// by name, so a test can add a header to the capture by setting it on the
// request.
func extraHeaders(r *http.Request, h2 bool) []fingerprint.Header {
	known := map[string]bool{}
	for _, h := range browserHeaders() {
		known[h.Name] = true
	}
	var names []string
	for n := range r.Header {
		if !known[strings.ToLower(n)] {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var out []fingerprint.Header
	for _, n := range names {
		for _, v := range r.Header[n] {
			name := n
			if h2 {
				name = strings.ToLower(n)
			}
			out = append(out, fingerprint.Header{Name: name, Value: v})
		}
	}
	return out
}

// chromeH2Capture returns a CaptureOf that gives every request an HTTP/2
// capture with the chromium golden hello, Chromium's connection preface, the
// browser headers and then r's other headers.
func chromeH2Capture(t testing.TB) func(*http.Request) (*capture.Request, bool) {
	g := loadGolden(t, "chromium")
	ti := tlsInfo(t, g, "h2")
	return func(r *http.Request) (*capture.Request, bool) {
		pseudo := []fingerprint.Header{
			{Name: ":method", Value: r.Method},
			{Name: ":authority", Value: r.Host},
			{Name: ":scheme", Value: "https"},
			{Name: ":path", Value: r.URL.RequestURI()},
		}
		headers := browserHeaders()
		for i, h := range headers {
			if v := r.Header.Get(h.Name); v != "" {
				headers[i].Value = v
			}
		}
		headers = append(headers, extraHeaders(r, true)...)
		req := fingerprint.H2Request{
			StreamID: 1,
			Pseudo:   pseudo,
			Headers:  headers,
			Priority: &fingerprint.H2Priority{StreamID: 1, Exclusive: true, DependsOn: 0, Weight: 256},
			HPACK:    []string{"i", "lh", "i", "wh", "lnNh"},
		}
		conn := &fingerprint.H2Conn{Settings: chromeSettings, WindowUpdate: chromeWindowUpdate, Requests: []fingerprint.H2Request{req}}
		all := append(append([]fingerprint.Header{}, pseudo...), headers...)
		names := make([]string, len(all))
		for i, h := range all {
			names[i] = h.Name
		}
		return &capture.Request{
			ConnID:      "c1",
			Protocol:    capture.ProtoH2,
			TLS:         ti,
			H2:          &capture.H2Info{Conn: conn, Request: req, Akamai: conn.Akamai()},
			Headers:     all,
			HeaderOrder: fingerprint.HeaderOrderOf(names...),
			Matched:     true,
		}, true
	}
}

// curlH1Capture returns a CaptureOf for curl over HTTP/1.1: Host,
// User-Agent, Accept, then r's other headers; TLS from the curl golden hello
// unless plain is set.
func curlH1Capture(t testing.TB, plain bool) func(*http.Request) (*capture.Request, bool) {
	var ti *capture.TLSInfo
	if !plain {
		ti = tlsInfo(t, loadGolden(t, "curl"), "http/1.1")
	}
	return func(r *http.Request) (*capture.Request, bool) {
		headers := []fingerprint.Header{
			{Name: "Host", Value: r.Host},
			{Name: "User-Agent", Value: "curl/8.14.1"},
			{Name: "Accept", Value: "*/*"},
		}
		if ua := r.Header.Get("User-Agent"); ua != "" {
			headers[1].Value = ua
		}
		for _, h := range extraHeaders(r, false) {
			switch h.Name {
			case "User-Agent", "Accept":
				continue
			}
			headers = append(headers, h)
		}
		names := make([]string, len(headers))
		for i, h := range headers {
			names[i] = h.Name
		}
		return &capture.Request{
			ConnID:      "c2",
			Protocol:    capture.ProtoHTTP1,
			TLS:         ti,
			HTTP1:       &fingerprint.HTTP1Request{Method: r.Method, Target: r.URL.RequestURI(), Proto: "HTTP/1.1", Headers: headers},
			Headers:     headers,
			HeaderOrder: fingerprint.HeaderOrderOf(names...),
			Matched:     true,
		}, true
	}
}

// sink is a capture writer that inserts each offered capture into a real
// store synchronously, so tests can read it back at once.
type sink struct {
	st     store.Store
	refuse bool
	// hold accepts captures without writing them (a writer that has not
	// flushed yet).
	hold bool

	mu   sync.Mutex
	got  []store.Capture
	errs []error
}

func (s *sink) Offer(c store.Capture) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse {
		return false
	}
	s.got = append(s.got, c)
	if s.hold {
		return true
	}
	if _, err := s.st.InsertCaptures(context.Background(), []store.Capture{c}); err != nil {
		s.errs = append(s.errs, err)
	}
	return true
}

// captures returns the captures offered so far and fails the test on
// insert errors.
func (s *sink) captures(t testing.TB) []store.Capture {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, err := range s.errs {
		t.Errorf("inserting offered capture: %v", err)
	}
	return append([]store.Capture(nil), s.got...)
}

func (s *sink) last(t testing.TB) store.Capture {
	t.Helper()
	got := s.captures(t)
	if len(got) == 0 {
		t.Fatal("no capture was offered")
	}
	return got[len(got)-1]
}

// env is a handler under test with its real SQLite store.
type env struct {
	t    testing.TB
	h    http.Handler
	st   store.Store
	sink *sink
	reg  *prometheus.Registry
	logs *bytes.Buffer
	now  time.Time
}

// newEnv opens an in-memory store and builds the handler; mod adjusts the
// dependencies first.
func newEnv(t testing.TB, mod func(*Deps)) *env {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, ":memory:")
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, st: st, sink: &sink{st: st}, reg: prometheus.NewRegistry(), logs: &bytes.Buffer{},
		now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	d := Deps{
		Store:     st,
		Captures:  e.sink,
		CaptureOf: chromeH2Capture(t),
		Logger:    slog.New(slog.NewTextHandler(&lockedWriter{w: e.logs}, nil)),
		Registry:  e.reg,
		Now:       func() time.Time { return e.now },
	}
	if mod != nil {
		mod(&d)
	}
	h, err := New(d)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.h = h
	return e
}

// lockedWriter serialises log writes.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// do serves one request and returns the recorded response.
func (e *env) do(method, target string, body io.Reader, mod func(*http.Request)) *httptest.ResponseRecorder {
	e.t.Helper()
	r := httptest.NewRequest(method, target, body)
	if mod != nil {
		mod(r)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

// decodeJSON decodes a response body into v, failing the test on error.
func decodeJSON(t testing.TB, w *httptest.ResponseRecorder, v any) {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q, want JSON; body:\n%s", ct, w.Body.String())
	}
	if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
		t.Fatalf("decoding JSON: %v\n%s", err, w.Body.String())
	}
}

// testProfile builds a valid profile around the chromium golden hello.
func testProfile(t testing.TB, name string) *emulation.Profile {
	t.Helper()
	g := loadGolden(t, "chromium")
	akamai := fingerprint.AkamaiString(chromeSettings, chromeWindowUpdate, nil, []string{":method", ":authority", ":scheme", ":path"})
	settings := make([]emulation.Setting, len(chromeSettings))
	for i, s := range chromeSettings {
		settings[i] = emulation.Setting(s)
	}
	p := &emulation.Profile{
		Format:    emulation.FormatVersion,
		Name:      name,
		Browser:   "chromium",
		Version:   "156.0.0.0",
		Platform:  "linux",
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
		TLS:       emulation.TLS{ClientHello: g.raw},
		H2: &emulation.H2{
			Settings:     settings,
			WindowUpdate: chromeWindowUpdate,
			PseudoOrder:  []string{":method", ":authority", ":scheme", ":path"},
			HeadersPriority: map[emulation.Initiator]emulation.Priority{
				emulation.Navigate: {Exclusive: true, DependsOn: 0, Weight: 256},
			},
			Headers: map[emulation.Initiator][]emulation.Header{emulation.Navigate: browserHeaders()},
		},
		Expected: emulation.Expected{JA4: g.expect.JA4, JA4R: g.expect.JA4R, Akamai: akamai.Text, AkamaiHash: akamai.Hash},
		Source:   emulation.Source{BuiltAt: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), Note: "test"},
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("test profile invalid: %v", err)
	}
	return p
}
