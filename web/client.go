package web

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/netip"
	"sync"

	"github.com/guanaco-fp/guanaco/capture"
)

// clientAddr is the client's address: the capture connection's remote
// address (the PROXY protocol source when a trusted proxy sent one), else
// the request's RemoteAddr. ok is false when neither parses.
func clientAddr(r *http.Request) (netip.Addr, bool) {
	if c, ok := capture.ConnFromContext(r.Context()); ok {
		if a := c.RemoteAddrPort().Addr(); a.IsValid() {
			return a.Unmap(), true
		}
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap(), true
	}
	if a, err := netip.ParseAddr(r.RemoteAddr); err == nil {
		return a.Unmap(), true
	}
	return netip.Addr{}, false
}

// Truncation prefixes for stored client addresses.
const (
	ipv4StoredBits = 24
	ipv6StoredBits = 48
)

// storedIP formats a client address for storage and display: whole when
// full is set, else the /24 (IPv4) or /48 (IPv6) network in prefix form,
// e.g. "203.0.113.0/24" or "2001:db8:1::/48". The zone is dropped. An
// invalid address gives "".
func storedIP(a netip.Addr, full bool) string {
	if !a.IsValid() {
		return ""
	}
	a = a.Unmap().WithZone("")
	if full {
		return a.String()
	}
	bits := ipv6StoredBits
	if a.Is4() {
		bits = ipv4StoredBits
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return ""
	}
	return p.String()
}

// clientIPMemo is the stored client address of a connection's requests
// (see storedClientIP).
type clientIPMemo struct {
	mu   sync.Mutex
	addr netip.Addr
	ip   string
}

// storedClientIP is storedIP(addr, Deps.StoreFullIP), "" when !ok. A TLS
// connection's requests share their client address, so its stored form is
// kept in the connection's memo (conn; nil: none) and returned again while
// the address is the same, without formatting it anew.
func (h *handler) storedClientIP(conn *connMemo, addr netip.Addr, ok bool) string {
	if !ok {
		return ""
	}
	if conn == nil {
		return storedIP(addr, h.d.StoreFullIP)
	}
	m := &conn.clientIP
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ip == "" || m.addr != addr {
		m.addr, m.ip = addr, storedIP(addr, h.d.StoreFullIP)
	}
	return m.ip
}

// Visit cookie: a random 128-bit key in lower-case hex that ties the
// navigate, fetch, xhr and form captures of one page visit together. It is
// a session cookie, HttpOnly, SameSite=Lax, Secure over TLS.
const (
	visitCookie    = "gv"
	visitKeyLength = 32
)

// newVisitKey returns a fresh visit key.
func newVisitKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go >= 1.24)
	return hex.EncodeToString(b[:])
}

// validVisitKey reports whether k has the form newVisitKey returns.
func validVisitKey(k string) bool {
	if len(k) != visitKeyLength {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// visitKeyOf returns the request's visit key, or "" when it has no valid
// one. The first valid gv cookie wins.
func visitKeyOf(r *http.Request) string {
	for _, c := range r.CookiesNamed(visitCookie) {
		if validVisitKey(c.Value) {
			return c.Value
		}
	}
	return ""
}

// isTLS reports whether r arrived over TLS. Over a capture listener the
// HTTP/1 request's r.TLS is nil (the connection is a *capture.Conn, not a
// *tls.Conn), so the capture is consulted too.
func isTLS(r *http.Request, rc *capture.Request) bool {
	return r.TLS != nil || (rc != nil && rc.TLS != nil)
}

// ensureVisitKey returns r's visit key, creating one and setting the cookie
// on w when r has none.
func ensureVisitKey(w http.ResponseWriter, r *http.Request, secure bool) string {
	if k := visitKeyOf(r); k != "" {
		return k
	}
	k := newVisitKey()
	http.SetCookie(w, &http.Cookie{
		Name:     visitCookie,
		Value:    k,
		Path:     "/",
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	})
	return k
}
