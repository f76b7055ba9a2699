package capture

import (
	"context"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/guanaco-fp/guanaco/fingerprint"
)

// Request is the capture of one HTTP request: what its connection sent in
// the TLS handshake and, for HTTP/2, the connection preface, plus the
// request's own header block exactly as sent.
type Request struct {
	ConnID   string
	Protocol Protocol
	// TLS is nil for plain HTTP.
	TLS *TLSInfo
	// HTTP1 is set for HTTP/1 requests: request line and headers as sent.
	HTTP1 *fingerprint.HTTP1Request
	// H2 is set for HTTP/2 requests.
	H2 *H2Info
	// H3 is set for HTTP/3 requests, QUIC for their connection when its
	// ClientHello was captured.
	H3   *H3Info
	QUIC *QUICInfo
	// Headers lists the header fields as sent: for HTTP/2 the pseudo
	// headers first in their order, then the regular headers.
	Headers []fingerprint.Header
	// HeaderOrder is computed from Headers.
	HeaderOrder fingerprint.HeaderOrderFP
	// Matched is false when no parsed request head could be matched to the
	// http.Request (the parser stopped, or its bounds dropped the head); the
	// fields above then hold only the connection-level capture.
	Matched bool

	conn *Conn // the connection, for RefreshH2
}

// RefreshH2 copies into r.H2.Request what the connection's parser has seen
// on r's stream since r was matched: its WINDOW_UPDATE frames and its DATA
// framing (a handler that has read the whole body sees all of it). A
// request without an HTTP/2 stream, or one the parser no longer keeps, is
// left as it is. Call it from r's handler only.
func (r *Request) RefreshH2() {
	if r == nil || r.H2 == nil || !r.Matched || r.conn == nil || r.conn.h2 == nil {
		return
	}
	if kept, ok := r.conn.h2.Request(r.H2.Request.StreamID); ok {
		r.H2.Request.WindowUpdates = kept.WindowUpdates
		r.H2.Request.Data = kept.Data
	}
}

// H2Info is the HTTP/2 side of a request capture.
type H2Info struct {
	// Conn is the connection-level capture (SETTINGS, WINDOW_UPDATE,
	// PRIORITY frames), snapshotted when the connection's first request was
	// matched; its Requests holds only the connection's first request.
	// Shared by every request of the connection: do not modify.
	Conn *fingerprint.H2Conn
	// Request is this stream's header block and HEADERS priority.
	Request fingerprint.H2Request
	// Akamai is the connection's Akamai fingerprint.
	Akamai fingerprint.AkamaiFP
}

// parsedRequest is a request head the parser finished, waiting for the
// handler of the same request to claim it.
type parsedRequest struct {
	h1 *fingerprint.HTTP1Request
	h2 *fingerprint.H2Request
	h3 *H3Request
}

type connKey struct{}
type requestKey struct{}

// ContextWithConn returns ctx carrying c. Use it as http.Server.ConnContext
// (for connections from Listener.Accept) and as the base context given to
// x/net/http2's ServeConn.
func ContextWithConn(ctx context.Context, c *Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// ConnFromContext returns the connection a request arrived on.
func ConnFromContext(ctx context.Context) (*Conn, bool) {
	c, ok := ctx.Value(connKey{}).(*Conn)
	return c, ok
}

// Middleware attaches the capture of each request to its context, where
// FromRequest finds it. It must wrap every handler of a server whose
// connections come from a Listener, so that each request claims its own
// parsed head exactly once.
func Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := ConnFromContext(r.Context()); ok {
			rc := c.claim(r)
			r = r.WithContext(context.WithValue(r.Context(), requestKey{}, rc))
		}
		next.ServeHTTP(w, r)
	})
}

// FromRequest returns the capture Middleware attached to r.
func FromRequest(r *http.Request) (*Request, bool) {
	rc, ok := r.Context().Value(requestKey{}).(*Request)
	return rc, ok
}

