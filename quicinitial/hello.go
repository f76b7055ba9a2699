package quicinitial

import (
	"errors"
	"fmt"
)

// maxSpans bounds the separate byte ranges a Hello holds; a piece that
// would need more is dropped (the client retransmits what the server does
// not acknowledge, so an honest client is not affected).
const maxSpans = 32

// Hello reassembles the first Max bytes of a client's Initial CRYPTO
// stream from frames that arrive at any offset, in any order, repeated or
// overlapping (bytes already held are never replaced), and reports the
// ClientHello handshake message once it is complete. Its memory is at most
// Max bytes plus maxSpans ranges. The zero value is not usable: see NewHello.
type Hello struct {
	max   int
	buf   []byte
	spans []span // sorted, disjoint, not touching
	// Clipped is set once a frame reached past max.
	Clipped bool
}

type span struct{ start, end int }

// NewHello returns a reassembly buffer for the first max bytes.
func NewHello(max int) *Hello { return &Hello{max: max} }

// Size is the memory the buffer holds, in bytes.
func (r *Hello) Size() int { return cap(r.buf) }

// Add inserts data at CRYPTO stream offset off. data is copied.
func (r *Hello) Add(off uint64, data []byte) {
	if len(data) == 0 {
		return
	}
	if off >= uint64(r.max) {
		r.Clipped = true
		return
	}
	start := int(off)
	end := start + len(data)
	if end > r.max || end < start {
		end = r.max
		r.Clipped = true
		data = data[:end-start]
	}
	// Find the spans the piece touches or overlaps.
	i := 0
	for i < len(r.spans) && r.spans[i].end < start {
		i++
	}
	j := i
	for j < len(r.spans) && r.spans[j].start <= end {
		j++
	}
	if j == i && len(r.spans) >= maxSpans {
		return // a new separate range beyond the bound
	}
	if end > len(r.buf) {
		if end > cap(r.buf) {
			nb := make([]byte, end, max(end, min(2*cap(r.buf), r.max)))
			copy(nb, r.buf)
			r.buf = nb
		} else {
			r.buf = r.buf[:end]
		}
	}
	// Copy into the gaps between the touched spans only.
	at := start
	for k := i; k < j && at < end; k++ {
		s := r.spans[k]
		if s.start > at {
			copy(r.buf[at:min(s.start, end)], data[at-start:])
		}
		at = max(at, s.end)
	}
	if at < end {
		copy(r.buf[at:end], data[at-start:])
	}
	merged := span{start, end}
	if j > i {
		merged.start = min(merged.start, r.spans[i].start)
		merged.end = max(merged.end, r.spans[j-1].end)
	}
	r.spans = append(r.spans[:i], append([]span{merged}, r.spans[j:]...)...)
}

// Prefix returns the bytes contiguous from offset 0.
func (r *Hello) Prefix() []byte {
	if len(r.spans) == 0 || r.spans[0].start != 0 {
		return nil
	}
	return r.buf[:r.spans[0].end]
}

// Gap returns the offset of the first missing byte when later bytes are
// held, or -1.
func (r *Hello) Gap() int {
	switch {
	case len(r.spans) == 0:
		return -1
	case r.spans[0].start != 0:
		return 0
	case len(r.spans) > 1:
		return r.spans[0].end
	}
	return -1
}

// ErrNotClientHello: the CRYPTO stream does not start with a ClientHello
// handshake message.
var ErrNotClientHello = errors.New("CRYPTO stream does not start with a ClientHello")

// Message returns the complete ClientHello handshake message (type 1,
// 3-byte length, body) from the start of the stream. It returns nil and no
// error while bytes are missing, and an error when the stream cannot hold
// a ClientHello of at most max bytes.
func (r *Hello) Message() ([]byte, error) {
	b := r.Prefix()
	if len(b) == 0 {
		return nil, nil
	}
	if b[0] != 0x01 {
		return nil, fmt.Errorf("%w: handshake message type %d", ErrNotClientHello, b[0])
	}
	if len(b) < 4 {
		return nil, nil
	}
	need := 4 + (int(b[1])<<16 | int(b[2])<<8 | int(b[3]))
	if need > r.max {
		return nil, fmt.Errorf("quicinitial: ClientHello of %d bytes exceeds the %d-byte limit", need, r.max)
	}
	if len(b) < need {
		return nil, nil
	}
	return b[:need], nil
}
