package transport

import (
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/guanaco-fp/guanaco/emulation"
)

// hopByHop are connection-specific headers that never go into an HTTP/2
// header block and that DefaultHeaders does not copy from the caller for
// HTTP/1.1 (the profile's own list may still carry Connection: keep-alive).
var hopByHop = map[string]bool{
	"connection": true, "proxy-connection": true, "keep-alive": true,
	"transfer-encoding": true, "upgrade": true, "te": true, "trailer": true,
	"host": true, "content-length": true,
}

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

// DefaultHeaders is the Options.Headers used when none is given. The rule:
// walk the profile's list for the request's initiator (ProfileHeaders) in
// order; a header the request also carries is sent with the request's
// value(s) (one line per value, cookie values joined by "; " for HTTP/2 as
// browsers do); a header the request lacks is sent with the profile's
// value, except caller-only headers (emulation.IsCallerOnly: cookie,
// referer, origin, ...) which are sent only when the request has them.
// Host and Content-Length come from the request itself (Host for
// HTTP/1.1 only; Content-Length when the body length is known and
// positive, or zero for POST/PUT/PATCH). The request's remaining headers
// follow in name order, hop-by-hop headers excluded.
func DefaultHeaders(p *emulation.Profile, req *http.Request, h2 bool) []emulation.Header {
	in, ok := InitiatorFromContext(req.Context())
	if !ok {
		in = RequestInitiator(req)
	}
	prof := ProfileHeaders(p, in, h2)
	used := map[string]bool{}
	var out []emulation.Header
	emit := func(name string, values []string) {
		if h2 && strings.EqualFold(name, "cookie") && len(values) > 1 {
			values = []string{strings.Join(values, "; ")}
		}
		for _, v := range values {
			out = append(out, emulation.Header{Name: name, Value: v})
		}
	}
	hostDone, clDone := false, false
	for _, ph := range prof {
		lname := strings.ToLower(ph.Name)
		if used[lname] {
			continue
		}
		used[lname] = true
		switch lname {
		case "host":
			if !h2 {
				out = append(out, emulation.Header{Name: ph.Name, Value: requestHost(req)})
				hostDone = true
			}
			continue
		case "content-length":
			if v, ok := contentLength(req); ok {
				out = append(out, emulation.Header{Name: ph.Name, Value: v})
			}
			clDone = true
			continue
		}
		if vs := req.Header.Values(ph.Name); len(vs) > 0 {
			emit(ph.Name, vs)
			continue
		}
		if emulation.IsCallerOnly(lname) {
			continue
		}
		out = append(out, ph)
	}
	if !h2 && !hostDone {
		out = append([]emulation.Header{{Name: "Host", Value: requestHost(req)}}, out...)
	}
	if !clDone {
		if v, ok := contentLength(req); ok {
			out = append(out, emulation.Header{Name: "Content-Length", Value: v})
		}
	}
	names := make([]string, 0, len(req.Header))
	for name := range req.Header {
		if !used[strings.ToLower(name)] && !hopByHop[strings.ToLower(name)] {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		emit(name, req.Header[name])
	}
	return out
}

// requestHost is the Host header value of req.
func requestHost(req *http.Request) string {
	if req.Host != "" {
		return req.Host
	}
	return req.URL.Host
}

// contentLength is the Content-Length to send for req, if any.
func contentLength(req *http.Request) (string, bool) {
	if req.ContentLength > 0 {
		return strconv.FormatInt(req.ContentLength, 10), true
	}
	if req.ContentLength == 0 && (req.Body == nil || req.Body == http.NoBody) {
		switch req.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
			return "0", true
		}
	}
	return "", false
}
