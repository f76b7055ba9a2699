package inspect

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// QUIC versions whose Initial packets can be decrypted.
const (
	quicV1 uint32 = 0x00000001 // RFC 9000
	quicV2 uint32 = 0x6b3343cf // RFC 9369
)

// Long-header packet types, normalised to the QUIC v1 numbering.
const (
	quicInitial   = 0
	quicZeroRTT   = 1
	quicHandshake = 2
	quicRetry     = 3
)

// maxDatagram is the largest UDP payload.
const maxDatagram = 65535

// maxConnIDLen is the longest connection ID QUIC v1/v2 allow (RFC 9000 §17.2).
const maxConnIDLen = 20

func quicVersionSupported(v uint32) bool { return v == quicV1 || v == quicV2 }

// quicSalt returns the initial_salt of a version (RFC 9001 §5.2, RFC 9369 §3.3.1).
func quicSalt(v uint32) []byte {
	if v == quicV2 {
		return []byte{0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
			0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9}
	}
	return []byte{0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
		0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a}
}

// longHeader is the cleartext part of a QUIC long-header packet (RFC 9000
// §17.2) as it appears before header protection is removed.
type longHeader struct {
	version  uint32
	typ      int // quicInitial ... quicRetry
	dcid     []byte
	scid     []byte
	pnOffset int // offset of the packet number field
	end      int // offset just past this packet in its datagram
}

// errNotQUIC marks bytes that are not a QUIC long-header packet of a
// supported version.
var errNotQUIC = errors.New("not a QUIC v1/v2 long-header packet")

// parseLongHeader parses the long header at the start of b. When b is too
// short to hold the whole packet it returns need > len(b) and no error.
func parseLongHeader(b []byte) (h longHeader, need int, err error) {
	if len(b) < 7 {
		return h, 7, nil
	}
	if b[0]&0x80 == 0 {
		return h, 0, errNotQUIC
	}
	h.version = be32(b[1:])
	if !quicVersionSupported(h.version) {
		return h, 0, fmt.Errorf("%w: version 0x%08x", errNotQUIC, h.version)
	}
	t := int(b[0]>>4) & 3
	if h.version == quicV2 {
		// v2 numbers its types Retry=0, Initial=1, 0-RTT=2, Handshake=3.
		t = (t + 3) & 3
	}
	h.typ = t
	p := 5
	dl := int(b[p])
	if dl > maxConnIDLen {
		return h, 0, fmt.Errorf("destination connection ID of %d bytes", dl)
	}
	p++
	if len(b) < p+dl+1 {
		return h, p + dl + 1, nil
	}
	h.dcid = b[p : p+dl]
	p += dl
	sl := int(b[p])
	if sl > maxConnIDLen {
		return h, 0, fmt.Errorf("source connection ID of %d bytes", sl)
	}
	p++
	if len(b) < p+sl {
		return h, p + sl, nil
	}
	h.scid = b[p : p+sl]
	p += sl
	if h.typ == quicRetry {
		// A Retry has no length: it fills the rest of the datagram.
		h.end = len(b)
		return h, len(b), nil
	}
	if h.typ == quicInitial {
		tl, n, ok := quicVarint(b[p:])
		if !ok {
			return h, p + 8, nil
		}
		p += n
		if tl > maxDatagram {
			return h, 0, fmt.Errorf("token of %d bytes", tl)
		}
		p += int(tl)
		if len(b) <= p {
			return h, p + 1, nil
		}
	}
	l, n, ok := quicVarint(b[p:])
	if !ok {
		return h, p + 8, nil
	}
	p += n
	if l > maxDatagram {
		return h, 0, fmt.Errorf("packet length %d exceeds a UDP datagram", l)
	}
	h.pnOffset = p
	h.end = p + int(l)
	return h, h.end, nil
}

