package quicinitial

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestSealOpen: sealed packets of both versions open to the same frames;
// a flipped bit anywhere after the header fails the AEAD.
func TestSealOpen(t *testing.T) {
	dcid := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	for _, v := range []uint32{V1, V2} {
		frames := CryptoFrame(0, []byte{1, 0, 0, 2, 3, 3})
		pkt, err := SealClient(v, dcid, []byte{9}, []byte("tok"), 7, frames, 1200)
		if err != nil {
			t.Fatal(err)
		}
		h, need, err := ParseLongHeader(pkt)
		if err != nil || need != len(pkt) || h.Type != TypeInitial || string(h.Token) != "tok" || !bytes.Equal(h.DCID, dcid) {
			t.Fatalf("v%x header %+v need %d err %v", v, h, need, err)
		}
		k, _ := NewClientKeys(v, dcid)
		var scratch []byte
		plain, err := Open(k, pkt, h, &scratch)
		if err != nil || !bytes.HasPrefix(plain, frames) {
			t.Fatalf("v%x open: %v", v, err)
		}
		bad := append([]byte(nil), pkt...)
		bad[len(bad)-3] ^= 1
		if _, err := Open(k, bad, h, &scratch); err != ErrUndecryptable {
			t.Errorf("v%x corrupted packet: %v", v, err)
		}
	}
}

// TestHelloReassembly: a message delivered in shuffled, overlapping,
// repeated pieces comes out whole; bytes held first win.
func TestHelloReassembly(t *testing.T) {
	msg := make([]byte, 1800)
	msg[0], msg[1], msg[2], msg[3] = 1, 0, 0x07, 0x04 // 4 + 1796
	for i := 4; i < len(msg); i++ {
		msg[i] = byte(i)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		h := NewHello(4096)
		type piece struct{ off, end int }
		var ps []piece
		for off := 0; off < len(msg); {
			end := min(len(msg), off+1+r.IntN(400))
			ps = append(ps, piece{max(0, off-r.IntN(50)), end})
			off = end
		}
		ps = append(ps, ps[r.IntN(len(ps))])
		r.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
		for _, p := range ps {
			if _, err := h.Message(); err != nil {
				t.Fatal(err)
			}
			h.Add(uint64(p.off), msg[p.off:p.end])
		}
		m, err := h.Message()
		if err != nil || !bytes.Equal(m, msg) {
			t.Fatalf("round %d: %d bytes, err %v", round, len(m), err)
		}
		if h.Gap() != -1 || h.Size() > 4096 {
			t.Fatalf("gap %d size %d", h.Gap(), h.Size())
		}
	}
	// Bytes already held are not replaced by an overlapping piece.
	h := NewHello(100)
	h.Add(0, []byte{1, 0, 0, 2})
	h.Add(2, []byte{9, 9, 7, 8})
	if m, _ := h.Message(); !bytes.Equal(m, []byte{1, 0, 0, 2, 7, 8}) {
		t.Errorf("overlap: %x", m)
	}
}

// TestHelloBounds: pieces past Max are clipped, too many separate ranges
// are dropped, a message longer than Max and a non-hello are errors.
func TestHelloBounds(t *testing.T) {
	h := NewHello(64)
	h.Add(1<<62, []byte{1})
	h.Add(60, make([]byte, 10))
	if !h.Clipped || h.Size() > 64 {
		t.Errorf("clipped %v size %d", h.Clipped, h.Size())
	}
	h = NewHello(1 << 16)
	for i := 0; i < 100; i++ {
		h.Add(uint64(10+4*i), []byte{1})
	}
	if len(h.spans) > maxSpans {
		t.Errorf("%d spans", len(h.spans))
	}
	h = NewHello(64)
	h.Add(0, []byte{1, 0, 1, 0})
	if _, err := h.Message(); err == nil {
		t.Error("a 260-byte hello fits a 64-byte buffer")
	}
	h = NewHello(64)
	h.Add(0, []byte{2, 0, 0, 0})
	if _, err := h.Message(); err == nil {
		t.Error("a ServerHello accepted")
	}
}

// FuzzInitial: any datagram through header parsing, decryption with the
// keys of its own connection ID, the frame walk and reassembly; nothing
// panics and nothing outgrows the input.
func FuzzInitial(f *testing.F) {
	dcid := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	pkt, _ := SealClient(V1, dcid, nil, nil, 0, CryptoFrame(0, []byte{1, 0, 0, 1, 3}), 1200)
	f.Add(pkt)
	f.Add(append(append([]byte(nil), pkt...), pkt...))
	pkt2, _ := SealClient(V2, dcid[:4], []byte{7}, []byte{1, 2}, 9, append([]byte{0x02, 0, 0, 0, 0, 0x01}, CryptoFrame(5, []byte{1, 2})...), 0)
	f.Add(pkt2)
	f.Add([]byte{0xc0, 0, 0, 0, 1, 20})
	f.Fuzz(func(t *testing.T, b []byte) {
		h := NewHello(4096)
		var scratch []byte
		for len(b) > 0 {
			lh, need, err := ParseLongHeader(b)
			if err != nil || need > len(b) || need <= 0 {
				return
			}
			if lh.End > len(b) || lh.PNOffset > lh.End && lh.Type != TypeRetry {
				t.Fatalf("header %+v beyond %d bytes", lh, len(b))
			}
			if lh.Type == TypeInitial {
				k, err := NewClientKeys(lh.Version, lh.DCID)
				if err != nil {
					t.Fatal(err)
				}
				if plain, err := Open(k, b[:lh.End], lh, &scratch); err == nil {
					total := 0
					_ = CryptoFrames(plain, func(off uint64, d []byte) { total += len(d); h.Add(off, d) })
					if total > len(plain) {
						t.Fatalf("%d CRYPTO bytes from %d", total, len(plain))
					}
					_, _ = h.Message()
				}
			}
			if lh.Type == TypeRetry {
				return
			}
			b = b[lh.End:]
		}
		if h.Size() > 4096 {
			t.Fatalf("buffer of %d bytes", h.Size())
		}
	})
}
