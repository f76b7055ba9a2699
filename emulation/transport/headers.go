package transport

import (
	"net/http"

	"github.com/guanaco-fp/guanaco/emulation"
)

// ProfileHeaders returns the profile's header list for initiator in: for
// HTTP/2 the H2 list, for HTTP/1.1 the H1 list; a missing initiator falls
// back to navigate, and a missing protocol to the other protocol's list
// (emulation.ProfileList without a cookie).
func ProfileHeaders(p *emulation.Profile, in emulation.Initiator, h2 bool) []emulation.Header {
	return emulation.ProfileList(p, in, h2, false)
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
