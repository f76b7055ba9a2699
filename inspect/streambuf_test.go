package inspect

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestStreamBufRandom reassembles random streams from random, overlapping,
// repeated pieces delivered in random order.
func TestStreamBufRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 2000 {
		n := 1 + rng.IntN(3000)
		want := make([]byte, n)
		for i := range want {
			want[i] = byte(rng.Uint32())
		}
		type span struct{ off, end int }
		var spans []span
		for off := 0; off < n; {
			end := min(n, off+1+rng.IntN(400))
			spans = append(spans, span{off, end})
			// An overlapping or repeated piece now and then.
			if rng.IntN(4) == 0 {
				o := max(0, off-rng.IntN(50))
				spans = append(spans, span{o, min(n, end+rng.IntN(50))})
			}
			off = end
		}
		rng.Shuffle(len(spans), func(i, j int) { spans[i], spans[j] = spans[j], spans[i] })
		sb := streamBuf{max: 1 << 20}
		for _, s := range spans {
			sb.add(int64(s.off), want[s.off:s.end])
		}
		if !bytes.Equal(sb.data, want) || len(sb.pending) != 0 || sb.held != 0 || sb.clipped {
			t.Fatalf("iteration %d: got %d bytes (pending %d, held %d), want %d", iter, len(sb.data), len(sb.pending), sb.held, n)
		}
	}
}

func TestStreamBufBounds(t *testing.T) {
	sb := streamBuf{max: 10}
	sb.add(-3, []byte("xyzab")) // bytes before offset 0 are dropped
	if string(sb.data) != "ab" {
		t.Fatalf("data %q", sb.data)
	}
	sb.add(5, []byte("0123456789"))
	if !sb.clipped || sb.held != 5 {
		t.Fatalf("clipped %v held %d", sb.clipped, sb.held)
	}
	sb.add(2, []byte("cde"))
	if string(sb.data) != "abcde01234" || sb.held != 0 || sb.gapAt() != -1 {
		t.Fatalf("data %q held %d", sb.data, sb.held)
	}
	if sb.add(10, []byte("more")) || len(sb.data) != 10 {
		t.Fatal("grew past max")
	}

	// Bytes in the contiguous prefix are never replaced; a piece that
	// extends the prefix wins over pending pieces it overlaps.
	sb = streamBuf{max: 100}
	sb.add(2, []byte("CD"))
	sb.add(0, []byte("abcdef"))
	sb.add(0, []byte("ABCDEFGH"))
	if string(sb.data) != "abcdefGH" {
		t.Fatalf("data %q", sb.data)
	}

	// At most maxPieces out-of-order pieces are kept.
	sb = streamBuf{max: 1 << 20}
	for i := range maxPieces + 10 {
		sb.add(int64(2+2*i), []byte{1})
	}
	if len(sb.pending) != maxPieces || sb.gapAt() != 0 {
		t.Fatalf("pending %d", len(sb.pending))
	}
	// Overlapping pieces cannot hold more than max bytes pending.
	sb = streamBuf{max: 1000}
	for i := range 100 {
		sb.add(int64(1+i), make([]byte, 900))
	}
	if sb.held > sb.max || len(sb.pending) != 1 {
		t.Fatalf("held %d in %d pieces", sb.held, len(sb.pending))
	}
	sb.reset()
	if sb.size() != 0 || sb.max != 1000 {
		t.Fatal("reset")
	}
}

func TestDefragmenter(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	src, dst := netip.MustParseAddr("10.1.1.1"), netip.MustParseAddr("10.1.1.2")
	d := newDefragmenter(4)
	for iter := range 500 {
		n := 801 + rng.IntN(6000) // more than one fragment (a lone one is no fragment)
		want := make([]byte, n)
		for i := range want {
			want[i] = byte(rng.Uint32())
		}
		type frag struct{ off, end int }
		var fs []frag
		for off := 0; off < n; {
			end := min(n, off+8*(1+rng.IntN(100)))
			fs = append(fs, frag{off, end})
			off = end
		}
		if rng.IntN(3) == 0 {
			fs = append(fs, fs[rng.IntN(len(fs))]) // a duplicate
		}
		rng.Shuffle(len(fs), func(i, j int) { fs[i], fs[j] = fs[j], fs[i] })
		k := fragKey{src: src, dst: dst, id: uint32(iter), proto: protoTCP}
		uniq := map[frag]bool{}
		for _, f := range fs {
			uniq[f] = true
		}
		seen := map[frag]bool{}
		var got []byte
		for i, f := range fs {
			seen[f] = true
			out := d.add(k, f.off, f.end != n, want[f.off:f.end])
			// Complete exactly when the last missing fragment arrives.
			if complete := len(seen) == len(uniq) && got == nil; (out != nil) != complete {
				t.Fatalf("iteration %d: fragment %d of %d: output %v, complete %v", iter, i, len(fs), out != nil, complete)
			}
			if out != nil {
				got = out
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("iteration %d: got %d bytes, want %d", iter, len(got), n)
		}
	}
	if len(d.dgs) > 4 {
		t.Errorf("%d datagrams kept, max 4", len(d.dgs))
	}

	// Beyond max datagrams in progress, the oldest is dropped.
	d = newDefragmenter(2)
	for id := range 3 {
		d.add(fragKey{src: src, dst: dst, id: uint32(id)}, 0, true, make([]byte, 8))
	}
	if _, ok := d.dgs[fragKey{src: src, dst: dst, id: 0}]; ok || len(d.dgs) != 2 {
		t.Errorf("datagrams %d, oldest kept: %v", len(d.dgs), ok)
	}
	// A fragment reaching past 65535 bytes kills its datagram.
	if d.add(fragKey{src: src, dst: dst, id: 1}, 65528, false, make([]byte, 16)) != nil || len(d.dgs) != 1 {
		t.Error("oversized datagram accepted")
	}
	// Two different ends: given up.
	k := fragKey{src: src, dst: dst, id: 9}
	d.add(k, 8, false, make([]byte, 8))
	if d.add(k, 16, false, make([]byte, 8)) != nil {
		t.Error("inconsistent ends accepted")
	}
	if _, ok := d.dgs[k]; ok {
		t.Error("inconsistent datagram kept")
	}
}
