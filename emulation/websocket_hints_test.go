package emulation

import (
	"net/http"
	"slices"
	"testing"
)

// TestWebSocketIgnoresHintedLists: after an origin's Accept-CH, a
// WebSocket handshake keeps the profile's websocket list (Chromium sends
// no client hints on it) instead of the navigation's hinted list, over
// HTTP/2 and HTTP/1.1, while a navigation does take its hinted list.
func TestWebSocketIgnoresHintedLists(t *testing.T) {
	p, err := Lookup("chromium-156-linux")
	if err != nil {
		t.Fatal(err)
	}
	if p.ClientHints == nil {
		t.Fatal("chromium-156-linux has no client_hints lists")
	}
	hints := []string{"sec-ch-ua-arch", "sec-ch-ua-full-version-list", "sec-ch-ua-model"}
	names := func(hs []Header) []string {
		var out []string
		for _, h := range hs {
			out = append(out, h.Name)
		}
		return out
	}
	for _, h2 := range []bool{true, false} {
		req, _ := http.NewRequest(http.MethodGet, "https://example.com/ws", nil)
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Sec-WebSocket-Version", "13")
		plain := RequestHeadersFor(p, req, WebSocket, h2)
		hinted := RequestHeadersFor(p, req.WithContext(WithClientHints(req.Context(), hints)), WebSocket, h2)
		if !slices.Equal(names(plain), names(hinted)) {
			t.Errorf("h2 %v: websocket list with hints\n %q\nwithout\n %q", h2, names(hinted), names(plain))
		}
		if slices.Contains(names(hinted), "upgrade-insecure-requests") || slices.Contains(names(hinted), "Upgrade-Insecure-Requests") {
			t.Errorf("h2 %v: the websocket handshake took a navigation list: %q", h2, names(hinted))
		}
		nav, _ := http.NewRequest(http.MethodGet, "https://example.com/", nil)
		navPlain := RequestHeadersFor(p, nav, Navigate, h2)
		navHinted := RequestHeadersFor(p, nav.WithContext(WithClientHints(nav.Context(), hints)), Navigate, h2)
		if slices.Equal(names(navPlain), names(navHinted)) {
			t.Errorf("h2 %v: the navigation ignored the hints too: %q", h2, names(navHinted))
		}
	}
}
