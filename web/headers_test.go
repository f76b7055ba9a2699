package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/guanaco-fp/guanaco/capture"
	"github.com/guanaco-fp/guanaco/fingerprint"
)

// TestAPIAnswerHeaders pins the whole header set of the hottest answers,
// set from prebuilt shared values (headers.go), to what Header.Set gave:
// the same names and values, nothing more (an API answer stays within the
// eight entries of a map that never grows, with Alt-Svc added by fpserver).
func TestAPIAnswerHeaders(t *testing.T) {
	e := newEnv(t, nil)
	for _, path := range []string{"/api/clean", "/api/fingerprint", "/api/clean?pretty=1", "/api/nope"} {
		w := e.do("GET", "https://fp.example"+path, nil, nil)
		want := http.Header{
			"Access-Control-Allow-Origin": {"*"},
			"Cache-Control":               {"no-store"},
			"Content-Length":              {strconv.Itoa(w.Body.Len())},
			"Content-Security-Policy":     {"default-src 'none'; frame-ancestors 'none'"},
			"Content-Type":                {"application/json; charset=utf-8"},
			"X-Content-Type-Options":      {"nosniff"},
			"X-Frame-Options":             {"DENY"},
		}
		if got := w.Header(); !reflect.DeepEqual(got, want) {
			t.Errorf("GET %s headers:\n got %v\nwant %v", path, got, want)
		}
	}
	// A page: the HTML content type from its shared value.
	if ct := e.do("GET", "https://fp.example/", nil, nil).Header().Values("Content-Type"); !reflect.DeepEqual(ct, []string{"text/html; charset=utf-8"}) {
		t.Errorf("page Content-Type %q", ct)
	}
}

// TestSharedHeaderValuesNotWritten: adding to a header set from a shared
// value leaves the shared value (and so the next answer) alone.
func TestSharedHeaderValuesNotWritten(t *testing.T) {
	h := &handler{hdr: newSharedHeaders()}
	w := httptest.NewRecorder()
	h.noStore(w)
	w.Header().Add("Cache-Control", "private")
	h.setContentType(w.Header(), jsonContentType)
	w.Header().Add("Content-Type", "x")
	if !reflect.DeepEqual(h.hdr.noStore, []string{"no-store"}) || !reflect.DeepEqual(h.hdr.jsonType, []string{jsonContentType}) {
		t.Fatalf("shared values changed: %q %q", h.hdr.noStore, h.hdr.jsonType)
	}
	w2 := httptest.NewRecorder()
	h.noStore(w2)
	if got := w2.Header().Values("Cache-Control"); !reflect.DeepEqual(got, []string{"no-store"}) {
		t.Errorf("next answer's Cache-Control %q", got)
	}
}

// TestCleanAnswerPrettyAndCompact: /api/clean's two encodings (the stack
// path of writeClean and encoding/json for ?pretty) give one document.
func TestCleanAnswerPrettyAndCompact(t *testing.T) {
	for _, mod := range []func(*Deps){nil, func(d *Deps) { d.CaptureOf = curlH1Capture(t, false) }} {
		e := newEnv(t, mod)
		compact := e.do("GET", "https://fp.example/api/clean", nil, nil).Body.Bytes()
		pretty := e.do("GET", "https://fp.example/api/clean?pretty=1", nil, nil).Body.String()
		var a, b struct {
			CaptureID string `json:"capture_id"`
		}
		if err := json.Unmarshal(compact, &a); err != nil || a.CaptureID == "" {
			t.Fatalf("compact answer %s: %v", compact, err)
		}
		if err := json.Unmarshal([]byte(pretty), &b); err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		if err := json.Indent(&want, compact, "", "  "); err != nil {
			t.Fatal(err)
		}
		if got := strings.Replace(pretty, b.CaptureID, a.CaptureID, 1); got != want.String() {
			t.Errorf("pretty answer differs:\n got %s\nwant %s", got, want.String())
		}
	}
}

