// Package quicinitial reads QUIC client Initial packets (RFC 9000 §17.2.2)
// of versions 1 (RFC 9001) and 2 (RFC 9369): it parses long headers,
// derives the client Initial keys from the destination connection ID,
// removes header protection, decrypts the payload and walks its frames for
// the CRYPTO data that carries the TLS ClientHello.
//
// Table reassembles the ClientHellos of many connections from the
// Initial packets of a live server's datagrams, within fixed bounds.
//
// Every function takes attacker bytes: lengths are checked before use and
// errors say what was wrong; nothing panics on malformed input. Used by
// package inspect (pcaps, raw packets) and by the live QUIC capture in
// package capture. Imports only package fingerprint (to parse a completed
// hello).
package quicinitial

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"

	"github.com/guanaco-fp/guanaco/fingerprint"
)

// QUIC versions whose Initial packets can be decrypted.
const (
	V1 uint32 = 0x00000001 // RFC 9000
	V2 uint32 = 0x6b3343cf // RFC 9369
)

// Long-header packet types, normalised to the QUIC v1 numbering.
const (
	TypeInitial   = 0
	TypeZeroRTT   = 1
	TypeHandshake = 2
	TypeRetry     = 3
)

// MaxDatagram is the largest UDP payload.
const MaxDatagram = 65535

// MaxConnIDLen is the longest connection ID QUIC v1/v2 allow (RFC 9000 §17.2).
const MaxConnIDLen = 20

// VersionSupported reports whether Initial packets of version v can be
// decrypted.
func VersionSupported(v uint32) bool { return v == V1 || v == V2 }

// salt returns the initial_salt of a version (RFC 9001 §5.2, RFC 9369 §3.3.1).
func salt(v uint32) []byte {
	if v == V2 {
		return []byte{0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
			0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9}
	}
	return []byte{0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
		0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a}
}

// LongHeader is the cleartext part of a QUIC long-header packet (RFC 9000
// §17.2) as it appears before header protection is removed. DCID and SCID
// point into the parsed bytes.
type LongHeader struct {
	Version  uint32
	Type     int // TypeInitial ... TypeRetry
	DCID     []byte
	SCID     []byte
	Token    []byte // Initial packets only
	PNOffset int    // offset of the packet number field
	End      int    // offset just past this packet in its datagram
}

// ErrNotQUIC marks bytes that are not a QUIC long-header packet of a
// supported version.
var ErrNotQUIC = errors.New("not a QUIC v1/v2 long-header packet")

// ParseLongHeader parses the long header at the start of b. When b is too
// short to hold the whole packet it returns need > len(b) and no error;
// otherwise need is h.End.
func ParseLongHeader(b []byte) (h LongHeader, need int, err error) {
	if len(b) < 7 {
		return h, 7, nil
	}
	if b[0]&0x80 == 0 {
		return h, 0, ErrNotQUIC
	}
	h.Version = binary.BigEndian.Uint32(b[1:])
	if !VersionSupported(h.Version) {
		return h, 0, fmt.Errorf("%w: version 0x%08x", ErrNotQUIC, h.Version)
	}
	t := int(b[0]>>4) & 3
	if h.Version == V2 {
		// v2 numbers its types Retry=0, Initial=1, 0-RTT=2, Handshake=3.
		t = (t + 3) & 3
	}
	h.Type = t
	p := 5
	dl := int(b[p])
	if dl > MaxConnIDLen {
		return h, 0, fmt.Errorf("destination connection ID of %d bytes", dl)
	}
	p++
	if len(b) < p+dl+1 {
		return h, p + dl + 1, nil
	}
	h.DCID = b[p : p+dl]
	p += dl
	sl := int(b[p])
	if sl > MaxConnIDLen {
		return h, 0, fmt.Errorf("source connection ID of %d bytes", sl)
	}
	p++
	if len(b) < p+sl {
		return h, p + sl, nil
	}
	h.SCID = b[p : p+sl]
	p += sl
	if h.Type == TypeRetry {
		// A Retry has no length: it fills the rest of the datagram.
		h.End = len(b)
		return h, len(b), nil
	}
	if h.Type == TypeInitial {
		tl, n, ok := fingerprint.QUICVarint(b[p:])
		if !ok {
			return h, p + 8, nil
		}
		p += n
		if tl > MaxDatagram {
			return h, 0, fmt.Errorf("token of %d bytes", tl)
		}
		if len(b) <= p+int(tl) {
			return h, p + int(tl) + 1, nil
		}
		h.Token = b[p : p+int(tl)]
		p += int(tl)
	}
	l, n, ok := fingerprint.QUICVarint(b[p:])
	if !ok {
		return h, p + 8, nil
	}
	p += n
	if l > MaxDatagram {
		return h, 0, fmt.Errorf("packet length %d exceeds a UDP datagram", l)
	}
	h.PNOffset = p
	h.End = p + int(l)
	return h, h.End, nil
}

