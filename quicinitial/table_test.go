package quicinitial

import (
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/fingerprint"
)

// goQUICHello is quicinitial.GoClientHello, failing t on error.
func goQUICHello(t testing.TB, scid []byte, pq bool) []byte {
	t.Helper()
	h, err := GoClientHello(scid, pq)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func seal(t testing.TB, dcid []byte, pn uint32, frames []byte, minLen int) []byte {
	t.Helper()
	p, err := SealClient(V1, dcid, []byte{0xcc}, nil, pn, frames, minLen)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestHelloTableHostile: malformed, short, wrongly sized, undecryptable
// and coalesced Initials; a hello continued under the server's connection
// ID; a CRYPTO stream that is not a ClientHello.
func TestHelloTableHostile(t *testing.T) {
	hello := goQUICHello(t, []byte{1}, true)
	if len(hello) < 1300 {
		t.Fatalf("post-quantum hello of %d bytes fits one Initial", len(hello))
	}
	tb := NewTable(Limits{})
	addr := netip.MustParseAddrPort("192.0.2.1:4000")
	dcidA, dcidB := []byte{0xa, 1, 2, 3, 4, 5, 6, 7}, []byte{0xb, 1, 2, 3}

	// Too short to be a client Initial: not even looked at.
	tb.Datagram(seal(t, dcidA, 0, CryptoFrame(0, hello[:100]), 0), addr)
	// A length field running past the datagram.
	bad := seal(t, dcidA, 0, CryptoFrame(0, hello[:600]), 1200)
	tb.Datagram(bad[:1100+0*len(bad)], addr)
	long := append(append([]byte(nil), bad...), make([]byte, 300)...)
	long[len(bad)] = 0xc0 // a second "packet" of garbage with a long header bit
	tb.Datagram(long, addr)
	// Garbage after a valid header: undecryptable.
	garbage := append([]byte(nil), bad...)
	for i := 40; i < len(garbage); i++ {
		garbage[i] ^= 0x5a
	}
	tb.Datagram(garbage, netip.MustParseAddrPort("192.0.2.9:1"))
	st := tb.Stats()
	if st.Initials == 0 || st.Malformed == 0 || st.Undecryptable == 0 {
		t.Errorf("stats after malformed input %+v", st)
	}
	if tb.Len() != 1 { // the first 600 bytes of A's hello, from the valid packet in `long`
		t.Errorf("%d entries", tb.Len())
	}

	// Coalesced: the rest of A's hello in two packets sent to the server's
	// connection ID (keys still A's), then a packet with another connection
	// ID (B's whole hello), which RFC 9000 §12.2 says to ignore.
	keysA, err := NewClientKeys(V1, dcidA)
	if err != nil {
		t.Fatal(err)
	}
	srvCID := []byte{0x5e, 0x5e}
	restA1 := SealClientWith(keysA, V1, srvCID, []byte{0xcc}, nil, 1, CryptoFrame(600, hello[600:1000]), 0)
	restA2 := SealClientWith(keysA, V1, srvCID, []byte{0xcc}, nil, 2, CryptoFrame(1000, hello[1000:]), 0)
	helloB := goQUICHello(t, []byte{2}, false)
	b := seal(t, dcidB, 0, CryptoFrame(0, helloB), 0)
	dg := append(append(append([]byte(nil), restA1...), restA2...), b...)
	for len(dg) < 1200 {
		dg = append(dg, 0) // padding after the packets, as clients pad datagrams
	}
	tb.Datagram(dg, addr)
	qa, ok := tb.Take(addr, dcidA)
	if !ok || qa.Err != nil || string(qa.Raw) != string(hello) || qa.Packets != 3 {
		t.Fatalf("hello A: ok %v %+v", ok, qa)
	}
	if _, ok := tb.Take(addr, dcidB); ok {
		t.Error("a packet coalesced with another connection ID was read")
	}
	// B's hello in a datagram of its own is read.
	tb.Datagram(seal(t, dcidB, 0, CryptoFrame(0, helloB), 1200), addr)
	qb, ok := tb.Take(addr, dcidB)
	if !ok || qb.Err != nil || string(qb.Raw) != string(helloB) {
		t.Fatalf("hello B: ok %v %+v", ok, qb)
	}
	if _, ok := tb.Take(addr, dcidB); ok {
		t.Error("a hello taken twice")
	}
	// Oversized datagrams are not read.
	before := tb.Stats().Initials
	tb.Datagram(make([]byte, MaxDatagram+1), addr)
	if tb.Stats().Initials != before {
		t.Error("an oversized datagram was read")
	}

	// A bad frame after a CRYPTO frame: the CRYPTO data is kept.
	c := netip.MustParseAddrPort("192.0.2.3:5")
	f := append(CryptoFrame(0, helloB), 0x08, 0x00)
	tb.Datagram(seal(t, dcidA, 0, f, 1200), c)
	if q, ok := tb.Take(c, dcidA); !ok || q.Hello == nil {
		t.Errorf("hello before a bad frame: %v %+v", ok, q)
	}
	// A CRYPTO stream that is not a ClientHello.
	tb.Datagram(seal(t, dcidA, 0, CryptoFrame(0, []byte{2, 0, 0, 1, 0}), 1200), c)
	if q, ok := tb.Take(c, dcidA); !ok || q.Err == nil || q.Hello != nil {
		t.Errorf("ServerHello in CRYPTO: %v %+v", ok, q)
	}
}

// TestHelloTableFlood: Initials from many source ports, each with the
// first part of a hello that never completes, and many connection IDs from
// one port: the table stays within its bounds, evicting the oldest, and a
// real hello still completes.
func TestHelloTableFlood(t *testing.T) {
	hello := goQUICHello(t, []byte{1}, true)
	lim := Limits{MaxPending: 64, MaxHelloBytes: 4096}
	tb := NewTable(lim)
	first := seal(t, []byte{1, 2, 3, 4, 5, 6, 7, 8}, 0, CryptoFrame(0, hello[:1000]), 1200)
	for port := 1; port <= 20000; port++ {
		tb.Datagram(first, netip.AddrPortFrom(netip.MustParseAddr("198.51.100.7"), uint16(port)))
		if tb.Len() > lim.MaxPending || tb.Bytes() > lim.MaxPending*lim.MaxHelloBytes {
			t.Fatalf("after %d ports: %d entries, %d bytes", port, tb.Len(), tb.Bytes())
		}
	}
	if st := tb.Stats(); st.Evicted < 20000-64 {
		t.Errorf("evicted %d", st.Evicted)
	}
	one := netip.MustParseAddrPort("198.51.100.8:9")
	for i := 0; i < 1000; i++ {
		dcid := []byte{byte(i >> 8), byte(i), 3, 4, 5, 6, 7, 8}
		tb.Datagram(seal(t, dcid, 0, CryptoFrame(0, hello[:1000]), 1200), one)
	}
	if tb.Len() > lim.MaxPending {
		t.Errorf("%d entries", tb.Len())
	}
	real := netip.MustParseAddrPort("203.0.113.5:443")
	dcid := []byte{9, 9, 9, 9, 9, 9, 9, 9}
	tb.Datagram(seal(t, dcid, 0, CryptoFrame(0, hello[:1000]), 1200), real)
	tb.Datagram(seal(t, dcid, 1, CryptoFrame(1000, hello[1000:]), 1200), real)
	if q, ok := tb.Take(real, dcid); !ok || q.Hello == nil {
		t.Errorf("real hello after the flood: %v %+v", ok, q)
	}
}

// fuzzHello is a real QUIC ClientHello from crypto/tls (goQUICHello(scid
// 01, X25519 only), 231 bytes), stored so that the fuzz seeds are the same
// in every run and process (crypto/tls draws its key shares afresh for
// every hello).
const fuzzHello = "testdata/crypto-tls-quic-hello.bin"

// fuzzDCID is the seeds' original destination connection ID.
var fuzzDCID = []byte{1, 2, 3, 4, 5, 6, 7, 8}

// fuzzSeeds seals hello into two unpadded v1 Initials (each half a
// CRYPTO frame) and the start of it into a v2 Initial.
func fuzzSeeds(t testing.TB, hello []byte) (p1, p2, p3 []byte) {
	t.Helper()
	half := len(hello) / 2
	var err [3]error
	p1, err[0] = SealClient(V1, fuzzDCID, []byte{1}, nil, 0, CryptoFrame(0, hello[:half]), 0)
	p2, err[1] = SealClient(V1, fuzzDCID, []byte{1}, nil, 1, CryptoFrame(half, hello[half:]), 0)
	p3, err[2] = SealClient(V2, fuzzDCID[:4], nil, []byte{9}, 0, CryptoFrame(0, hello[:40]), 0)
	for _, e := range err {
		if e != nil {
			t.Fatal(e)
		}
	}
	return p1, p2, p3
}

// TestFuzzHelloFile: the stored hello is a QUIC ClientHello with transport
// parameters, and the fuzz seeds padded as the target pads them give the
// table that hello.
func TestFuzzHelloFile(t *testing.T) {
	hello, err := os.ReadFile(fuzzHello)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := fingerprint.ParseClientHelloQUIC(hello)
	if err != nil {
		t.Fatal(err)
	}
	if params, err := ch.QUICTransportParams(); err != nil || len(params) == 0 {
		t.Errorf("transport parameters %v, %v", params, err)
	}
	p1, p2, _ := fuzzSeeds(t, hello)
	tb := NewTable(Limits{})
	addr := netip.MustParseAddrPort("192.0.2.1:0")
	for _, p := range [][]byte{p1, p2} {
		tb.Datagram(append(p, make([]byte, MinInitialDatagram-len(p))...), addr)
	}
	q, ok := tb.Take(addr, fuzzDCID)
	if !ok || q.Hello == nil || string(q.Raw) != string(hello) || q.Packets != 2 {
		t.Fatalf("seeds gave %v %+v", ok, q)
	}
}

// FuzzHelloTable: arbitrary datagrams (seeded with real Initials carrying
// a hello split in two, and coalesced) from a few addresses; the table
// never panics and keeps its bounds.
//
// The target is deterministic and its inputs are small, for the fuzzer's
// minimisation: it removes every subset of an input's bytes (quadratic in
// its length) and keeps a candidate only if the coverage repeats, which
// made 1200-byte padded Initials take the whole minimisation time limit
// for every new input. So the seeds are unpadded packets (a stored hello,
// not a fresh one from crypto/tls) and the target pads each datagram to
// the 1200 bytes a client Initial datagram has (trailing zeros, which the
// table reads as the end of the coalesced packets) unless who's top bit
// is set; the table's clock is a counter, not the wall clock (who's bits
// 2-3 advance it by up to 3 × 4 s per datagram, so TTL expiry is reached
// too).
func FuzzHelloTable(f *testing.F) {
	hello, err := os.ReadFile(fuzzHello)
	if err != nil {
		f.Fatal(err)
	}
	p1, p2, p3 := fuzzSeeds(f, hello)
	dcid := fuzzDCID
	f.Add(p1, p2, uint8(0))
	f.Add(append(p3, p1...), p2, uint8(1))
	f.Add(p2[:70], p1, uint8(2))
	f.Add(p1, p2, uint8(3<<2|1))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	buf := make([]byte, 0, 2*MinInitialDatagram)
	f.Fuzz(func(t *testing.T, a, b []byte, who uint8) {
		lim := Limits{MaxPending: 8, MaxHelloBytes: 2048}
		tb := NewTable(lim)
		now := start
		tb.now = func() time.Time { return now }
		step := time.Duration(who>>2&3) * 4 * time.Second
		addr := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), uint16(who%3))
		for _, d := range [][]byte{a, b, a} {
			if who&0x80 == 0 && len(d) < MinInitialDatagram {
				buf = append(append(buf[:0], d...), make([]byte, MinInitialDatagram-len(d))...)
				d = buf
			}
			orig := append([]byte(nil), d...)
			tb.Datagram(d, addr)
			if string(orig) != string(d) {
				t.Fatal("Datagram modified its input")
			}
			now = now.Add(step)
		}
		if tb.Len() > lim.MaxPending || tb.Bytes() > lim.MaxPending*lim.MaxHelloBytes {
			t.Fatalf("%d entries, %d bytes", tb.Len(), tb.Bytes())
		}
		if q, ok := tb.Take(addr, dcid); ok && q.Hello == nil && q.Err == nil {
			t.Fatal("a taken hello without hello or error")
		}
	})
}
