package inspect

import (
	"net/netip"
	"sort"
)

// maxDatagramBytes is the largest IP payload a reassembled datagram may
// have (the IPv4 total length and IPv6 payload length are 16 bits).
const maxDatagramBytes = 65535

// maxFragments bounds the fragments kept for one datagram.
const maxFragments = 128

// fragKey identifies the fragments of one IP datagram (RFC 791, RFC 8200).
type fragKey struct {
	src, dst netip.Addr
	id       uint32
	proto    uint8
	v6       bool
}

type fragment struct {
	off int
	b   []byte
}

type fragDatagram struct {
	frags []fragment
	held  int
	total int // payload length, -1 until the last fragment arrives
}

// defragmenter reassembles IPv4 and IPv6 fragments. It keeps at most max
// datagrams in progress (the oldest is dropped for a new one) and at most
// maxDatagramBytes (twice over, to allow for overlaps) per datagram; where
// fragments overlap, the one at the lower offset wins.
type defragmenter struct {
	max   int
	dgs   map[fragKey]*fragDatagram
	order []fragKey // keys in arrival order, oldest first; may hold stale keys
}

func newDefragmenter(max int) *defragmenter {
	return &defragmenter{max: max, dgs: make(map[fragKey]*fragDatagram)}
}

// add stores one fragment (payload b at byte offset off; more is the
// More Fragments flag) and returns the reassembled payload once the
// datagram is complete, nil until then.
func (d *defragmenter) add(k fragKey, off int, more bool, b []byte) []byte {
	end := off + len(b)
	if end > maxDatagramBytes || (more && len(b) == 0) {
		d.forget(k)
		return nil
	}
	dg := d.dgs[k]
	if dg == nil {
		for len(d.dgs) >= d.max && len(d.order) > 0 {
			d.forget(d.order[0])
		}
		dg = &fragDatagram{total: -1}
		d.dgs[k] = dg
		d.order = append(d.order, k)
	}
	if !more {
		if dg.total >= 0 && dg.total != end {
			d.forget(k) // two different ends: give up on it
			return nil
		}
		dg.total = end
	}
	if len(dg.frags) >= maxFragments || dg.held+len(b) > 2*maxDatagramBytes {
		d.forget(k)
		return nil
	}
	dg.frags = append(dg.frags, fragment{off: off, b: append([]byte(nil), b...)})
	dg.held += len(b)
	if dg.total < 0 {
		return nil
	}
	sort.SliceStable(dg.frags, func(i, j int) bool { return dg.frags[i].off < dg.frags[j].off })
	covered := 0
	for _, f := range dg.frags {
		if f.off > covered {
			return nil // a hole
		}
		if e := f.off + len(f.b); e > covered {
			covered = e
		}
	}
	if covered < dg.total {
		return nil
	}
	out := make([]byte, dg.total)
	filled := 0
	for _, f := range dg.frags {
		if f.off >= dg.total {
			break
		}
		// Sorted and hole-free: f.off <= filled here.
		if e := min(f.off+len(f.b), dg.total); e > filled {
			copy(out[filled:e], f.b[filled-f.off:])
			filled = e
		}
	}
	d.forget(k)
	return out
}

// forget drops a datagram and compacts the arrival order when it is
// mostly stale.
func (d *defragmenter) forget(k fragKey) {
	delete(d.dgs, k)
	if len(d.order) > 0 && d.order[0] == k {
		d.order = d.order[1:]
	}
	if len(d.order) > 2*d.max+16 {
		live := d.order[:0:0]
		for _, o := range d.order {
			if _, ok := d.dgs[o]; ok {
				live = append(live, o)
			}
		}
		d.order = live
	}
}
