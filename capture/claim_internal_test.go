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

// TestClaim: Claim takes a request's head from its connection once, returns
// the capture Middleware attached instead of claiming again, and reports
// requests that came on no capture connection.
func TestClaim(t *testing.T) {
	head := func(target string) *parsedRequest {
		return &parsedRequest{h1: &fingerprint.HTTP1Request{Method: "GET", Target: target, Proto: "HTTP/1.1",
			Headers: []fingerprint.Header{{Name: "Host", Value: "x"}, {Name: "Accept", Value: "*/*"}}}}
	}
	request := func(c *Conn, target string) *http.Request {
		r, err := http.NewRequestWithContext(ContextWithConn(t.Context(), c), "GET", "http://x"+target, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.RequestURI = target
		return r
	}

	c := &Conn{id: "c1", proto: ProtoHTTP1, pending: []*parsedRequest{head("/a"), head("/b")}}
	r := request(c, "/a")
	rc, ok := Claim(r)
	if !ok || !rc.Matched || rc.ConnID != "c1" || rc.HTTP1.Target != "/a" || rc.HeaderOrder.Order != "Host,Accept" {
		t.Fatalf("Claim = %+v, %v", rc, ok)
	}
	if len(c.pending) != 1 || c.pending[0].h1.Target != "/b" {
		t.Fatalf("pending after the claim: %d", len(c.pending))
	}
	if again, _ := Claim(r); again.Matched {
		t.Error("a second claim for the same request matched a head")
	}

	// Under Middleware, Claim returns the attached capture and claims
	// nothing more.
	var viaMiddleware, claimed *Request
	Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		viaMiddleware, _ = FromRequest(r)
		claimed, _ = Claim(r)
	})).ServeHTTP(nil, request(c, "/b"))
	if viaMiddleware == nil || claimed != viaMiddleware || !claimed.Matched || claimed.HTTP1.Target != "/b" {
		t.Errorf("Claim under Middleware = %+v, Middleware's %+v", claimed, viaMiddleware)
	}

	plain, err := http.NewRequestWithContext(t.Context(), "GET", "http://x/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if rc, ok := Claim(plain); ok || rc != nil {
		t.Errorf("Claim without a capture connection = %+v, %v", rc, ok)
	}
}
