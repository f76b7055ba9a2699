package emulation

import (
	"context"
	"slices"
	"strings"
)

// ClientHints are the header lists a Chromium-family browser sends to an
// origin that asked for its high-entropy client hints with Accept-CH: per
// protocol and initiator, in order, caller-only values blanked as in the
// profile's own lists. They were captured on fpserver, whose page asks for
// every hint it knows (Accept-CH and Critical-CH), so each list carries the
// browser's hint headers with their values at their positions; a request to
// an origin that asked for fewer sends the list without the others. Firefox
// and Safari send no client hints: their profiles have none.
type ClientHints struct {
	H1 map[Initiator][]Header `json:"h1,omitempty"`
	H2 map[Initiator][]Header `json:"h2,omitempty"`
}

// IsRequestedHint reports whether a header is a client hint a browser sends
// only to an origin that asked for it with Accept-CH: every sec-ch-* but the
// three low-entropy ones (sec-ch-ua, -mobile, -platform, sent everywhere),
// and the legacy device hints.
func IsRequestedHint(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform":
		return false
	case "device-memory", "dpr", "viewport-width", "viewport-height", "width", "rtt", "downlink", "ect":
		return true
	}
	return strings.HasPrefix(n, "sec-ch-")
}

type clientHintsKey struct{}

// WithClientHints returns ctx carrying the client hints the request's origin
// asked for (Accept-CH header names, any case). RequestHeadersFor then uses
// the profile's ClientHints lists and sends those of the hints the lists
// carry; without it (or with none) only the low-entropy hints are sent.
func WithClientHints(ctx context.Context, names []string) context.Context {
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[strings.ToLower(strings.TrimSpace(n))] = true
	}
	return context.WithValue(ctx, clientHintsKey{}, set)
}

// clientHintsOf returns the hint set recorded with WithClientHints.
func clientHintsOf(ctx context.Context) map[string]bool {
	s, _ := ctx.Value(clientHintsKey{}).(map[string]bool)
	return s
}

// HintNames lists the requested hints p's ClientHints lists carry, lower
// case, sorted: what the browser would send to an origin asking for all.
func (p *Profile) HintNames() []string {
	if p.ClientHints == nil {
		return nil
	}
	seen := map[string]bool{}
	for _, m := range []map[Initiator][]Header{p.ClientHints.H1, p.ClientHints.H2} {
		for _, hs := range m {
			for _, h := range hs {
				if IsRequestedHint(h.Name) {
					seen[strings.ToLower(h.Name)] = true
				}
			}
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// hintedList is the ClientHints list for initiator in and protocol h2 (the
// other protocol's when h2's has none); nil when the profile has none for
// in. There is no fallback to another initiator: a browser that sent no
// hints on an initiator after Accept-CH (Chromium's WebSocket handshakes)
// has no list for it, and the request gets its ordinary list.
func hintedList(p *Profile, in Initiator, h2 bool) []Header {
	if p.ClientHints == nil {
		return nil
	}
	h1l, h2l := p.ClientHints.H1[in], p.ClientHints.H2[in]
	if h2 && len(h2l) > 0 || !h2 && len(h1l) == 0 {
		return h2l
	}
	return h1l
}
