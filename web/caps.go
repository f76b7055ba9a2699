package web

import (
	"net/netip"
	"strconv"

	"github.com/guanaco-fp/guanaco/store"
)

// Limits on what one client may make fpserver store. Beyond them a request is
// served as usual, its capture is not stored, the live answer says
// "dropped" with the reason, and the drop is counted.
const (
	// DropConnectionCap: the connection already stored Deps.MaxCapturesPerConn
	// captures.
	DropConnectionCap = "connection_cap"
	// DropClientRate: the client address (IPv6: its /64) passed
	// Deps.MaxCapturesPerMinute.
	DropClientRate = "client_rate"
)

// Defaults of the storage caps.
const (
	DefaultMaxCapturesPerConn   = 1000
	DefaultMaxCapturesPerMinute = 600
	// MaxStoredHeaderValue is the most bytes of one header value stored;
	// longer values are cut and marked (names and order are never cut).
	MaxStoredHeaderValue = 4096
)

// admitStore reports whether the capture of a request on the TLS connection
// with memo conn (nil: none) from the client address addr (hasAddr:
// clientAddr found one) may be stored, or the reason it may not.
func (h *handler) admitStore(conn *connMemo, addr netip.Addr, hasAddr bool) string {
	if conn != nil && h.d.MaxCapturesPerConn > 0 {
		if conn.stored.Add(1) > int64(h.d.MaxCapturesPerConn) {
			return DropConnectionCap
		}
	}
	if h.storeRate != nil && hasAddr {
		if ok, _ := h.storeRate.allow(limitKey(addr), h.d.Now()); !ok {
			return DropClientRate
		}
	}
	return ""
}

// capHeaderValues cuts header values longer than MaxStoredHeaderValue and
// marks them "…[cut N bytes]"; names, casing and order stay.
func capHeaderValues(hs []store.HeaderPair) {
	for i := range hs {
		if v := hs[i].Value; len(v) > MaxStoredHeaderValue {
			hs[i].Value = v[:MaxStoredHeaderValue] + "…[cut " + strconv.Itoa(len(v)-MaxStoredHeaderValue) + " bytes]"
		}
	}
}
