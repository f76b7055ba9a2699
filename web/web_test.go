package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/guanaco-fp/guanaco/capture"
	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/store"
)

const xss = `<script>alert(1)</script>`

func TestIndexShowsFingerprint(t *testing.T) {
	e := newEnv(t, nil)
	g := loadGolden(t, "chromium")
	w := e.do("GET", "https://fp.example/", nil, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("GET / = %d\n%s", w.Code, w.Body.String())
	}
	if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	body := w.Body.String()
	for _, want := range []string{
		g.expect.JA4,           // fingerprints, from the independent implementation
		g.expect.JA3NHash,      //
		g.expect.PeetPrintHash, //
		chromeAkamai,           // Akamai text
		"TLS_AES_128_GCM_SHA256",
		"server_name",
		"encrypted_client_hello",
		"X25519MLKEM768",
		"INITIAL_WINDOW_SIZE",
		"6291456",
		"sec-fetch-mode",
		`id="probe-fetch"`,
		`id="form-probe"`,
		`data-copy="` + g.expect.JA4 + `"`,
		"/api/profiles/visit/",
		"HTTP/2",
		"TLS 1.3",
		"HPACK representations", "i,lh,i,wh,lnNh",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if got := w.Header().Get("Accept-CH"); !strings.Contains(got, "Sec-CH-UA-Full-Version-List") || !strings.Contains(got, "Sec-CH-UA-Platform-Version") {
		t.Errorf("Accept-CH = %q", got)
	}
	if got := w.Header().Get("Critical-CH"); !strings.Contains(got, "Sec-CH-UA-Arch") {
		t.Errorf("Critical-CH = %q", got)
	}

	c := e.sink.last(t)
	if c.Initiator != store.InitiatorNavigate || c.JA4 != g.expect.JA4 || c.JA4R != g.expect.JA4R || c.PeetPrintHash != g.expect.PeetPrintHash {
		t.Errorf("capture initiator %q ja4 %q ja4_r %q peetprint %q", c.Initiator, c.JA4, c.JA4R, c.PeetPrintHash)
	}
	if c.Akamai != chromeAkamai || c.HTTPVersion != "2" || c.TLSVersion != "1.3" || c.ALPN != "h2" || c.SNI != g.expect.SNI {
		t.Errorf("capture akamai %q version %q tls %q alpn %q sni %q", c.Akamai, c.HTTPVersion, c.TLSVersion, c.ALPN, c.SNI)
	}
	if c.ClientIP != "192.0.2.0/24" {
		t.Errorf("client IP stored as %q, want the /24", c.ClientIP)
	}
	if !bytes.Equal(c.ClientHello, g.raw) {
		t.Error("stored ClientHello differs from the captured bytes")
	}
	if !strings.Contains(body, c.ID) {
		t.Errorf("page does not show the capture id %s", c.ID)
	}
	if len(c.Headers) < 5 || c.Headers[0].Name != ":method" || c.Headers[4].Name != "sec-ch-ua" {
		t.Errorf("stored headers not in wire order: %v", c.Headers)
	}
	var summary map[string]json.RawMessage
	if err := json.Unmarshal(c.TLSSummary, &summary); err != nil {
		t.Fatalf("TLS summary: %v", err)
	}
	if _, ok := summary["raw"]; ok {
		t.Error("TLS summary carries the raw hello")
	}
	if _, ok := summary["cipher_suites"]; !ok {
		t.Errorf("TLS summary lacks cipher_suites: %s", c.TLSSummary)
	}
	var h2 struct {
		Settings        [][2]uint32 `json:"settings"`
		WindowUpdate    uint32      `json:"window_update"`
		PseudoOrder     []string    `json:"pseudo_order"`
		HPACK           string      `json:"hpack"`
		HeadersPriority *struct {
			Exclusive bool `json:"exclusive"`
			Weight    int  `json:"weight"`
		} `json:"headers_priority"`
	}
	if err := json.Unmarshal(c.H2, &h2); err != nil {
		t.Fatalf("H2 summary: %v", err)
	}
	if fmt.Sprint(h2.Settings) != "[[1 65536] [2 0] [4 6291456] [6 262144]]" || h2.WindowUpdate != chromeWindowUpdate ||
		strings.Join(h2.PseudoOrder, ",") != ":method,:authority,:scheme,:path" || h2.HPACK != "i,lh,i,wh,lnNh" ||
		h2.HeadersPriority == nil || !h2.HeadersPriority.Exclusive || h2.HeadersPriority.Weight != 256 {
		t.Errorf("H2 summary = %s", c.H2)
	}
}

func TestVisitCookieSetOnceAndReused(t *testing.T) {
	e := newEnv(t, nil)
	w := e.do("GET", "https://fp.example/", nil, func(r *http.Request) {
		r.TLS = nil // over a capture listener net/http leaves r.TLS nil for HTTP/1
	})
	cookies := w.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Name != visitCookie {
		t.Fatalf("first visit cookies = %v", cookies)
	}
	ck := cookies[0]
	if !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || !validVisitKey(ck.Value) {
		t.Errorf("cookie %+v: want HttpOnly, Secure (TLS capture), SameSite=Lax, Path=/, 32 hex", ck)
	}
	first := e.sink.last(t)
	if first.VisitKey != ck.Value {
		t.Errorf("navigate capture visit key %q, cookie %q", first.VisitKey, ck.Value)
	}

	withCookie := func(r *http.Request) { r.AddCookie(&http.Cookie{Name: visitCookie, Value: ck.Value}) }
	w = e.do("GET", "https://fp.example/", nil, withCookie)
	if got := w.Header().Values("Set-Cookie"); len(got) != 0 {
		t.Errorf("second visit sets cookies again: %v", got)
	}
	for _, p := range []struct{ method, path, initiator string }{
		{"POST", "/probe/fetch", store.InitiatorFetch},
		{"POST", "/probe/xhr", store.InitiatorXHR},
		{"POST", "/probe/form", store.InitiatorForm},
		{"GET", "/probe/form?probe=form", store.InitiatorForm},
	} {
		w = e.do(p.method, "https://fp.example"+p.path, strings.NewReader("probe=x"), withCookie)
		if w.Code != http.StatusOK {
			t.Fatalf("%s %s = %d\n%s", p.method, p.path, w.Code, w.Body.String())
		}
		if got := w.Header().Values("Set-Cookie"); len(got) != 0 {
			t.Errorf("%s sets cookies: %v", p.path, got)
		}
		c := e.sink.last(t)
		if c.VisitKey != ck.Value || c.Initiator != p.initiator {
			t.Errorf("%s capture: visit %q initiator %q, want %q %q", p.path, c.VisitKey, c.Initiator, ck.Value, p.initiator)
		}
	}

	// A probe without the cookie belongs to no visit and sets nothing.
	w = e.do("POST", "https://fp.example/probe/fetch", strings.NewReader("x"), nil)
	if got := w.Header().Values("Set-Cookie"); len(got) != 0 {
		t.Errorf("probe without cookie sets %v", got)
	}
	if c := e.sink.last(t); c.VisitKey != "" {
		t.Errorf("probe without cookie got visit key %q", c.VisitKey)
	}

	// A malformed cookie is replaced on "/".
	w = e.do("GET", "https://fp.example/", nil, func(r *http.Request) {
		r.AddCookie(&http.Cookie{Name: visitCookie, Value: "not-a-key"})
	})
	cookies = w.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Value == "not-a-key" || !validVisitKey(cookies[0].Value) {
		t.Errorf("malformed cookie not replaced: %v", cookies)
	}

	// Over plain HTTP the cookie is not Secure.
	plain := newEnv(t, func(d *Deps) { d.CaptureOf = curlH1Capture(t, true) })
	w = plain.do("GET", "http://fp.example/", nil, nil)
	cookies = w.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Secure {
		t.Errorf("plain HTTP cookie = %+v, want one without Secure", cookies)
	}
}

func TestXSSEscaped(t *testing.T) {
	e := newEnv(t, nil)
	mod := func(r *http.Request) {
		r.Header.Set("X-Evil", xss)
		r.Header.Set("User-Agent", xss)
	}
	escaped := "&lt;script&gt;alert(1)&lt;/script&gt;"
	check := func(what string, body string) {
		t.Helper()
		if strings.Contains(body, xss) {
			t.Errorf("%s renders the header value as markup", what)
		}
		if !strings.Contains(body, escaped) {
			t.Errorf("%s does not show the header value as text", what)
		}
	}
	w := e.do("GET", "https://fp.example/", nil, mod)
	if w.Code != http.StatusOK {
		t.Fatalf("GET / = %d", w.Code)
	}
	check("/", w.Body.String())
	id := e.sink.last(t).ID

	w = e.do("GET", "https://fp.example/captures/"+id, nil, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("GET /captures/%s = %d\n%s", id, w.Code, w.Body.String())
	}
	check("/captures/{id}", w.Body.String())
	if !strings.Contains(w.Body.String(), "A navigate request stored by this server.") {
		t.Error("the capture page does not say \"A navigate request\"")
	}

	// The form probe page carries the report as JSON in an attribute.
	w = e.do("POST", "https://fp.example/probe/form", strings.NewReader("a=b"), mod)
	body := w.Body.String()
	if strings.Contains(body, xss) {
		t.Error("/probe/form renders the header value as markup")
	}
	m := regexp.MustCompile(`data-result="([^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("/probe/form lacks data-result")
	}
	var probe struct {
		HTTP struct {
			Headers [][2]string `json:"headers"`
		} `json:"http"`
	}
	if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &probe); err != nil {
		t.Fatalf("data-result is not JSON: %v", err)
	}
	found := false
	for _, h := range probe.HTTP.Headers {
		found = found || h == [2]string{"x-evil", xss}
	}
	if !found {
		t.Errorf("data-result lacks the header: %v", probe.HTTP.Headers)
	}

	// The user agent feeds the population and stats charts.
	c := e.sink.last(t)
	w = e.do("GET", "https://fp.example/fingerprints/"+url.PathEscape(c.JA4), nil, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("GET /fingerprints = %d\n%s", w.Code, w.Body.String())
	}
	check("/fingerprints/{hash}", w.Body.String())
	w = e.do("GET", "https://fp.example/stats?window=all", nil, nil)
	check("/stats", w.Body.String())

	// JSON stays JSON: the value round-trips, with < and > escaped.
	w = e.do("GET", "https://fp.example/api/fingerprint", nil, mod)
	if strings.Contains(w.Body.String(), xss) {
		t.Error("JSON contains the raw markup")
	}
	var rep struct {
		UserAgent string `json:"user_agent"`
	}
	decodeJSON(t, w, &rep)
	if rep.UserAgent != xss {
		t.Errorf("user_agent = %q", rep.UserAgent)
	}
}

// errorShape is the only allowed JSON error document.
type errorShape struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func decodeError(t *testing.T, w interface {
	Result() *http.Response
}, body []byte) errorShape {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var e errorShape
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("error body is not the error shape: %v\n%s", err, body)
	}
	if ct := w.Result().Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error Content-Type = %q", ct)
	}
	if e.Error.Code == "" || e.Error.Message == "" {
		t.Errorf("error shape with empty fields: %s", body)
	}
	return e
}

func TestNotFound(t *testing.T) {
	e := newEnv(t, nil)
	for _, path := range []string{"/nope", "/captures/ffffffffffffffffffffffffffffffff", "/captures/bad%20id", "/fingerprints/t13d0000h2_000000000000_000000000000", "/static/missing.css"} {
		w := e.do("GET", "https://fp.example"+path, nil, nil)
		if w.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, w.Code)
			continue
		}
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/") {
			t.Errorf("GET %s Content-Type = %q, want an HTML page", path, ct)
		}
		if path != "/static/missing.css" && !strings.Contains(w.Body.String(), "Not Found") {
			t.Errorf("GET %s: page lacks the status text", path)
		}
	}
	for _, path := range []string{"/api/nope", "/api/captures/ffffffffffffffffffffffffffffffff", "/api/captures/x%3Cy",
		"/api/fingerprints/0123456789abcdef0123456789abcdef", "/api/profiles/nobody", "/api/profiles/visit/0123", "/probe/nope", "/api/echo-not"} {
		w := e.do("GET", "https://fp.example"+path, nil, nil)
		if w.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404\n%s", path, w.Code, w.Body.String())
			continue
		}
		if got := decodeError(t, w, w.Body.Bytes()); got.Error.Code != codeNotFound {
			t.Errorf("GET %s code = %q", path, got.Error.Code)
		}
	}
	// Security headers are on error pages too.
	w := e.do("GET", "https://fp.example/nope", nil, nil)
	if w.Header().Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(w.Header().Get("Content-Security-Policy"), "frame-ancestors 'self'") {
		t.Errorf("404 lacks security headers: %v", w.Header())
	}
}

func TestJSONErrorShape(t *testing.T) {
	e := newEnv(t, nil)
	cases := []struct {
		method, path string
		status       int
		code         string
	}{
		{"DELETE", "/api/fingerprint", http.StatusMethodNotAllowed, codeMethodNotAllowed},
		{"GET", "/api/fingerprints/abc?kind=nonsense", http.StatusBadRequest, codeInvalid},
		{"GET", "/api/stats?window=1y", http.StatusBadRequest, codeInvalid},
		{"GET", "/api/fingerprints/" + strings.Repeat("a", 5000), http.StatusBadRequest, codeInvalid},
		{"GET", "/api/captures/zz", http.StatusNotFound, codeNotFound},
	}
	for _, c := range cases {
		w := e.do(c.method, "https://fp.example"+c.path, nil, nil)
		if w.Code != c.status {
			t.Errorf("%s %s = %d, want %d\n%s", c.method, c.path, w.Code, c.status, w.Body.String())
			continue
		}
		got := decodeError(t, w, w.Body.Bytes())
		if got.Error.Code != c.code {
			t.Errorf("%s %s code = %q, want %q", c.method, c.path, got.Error.Code, c.code)
		}
	}
	if w := e.do("DELETE", "https://fp.example/api/fingerprint", nil, nil); !strings.Contains(w.Header().Get("Allow"), "GET") {
		t.Errorf("405 Allow = %q", w.Header().Get("Allow"))
	}
	// An invalid window on the HTML page is an HTML 400.
	w := e.do("GET", "https://fp.example/stats?window=1y", nil, nil)
	if w.Code != http.StatusBadRequest || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Errorf("GET /stats?window=1y = %d %s", w.Code, w.Header().Get("Content-Type"))
	}
}

func TestErrorStatusMapping(t *testing.T) {
	cases := []struct {
		err      error
		status   int
		code     string
		internal bool
	}{
		{fmt.Errorf("x: %w", store.ErrNotFound), 404, codeNotFound, false},
		{fmt.Errorf("%w: capture id too long", store.ErrInvalid), 400, codeInvalid, false},
		{&http.MaxBytesError{Limit: 10}, 413, codeTooLarge, false},
		{fmt.Errorf("q: %w", context.DeadlineExceeded), 503, codeTimeout, true},
		{context.Canceled, 503, codeCanceled, false},
		{badRequest("nope"), 400, codeInvalid, false},
		{errors.New("db exploded: password=hunter2"), 500, codeInternal, true},
	}
	for _, c := range cases {
		status, code, msg, internal := errorStatus(c.err)
		if status != c.status || code != c.code || internal != c.internal {
			t.Errorf("errorStatus(%v) = %d %s %v, want %d %s %v", c.err, status, code, internal, c.status, c.code, c.internal)
		}
		if strings.Contains(msg, "hunter2") {
			t.Errorf("internal error detail leaked: %q", msg)
		}
	}
	if _, _, msg, _ := errorStatus(fmt.Errorf("%w: capture id too long", store.ErrInvalid)); msg != "capture id too long" {
		t.Errorf("validation message = %q", msg)
	}
}

func TestAPIFingerprint(t *testing.T) {
	e := newEnv(t, nil)
	g := loadGolden(t, "chromium")
	w := e.do("GET", "https://fp.example/api/fingerprint", nil, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("GET /api/fingerprint = %d", w.Code)
	}
	var rep struct {
		CaptureID  string `json:"capture_id"`
		CaptureURL string `json:"capture_url"`
		Stored     string `json:"stored"`
		Initiator  string `json:"initiator"`
		TLS        struct {
			Raw          string   `json:"raw"`
			SNI          string   `json:"sni"`
			ALPN         []string `json:"alpn"`
			CipherSuites []uint16 `json:"cipher_suites"`
			Extensions   []struct {
				Type uint16 `json:"type"`
				Name string `json:"name"`
			} `json:"extensions"`
			Negotiated struct {
				Version     string `json:"version"`
				CipherSuite string `json:"cipher_suite"`
				ALPN        string `json:"alpn"`
			} `json:"negotiated"`
		} `json:"tls"`
		HTTP struct {
			Version     string      `json:"version"`
			Headers     [][2]string `json:"headers"`
			HeaderOrder string      `json:"header_order"`
			H2          *struct {
				Settings [][2]uint32 `json:"settings"`
			} `json:"h2"`
		} `json:"http"`
		Fingerprints map[string]string `json:"fingerprints"`
	}
	decodeJSON(t, w, &rep)
	raw, err := base64.StdEncoding.DecodeString(rep.TLS.Raw)
	if err != nil || !bytes.Equal(raw, g.raw) {
		t.Errorf("tls.raw is not the captured record in base64 (err %v)", err)
	}
	if rep.TLS.SNI != g.expect.SNI || strings.Join(rep.TLS.ALPN, ",") != strings.Join(g.expect.ALPN, ",") {
		t.Errorf("sni %q alpn %v", rep.TLS.SNI, rep.TLS.ALPN)
	}
	if rep.TLS.Negotiated.Version != "TLS 1.3" || rep.TLS.Negotiated.CipherSuite != "TLS_AES_128_GCM_SHA256" || rep.TLS.Negotiated.ALPN != "h2" {
		t.Errorf("negotiated = %+v", rep.TLS.Negotiated)
	}
	if len(rep.TLS.CipherSuites) == 0 || len(rep.TLS.Extensions) == 0 || rep.TLS.Extensions[0].Name == "" && rep.TLS.Extensions[0].Type != 0 {
		t.Errorf("decoded hello missing: %d ciphers, %d extensions", len(rep.TLS.CipherSuites), len(rep.TLS.Extensions))
	}
	if rep.Initiator != store.InitiatorAPI || rep.Stored != "queued" || rep.CaptureURL != "/captures/"+rep.CaptureID {
		t.Errorf("initiator %q stored %v url %q", rep.Initiator, rep.Stored, rep.CaptureURL)
	}
	if page := e.do("GET", "https://fp.example"+rep.CaptureURL, nil, nil); !strings.Contains(page.Body.String(), "An api request stored by this server.") {
		t.Errorf("the capture page of an api request does not say \"An api request\" (%d)", page.Code)
	}
	if rep.HTTP.Version != "2" || rep.HTTP.H2 == nil || len(rep.HTTP.H2.Settings) != 4 || rep.HTTP.H2.Settings[2] != [2]uint32{4, 6291456} {
		t.Errorf("http = %+v", rep.HTTP)
	}
	if len(rep.HTTP.Headers) < 4 || rep.HTTP.Headers[0] != [2]string{":method", "GET"} || rep.HTTP.Headers[3][0] != ":path" {
		t.Errorf("headers = %v", rep.HTTP.Headers)
	}
	fp := rep.Fingerprints
	for k, want := range map[string]string{"ja4": g.expect.JA4, "ja4_r": g.expect.JA4R, "ja3n_hash": g.expect.JA3NHash,
		"peetprint_hash": g.expect.PeetPrintHash, "akamai": chromeAkamai} {
		if fp[k] != want {
			t.Errorf("fingerprints.%s = %q, want %q", k, fp[k], want)
		}
	}
	for _, k := range []string{"ja3", "ja3_hash", "ja3n", "ja4_o", "ja4_ro", "peetprint", "akamai_hash", "header_order", "header_order_hash"} {
		if fp[k] == "" {
			t.Errorf("fingerprints.%s is empty", k)
		}
	}
	if fp["header_order"] != rep.HTTP.HeaderOrder || !strings.HasPrefix(fp["header_order"], ":method,:authority,:scheme,:path,sec-ch-ua,") {
		t.Errorf("header_order = %q", fp["header_order"])
	}

	// The stored capture reads back as the same document.
	w = e.do("GET", "https://fp.example/api/captures/"+rep.CaptureID, nil, nil)
	var stored map[string]json.RawMessage
	decodeJSON(t, w, &stored)
	var live map[string]json.RawMessage
	if err := json.Unmarshal(e.do("GET", "https://fp.example/api/fingerprint", nil, nil).Body.Bytes(), &live); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"tls", "http"} {
		if !jsonEqual(t, stored[k], live[k]) {
			t.Errorf("stored %s differs from live:\n%s\n%s", k, stored[k], live[k])
		}
	}
	var sfp map[string]string
	if err := json.Unmarshal(stored["fingerprints"], &sfp); err != nil {
		t.Fatal(err)
	}
	for k, v := range fp {
		if sfp[k] != v {
			t.Errorf("stored fingerprints.%s = %q, live %q", k, sfp[k], v)
		}
	}
	if _, ok := stored["stored"]; ok {
		t.Error("a stored capture carries the live-only stored flag")
	}
}

func jsonEqual(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

func TestPlainHTTP1Capture(t *testing.T) {
	e := newEnv(t, func(d *Deps) { d.CaptureOf = curlH1Capture(t, true) })
	w := e.do("GET", "http://fp.example/api/fingerprint", nil, nil)
	var rep struct {
		TLS  *json.RawMessage `json:"tls"`
		HTTP struct {
			Version string      `json:"version"`
			Headers [][2]string `json:"headers"`
			H2      *json.RawMessage
		} `json:"http"`
		Fingerprints map[string]string `json:"fingerprints"`
	}
	decodeJSON(t, w, &rep)
	if rep.TLS != nil || rep.HTTP.H2 != nil || rep.HTTP.Version != "1.1" {
		t.Errorf("plain h1: tls %v h2 %v version %q", rep.TLS, rep.HTTP.H2, rep.HTTP.Version)
	}
	if rep.Fingerprints["ja4"] != "" || rep.Fingerprints["header_order"] != "Host,User-Agent,Accept" {
		t.Errorf("fingerprints = %v", rep.Fingerprints)
	}
	c := e.sink.last(t)
	if c.ClientHello != nil || c.TLSSummary != nil || c.H2 != nil || c.HTTPVersion != "1.1" || c.Headers[1].Name != "User-Agent" {
		t.Errorf("plain capture = %+v", c)
	}
	w = e.do("GET", "http://fp.example/", nil, nil)
	if !strings.Contains(w.Body.String(), "did not use TLS") || !strings.Contains(w.Body.String(), "plain TCP") {
		t.Error("plain page does not say there is no TLS")
	}
	w = e.do("GET", "http://fp.example/captures/"+c.ID, nil, nil)
	if w.Code != http.StatusOK {
		t.Errorf("plain capture page = %d\n%s", w.Code, w.Body.String())
	}
}

func TestMissingCapture(t *testing.T) {
	e := newEnv(t, func(d *Deps) {
		d.CaptureOf = func(*http.Request) (*capture.Request, bool) { return nil, false }
	})
	w := e.do("GET", "https://fp.example/", nil, nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "header block was not captured") {
		t.Errorf("GET / without capture = %d", w.Code)
	}
	c := e.sink.last(t)
	if c.JA4 != "" || c.Headers != nil || c.HTTPVersion != "1.1" || c.HeaderOrderHash != "000000000000" {
		t.Errorf("capture without capture data = %+v", c)
	}
}

func TestEcho(t *testing.T) {
	e := newEnv(t, func(d *Deps) {
		d.MaxEchoBody = 16
		d.MaxRequestBody = 64
	})
	type echo struct {
		Method        string      `json:"method"`
		Path          string      `json:"path"`
		Query         [][2]string `json:"query"`
		Body          string      `json:"body"`
		BodyEncoding  string      `json:"body_encoding"`
		BodyLength    int64       `json:"body_length"`
		BodyTruncated bool        `json:"body_truncated"`
		Initiator     string      `json:"initiator"`
		HTTP          struct {
			Headers [][2]string `json:"headers"`
		} `json:"http"`
		Fingerprints struct {
			JA4 string `json:"ja4"`
		} `json:"fingerprints"`
	}
	run := func(method, target string, body []byte) echo {
		t.Helper()
		w := e.do(method, "https://fp.example"+target, bytes.NewReader(body), nil)
		if w.Code != http.StatusOK {
			t.Fatalf("%s %s = %d\n%s", method, target, w.Code, w.Body.String())
		}
		var got echo
		decodeJSON(t, w, &got)
		return got
	}

	got := run("PUT", "/api/echo/a/b%20c?b=2&a=1&b=3&e=&x%3Dy=z%26w", []byte("hello"))
	if got.Method != "PUT" || got.Path != "/api/echo/a/b c" || got.Initiator != store.InitiatorEcho || got.Fingerprints.JA4 == "" {
		t.Errorf("echo = %+v", got)
	}
	if fmt.Sprint(got.Query) != "[[b 2] [a 1] [b 3] [e ] [x=y z&w]]" {
		t.Errorf("query = %v", got.Query)
	}
	if got.Body != "hello" || got.BodyEncoding != "text" || got.BodyLength != 5 || got.BodyTruncated {
		t.Errorf("text body = %+v", got)
	}
	if len(got.HTTP.Headers) == 0 {
		t.Error("echo lacks headers")
	}

	bin := []byte{0xff, 0x00, 0xfe, 'a'}
	got = run("POST", "/api/echo", bin)
	if got.BodyEncoding != "base64" || got.Body != base64.StdEncoding.EncodeToString(bin) || got.BodyTruncated {
		t.Errorf("binary body = %+v", got)
	}

	long := []byte(strings.Repeat("0123456789", 4))
	got = run("PATCH", "/api/echo/long", long)
	if got.Body != string(long[:16]) || !got.BodyTruncated || got.BodyLength != 40 || got.BodyEncoding != "text" {
		t.Errorf("truncated body = %+v", got)
	}

	// "é" is 2 bytes: a 16-byte cut through it keeps 15 bytes of text.
	split := []byte(strings.Repeat("a", 15) + "é" + "bbbb")
	got = run("POST", "/api/echo", split)
	if got.Body != strings.Repeat("a", 15) || got.BodyEncoding != "text" || !got.BodyTruncated {
		t.Errorf("cut UTF-8 body = %+v", got)
	}

	got = run("DELETE", "/api/echo", nil)
	if got.Method != "DELETE" || got.Body != "" || got.BodyLength != 0 || got.BodyEncoding != "text" || len(got.Query) != 0 {
		t.Errorf("empty body = %+v", got)
	}

	w := e.do("POST", "https://fp.example/api/echo", bytes.NewReader(make([]byte, 65)), nil)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body = %d", w.Code)
	}
	if got := decodeError(t, w, w.Body.Bytes()); got.Error.Code != codeTooLarge {
		t.Errorf("oversized code = %q", got.Error.Code)
	}
}

func TestPopulationAndProfiles(t *testing.T) {
	var built []string
	e := newEnv(t, func(d *Deps) {
		d.PublicCaptures = true
		d.BuildProfile = func(ctx context.Context, key string) (*emulation.Profile, error) {
			built = append(built, key)
			if key == strings.Repeat("0", 32) {
				return nil, fmt.Errorf("builder: visit %s: %w", key, store.ErrNotFound)
			}
			return testProfile(t, "visit-"+key[:8]), nil
		}
	})
	g := loadGolden(t, "chromium")
	ctx := context.Background()
	p := testProfile(t, "chromium-156-linux")
	doc, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.UpsertProfile(ctx, store.Profile{Name: p.Name, Browser: p.Browser, Version: p.Version, Platform: p.Platform, JSON: doc}); err != nil {
		t.Fatal(err)
	}
	other := testProfile(t, "other")
	other.TLS.ClientHello = loadGolden(t, "firefox_esr").raw
	other.Expected = emulation.Expected{}
	odoc, _ := other.Marshal()
	if err := e.st.UpsertProfile(ctx, store.Profile{Name: other.Name, Browser: "firefox", JSON: odoc}); err != nil {
		t.Fatal(err)
	}

	for i := 0; i < 3; i++ {
		e.do("GET", "https://fp.example/", nil, nil)
	}
	e.do("GET", "https://fp.example/api/fingerprint", nil, func(r *http.Request) { r.Header.Set("User-Agent", "other-agent") })

	for _, q := range []string{g.expect.JA4, g.expect.JA4R, g.expect.PeetPrintHash} {
		w := e.do("GET", "https://fp.example/api/fingerprints/"+url.PathEscape(q), nil, nil)
		var pop struct {
			Kind          string `json:"kind"`
			Count         int64  `json:"count"`
			TopUserAgents []struct {
				UserAgent string `json:"user_agent"`
				Count     int64  `json:"count"`
			} `json:"top_user_agents"`
			Profiles []struct {
				Name string `json:"name"`
				URL  string `json:"url"`
			} `json:"profiles"`
			RecentCaptures []struct {
				ID string `json:"id"`
			} `json:"recent_captures"`
		}
		decodeJSON(t, w, &pop)
		if pop.Count != 4 || len(pop.RecentCaptures) != 4 || len(pop.TopUserAgents) != 2 || pop.TopUserAgents[0].Count != 3 {
			t.Errorf("population of %s = %+v", q, pop)
		}
		if len(pop.Profiles) != 1 || pop.Profiles[0].Name != p.Name || pop.Profiles[0].URL != "/api/profiles/"+p.Name {
			t.Errorf("matching profiles of %s (%s) = %+v", q, pop.Kind, pop.Profiles)
		}
	}
	// Akamai: the profile's expected value matches, the other's does not.
	w := e.do("GET", "https://fp.example/api/fingerprints/"+e.sink.last(t).AkamaiHash+"?kind=akamai_hash", nil, nil)
	var pop struct {
		Kind     string `json:"kind"`
		Profiles []struct {
			Name string `json:"name"`
		} `json:"profiles"`
	}
	decodeJSON(t, w, &pop)
	if pop.Kind != "akamai_hash" || len(pop.Profiles) != 1 || pop.Profiles[0].Name != p.Name {
		t.Errorf("akamai population = %+v, want only %s (other has no expected Akamai)", pop, p.Name)
	}
	w = e.do("GET", "https://fp.example/fingerprints/"+url.PathEscape(g.expect.JA4), nil, nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), p.Name) || !strings.Contains(w.Body.String(), "other-agent") {
		t.Errorf("population page = %d", w.Code)
	}

	// Profiles in the profile JSON format.
	w = e.do("GET", "https://fp.example/api/profiles/"+p.Name, nil, nil)
	if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), doc) {
		t.Errorf("GET /api/profiles/%s = %d, body differs from the stored document", p.Name, w.Code)
	}
	if _, err := emulation.Unmarshal(w.Body.Bytes()); err != nil {
		t.Errorf("served profile does not decode: %v", err)
	}
	w = e.do("GET", "https://fp.example/api/profiles", nil, nil)
	var list struct {
		Count    int               `json:"count"`
		Profiles []json.RawMessage `json:"profiles"`
	}
	decodeJSON(t, w, &list)
	if list.Count != 2 || len(list.Profiles) != 2 {
		t.Fatalf("profile list = %d/%d", list.Count, len(list.Profiles))
	}
	if got, err := emulation.Unmarshal(list.Profiles[0]); err != nil || got.Name != p.Name {
		t.Errorf("listed profile: %v %v", got, err)
	}

	key := strings.Repeat("ab", 16)
	w = e.do("GET", "https://fp.example/api/profiles/visit/"+key, nil, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("visit profile = %d\n%s", w.Code, w.Body.String())
	}
	if got, err := emulation.Unmarshal(w.Body.Bytes()); err != nil || got.Name != "visit-abababab" {
		t.Errorf("visit profile: %v %v", got, err)
	}
	w = e.do("GET", "https://fp.example/api/profiles/visit/"+strings.Repeat("0", 32), nil, nil)
	if w.Code != http.StatusNotFound {
		t.Errorf("unknown visit = %d", w.Code)
	}
	if fmt.Sprint(built) != fmt.Sprint([]string{key, strings.Repeat("0", 32)}) {
		t.Errorf("builder called with %v", built)
	}

	nob := newEnv(t, nil)
	w = nob.do("GET", "https://fp.example/api/profiles/visit/"+key, nil, nil)
	if w.Code != http.StatusNotImplemented {
		t.Errorf("visit profile without builder = %d", w.Code)
	} else if got := decodeError(t, w, w.Body.Bytes()); got.Error.Code != codeNotImplemented {
		t.Errorf("code = %q", got.Error.Code)
	}
}

func TestStats(t *testing.T) {
	e := newEnv(t, nil)
	g := loadGolden(t, "chromium")
	w := e.do("GET", "https://fp.example/stats", nil, nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "No captures in this window") {
		t.Fatalf("empty stats = %d", w.Code)
	}
	for i := 0; i < 2; i++ {
		e.do("GET", "https://fp.example/", nil, nil)
	}
	// The first result is cached for statsCacheTTL; move the clock on.
	e.now = e.now.Add(statsCacheTTL + 1)
	w = e.do("GET", "https://fp.example/api/stats?window=1h", nil, nil)
	var res struct {
		Window       string `json:"window"`
		Fingerprints []struct {
			Kind   string `json:"kind"`
			Values []struct {
				Hash  string `json:"hash"`
				Count int64  `json:"count"`
			} `json:"values"`
		} `json:"fingerprints"`
		UserAgents []struct {
			UserAgent string `json:"user_agent"`
			Count     int64  `json:"count"`
		} `json:"user_agents"`
	}
	decodeJSON(t, w, &res)
	if res.Window != "1h" || len(res.Fingerprints) != len(statsKinds()) || res.Fingerprints[0].Kind != "ja4" {
		t.Fatalf("stats = %+v", res)
	}
	if v := res.Fingerprints[0].Values; len(v) != 1 || v[0].Hash != g.expect.JA4 || v[0].Count != 2 {
		t.Errorf("top ja4 = %+v", v)
	}
	if len(res.UserAgents) != 1 || res.UserAgents[0].Count != 2 {
		t.Errorf("user agents = %+v", res.UserAgents)
	}
	w = e.do("GET", "https://fp.example/stats?window=1h", nil, nil)
	body := w.Body.String()
	if w.Code != http.StatusOK || !strings.Contains(body, "<svg") || !strings.Contains(body, g.expect.JA4) ||
		!strings.Contains(body, `href="/fingerprints/`+g.expect.JA4+`?kind=ja4"`) {
		t.Errorf("stats page = %d, lacks chart or link", w.Code)
	}
	// A full bar for the only value.
	if !strings.Contains(body, `width="1000.0"`) {
		t.Error("the largest value does not span the chart")
	}
}

func TestHealth(t *testing.T) {
	ready := errors.New("db down")
	var fail bool
	e := newEnv(t, func(d *Deps) {
		d.Ready = func(context.Context) error {
			if fail {
				return ready
			}
			return nil
		}
	})
	if w := e.do("GET", "https://fp.example/healthz", nil, nil); w.Code != 200 {
		t.Errorf("healthz = %d", w.Code)
	}
	if w := e.do("HEAD", "https://fp.example/healthz", nil, nil); w.Code != 200 {
		t.Errorf("HEAD healthz = %d", w.Code)
	}
	if w := e.do("GET", "https://fp.example/readyz", nil, nil); w.Code != 200 {
		t.Errorf("readyz = %d", w.Code)
	}
	fail = true
	w := e.do("GET", "https://fp.example/readyz", nil, nil)
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("readyz failing = %d", w.Code)
	}
	if got := decodeError(t, w, w.Body.Bytes()); got.Error.Code != codeNotReady || strings.Contains(got.Error.Message, "db down") {
		t.Errorf("readyz error = %+v", got)
	}
	if w := e.do("GET", "https://fp.example/healthz", nil, nil); w.Code != 200 {
		t.Errorf("healthz while not ready = %d", w.Code)
	}

	// The default readiness pings the store.
	d := newEnv(t, nil)
	if w := d.do("GET", "https://fp.example/readyz", nil, nil); w.Code != 200 {
		t.Errorf("default readyz = %d", w.Code)
	}
	d.st.Close()
	if w := d.do("GET", "https://fp.example/readyz", nil, nil); w.Code != http.StatusServiceUnavailable {
		t.Errorf("default readyz on a closed store = %d", w.Code)
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, nil)
	e.do("GET", "https://fp.example/", nil, nil)
	e.do("GET", "https://fp.example/", nil, nil)
	e.do("GET", "https://fp.example/captures/abc", nil, nil)
	e.do("GET", "https://fp.example/nowhere", nil, nil)
	counts := map[string]float64{}
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName() + labelString(m)
			if mf.GetType() == dto.MetricType_COUNTER {
				counts[key] = m.GetCounter().GetValue()
			}
		}
	}
	for key, want := range map[string]float64{
		"fpserver_http_requests_total{code=404,route=/captures/{id}}": 1,
		"fpserver_http_requests_total{code=200,route=/}":              2,
		"fpserver_http_requests_total{code=404,route=unmatched}":      1,
		"fpserver_web_captures_offered_total{result=queued}":          2,
	} {
		if counts[key] != want {
			t.Errorf("%s = %v, want %v (have %v)", key, counts[key], want, counts)
		}
	}
	// Registering twice on one registry fails cleanly.
	if _, err := New(Deps{Store: e.st, Captures: e.sink, Registry: e.reg}); err == nil {
		t.Error("second New on the same registry succeeded")
	}
	if _, err := New(Deps{Captures: e.sink}); err == nil {
		t.Error("New without a store succeeded")
	}
}

func labelString(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func TestDroppedCapture(t *testing.T) {
	e := newEnv(t, nil)
	e.sink.refuse = true
	w := e.do("GET", "https://fp.example/", nil, nil)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "was not saved") {
		t.Errorf("page for a dropped capture = %d, lacks the notice", w.Code)
	}
	w = e.do("GET", "https://fp.example/api/fingerprint", nil, nil)
	var rep struct {
		Stored       string `json:"stored"`
		StoredReason string `json:"stored_reason"`
	}
	decodeJSON(t, w, &rep)
	if rep.Stored != "dropped" || rep.StoredReason != "unknown" {
		t.Errorf("stored = %q (%q), want dropped (unknown: the test sink gives no reason)", rep.Stored, rep.StoredReason)
	}
	v := testutilCounter(t, e.reg, "fpserver_web_captures_offered_total", "dropped")
	if v != 2 {
		t.Errorf("dropped offers = %v", v)
	}
}

func testutilCounter(t *testing.T, reg *prometheus.Registry, name, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if (l.GetName() == "result" || l.GetName() == "reason") && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestPanicRecovered(t *testing.T) {
	e := newEnv(t, func(d *Deps) {
		d.CaptureOf = func(*http.Request) (*capture.Request, bool) { panic("boom: secret detail") }
	})
	w := e.do("GET", "https://fp.example/api/fingerprint", nil, nil)
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("panic = %d", w.Code)
	}
	got := decodeError(t, w, w.Body.Bytes())
	if got.Error.Code != codeInternal || strings.Contains(got.Error.Message, "secret") {
		t.Errorf("panic response = %+v", got)
	}
	if !strings.Contains(e.logs.String(), "boom: secret detail") {
		t.Error("panic not logged")
	}
	w = e.do("GET", "https://fp.example/", nil, nil)
	if w.Code != http.StatusInternalServerError || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Errorf("HTML panic = %d %s", w.Code, w.Header().Get("Content-Type"))
	}
}

// TestSecurityHeaderSets: pages, assets and error pages carry the document
// set, every JSON API answer (errors and preflights included) the REST set,
// and the two do not mix.
func TestSecurityHeaderSets(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct {
		method, path string
		api          bool
	}{
		{"GET", "/", false}, {"GET", "/static/app.css", false}, {"GET", "/nope", false}, {"GET", "/apis", false},
		{"GET", "/api/clean", true}, {"GET", "/api/fingerprint", true}, {"GET", "/api/nope", true},
		{"GET", "/api", true}, {"OPTIONS", "/api/clean", true},
	} {
		var mod func(*http.Request)
		if tc.method == "OPTIONS" {
			mod = func(r *http.Request) {
				r.Header.Set("Origin", "https://other.example")
				r.Header.Set("Access-Control-Request-Method", "GET")
			}
		}
		hd := e.do(tc.method, "https://fp.example"+tc.path, nil, mod).Header()
		csp, xfo := hd.Get("Content-Security-Policy"), hd.Get("X-Frame-Options")
		if hd.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s: no nosniff: %v", tc.method, tc.path, hd)
		}
		if tc.api {
			if csp != "default-src 'none'; frame-ancestors 'none'" || xfo != "DENY" ||
				hd.Get("Referrer-Policy") != "" || hd.Get("Cross-Origin-Opener-Policy") != "" {
				t.Errorf("%s %s: not the API set: %v", tc.method, tc.path, hd)
			}
		} else if !strings.Contains(csp, "frame-ancestors 'self'") || xfo != "SAMEORIGIN" ||
			hd.Get("Referrer-Policy") != "same-origin" || hd.Get("Cross-Origin-Opener-Policy") != "same-origin" {
			t.Errorf("%s %s: not the document set: %v", tc.method, tc.path, hd)
		}
	}
}

func TestStaticAndHeaders(t *testing.T) {
	e := newEnv(t, nil)
	w := e.do("GET", "https://fp.example/", nil, nil)
	hd := w.Header()
	csp := hd.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'self'", "object-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP allows inline code: %q", csp)
	}
	if hd.Get("X-Content-Type-Options") != "nosniff" || hd.Get("Referrer-Policy") == "" || hd.Get("Cache-Control") != "no-store" {
		t.Errorf("headers = %v", hd)
	}
	body := w.Body.String()
	if strings.Contains(body, "<script>") || strings.Contains(body, " style=") || strings.Contains(body, " onclick=") {
		t.Error("page has inline script or style, which the CSP blocks")
	}
	for _, asset := range []struct{ path, ctype, contains string }{
		{"/static/app.js", "javascript", "probeFetch"},
		{"/static/app.css", "text/css", ".card"},
		{"/static/favicon.svg", "image/svg+xml", "<svg"},
		{"/favicon.ico", "image/svg+xml", "<svg"},
	} {
		w := e.do("GET", "https://fp.example"+asset.path, nil, nil)
		if w.Code != 200 || !strings.Contains(w.Header().Get("Content-Type"), asset.ctype) || !strings.Contains(w.Body.String(), asset.contains) {
			t.Errorf("GET %s = %d %q", asset.path, w.Code, w.Header().Get("Content-Type"))
		}
		if asset.path != "/favicon.ico" && !strings.Contains(body, asset.path+"?v=") {
			t.Errorf("page does not link %s with a version", asset.path)
		}
	}
}

func TestAPIClean(t *testing.T) {
	e := newEnv(t, nil)
	g := loadGolden(t, "chromium")
	w := e.do("GET", "https://fp.example/api/clean", nil, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("GET /api/clean = %d", w.Code)
	}
	var got map[string]any
	decodeJSON(t, w, &got)
	if got["ja4"] != g.expect.JA4 || got["ja4_r"] != g.expect.JA4R || got["peetprint_hash"] != g.expect.PeetPrintHash {
		t.Errorf("fingerprints %v, want ja4 %s", got, g.expect.JA4)
	}
	if got["akamai"] == "" || got["http_version"] != "2" || got["stored"] != "queued" {
		t.Errorf("clean report %v", got)
	}
	if _, ok := got["tls"]; ok {
		t.Error("the clean report carries the decoded handshake")
	}
	c := e.sink.last(t)
	if c.ID != got["capture_id"] || c.JA4 != g.expect.JA4 || len(c.ClientHello) == 0 {
		t.Errorf("stored capture %s ja4 %s, response id %v", c.ID, c.JA4, got["capture_id"])
	}
}

// TestEchoBodyReadErrorIs400: a body that ends before its Content-Length is
// the client's error (400), not a server error.
func TestEchoBodyReadErrorIs400(t *testing.T) {
	e := newEnv(t, nil)
	w := e.do("POST", "https://fp.example/api/echo", io.NopCloser(iotest.ErrReader(io.ErrUnexpectedEOF)), nil)
	if w.Code != http.StatusBadRequest {
		t.Fatalf("status %d, want 400: %s", w.Code, w.Body)
	}
	var got struct {
		Error struct{ Code string } `json:"error"`
	}
	decodeJSON(t, w, &got)
	if got.Error.Code != "invalid_request" {
		t.Errorf("error code %q", got.Error.Code)
	}
	if strings.Contains(e.logs.String(), "level=ERROR") {
		t.Errorf("a client body error was logged as a server error: %s", e.logs)
	}
}

// queuer is a CaptureSink that drops every capture with a reason.
type queuer struct{ reason string }

func (q queuer) Offer(store.Capture) bool { return false }

type dropErr string

func (e dropErr) Error() string      { return "dropped: " + string(e) }
func (e dropErr) DropReason() string { return string(e) }

func (q queuer) Queue(*store.Capture) error { return fmt.Errorf("sink: %w", dropErr(q.reason)) }

// TestStoredReason: a sink that says why it dropped a capture has its reason in
// the live report's "stored_reason" (/api/fingerprint and /api/clean).
func TestStoredReason(t *testing.T) {
	e := newEnv(t, func(d *Deps) { d.Captures = queuer{reason: "queue_full"} })
	for _, target := range []string{"https://fp.example/api/fingerprint", "https://fp.example/api/clean"} {
		w := e.do("GET", target, nil, nil)
		var rep struct {
			Stored       string `json:"stored"`
			StoredReason string `json:"stored_reason"`
		}
		decodeJSON(t, w, &rep)
		if rep.Stored != "dropped" || rep.StoredReason != "queue_full" {
			t.Errorf("%s: stored %q reason %q, want dropped queue_full", target, rep.Stored, rep.StoredReason)
		}
	}
}

// TestNoClientHintsHost: "/" asks for client hints on every host but the
// configured ones (port, case and a trailing dot do not matter there).
func TestNoClientHintsHost(t *testing.T) {
	e := newEnv(t, func(d *Deps) { d.NoClientHintsHosts = []string{"Plain.Example", "::1"} })
	for _, tc := range []struct {
		url  string
		asks bool
	}{
		{"https://fp.example/", true},
		{"https://fp.example:8443/", true},
		{"https://plain.example/", false},
		{"https://plain.example.:8443/", false},
		{"https://PLAIN.example:8443/", false},
		{"https://[::1]:8443/", false},
		{"https://plain.example.org/", true},
	} {
		w := e.do("GET", tc.url, nil, nil)
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s = %d", tc.url, w.Code)
		}
		_, accept := w.Header()["Accept-Ch"]
		_, critical := w.Header()["Critical-Ch"]
		if accept != tc.asks || critical != tc.asks {
			t.Errorf("GET %s: Accept-CH sent %v, Critical-CH sent %v, want %v", tc.url, accept, critical, tc.asks)
		}
	}
}
