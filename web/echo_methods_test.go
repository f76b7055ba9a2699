package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestEchoAnyMethod: /api/echo answers extension methods (FOO, PROPFIND)
// as well as the registered ones, says what it accepts in Allow, and other
// routes still refuse an unknown method with 405.
func TestEchoAnyMethod(t *testing.T) {
	e := newEnv(t, nil)
	for _, m := range []string{"GET", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "FOO", "PROPFIND"} {
		for _, path := range []string{"/api/echo", "/api/echo/deeper/path"} {
			w := e.do(m, "https://fp.example"+path+"?a=1", strings.NewReader("x"), nil)
			if w.Code != http.StatusOK {
				t.Errorf("%s %s = %d: %s", m, path, w.Code, w.Body.String())
				continue
			}
			var got struct {
				Method string `json:"method"`
				Path   string `json:"path"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.Method != m || got.Path != path {
				t.Errorf("%s %s: echoed %+v, %v", m, path, got, err)
			}
			if w.Header().Get("Allow") != echoAllow {
				t.Errorf("%s %s: Allow %q", m, path, w.Header().Get("Allow"))
			}
		}
	}
	if w := e.do("FOO", "https://fp.example/api/fingerprint", nil, nil); w.Code != http.StatusMethodNotAllowed || !strings.Contains(w.Header().Get("Allow"), "GET") {
		t.Errorf("FOO /api/fingerprint = %d, Allow %q", w.Code, w.Header().Get("Allow"))
	}
}

// TestAPICORS: API answers allow any origin; a preflight is answered with
// the method and headers it asks for, without credentials; pages are not
// touched.
func TestAPICORS(t *testing.T) {
	e := newEnv(t, nil)
	w := e.do("GET", "https://fp.example/api/fingerprint", nil, func(r *http.Request) { r.Header.Set("Origin", "https://elsewhere.example") })
	if w.Code != http.StatusOK || w.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("GET /api/fingerprint = %d, ACAO %q", w.Code, w.Header().Get("Access-Control-Allow-Origin"))
	}
	w = e.do("OPTIONS", "https://fp.example/api/echo", nil, func(r *http.Request) {
		r.Header.Set("Origin", "https://elsewhere.example")
		r.Header.Set("Access-Control-Request-Method", "PUT")
		r.Header.Set("Access-Control-Request-Headers", "content-type, x-custom")
	})
	hd := w.Header()
	if w.Code != http.StatusNoContent || hd.Get("Access-Control-Allow-Origin") != "*" || hd.Get("Access-Control-Allow-Methods") != "PUT" ||
		hd.Get("Access-Control-Allow-Headers") != "content-type, x-custom" || hd.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("preflight = %d %v", w.Code, hd)
	}
	w = e.do("OPTIONS", "https://fp.example/api/echo", nil, func(r *http.Request) {
		r.Header.Set("Origin", "https://elsewhere.example")
		r.Header.Set("Access-Control-Request-Method", "GET\r\nX: y")
	})
	if w.Header().Get("Access-Control-Allow-Methods") != "" {
		t.Errorf("a malformed requested method was reflected: %q", w.Header().Get("Access-Control-Allow-Methods"))
	}
	if w := e.do("GET", "https://fp.example/", nil, nil); w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Error("the HTML page allows any origin")
	}
}

// TestBadLookups: a malformed hash is a 400 naming the accepted forms, an
// unknown kind a 400 listing the valid ones, and no error message repeats
// a long input whole.
func TestBadLookups(t *testing.T) {
	e := newEnv(t, nil)
	long := strings.Repeat("z", 5000)
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/api/fingerprints/unknownhash", []string{"malformed fingerprint", "JA4", "hex hash"}},
		{"/api/fingerprints/t13d1516h2_XYZ_abc", []string{"malformed fingerprint"}},
		{"/api/fingerprints/0123456789abcdef0123456789abcdef?kind=nope", []string{"unknown fingerprint kind", "ja4_r", "header_order_hash"}},
		{"/api/fingerprints/" + long, []string{"malformed fingerprint", "(5000 bytes)"}},
		{"/api/fingerprints/0123456789abcdef0123456789abcdef?kind=" + long, []string{"unknown fingerprint kind", "(5000 bytes)"}},
	} {
		w := e.do("GET", "https://fp.example"+tc.path, nil, nil)
		body := w.Body.String()
		if w.Code != http.StatusBadRequest {
			t.Errorf("GET %.80s = %d, want 400", tc.path, w.Code)
		}
		for _, want := range tc.want {
			if !strings.Contains(body, want) {
				t.Errorf("GET %.80s: %q lacks %q", tc.path, body, want)
			}
		}
		if len(body) > 1000 {
			t.Errorf("GET %.80s: %d-byte error echoes the input", tc.path, len(body))
		}
	}
	// Well-formed fingerprints of every kind pass the shape check.
	for _, h := range []string{"t13d1516h2_8daaf6152771_e5627efa2ab1", "q13d0310h3_55b375c5d22e_cd85d2d88918",
		"t13d1516h2_002f,0035,009c_0005,000a_0403,0804", "0123456789ab", "0123456789abcdef0123456789abcdef"} {
		if !wellFormedHash(h) {
			t.Errorf("%s refused", h)
		}
	}
}