// quicVarint decodes a QUIC variable-length integer (RFC 9000 §16).
func quicVarint(b []byte) (v uint64, n int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	n = 1 << (b[0] >> 6)
	if len(b) < n {
		return 0, 0, false
	}
	v = uint64(b[0] & 0x3f)
	for _, c := range b[1:n] {
		v = v<<8 | uint64(c)
	}
	return v, n, true
}

// initialKeys are the client Initial packet protection keys for one
// destination connection ID.
type initialKeys struct {
	dcid []byte
	aead cipher.AEAD
	iv   [12]byte
	hp   cipher.Block
}

// hkdfExpandLabel is HKDF-Expand-Label of TLS 1.3 (RFC 8446 §7.1) with an
// empty context.
func hkdfExpandLabel(secret []byte, label string, length int) ([]byte, error) {
	full := "tls13 " + label
	info := make([]byte, 0, 4+len(full))
	info = binary.BigEndian.AppendUint16(info, uint16(length))
	info = append(info, byte(len(full)))
	info = append(info, full...)
	info = append(info, 0)
	return hkdf.Expand(sha256.New, secret, string(info), length)
}

// clientInitialSecret derives client_initial_secret (RFC 9001 §5.2).
func clientInitialSecret(version uint32, dcid []byte) ([]byte, error) {
	initial, err := hkdf.Extract(sha256.New, dcid, quicSalt(version))
	if err != nil {
		return nil, fmt.Errorf("inspect: deriving QUIC initial secret: %w", err)
	}
	return hkdfExpandLabel(initial, "client in", 32)
}

