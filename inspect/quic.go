package inspect

import (
	"bytes"

	"github.com/guanaco-fp/guanaco/quicinitial"
)

// The Initial packet primitives live in package quicinitial, shared with
// the live QUIC capture; these names keep inspect's code short.
const (
	quicV1       = quicinitial.V1
	quicV2       = quicinitial.V2
	quicInitial  = quicinitial.TypeInitial
	quicRetry    = quicinitial.TypeRetry
	maxConnIDLen = quicinitial.MaxConnIDLen
)

type (
	longHeader  = quicinitial.LongHeader
	initialKeys = quicinitial.Keys
)

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
		if k != nil && bytes.Equal(k.DCID, h.DCID) {
			return k, nil
		}
	}
	k, err := quicinitial.NewClientKeys(h.Version, h.DCID)
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
// CRYPTO data to the stream. It returns quicinitial.ErrUndecryptable when the packet is
// not a client Initial of this connection, and an error for malformed
// frames in a packet that did decrypt (the CRYPTO frames before the
// malformed one are kept).
func (c *quicConn) initial(pkt []byte, h longHeader) error {
	k, err := c.keysFor(h)
	if err != nil {
		return err
	}
	plain, err := quicinitial.Open(k, pkt, h, &c.scratch)
	if err != nil && c.keys[0] != nil && c.keys[0] != k {
		// A packet whose destination connection ID changed may still be
		// protected with the keys of the first one; try those.
		plain, err = quicinitial.Open(c.keys[0], pkt, h, &c.scratch)
	}
	if err != nil {
		return err
	}
	c.decrypted = true
	return quicinitial.CryptoFrames(plain, func(off uint64, data []byte) {
		if off > uint64(c.crypto.max) {
			c.crypto.clipped = true
			return
		}
		c.crypto.add(int64(off), data)
	})
}
