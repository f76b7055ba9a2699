package web

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestStoredIP(t *testing.T) {
	cases := []struct {
		in   string
		full bool
		want string
	}{
		{"203.0.113.77", false, "203.0.113.0/24"},
		{"203.0.113.77", true, "203.0.113.77"},
		{"::ffff:198.51.100.9", false, "198.51.100.0/24"},
		{"2001:db8:abcd:12:1:2:3:4", false, "2001:db8:abcd::/48"},
		{"2001:db8:abcd:12:1:2:3:4", true, "2001:db8:abcd:12:1:2:3:4"},
		{"fe80::1%eth0", false, "fe80::/48"},
		{"fe80::1%eth0", true, "fe80::1"},
	}
	for _, c := range cases {
		a := netip.MustParseAddr(c.in)
		if got := storedIP(a, c.full); got != c.want {
			t.Errorf("storedIP(%s, %v) = %q, want %q", c.in, c.full, got, c.want)
		}
	}
	if got := storedIP(netip.Addr{}, false); got != "" {
		t.Errorf("invalid address stored as %q", got)
	}
}

func TestQueryPairs(t *testing.T) {
	cases := map[string]string{
		"":                  "[]",
		"a=1&b=2&a=3":       "[[a 1] [b 2] [a 3]]",
		"&&x&y=&=z":         "[[x ] [y ] [ z]]",
		"q=a+b%20c&%zz=bad": "[[q a b c] [%zz bad]]",
		"k=%E2%9C%93":       "[[k ✓]]",
	}
	for in, want := range cases {
		if got := fmt.Sprint(queryPairs(in)); got != want {
			t.Errorf("queryPairs(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestEncodeBody(t *testing.T) {
	cases := []struct {
		in        string
		truncated bool
		body, enc string
	}{
		{"plain", false, "plain", "text"},
		{"", false, "", "text"},
		{"snow ☃", false, "snow ☃", "text"},
		{"cut \xe2\x98", true, "cut ", "text"},     // incomplete ☃ at a truncation point
		{"cut \xe2\x98", false, "", "base64"},      // the same bytes as a whole body are invalid
		{"bad \xff middle", true, "", "base64"},    // invalid inside
		{"end \xf0\x9f\x98", true, "end ", "text"}, // 3 of 4 bytes of an emoji
		{"\x80", true, "", "base64"},               // a lone continuation byte is no rune start
	}
	for _, c := range cases {
		body, enc := encodeBody([]byte(c.in), c.truncated)
		want := c.body
		if c.enc == "base64" {
			want = base64.StdEncoding.EncodeToString([]byte(c.in))
		}
		if body != want || enc != c.enc {
			t.Errorf("encodeBody(%q, %v) = %q %s, want %q %s", c.in, c.truncated, body, enc, want, c.enc)
		}
	}
}

func TestValidVisitKey(t *testing.T) {
	k := newVisitKey()
	if !validVisitKey(k) || k == newVisitKey() {
		t.Errorf("newVisitKey = %q", k)
	}
	for _, bad := range []string{"", strings.Repeat("a", 31), strings.Repeat("A", 32), strings.Repeat("g", 32), strings.Repeat("a", 33)} {
		if validVisitKey(bad) {
			t.Errorf("validVisitKey(%q) = true", bad)
		}
	}
}

// FuzzQueryPairs checks the query splitter on arbitrary raw queries: it
// never panics, yields one pair per non-empty '&'-separated part, and each
// pair is the unescaped (or verbatim) name and value.
func FuzzQueryPairs(f *testing.F) {
	for _, s := range []string{"", "a=1&b=2", "q=a+b%20c&%zz=bad", "&&=&", "x=%E2%9C%93&x", "a=b=c&;d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		pairs := queryPairs(raw)
		n := 0
		for _, part := range strings.Split(raw, "&") {
			if part != "" {
				n++
			}
		}
		if len(pairs) != n {
			t.Fatalf("queryPairs(%q) gave %d pairs for %d parts", raw, len(pairs), n)
		}
	})
}

// FuzzEncodeBody checks the body encoder: text output is valid UTF-8 and
// the whole body (or, when truncated, the body minus at most 3 trailing
// bytes); base64 output decodes to the body.
func FuzzEncodeBody(f *testing.F) {
	for _, s := range []string{"", "hello", "snow ☃", "cut \xe2\x98", "\xff\x00\xfe", "end \xf0\x9f\x98"} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, b []byte, truncated bool) {
		body, enc := encodeBody(b, truncated)
		switch enc {
		case "text":
			if !utf8.ValidString(body) || !strings.HasPrefix(string(b), body) {
				t.Fatalf("text %q is not a valid prefix of %q", body, b)
			}
			if drop := len(b) - len(body); drop != 0 && (!truncated || drop >= utf8.UTFMax) {
				t.Fatalf("text dropped %d bytes (truncated %v)", drop, truncated)
			}
		case "base64":
			dec, err := base64.StdEncoding.DecodeString(body)
			if err != nil || string(dec) != string(b) {
				t.Fatalf("base64 does not decode to the body: %v", err)
			}
			if utf8.Valid(b) {
				t.Fatalf("valid UTF-8 %q sent as base64", b)
			}
		default:
			t.Fatalf("encoding %q", enc)
		}
	})
}

