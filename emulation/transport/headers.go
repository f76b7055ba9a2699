package transport

import (
	"net/http"

	"github.com/guanaco-fp/guanaco/emulation"
)

// ProfileHeaders returns the profile's header list for initiator in: for
// HTTP/2 the H2 list, for HTTP/1.1 the H1 list; a missing initiator falls
// back to navigate, and a missing protocol to the other protocol's list.
func ProfileHeaders(p *emulation.Profile, in emulation.Initiator, h2 bool) []emulation.Header {
	pick := func(m map[emulation.Initiator][]emulation.Header) []emulation.Header {
		if hs, ok := m[in]; ok && len(hs) > 0 {
			return hs
		}
		return m[emulation.Navigate]
	}
	var h1, h2l []emulation.Header
	if p.H1 != nil {
		h1 = pick(p.H1.Headers)
	}
	if p.H2 != nil {
		h2l = pick(p.H2.Headers)
	}
	if h2 {
		if len(h2l) > 0 {
			return h2l
		}
		return h1
	}
	if len(h1) > 0 {
		return h1
	}
	return h2l
}

// DefaultHeaders is the Options.Headers used when none is given: the
// emulation package's rewriting rules (emulation.RequestHeadersFor) for the
// initiator the transport decided (InitiatorFromContext).
func DefaultHeaders(p *emulation.Profile, req *http.Request, h2 bool) []emulation.Header {
	return emulation.RequestHeadersFor(p, req, RequestInitiator(req), h2)
}

// requestHost is the authority to send for req.
func requestHost(req *http.Request) string {
	if req.Host != "" {
		return req.Host
	}
	return req.URL.Host
}
