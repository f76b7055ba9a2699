package main

import (
	"net/http"
	"testing"
)

// TestSharedHeaderValue: the Alt-Svc value slice is one element, reused
// while the value stays, replaced when it changes, and an Add to a header
// holding it does not change it.
func TestSharedHeaderValue(t *testing.T) {
	var s sharedHeaderValue
	a := s.of(`h3=":443"; ma=86400`)
	if len(a) != 1 || cap(a) != 1 || a[0] != `h3=":443"; ma=86400` {
		t.Fatalf("of = %q (cap %d)", a, cap(a))
	}
	if b := s.of(`h3=":443"; ma=86400`); &b[0] != &a[0] {
		t.Error("the same value got a new slice")
	}
	hd := http.Header{"Alt-Svc": a}
	hd.Add("Alt-Svc", "clear")
	if a[0] != `h3=":443"; ma=86400` || len(s.of(`h3=":443"; ma=86400`)) != 1 {
		t.Errorf("Add changed the shared value: %q", a)
	}
	if c := s.of(`h3=":8443"`); c[0] != `h3=":8443"` || &c[0] == &a[0] {
		t.Errorf("a new value: %q", c)
	}
}