// newInitialKeys derives the client Initial key, IV and header protection
// key for a version and destination connection ID.
func newInitialKeys(version uint32, dcid []byte) (*initialKeys, error) {
	secret, err := clientInitialSecret(version, dcid)
	if err != nil {
		return nil, err
	}
	prefix := "quic "
	if version == quicV2 {
		prefix = "quicv2 "
	}
	key, err := hkdfExpandLabel(secret, prefix+"key", 16)
	if err != nil {
		return nil, fmt.Errorf("inspect: deriving QUIC key: %w", err)
	}
	iv, err := hkdfExpandLabel(secret, prefix+"iv", 12)
	if err != nil {
		return nil, fmt.Errorf("inspect: deriving QUIC iv: %w", err)
	}
	hp, err := hkdfExpandLabel(secret, prefix+"hp", 16)
	if err != nil {
		return nil, fmt.Errorf("inspect: deriving QUIC hp key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("inspect: QUIC packet cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("inspect: QUIC packet AEAD: %w", err)
	}
	hpBlock, err := aes.NewCipher(hp)
	if err != nil {
		return nil, fmt.Errorf("inspect: QUIC header protection cipher: %w", err)
	}
	k := &initialKeys{dcid: append([]byte(nil), dcid...), aead: aead, hp: hpBlock}
	copy(k.iv[:], iv)
	return k, nil
}

// errUndecryptable marks an Initial packet that does not open with the
// client keys: a server Initial, or a corrupted or truncated packet.
var errUndecryptable = errors.New("QUIC Initial packet does not decrypt with client Initial keys")

// openInitial removes header protection from the Initial packet pkt (the
// bytes h.end long, starting at its first byte) and decrypts its payload
// (RFC 9001 §5.3, §5.4). pkt is not modified; *scratch is reused as the
// working buffer and the returned plaintext points into it.
func openInitial(k *initialKeys, pkt []byte, h longHeader, scratch *[]byte) ([]byte, error) {
	sampleAt := h.pnOffset + 4
	if h.end > len(pkt) || sampleAt+16 > h.end {
		return nil, errUndecryptable
	}
	var mask [16]byte
	k.hp.Encrypt(mask[:], pkt[sampleAt:sampleAt+16])
	first := pkt[0] ^ mask[0]&0x0f
	pnLen := int(first&3) + 1
	hdrLen := h.pnOffset + pnLen
	if hdrLen+k.aead.Overhead() > h.end {
		return nil, errUndecryptable
	}
	buf := append((*scratch)[:0], pkt[:h.end]...)
	*scratch = buf
	buf[0] = first
	var pn uint64
	for i := 0; i < pnLen; i++ {
		buf[h.pnOffset+i] ^= mask[1+i]
		pn = pn<<8 | uint64(buf[h.pnOffset+i])
	}
	nonce := k.iv
	for i := 0; i < 8; i++ {
		nonce[4+i] ^= byte(pn >> (56 - 8*i))
	}
	header := buf[:hdrLen] // the unprotected header is the associated data
	plain, err := k.aead.Open(buf[hdrLen:hdrLen], nonce[:], buf[hdrLen:h.end], header)
	if err != nil {
		return nil, errUndecryptable
	}
	return plain, nil
}

// cryptoFrames calls fn for every CRYPTO frame in the plaintext payload of
// an Initial packet. It understands every frame type allowed in Initial
// packets (RFC 9000 §12.4: PADDING, PING, ACK, CRYPTO, CONNECTION_CLOSE)
// and stops with an error at any other.
func cryptoFrames(p []byte, fn func(off uint64, data []byte)) error {
	for i := 0; i < len(p); {
		t := p[i]
		i++
		switch t {
		case 0x00, 0x01: // PADDING, PING
		case 0x02, 0x03: // ACK, ACK with ECN counts
			var fields [4]uint64
			for f := range fields {
				v, n, ok := quicVarint(p[i:])
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
				_, n, ok := quicVarint(p[i:])
				if !ok {
					return errors.New("truncated ACK frame")
				}
				i += n
			}
		case 0x06: // CRYPTO
			off, n, ok := quicVarint(p[i:])
			if !ok {
				return errors.New("truncated CRYPTO frame")
			}
			i += n
			l, n, ok := quicVarint(p[i:])
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
				v, n, ok := quicVarint(p[i:])
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

// quicConn is the client side of one QUIC connection as seen in Initial
// packets: the keys tried so far and the reassembled CRYPTO stream that
// carries the ClientHello.
type quicConn struct {
	// keys caches the keys of the original destination connection ID
	// (first) and of the latest other one tried (a Retry changes it).
	keys   [2]*initialKeys
	crypto streamBuf
	done   bool
	// decrypted is set once any packet decrypted.
	decrypted bool
	scratch   []byte
}

// keysFor returns the keys for the connection ID of h, deriving and caching
// them when needed.
func (c *quicConn) keysFor(h longHeader) (*initialKeys, error) {
	for _, k := range c.keys {
		if k != nil && bytes.Equal(k.dcid, h.dcid) {
			return k, nil
		}
	}
	k, err := newInitialKeys(h.version, h.dcid)
	if err != nil {
		return nil, err
	}
	if c.keys[0] == nil {
		c.keys[0] = k
	} else {
		c.keys[1] = k
	}
	return k, nil
}

// initial decrypts the client Initial packet pkt (header h) and adds its
// CRYPTO data to the stream. It returns errUndecryptable when the packet is
// not a client Initial of this connection, and an error for malformed
// frames in a packet that did decrypt (the CRYPTO frames before the
// malformed one are kept).
func (c *quicConn) initial(pkt []byte, h longHeader) error {
	k, err := c.keysFor(h)
	if err != nil {
		return err
	}
	plain, err := openInitial(k, pkt, h, &c.scratch)
	if err != nil && c.keys[0] != nil && c.keys[0] != k {
		// A packet whose destination connection ID changed may still be
		// protected with the keys of the first one; try those.
		plain, err = openInitial(c.keys[0], pkt, h, &c.scratch)
	}
	if err != nil {
		return err
	}
	c.decrypted = true
	return cryptoFrames(plain, func(off uint64, data []byte) {
		if off > uint64(c.crypto.max) {
			c.crypto.clipped = true
			return
		}
		c.crypto.add(int64(off), data)
	})
}
