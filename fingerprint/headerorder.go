package fingerprint

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// HeaderOrderFP is the header-order fingerprint of one request (DESIGN §4.2):
// Order is the header names as sent joined by ",", with HTTP/1 case kept and,
// for HTTP/2, the pseudo-headers first in the order sent; Hash is the first
// 12 hex digits of the SHA-256 of Order, or "000000000000" when Order is
// empty (no headers), as JA4 does for empty lists. This is our own
// fingerprint, not JA4H.
type HeaderOrderFP struct {
	Order string `json:"order"`
	Hash  string `json:"hash"`
}

// headerOrderEmptyHash is the hash of an empty order, following the JA4
// convention for empty lists.
const headerOrderEmptyHash = "000000000000"

// HeaderOrderOf computes the header-order fingerprint of names in the given
// order. Names are used exactly as given (no case folding, duplicates kept).
func HeaderOrderOf(names ...string) HeaderOrderFP {
	return headerOrderFromString(strings.Join(names, ","))
}

// headerOrderOfHeaders computes the fingerprint of the names of pseudo
// followed by the names of regular, without building an intermediate slice.
func headerOrderOfHeaders(pseudo, regular []Header) HeaderOrderFP {
	n := 0
	for _, h := range pseudo {
		n += len(h.Name) + 1
	}
	for _, h := range regular {
		n += len(h.Name) + 1
	}
	var sb strings.Builder
	sb.Grow(n)
	for _, list := range [2][]Header{pseudo, regular} {
		for _, h := range list {
			if sb.Len() > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(h.Name)
		}
	}
	return headerOrderFromString(sb.String())
}

func headerOrderFromString(order string) HeaderOrderFP {
	if order == "" {
		return HeaderOrderFP{Order: "", Hash: headerOrderEmptyHash}
	}
	sum := sha256.Sum256([]byte(order))
	return HeaderOrderFP{Order: order, Hash: hex.EncodeToString(sum[:6])}
}
