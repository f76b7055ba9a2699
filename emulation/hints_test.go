package emulation

import (
	"slices"
	"testing"
)

// TestHintedListOwnInitiator checks that an initiator with an ordinary
// list but no hinted one (Chromium sends no requested hints on a WebSocket
// handshake) keeps its own list once its origin asked for hints, instead
// of the navigation's hinted list, that one with a hinted list gets it, and that
// without either the navigation's hinted list is used.
func TestHintedListOwnInitiator(t *testing.T) {
	p, err := Lookup("chromium-156-linux")
	if err != nil {
		t.Fatal(err)
	}
	if p.ClientHints == nil || len(p.ClientHints.H2[Navigate]) == 0 {
		t.Fatal("the built-in chromium profile records no hinted lists")
	}
	for _, h2 := range []bool{false, true} {
		if _, ok := p.ClientHints.H1[WebSocket]; ok {
			t.Fatal("the profile now records a hinted websocket list: this test needs another initiator without one")
		}
		if got := hintedList(p, WebSocket, h2); got != nil {
			t.Errorf("h2=%v: websocket gets a hinted list %v, want its own list", h2, got)
		}
		want := p.ClientHints.H1[Fetch]
		if h2 {
			want = p.ClientHints.H2[Fetch]
		}
		if got := hintedList(p, Fetch, h2); !slices.Equal(got, want) {
			t.Errorf("h2=%v: fetch hinted list %v, want %v", h2, got, want)
		}
	}
	bare := *p
	bare.H1, bare.H2 = nil, nil
	// Without an ordinary websocket list the navigation's hinted list is
	// the fallback, as for ordinary lists.
	if got := hintedList(&bare, WebSocket, true); !slices.Equal(got, p.ClientHints.H2[Navigate]) {
		t.Errorf("websocket without lists of its own: %v, want the hinted navigation's", got)
	}
}
