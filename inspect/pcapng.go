package inspect

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"time"
)

// pcapng block types (draft-ietf-opsawg-pcapng).
const (
	ngSectionHeader  = 0x0a0d0d0a
	ngInterface      = 0x00000001
	ngPacketObsolete = 0x00000002
	ngSimplePacket   = 0x00000003
	ngEnhancedPacket = 0x00000006
	ngByteOrderMagic = 0x1a2b3c4d
)

// pcapng interface options used here.
const (
	ngOptEnd      = 0
	ngOptTSResol  = 9
	ngOptTSOffset = 14
)

// ngIface is what matters of an Interface Description Block.
type ngIface struct {
	link    uint32
	snaplen uint32
	// unitsPerSec is the timestamp resolution; 0 when it cannot be
	// represented (timestamps are then left zero).
	unitsPerSec uint64
	tsOffset    int64 // seconds added to every timestamp
}

// ngSource reads pcapng files. gopacket's pcapgo.NgReader is not used: in
// v1.1.19 it allocates a packet buffer of whatever size a block claims
// (up to 4 GiB) and divides by zero on an if_tsresol of 2^-64 or 10^-20 and
// beyond, so a crafted file can exhaust memory or panic it. This reader
// holds at most one block of bounded size and skips what it does not need.
type ngSource struct {
	s      *session
	r      *bufio.Reader
	off    int64 // file offset of the next block
	order  binary.ByteOrder
	ifaces []ngIface
	body   []byte // reused block body buffer
	max    int    // largest block body read into memory
}

func (s *session) pcapng(br *bufio.Reader) error {
	src := &ngSource{s: s, r: br, max: s.in.opts.MaxPacketBytes + 64<<10}
	return s.capture(src)
}

// damaged builds the error for a block at offset at.
func (n *ngSource) damaged(at int64, format string, args ...any) *Error {
	return &Error{Source: n.s.name, Offset: at, Err: fmt.Errorf("pcapng block: "+format, args...)}
}

// next returns the next packet of the capture.
func (n *ngSource) next() (capPacket, *Error, error) {
	for {
		at := n.off
		var hdr [12]byte
		if _, err := io.ReadFull(n.r, hdr[:8]); err != nil {
			if errors.Is(err, io.EOF) {
				return capPacket{}, nil, io.EOF
			}
			return capPacket{}, nil, &Error{Source: n.s.name, Offset: at, Err: errCaptureTruncated}
		}
		typ := binary.LittleEndian.Uint32(hdr[:4]) // the SHB magic reads the same both ways
		if typ == ngSectionHeader {
			if _, err := io.ReadFull(n.r, hdr[8:12]); err != nil {
				return capPacket{}, nil, &Error{Source: n.s.name, Offset: at, Err: errCaptureTruncated}
			}
			switch binary.LittleEndian.Uint32(hdr[8:12]) {
			case ngByteOrderMagic:
				n.order = binary.LittleEndian
			case bits.ReverseBytes32(ngByteOrderMagic):
				n.order = binary.BigEndian
			default:
				return capPacket{}, nil, n.damaged(at, "section header with an unknown byte-order magic")
			}
			n.ifaces = n.ifaces[:0]
		} else if n.order == nil {
			return capPacket{}, nil, n.damaged(at, "file does not start with a section header")
		} else {
			typ = n.order.Uint32(hdr[:4])
		}
		total := int64(n.order.Uint32(hdr[4:8]))
		if total < 12 || (typ == ngSectionHeader && total < 28) {
			return capPacket{}, nil, n.damaged(at, "block length %d is too small", total)
		}
		consumed := int64(8)
		if typ == ngSectionHeader {
			consumed = 12
		}
		n.off += total
		bodyLen := total - consumed - 4 // the block ends with its length again
		if bodyLen > int64(n.max) {
			// Too big to be a packet we can use: skip it unread.
			if _, err := io.CopyN(io.Discard, n.r, bodyLen+4); err != nil {
				return capPacket{}, nil, &Error{Source: n.s.name, Offset: at, Err: errCaptureTruncated}
			}
			if typ == ngEnhancedPacket || typ == ngSimplePacket || typ == ngPacketObsolete {
				return capPacket{}, n.damaged(at, "packet block of %d bytes exceeds the %d-byte limit; skipped", total, n.max), nil
			}
			continue
		}
		if cap(n.body) < int(bodyLen)+4 {
			n.body = make([]byte, int(bodyLen)+4)
		}
		body := n.body[:bodyLen+4]
		if _, err := io.ReadFull(n.r, body); err != nil {
			return capPacket{}, nil, &Error{Source: n.s.name, Offset: at, Err: errCaptureTruncated}
		}
		if trailer := int64(n.order.Uint32(body[bodyLen:])); trailer != total {
			return capPacket{}, nil, n.damaged(at, "trailing block length %d differs from leading %d", trailer, total)
		}
		body = body[:bodyLen]
		switch typ {
		case ngSectionHeader:
			if len(body) < 12 {
				return capPacket{}, nil, n.damaged(at, "section header too short")
			}
			if major := n.order.Uint16(body[0:2]); major != 1 {
				return capPacket{}, nil, n.damaged(at, "unsupported pcapng major version %d", major)
			}
		case ngInterface:
			if len(body) < 8 {
				return capPacket{}, nil, n.damaged(at, "interface description too short")
			}
			n.ifaces = append(n.ifaces, n.parseIface(body))
		case ngEnhancedPacket, ngPacketObsolete:
			if len(body) < 20 {
				return capPacket{}, n.damaged(at, "packet block too short; skipped"), nil
			}
			var idx int
			if typ == ngEnhancedPacket {
				idx = int(n.order.Uint32(body[0:4]))
			} else {
				idx = int(n.order.Uint16(body[0:2]))
			}
			caplen := int64(n.order.Uint32(body[12:16]))
			if caplen > int64(len(body)-20) {
				return capPacket{}, n.damaged(at, "captured length %d exceeds the block; skipped", caplen), nil
			}
			if idx >= len(n.ifaces) {
				return capPacket{}, n.damaged(at, "packet for undeclared interface %d; skipped", idx), nil
			}
			ifc := n.ifaces[idx]
			ts := uint64(n.order.Uint32(body[4:8]))<<32 | uint64(n.order.Uint32(body[8:12]))
			return capPacket{data: body[20 : 20+caplen], ts: ifc.time(ts), link: ifc.link}, nil, nil
		case ngSimplePacket:
			if len(n.ifaces) == 0 {
				return capPacket{}, n.damaged(at, "simple packet block before any interface; skipped"), nil
			}
			if len(body) < 4 {
				return capPacket{}, n.damaged(at, "simple packet block too short; skipped"), nil
			}
			ifc := n.ifaces[0]
			caplen := int64(n.order.Uint32(body[0:4]))
			if caplen > int64(len(body)-4) {
				caplen = int64(len(body) - 4)
			}
			if ifc.snaplen > 0 && caplen > int64(ifc.snaplen) {
				caplen = int64(ifc.snaplen)
			}
			return capPacket{data: body[4 : 4+caplen], link: ifc.link}, nil, nil
		}
	}
}