// Keys are the client Initial packet protection keys for one destination
// connection ID.
type Keys struct {
	DCID []byte
	AEAD cipher.AEAD
	IV   [12]byte
	HP   cipher.Block
}

// HKDFExpandLabel is HKDF-Expand-Label of TLS 1.3 (RFC 8446 §7.1) with an
// empty context.
func HKDFExpandLabel(secret []byte, label string, length int) ([]byte, error) {
	if length <= sha256.Size && len(label) <= maxLabel {
		out := make([]byte, length)
		new(hkdfScratch).expandLabel(hmac.New(sha256.New, secret), label, out)
		return out, nil
	}
	full := "tls13 " + label
	info := make([]byte, 0, 4+len(full))
	info = binary.BigEndian.AppendUint16(info, uint16(length))
	info = append(info, byte(len(full)))
	info = append(info, full...)
	info = append(info, 0)
	return hkdf.Expand(sha256.New, secret, string(info), length)
}

// maxLabel bounds the labels hkdfScratch takes.
const maxLabel = 32

// hkdfScratch is the working memory of the key derivation: the bytes
// given to the hash.Hash interface escape, so they live here, one
// allocation per derivation instead of two per step.
type hkdfScratch struct {
	info [4 + len("tls13 ") + maxLabel + 1]byte
	sum  [sha256.Size]byte
}

// expandLabel is HKDF-Expand-Label with an empty context for an output of
// at most one SHA-256 block: HKDF-Expand's first block (RFC 5869 §2.3),
// HMAC(secret, info || 0x01), mac keyed with the secret and not yet
// written to (Reset it to reuse it for the next label).
func (sc *hkdfScratch) expandLabel(mac hash.Hash, label string, out []byte) {
	info := binary.BigEndian.AppendUint16(sc.info[:0], uint16(len(out)))
	info = append(info, byte(len("tls13 ")+len(label)))
	info = append(info, "tls13 "...)
	info = append(info, label...)
	info = append(info, 0, 1) // empty context; HKDF's block counter
	mac.Write(info)
	copy(out, mac.Sum(sc.sum[:0]))
}

// ClientInitialSecret derives client_initial_secret (RFC 9001 §5.2).
func ClientInitialSecret(version uint32, dcid []byte) ([]byte, error) {
	secret := make([]byte, sha256.Size)
	new(hkdfScratch).clientInitialSecret(version, dcid, secret)
	return secret, nil
}

// clientInitialSecret writes client_initial_secret into out (32 bytes):
// HKDF-Extract(salt, dcid) is HMAC(salt, dcid) (RFC 5869 §2.2).
func (sc *hkdfScratch) clientInitialSecret(version uint32, dcid, out []byte) {
	ext := hmac.New(sha256.New, salt(version))
	ext.Write(dcid)
	sc.expandLabel(hmac.New(sha256.New, ext.Sum(sc.sum[:0])), "client in", out)
}

// NewClientKeys derives the client Initial key, IV and header protection
// key for a version and destination connection ID.
func NewClientKeys(version uint32, dcid []byte) (*Keys, error) {
	sc := new(hkdfScratch)
	var secret [sha256.Size]byte
	sc.clientInitialSecret(version, dcid, secret[:])
	prefix := "quic "
	if version == V2 {
		prefix = "quicv2 "
	}
	mac := hmac.New(sha256.New, secret[:])
	var key, hp [16]byte
	var iv [12]byte
	sc.expandLabel(mac, prefix+"key", key[:])
	mac.Reset()
	sc.expandLabel(mac, prefix+"iv", iv[:])
	mac.Reset()
	sc.expandLabel(mac, prefix+"hp", hp[:])
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, fmt.Errorf("quicinitial: packet cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("quicinitial: packet AEAD: %w", err)
	}
	hpBlock, err := aes.NewCipher(hp[:])
	if err != nil {
		return nil, fmt.Errorf("quicinitial: header protection cipher: %w", err)
	}
	k := &Keys{DCID: append([]byte(nil), dcid...), AEAD: aead, HP: hpBlock}
	k.IV = iv
	return k, nil
}

