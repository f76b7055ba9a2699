package jsontext

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// oddStrings are the strings encoding/json treats specially: HTML
// characters, quotes and backslashes, every kind of control character,
// invalid UTF-8 (alone, truncated sequences, surrogates, overlong forms),
// U+2028/U+2029, other non-ASCII text and DEL.
var oddStrings = []string{
	"", "plain", `<script>alert("x")</script>`, "a&b>c<d", `back\slash "quoted"`,
	"\x00\x01\x07\x08\x09\x0a\x0b\x0c\x0d\x1b\x1f", "\x7f", "tab\there\nnewline\r\n",
	"\xff", "\xfe\xff", "abc\xe2\x82", "\xe2\x28\xa1", "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80",
	"line\u2028sep\u2029para", "\u2028", "Grüße 日本語 🦙", "\uFFFD", "é\xffé",
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
	strings.Repeat("<&>", 100), "\u2029\xff<",
}

// check compares AppendString, for s as a string and as bytes, with
// json.Marshal, after a prefix already in the buffer.
func check(t *testing.T, s string) {
	t.Helper()
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := AppendString([]byte("x"), s); !bytes.Equal(got[1:], want) || got[0] != 'x' {
		t.Fatalf("AppendString(%q) = %s, encoding/json %s", s, got, want)
	}
	if got := AppendString(nil, []byte(s)); !bytes.Equal(got, want) {
		t.Fatalf("AppendString([]byte(%q)) = %s, encoding/json %s", s, got, want)
	}
}

// TestAppendStringMatchesEncodingJSON: every byte, every byte pair, the odd
// strings and a sample of the first plane of runes, alone and between
// other text.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	ss := append([]string(nil), oddStrings...)
	for a := range 256 {
		ss = append(ss, string([]byte{byte(a)}))
		for b := range 256 {
			ss = append(ss, string([]byte{byte(a), byte(b)}))
		}
	}
	for r := rune(0x80); r < 0x10000; r += 7 {
		ss = append(ss, string(r), "a"+string(r)+"<", string(utf8.AppendRune(nil, r)[:1])+"x")
	}
	for _, s := range ss {
		check(t, s)
	}
}

// FuzzAppendString compares AppendString with encoding/json on arbitrary
// bytes.
func FuzzAppendString(f *testing.F) {
	for _, s := range oddStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { check(t, s) })
}
