package model

import (
	"encoding/json"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzAppendJSONString: the hand-written escaper always produces valid JSON that
// decodes to the input (with invalid UTF-8 replaced, as encoding/json does).
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", `q"uote\back`, "ctl\x00\x01\x1f\x7f", "tab\tnl\n\r", "é日本\u2028\u2029", "bad\xff\xfe\xc3(", "<a>&amp;</a>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := AppendJSONString([]byte("x"), s)[1:]
		if !json.Valid(b) {
			t.Fatalf("invalid JSON %q for %q", b, s)
		}
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if want := strings.ToValidUTF8(s, "\uFFFD"); got != want && !multiRepl(s, got) {
			t.Fatalf("round trip of %q: got %q, want %q", s, got, want)
		}
		// Agrees with encoding/json on the decoded value.
		std, _ := json.Marshal(s)
		var stdGot string
		json.Unmarshal(std, &stdGot)
		if stdGot != got {
			t.Fatalf("encoding/json decodes %q, ours %q", stdGot, got)
		}
	})
}

// multiRepl accepts per-byte replacement of invalid sequences (encoding/json
// replaces each invalid byte, strings.ToValidUTF8 each run).
func multiRepl(in, got string) bool {
	var b strings.Builder
	for i := 0; i < len(in); {
		r, n := utf8.DecodeRuneInString(in[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(in[i : i+n])
		}
		i += n
	}
	return b.String() == got
}

func TestHeadersJSON(t *testing.T) {
	hs := []HeaderPair{{":method", "GET"}, {"X-Dup", "1"}, {"x-dup", "2"}, {"Quote", `a"b\c`}}
	b := EncodeHeaders(hs)
	if want := `[[":method","GET"],["X-Dup","1"],["x-dup","2"],["Quote","a\"b\\c"]]`; string(b) != want {
		t.Fatalf("EncodeHeaders = %s, want %s", b, want)
	}
	got, err := DecodeHeaders(b)
	if err != nil || !reflect.DeepEqual(got, hs) {
		t.Fatalf("DecodeHeaders = %v, %v", got, err)
	}
	if string(EncodeHeaders(nil)) != "[]" {
		t.Fatal("nil headers do not encode as []")
	}
	if got, err := DecodeHeaders([]byte("[]")); got != nil || err != nil {
		t.Fatalf("DecodeHeaders([]) = %v, %v", got, err)
	}
	for _, bad := range []string{`{"a":"b"}`, `[["only-one"]]`, `[["a","b","c"]]`, `[[1,2]]`, `[`} {
		if _, err := DecodeHeaders([]byte(bad)); err == nil {
			t.Errorf("DecodeHeaders(%s) succeeded", bad)
		}
	}
	// The standard encoder, through MarshalJSON, gives the same bytes.
	std, err := json.Marshal(hs)
	if err != nil || string(std) != string(b) {
		t.Fatalf("json.Marshal = %s, %v; want %s", std, err, b)
	}
}

