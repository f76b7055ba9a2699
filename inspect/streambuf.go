package inspect

import "sort"

// maxPieces bounds the out-of-order pieces one streamBuf holds; more are
// dropped (a sender retransmits what was lost, a capture does not, so a
// stream that needs more simply never completes).
const maxPieces = 1024

// streamBuf reassembles the first max bytes of a byte stream from pieces
// that arrive at arbitrary offsets, in any order, possibly overlapping or
// repeated. Bytes before max that are contiguous from offset 0 are in data;
// the rest wait in pending. Where pieces overlap, bytes already in data are
// never replaced, and a piece that extends data wins over the pending
// pieces it overlaps.
type streamBuf struct {
	data    []byte
	pending []piece // sorted by off; every off > len(data)
	held    int     // bytes in pending
	max     int
	// clipped is set once a piece reached past max: the stream is longer
	// than the buffer will ever hold.
	clipped bool
}

type piece struct {
	off int
	b   []byte
}

// size is the memory the buffer accounts for.
func (s *streamBuf) size() int { return len(s.data) + s.held }

// reset releases the buffered bytes, keeping max.
func (s *streamBuf) reset() { *s = streamBuf{max: s.max} }

// add inserts b at stream offset off (negative offsets are trimmed) and
// reports whether the contiguous prefix grew. b is copied.
func (s *streamBuf) add(off int64, b []byte) bool {
	if off < 0 {
		if int64(len(b)) <= -off {
			return false
		}
		b = b[-off:]
		off = 0
	}
	if off >= int64(s.max) {
		if len(b) > 0 {
			s.clipped = true
		}
		return false
	}
	if end := off + int64(len(b)); end > int64(s.max) {
		b = b[:int64(s.max)-off]
		s.clipped = true
	}
	o := int(off)
	have := len(s.data)
	if o > have {
		s.stash(o, b)
		return false
	}
	if o+len(b) <= have {
		return false // old or duplicate data
	}
	s.data = append(s.data, b[have-o:]...)
	s.drain()
	return true
}

// stash keeps an out-of-order piece, skipping pieces already pending. The
// pending bytes are capped at max, so that overlapping pieces cannot make
// a buffer hold more than twice max.
func (s *streamBuf) stash(o int, b []byte) {
	if len(b) == 0 || len(s.pending) >= maxPieces || s.held+len(b) > s.max {
		return
	}
	i := sort.Search(len(s.pending), func(i int) bool { return s.pending[i].off >= o })
	// Drop the piece when an existing piece at the same or an earlier
	// offset already covers it entirely.
	if i > 0 {
		if p := s.pending[i-1]; p.off+len(p.b) >= o+len(b) {
			return
		}
	}
	if i < len(s.pending) {
		if p := s.pending[i]; p.off == o && len(p.b) >= len(b) {
			return
		}
	}
	c := append([]byte(nil), b...)
	s.pending = append(s.pending, piece{})
	copy(s.pending[i+1:], s.pending[i:])
	s.pending[i] = piece{off: o, b: c}
	s.held += len(c)
}

// drain moves pending pieces that now touch the contiguous prefix into it.
func (s *streamBuf) drain() {
	n := 0
	for _, p := range s.pending {
		have := len(s.data)
		if p.off > have {
			break
		}
		if end := p.off + len(p.b); end > have {
			s.data = append(s.data, p.b[have-p.off:]...)
		}
		s.held -= len(p.b)
		n++
	}
	if n > 0 {
		rest := copy(s.pending, s.pending[n:])
		clear(s.pending[rest:])
		s.pending = s.pending[:rest]
	}
}

// gapAt returns the stream offset of the first missing byte when pieces
// wait beyond it, or -1 when nothing is pending.
func (s *streamBuf) gapAt() int {
	if len(s.pending) == 0 {
		return -1
	}
	return len(s.data)
}