// claim finds the parsed head that belongs to r, removes it (and, for
// HTTP/1, any older heads net/http answered without calling a handler) from
// the pending list, and returns the request capture.
//
// HTTP/1: requests on a connection are served in order, so the first
// pending head with the same method and request target is r's.
// HTTP/2: x/net/http2 does not expose stream ids to handlers, so the first
// pending stream whose method, :path, :authority and header values equal
// r's is taken. Two streams that match the same request are identical in
// everything a fingerprint reads, except possibly their HEADERS priority.
func (c *Conn) claim(r *http.Request) *Request {
	if c.proto == ProtoH3 {
		// Before taking c.mu: the snapshot may wait for the SETTINGS.
		snap := c.h3Snapshot()
		return c.claimH3(r, &snap)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	rc := &Request{ConnID: c.id, Protocol: c.proto, TLS: c.tlsInfo, conn: c}
	idx := -1
	for i, pr := range c.pending {
		if pr.h1 != nil && pr.h1.Method == r.Method && pr.h1.Target == r.RequestURI {
			idx = i
			break
		}
		if pr.h2 != nil && c.h2Matches(pr.h2, r) {
			idx = i
			break
		}
	}
	if c.proto == ProtoH2 {
		if c.h2conn == nil {
			// The connection preface (SETTINGS, WINDOW_UPDATE, PRIORITY
			// frames before the first HEADERS) is fixed once a request
			// exists; snapshot it once per connection, keeping only the
			// first request (the one Akamai reads).
			snap := c.h2.Snapshot()
			snap.Requests = snap.Requests[:min(1, len(snap.Requests))]
			c.h2conn = &snap
			c.akamai = snap.Akamai()
		}
		rc.H2 = &H2Info{Conn: c.h2conn, Akamai: c.akamai}
	}
	if idx < 0 {
		return rc
	}
	pr := c.pending[idx]
	if pr.h1 != nil {
		// Heads before this one were answered by net/http itself (400, 431)
		// without reaching a handler: drop them too.
		c.pending = append(c.pending[:0], c.pending[idx+1:]...)
		rc.HTTP1 = pr.h1
		rc.Headers = pr.h1.Headers
	} else {
		c.pending = append(c.pending[:idx], c.pending[idx+1:]...)
		rc.H2.Request = *pr.h2
		rc.Headers = append(append(make([]fingerprint.Header, 0, len(pr.h2.Pseudo)+len(pr.h2.Headers)), pr.h2.Pseudo...), pr.h2.Headers...)
	}
	rc.HeaderOrder = c.headerOrder(rc.Headers)
	rc.Matched = true
	return rc
}

// claimH3 takes the first pending HTTP/3 header section matching r (as
// h2Matches: http3 does not give handlers the stream ID either).
func (c *Conn) claimH3(r *http.Request, snap *H3Info) *Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	rc := &Request{ConnID: c.id, Protocol: c.proto, TLS: c.tlsInfo, QUIC: c.quic, H3: snap}
	for i, pr := range c.pending {
		if pr.h3 == nil || !c.headersMatch(pr.h3.Pseudo, pr.h3.Headers, r) {
			continue
		}
		c.pending = append(c.pending[:i], c.pending[i+1:]...)
		snap.StreamID = pr.h3.StreamID
		snap.PseudoOrder = make([]string, len(pr.h3.Pseudo))
		for j, h := range pr.h3.Pseudo {
			snap.PseudoOrder[j] = h.Name
		}
		for _, h := range pr.h3.Headers {
			if h.Name == "priority" {
				snap.Priority = h.Value
				break
			}
		}
		rc.Headers = append(append(make([]fingerprint.Header, 0, len(pr.h3.Pseudo)+len(pr.h3.Headers)), pr.h3.Pseudo...), pr.h3.Headers...)
		rc.HeaderOrder = c.headerOrder(rc.Headers)
		rc.Matched = true
		break
	}
	return rc
}

// headerOrder is the header-order fingerprint of hs. The requests of a
// connection usually send the same names in the same order, so the last
// result is kept and reused when the names are equal. c.mu held.
func (c *Conn) headerOrder(hs []fingerprint.Header) fingerprint.HeaderOrderFP {
	if c.orderSet && len(hs) == len(c.orderNames) {
		same := true
		for i, h := range hs {
			if h.Name != c.orderNames[i] {
				same = false
				break
			}
		}
		if same {
			return c.order
		}
	}
	names := make([]string, len(hs))
	for i, h := range hs {
		names[i] = h.Name
	}
	c.orderNames, c.order, c.orderSet = names, fingerprint.HeaderOrderOf(names...), true
	return c.order
}

// maxCanonicalNames bounds a connection's cache of canonical header names.
const maxCanonicalNames = 256

// canonicalName is textproto's canonical form of an HTTP/2 header name (the
// key net/http files it under), cached per connection: HTTP/2 names are
// lower case, so canonicalising allocates a new string every time. c.mu held.
func (c *Conn) canonicalName(name string) string {
	if v, ok := c.canonical[name]; ok {
		return v
	}
	v := textproto.CanonicalMIMEHeaderKey(name)
	if len(c.canonical) < maxCanonicalNames {
		if c.canonical == nil {
			c.canonical = make(map[string]string, 16)
		}
		c.canonical[name] = v
	}
	return v
}

// h2Matches reports whether the parsed stream carries r's request. c.mu held.
func (c *Conn) h2Matches(pr *fingerprint.H2Request, r *http.Request) bool {
	return c.headersMatch(pr.Pseudo, pr.Headers, r)
}

// headersMatch reports whether a decoded header section (pseudo headers,
// regular headers) carries r's request. c.mu held.
func (c *Conn) headersMatch(pseudo, headers []fingerprint.Header, r *http.Request) bool {
	var method, path, authority string
	for _, h := range pseudo {
		switch h.Name {
		case ":method":
			method = h.Value
		case ":path":
			path = h.Value
		case ":authority":
			authority = h.Value
		}
	}
	if method != r.Method || path != r.RequestURI || (authority != "" && authority != r.Host) {
		return false
	}
	for _, h := range headers {
		if strings.EqualFold(h.Name, "cookie") || strings.EqualFold(h.Name, "host") {
			continue // x/net/http2 and http3 join cookie fields and move host
		}
		found := false
		for _, v := range r.Header[c.canonicalName(h.Name)] {
			if v == h.Value {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