func TestValidate(t *testing.T) {
	ok := Capture{ID: "abc-DEF_123", CreatedAt: time.Now(), Initiator: InitiatorXHR, TLSSummary: json.RawMessage(`{}`)}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid capture: %v", err)
	}
	for name, mut := range map[string]func(*Capture){
		"empty id":     func(c *Capture) { c.ID = "" },
		"id too long":  func(c *Capture) { c.ID = strings.Repeat("a", MaxIDLen+1) },
		"id slash":     func(c *Capture) { c.ID = "a/b" },
		"id unicode":   func(c *Capture) { c.ID = "é" },
		"zero time":    func(c *Capture) { c.CreatedAt = time.Time{} },
		"year 10000":   func(c *Capture) { c.CreatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"initiator":    func(c *Capture) { c.Initiator = "Navigate" },
		"tls json":     func(c *Capture) { c.TLSSummary = json.RawMessage(`{`) },
		"h2 json":      func(c *Capture) { c.H2 = json.RawMessage(`[1,]`) },
		"no initiator": func(c *Capture) { c.Initiator = "" },
	} {
		c := ok
		mut(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	for _, in := range Initiators() {
		if !ValidInitiator(in) {
			t.Errorf("ValidInitiator(%q) = false", in)
		}
	}
}

func TestNormalized(t *testing.T) {
	loc := time.FixedZone("X", 3600)
	c := Capture{
		ID: "n", CreatedAt: time.Date(2026, 1, 1, 12, 0, 0, 123456789, loc), Initiator: InitiatorAPI,
		UserAgent: "a\x00b", Path: "/\xff", ClientHello: []byte{}, Headers: []HeaderPair{},
		TLSSummary: json.RawMessage("{\"a\":\"\xff\"}"), H2: json.RawMessage{},
	}
	n := c.Normalized()
	if n.CreatedAt.Location() != time.UTC || n.CreatedAt.Nanosecond() != 123456000 || n.CreatedAt.Hour() != 11 {
		t.Errorf("CreatedAt normalized to %v", n.CreatedAt)
	}
	if n.UserAgent != "a\uFFFDb" || n.Path != "/\uFFFD" {
		t.Errorf("text not cleaned: %q %q", n.UserAgent, n.Path)
	}
	if n.ClientHello != nil || n.Headers != nil || n.H2 != nil {
		t.Error("empty slices not made nil")
	}
	if !json.Valid(n.TLSSummary) || !utf8.Valid(n.TLSSummary) {
		t.Errorf("TLSSummary %q not repaired", n.TLSSummary)
	}
	if c.UserAgent != "a\x00b" {
		t.Error("Normalized modified its receiver")
	}
	if s := "clean"; CleanText(s) != s {
		t.Error("CleanText changed clean text")
	}
}

func TestNewCaptureIDOrderedAndUnique(t *testing.T) {
	base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	var ids []string
	for i := 0; i < 2000; i++ {
		id := NewCaptureID(base.Add(time.Duration(i) * time.Millisecond))
		if len(id) != 32 || ValidateID(id) != nil {
			t.Fatalf("bad id %q", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
		ids = append(ids, id)
	}
	if !sort.StringsAreSorted(ids) {
		t.Fatal("ids of increasing times are not sorted")
	}
	// Same millisecond: still unique.
	a, b := NewCaptureID(base), NewCaptureID(base)
	if a == b || a[:12] != b[:12] {
		t.Fatalf("same-ms ids %s %s", a, b)
	}
}

func TestFingerprintQueryCheck(t *testing.T) {
	q, err := FingerprintQuery{Hash: "h"}.Check(50)
	if err != nil || q.Limit != 50 {
		t.Fatalf("default limit: %+v %v", q, err)
	}
	q, _ = FingerprintQuery{Hash: "h", Limit: 1 << 20}.Check(50)
	if q.Limit != MaxLimit {
		t.Fatalf("limit not capped: %d", q.Limit)
	}
	for _, bad := range []FingerprintQuery{{}, {Hash: strings.Repeat("x", MaxHashLen+1)}, {Hash: "h", Kind: "user_agent"}} {
		if _, err := bad.Check(50); !errors.Is(err, ErrInvalid) {
			t.Errorf("Check(%+v) = %v", bad, err)
		}
	}
	for _, k := range Kinds() {
		if !k.Valid() {
			t.Errorf("kind %s not valid", k)
		}
	}
}

func TestProfileValidate(t *testing.T) {
	ok := Profile{Name: "chrome", JSON: json.RawMessage(`{"format":1}`)}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []Profile{
		{JSON: ok.JSON},
		{Name: "a\x00", JSON: ok.JSON},
		{Name: "\xff", JSON: ok.JSON},
		{Name: "x", Browser: "\xff", JSON: ok.JSON},
		{Name: "x"},
		{Name: "x", JSON: json.RawMessage(`{`)},
		{Name: "x", JSON: json.RawMessage("{\"a\":\"\xff\"}")},
	} {
		if err := p.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("Validate(%+v) = %v", p, err)
		}
	}
}