// TestNoCaptureConnection: with Deps.CaptureOf unset the handler claims the
// capture from the request's connection; a request that came on no capture
// connection is answered without one.
func TestNoCaptureConnection(t *testing.T) {
	e := newEnv(t, func(d *Deps) { d.CaptureOf = nil })
	w := e.do("GET", "https://fp.example/api/fingerprint", nil, nil)
	var rep struct {
		Complete bool            `json:"complete"`
		TLS      json.RawMessage `json:"tls"`
		Stored   string          `json:"stored"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &rep); err != nil || w.Code != http.StatusOK {
		t.Fatalf("%d %s: %v", w.Code, w.Body, err)
	}
	if rep.Complete || string(rep.TLS) != "null" || rep.Stored != StoredQueued {
		t.Errorf("report without a capture: %+v", rep)
	}
}

// TestH2Texts: the per-connection pseudo-header order and HPACK text are
// each request's own (PseudoOrder, strings.Join), also when lists
// alternate or differ only in where a comma falls; joinsTo agrees with
// strings.Join.
func TestH2Texts(t *testing.T) {
	info := connMemoOf(&capture.TLSInfo{})
	lists := [][]string{{"i", "lh", "i"}, {"i", "lh", "i"}, {"i", "lh"}, {"i,lh"}, {"i", "lh", "i", ""}, {}, {""}, {"", ""}, {","}, {"i", "lh", "i"}, nil}
	pseudos := [][]string{{":method", ":path"}, {":method", ":path"}, {":path", ":method"}, {}, {":method"}, {":method", ":path"}, nil}
	for k, l := range lists {
		req := &fingerprint.H2Request{HPACK: l}
		for _, n := range pseudos[k%len(pseudos)] {
			req.Pseudo = append(req.Pseudo, fingerprint.Header{Name: n, Value: "v"})
		}
		want := strings.Join(l, ",")
		wantPseudo := req.PseudoOrder()
		for _, in := range []*connMemo{info, nil} {
			pseudo, hpack := h2Texts(in, req)
			if hpack != want || !reflect.DeepEqual(pseudo, wantPseudo) || pseudo == nil {
				t.Errorf("h2Texts(%v, %q, %q) = %q, %q", in != nil, req.Pseudo, l, pseudo, hpack)
			}
		}
		for _, s := range []string{"", ",", "i", "i,lh", "i,lh,i", "i,lh,i,", ",,", "i,lh,ix"} {
			if got := joinsTo(s, l); got != (s == want) {
				t.Errorf("joinsTo(%q, %q) = %v", s, l, got)
			}
		}
	}
}

// TestStoredH2DocPerRequestLists: the per-connection cache of the stored
// HTTP/2 document gives each request its own pseudo-header order, stream
// WINDOW_UPDATEs and DATA framing, also when its Akamai text, HPACK codes
// and priority repeat the last request's.
func TestStoredH2DocPerRequestLists(t *testing.T) {
	e := newEnv(t, func(d *Deps) {
		base := chromeH2Capture(t)
		d.CaptureOf = func(r *http.Request) (*capture.Request, bool) {
			rc, ok := base(r)
			switch r.Header.Get("X-Variant") {
			case "data":
				rc.H2.Request.Data = []fingerprint.H2DataFrame{{Length: 5, EndStream: true}}
			case "wu":
				rc.H2.Request.WindowUpdates = []uint32{12451840}
			case "pseudo":
				p := rc.H2.Request.Pseudo
				p[1], p[2] = p[2], p[1]
			}
			return rc, ok
		}
	})
	docs := map[string]string{}
	for _, v := range []string{"", "data", "", "wu", "pseudo", ""} {
		w := e.do("GET", "https://fp.example/api/clean", nil, func(r *http.Request) { r.Header.Set("X-Variant", v) })
		var rep struct {
			CaptureID string `json:"capture_id"`
		}
		decodeJSON(t, w, &rep)
		c, err := e.st.Capture(t.Context(), rep.CaptureID)
		if err != nil {
			t.Fatal(err)
		}
		doc := string(c.H2)
		if prev, ok := docs[v]; ok && prev != doc {
			t.Errorf("variant %q: stored %s, before %s", v, doc, prev)
		}
		docs[v] = doc
		want := map[string]string{"data": `"data":[{"length":5,"end_stream":true}]`, "wu": `"stream_window_updates":[12451840]`,
			"pseudo": `"pseudo_order":[":method",":scheme",":authority",":path"]`, "": `"pseudo_order":[":method",":authority",":scheme",":path"]`}[v]
		if !strings.Contains(doc, want) {
			t.Errorf("variant %q: stored document %s lacks %s", v, doc, want)
		}
		if v == "" && (strings.Contains(doc, `"data"`) || strings.Contains(doc, `"stream_window_updates"`)) {
			t.Errorf("plain request stored %s", doc)
		}
	}
}

// TestStoredClientIP: the per-connection stored client address is
// storedIP's, for each address a connection's requests report, truncated or
// whole.
func TestStoredClientIP(t *testing.T) {
	for _, full := range []bool{false, true} {
		h := &handler{d: Deps{StoreFullIP: full}}
		conn := connMemoOf(&capture.TLSInfo{})
		for _, s := range []string{"203.0.113.9", "203.0.113.9", "2001:db8:1:2::5", "198.51.100.1", "203.0.113.9"} {
			a := netip.MustParseAddr(s)
			for _, r := range []*connMemo{conn, nil} {
				if got, want := h.storedClientIP(r, a, true), storedIP(a, full); got != want {
					t.Errorf("full %v, %s: %q, want %q", full, s, got, want)
				}
			}
		}
		if got := h.storedClientIP(conn, netip.Addr{}, false); got != "" {
			t.Errorf("no address: %q", got)
		}
	}
}