// parseIface decodes an Interface Description Block body.
func (n *ngSource) parseIface(body []byte) ngIface {
	ifc := ngIface{
		link:        uint32(n.order.Uint16(body[0:2])),
		snaplen:     n.order.Uint32(body[4:8]),
		unitsPerSec: 1_000_000,
	}
	opts := body[8:]
	for len(opts) >= 4 {
		code := n.order.Uint16(opts[0:2])
		l := int(n.order.Uint16(opts[2:4]))
		if code == ngOptEnd || 4+l > len(opts) {
			break
		}
		v := opts[4 : 4+l]
		switch {
		case code == ngOptTSResol && l >= 1:
			ifc.unitsPerSec = tsUnits(v[0])
		case code == ngOptTSOffset && l >= 8:
			ifc.tsOffset = int64(n.order.Uint64(v[:8]))
		}
		adv := 4 + (l+3)&^3
		if adv > len(opts) {
			break
		}
		opts = opts[adv:]
	}
	return ifc
}

// tsUnits decodes if_tsresol: 10^-r seconds, or 2^-r when the top bit is
// set. It returns 0 when the resolution does not fit in 64 bits.
func tsUnits(r byte) uint64 {
	if r&0x80 != 0 {
		if e := r & 0x7f; e < 64 {
			return 1 << e
		}
		return 0
	}
	if r > 19 {
		return 0
	}
	u := uint64(1)
	for range r {
		u *= 10
	}
	return u
}

// time converts a raw timestamp of this interface.
func (ifc ngIface) time(ts uint64) time.Time {
	if ifc.unitsPerSec == 0 {
		return time.Time{}
	}
	sec := ts / ifc.unitsPerSec
	frac := ts % ifc.unitsPerSec
	hi, lo := bits.Mul64(frac, 1e9)
	nsec, _ := bits.Div64(hi, lo, ifc.unitsPerSec) // hi < unitsPerSec since frac < unitsPerSec
	return time.Unix(int64(sec)+ifc.tsOffset, int64(nsec)).UTC()
}
