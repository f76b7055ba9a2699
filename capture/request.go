package capture

import (
	"context"
	"net/http"
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
			if !c.attached.Load() {
				c.attached.Store(true)
			}
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

// Claim returns the capture of r for a handler that is not wrapped by
// Middleware: the capture Middleware attached to r when there is one, else
// the one claimed now from the connection r arrived on (see
// ContextWithConn), without attaching it to r (no copy of r, no context).
// ok is false when r came on no capture connection.
//
// Such a handler must call Claim exactly once for every request it serves,
// whatever the route, as Middleware does: an unclaimed HTTP/2 or HTTP/3 head
// stays pending on its connection, and a second claim for the same request
// finds nothing.
func Claim(r *http.Request) (*Request, bool) {
	c, ok := ConnFromContext(r.Context())
	if !ok {
		return nil, false
	}
	// FromRequest misses walk the whole context chain: look only on a
	// connection where Middleware has attached captures (set before the
	// inner handler runs, on the same goroutine).
	if c.attached.Load() {
		if rc, ok := FromRequest(r); ok {
			return rc, true
		}
	}
	return c.claim(r), true
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
	var rc *Request
	var h2 *H2Info
	if c.proto == ProtoH2 {
		// The request and its HTTP/2 side in one allocation.
		both := new(struct {
			rc Request
			h2 H2Info
		})
		rc, h2 = &both.rc, &both.h2
	} else {
		rc = new(Request)
	}
	*rc = Request{ConnID: c.id, Protocol: c.proto, TLS: c.tlsInfo, conn: c}
	idx := -1
	for i, pr := range c.pending {
		if pr.h1 != nil && pr.h1.Method == r.Method && pr.h1.Target == r.RequestURI {
			idx = i
			break
		}
		if pr.h2 != nil && headersMatch(pr.h2.Pseudo, pr.h2.Headers, r) {
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
		*h2 = H2Info{Conn: c.h2conn, Akamai: c.akamai}
		rc.H2 = h2
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

// claimH3 takes the first pending HTTP/3 header section matching r (see
// headersMatch).
func (c *Conn) claimH3(r *http.Request, snap *H3Info) *Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	rc := &Request{ConnID: c.id, Protocol: c.proto, TLS: c.tlsInfo, QUIC: c.quic, H3: snap}
	for i, pr := range c.pending {
		if pr.h3 == nil || !headersMatch(pr.h3.Pseudo, pr.h3.Headers, r) {
			continue
		}
		c.pending = append(c.pending[:i], c.pending[i+1:]...)
		snap.StreamID = pr.h3.StreamID
		snap.PseudoOrder = c.pseudoOrder(pr.h3.Pseudo)
		for _, h := range pr.h3.Headers {
			if h.Name == "priority" {
				snap.Priority = h.Value
				break
			}
		}
		rc.Headers = pr.h3.fields
		rc.HeaderOrder = c.headerOrder(rc.Headers)
		rc.Matched = true
		break
	}
	return rc
}

// headerOrder returns the header-order fingerprint of hs' names. The
// requests of a connection mostly repeat one order, so the last one is
// kept and returned again when the names match, without joining and
// hashing them. Called with c.mu held.
func (c *Conn) headerOrder(hs []fingerprint.Header) fingerprint.HeaderOrderFP {
	if c.orderSet && namesJoinTo(c.order.Order, hs) {
		return c.order
	}
	names := make([]string, len(hs))
	for i, h := range hs {
		names[i] = h.Name
	}
	c.order, c.orderSet = fingerprint.HeaderOrderOf(names...), true
	return c.order
}

// namesJoinTo reports whether order is hs' names joined with commas.
func namesJoinTo(order string, hs []fingerprint.Header) bool {
	for i, h := range hs {
		if i > 0 {
			if order == "" || order[0] != ',' {
				return false
			}
			order = order[1:]
		}
		if !strings.HasPrefix(order, h.Name) {
			return false
		}
		order = order[len(h.Name):]
	}
	return order == ""
}

// pseudoOrder returns the names of an HTTP/3 request's pseudo headers; the
// slice is shared with the connection's other requests that sent the same
// order (read-only). Called with c.mu held.
func (c *Conn) pseudoOrder(pseudo []fingerprint.Header) []string {
	same := len(c.pseudo) == len(pseudo)
	for i := 0; same && i < len(pseudo); i++ {
		same = c.pseudo[i] == pseudo[i].Name
	}
	if same && c.pseudo != nil {
		return c.pseudo
	}
	names := make([]string, len(pseudo))
	for i, h := range pseudo {
		names[i] = h.Name
	}
	c.pseudo = names[:len(names):len(names)]
	return c.pseudo
}

// headersMatch reports whether a decoded header section (pseudo headers,
// regular headers) carries r's request: an HTTP/2 stream's or an HTTP/3
// request stream's (neither server gives handlers the stream ID).
func headersMatch(pseudo, headers []fingerprint.Header, r *http.Request) bool {
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
		for _, v := range headerValues(r.Header, h.Name) {
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

// headerValues is h.Values(name) without allocating for the common case,
// a name of letters, digits and '-' of up to 64 bytes: it is put in
// canonical form on the stack (as textproto.CanonicalMIMEHeaderKey would)
// and looked up directly. Other names go through h.Values.
func headerValues(h http.Header, name string) []string {
	var buf [64]byte
	if len(name) == 0 || len(name) > len(buf) {
		return h.Values(name)
	}
	b := buf[:len(name)]
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z':
			if upper {
				c -= 'a' - 'A'
			}
		case 'A' <= c && c <= 'Z':
			if !upper {
				c += 'a' - 'A'
			}
		case '0' <= c && c <= '9', c == '-':
		default:
			return h.Values(name)
		}
		b[i] = c
		upper = c == '-'
	}
	return h[string(b)]
}