// ErrUndecryptable marks an Initial packet that does not open with the
// client keys: a server Initial, or a corrupted or truncated packet.
var ErrUndecryptable = errors.New("QUIC Initial packet does not decrypt with client Initial keys")

// Open removes header protection from the Initial packet pkt (the bytes
// h.End long, starting at its first byte) and decrypts its payload (RFC
// 9001 §5.3, §5.4). pkt is not modified; *scratch is reused as the working
// buffer and the returned plaintext points into it.
func Open(k *Keys, pkt []byte, h LongHeader, scratch *[]byte) ([]byte, error) {
	sampleAt := h.PNOffset + 4
	if h.End > len(pkt) || sampleAt+16 > h.End {
		return nil, ErrUndecryptable
	}
	var mask [16]byte
	k.HP.Encrypt(mask[:], pkt[sampleAt:sampleAt+16])
	first := pkt[0] ^ mask[0]&0x0f
	pnLen := int(first&3) + 1
	hdrLen := h.PNOffset + pnLen
	if hdrLen+k.AEAD.Overhead() > h.End {
		return nil, ErrUndecryptable
	}
	buf := append((*scratch)[:0], pkt[:h.End]...)
	*scratch = buf
	buf[0] = first
	var pn uint64
	for i := 0; i < pnLen; i++ {
		buf[h.PNOffset+i] ^= mask[1+i]
		pn = pn<<8 | uint64(buf[h.PNOffset+i])
	}
	nonce := k.IV
	for i := 0; i < 8; i++ {
		nonce[4+i] ^= byte(pn >> (56 - 8*i))
	}
	header := buf[:hdrLen] // the unprotected header is the associated data
	plain, err := k.AEAD.Open(buf[hdrLen:hdrLen], nonce[:], buf[hdrLen:h.End], header)
	if err != nil {
		return nil, ErrUndecryptable
	}
	return plain, nil
}

// CryptoFrames calls fn for every CRYPTO frame in the plaintext payload of
// an Initial packet. It understands every frame type allowed in Initial
// packets (RFC 9000 §12.4: PADDING, PING, ACK, CRYPTO, CONNECTION_CLOSE)
// and stops with an error at any other. data points into p.
func CryptoFrames(p []byte, fn func(off uint64, data []byte)) error {
	for i := 0; i < len(p); {
		t := p[i]
		i++
		switch t {
		case 0x00, 0x01: // PADDING, PING
		case 0x02, 0x03: // ACK, ACK with ECN counts
			var fields [4]uint64
			for f := range fields {
				v, n, ok := fingerprint.QUICVarint(p[i:])
				if !ok {
					return errors.New("truncated ACK frame")
				}
				fields[f] = v
				i += n
			}
			ranges := fields[2]
			if ranges > uint64(len(p)) {
				return errors.New("ACK frame range count exceeds the packet")
			}
			extra := 2 * ranges
			if t == 0x03 {
				extra += 3
			}
			for ; extra > 0; extra-- {
				_, n, ok := fingerprint.QUICVarint(p[i:])
				if !ok {
					return errors.New("truncated ACK frame")
				}
				i += n
			}
		case 0x06: // CRYPTO
			off, n, ok := fingerprint.QUICVarint(p[i:])
			if !ok {
				return errors.New("truncated CRYPTO frame")
			}
			i += n
			l, n, ok := fingerprint.QUICVarint(p[i:])
			if !ok {
				return errors.New("truncated CRYPTO frame")
			}
			i += n
			if l > uint64(len(p)-i) {
				return errors.New("CRYPTO frame longer than the packet")
			}
			fn(off, p[i:i+int(l)])
			i += int(l)
		case 0x1c, 0x1d: // CONNECTION_CLOSE
			count := 2
			if t == 0x1c {
				count = 3
			}
			var last uint64
			for f := 0; f < count; f++ {
				v, n, ok := fingerprint.QUICVarint(p[i:])
				if !ok {
					return errors.New("truncated CONNECTION_CLOSE frame")
				}
				last = v
				i += n
			}
			if last > uint64(len(p)-i) {
				return errors.New("CONNECTION_CLOSE reason longer than the packet")
			}
			i += int(last)
		default:
			return fmt.Errorf("frame type 0x%02x is not allowed in an Initial packet", t)
		}
	}
	return nil
}
