package emulation

import (
	"bytes"
	"encoding/binary"

	"github.com/guanaco-fp/guanaco/fingerprint"
)

// Key-share groups whose share embeds an X25519 public key (draft-kwiatkowski-
// tls-ecdhe-mlkem and the older Kyber draft).
const (
	groupX25519         = 0x001d
	groupX25519MLKEM768 = 0x11ec // ML-KEM-768 encapsulation key, then X25519
	groupX25519Kyber768 = 0x6399 // X25519, then Kyber-768
	x25519KeySize       = 32
)

// X25519Reuse tells how a browser builds a hybrid key share next to a plain
// X25519 one. Firefox (NSS) uses one X25519 key for both: the last 32 bytes of
// its X25519MLKEM768 share equal its X25519 share on every connection.
// Chromium (BoringSSL) draws a separate X25519 key for the hybrid.
type X25519Reuse int

const (
	// X25519NotApplicable: the hello does not offer both a hybrid and an
	// X25519 share.
	X25519NotApplicable X25519Reuse = iota
	// X25519Separate: both are offered, with different X25519 keys.
	X25519Separate
	// X25519Shared: the hybrid share's X25519 part is the X25519 share.
	X25519Shared
)

// KeyShareX25519Reuse reads a ClientHello (record or bare message) and
// reports whether its hybrid key share reuses the X25519 key share. The
// profile's captured hello decides how the emulation builds its key shares,
// so a profile reproduces what its browser did on the captured connection.
// A hello that does not parse is X25519NotApplicable.
func KeyShareX25519Reuse(hello []byte) X25519Reuse {
	ch, err := fingerprint.ParseClientHello(hello)
	if err != nil {
		return X25519NotApplicable
	}
	var shares map[uint16][]byte
	for _, e := range ch.Extensions {
		if e.Type == 51 {
			shares = keyShares(e.Data)
		}
	}
	x := shares[groupX25519]
	if len(x) != x25519KeySize {
		return X25519NotApplicable
	}
	if h, ok := shares[groupX25519MLKEM768]; ok && len(h) > x25519KeySize {
		if bytes.Equal(h[len(h)-x25519KeySize:], x) {
			return X25519Shared
		}
		return X25519Separate
	}
	if h, ok := shares[groupX25519Kyber768]; ok && len(h) > x25519KeySize {
		if bytes.Equal(h[:x25519KeySize], x) {
			return X25519Shared
		}
		return X25519Separate
	}
	return X25519NotApplicable
}

// keyShares reads a key_share extension's client_shares (first share of a
// group wins); a malformed list yields what was read before the fault.
func keyShares(d []byte) map[uint16][]byte {
	out := map[uint16][]byte{}
	if len(d) < 2 {
		return out
	}
	d = d[2:]
	for len(d) >= 4 {
		g := binary.BigEndian.Uint16(d)
		n := int(binary.BigEndian.Uint16(d[2:]))
		if len(d) < 4+n {
			break
		}
		if _, seen := out[g]; !seen {
			out[g] = d[4 : 4+n]
		}
		d = d[4+n:]
	}
	return out
}