// FuzzEchoHandler sends arbitrary query strings, bodies and header values
// through the echo API and checks the answer: 200 with the documented
// shape, the body echoed exactly (text, or base64 when not UTF-8), one
// query pair per non-empty '&'-separated part, and the header value back
// in the captured header list.
func FuzzEchoHandler(f *testing.F) {
	f.Add("a=1&b=2", []byte("hello"), "curl/8.14.1")
	f.Add("q=%E2%9C%93&&x", []byte{0xff, 0x00, 0xfe}, "<script>alert(1)</script>")
	f.Add("", []byte(`{"json":true}`), "Mozilla/5.0 (X11; Linux x86_64)")
	f.Add("k=v;w", []byte(strings.Repeat("é", 40)), "")
	e := newEnv(f, func(d *Deps) {
		d.MaxEchoBody = 32
		d.MaxRequestBody = 1 << 10
		d.CaptureOf = curlH1Capture(f, false)
	})
	f.Fuzz(func(t *testing.T, query string, body []byte, headerValue string) {
		if len(body) > 1<<10 || !validHeaderValue(headerValue) {
			return
		}
		r := httptest.NewRequest("POST", "https://fp.example/api/echo", bytes.NewReader(body))
		r.URL = &url.URL{Path: "/api/echo", RawQuery: query}
		r.Header.Set("X-Fuzz", headerValue)
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("status %d: %s", w.Code, w.Body.String())
		}
		var got struct {
			Query         [][2]string `json:"query"`
			Body          string      `json:"body"`
			BodyEncoding  string      `json:"body_encoding"`
			BodyLength    int         `json:"body_length"`
			BodyTruncated bool        `json:"body_truncated"`
			HTTP          struct {
				Headers [][2]string `json:"headers"`
			} `json:"http"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatalf("response is not JSON: %v", err)
		}
		if got.BodyLength != len(body) || got.BodyTruncated != (len(body) > 32) {
			t.Fatalf("body_length %d truncated %v for %d bytes", got.BodyLength, got.BodyTruncated, len(body))
		}
		kept := body
		if len(kept) > 32 {
			kept = kept[:32]
		}
		switch got.BodyEncoding {
		case "text":
			if !strings.HasPrefix(string(kept), got.Body) || len(kept)-len(got.Body) >= utf8.UTFMax {
				t.Fatalf("text body %q for %q", got.Body, kept)
			}
		case "base64":
			dec, err := base64.StdEncoding.DecodeString(got.Body)
			if err != nil || !bytes.Equal(dec, kept) {
				t.Fatalf("base64 body does not decode to %q", kept)
			}
		default:
			t.Fatalf("body_encoding %q", got.BodyEncoding)
		}
		if len(got.Query) != len(queryPairs(query)) {
			t.Fatalf("%d query pairs for %q", len(got.Query), query)
		}
		// JSON carries the value with invalid UTF-8 replaced, as
		// encoding/json does.
		var want string
		wb, _ := json.Marshal(headerValue)
		_ = json.Unmarshal(wb, &want)
		found := false
		for _, h := range got.HTTP.Headers {
			found = found || (h[0] == "X-Fuzz" && h[1] == want)
		}
		if !found {
			t.Fatalf("header value %q not echoed: %v", headerValue, got.HTTP.Headers)
		}
	})
}

// validHeaderValue reports whether v could arrive as a header value (no
// control bytes but tab, as net/http enforces).
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
