package capture

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/guanaco-fp/guanaco/fingerprint"
)

// TestHeaderValuesCanonical: headerValues finds what http.Header.Values
// finds, for canonical, lower-case, mixed and non-token names.
func TestHeaderValuesCanonical(t *testing.T) {
	h := http.Header{}
	for _, n := range []string{"user-agent", "X-FOO-bar", "sec-ch-ua-2", "a", "Weird Name", "x_under"} {
		h.Add(n, "v-"+n)
	}
	for _, n := range []string{"user-agent", "User-Agent", "USER-AGENT", "x-foo-bar", "SEC-CH-UA-2", "a", "A", "Weird Name", "x_under", "missing", "", strings.Repeat("x", 70)} {
		got, want := headerValues(h, n), h.Values(n)
		if !slices.Equal(got, want) {
			t.Errorf("%q: %q, want %q", n, got, want)
		}
	}
}

// TestHeaderOrderCache: the per-connection header-order cache returns the
// fingerprint of each request's own names, also when orders alternate or
// differ only in where a comma falls.
func TestHeaderOrderCache(t *testing.T) {
	c := &Conn{}
	hs := func(names ...string) []fingerprint.Header {
		out := make([]fingerprint.Header, len(names))
		for i, n := range names {
			out[i] = fingerprint.Header{Name: n}
		}
		return out
	}
	for _, names := range [][]string{
		{":method", ":path", "accept"},
		{":method", ":path", "accept"},
		{":method", ":path"},
		{":method", ":path", "accept", "x"},
		{":method", ":path", "accept"},
		{":method", ":pathaccept"},
		{},
		{""},
		{"", ""},
		{":method", ":path", "accept"},
	} {
		got := c.headerOrder(hs(names...))
		if want := fingerprint.HeaderOrderOf(names...); got != want {
			t.Errorf("%q: %+v, want %+v", names, got, want)
		}
	}
}
