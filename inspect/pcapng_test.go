package inspect

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"testing"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// TestNgReaderMatchesGopacket reads well-formed pcapng files with this
// package's reader and with gopacket's and compares every packet.
func TestNgReaderMatchesGopacket(t *testing.T) {
	h := goHellos(t)[0]
	conn := tcpConn{cli: cliA, srv: srv4, cliISN: 1, srvISN: 2}
	generated := writePcapNG(t,
		frame{link: layers.LinkTypeEthernet, data: conn.syn(t)},
		frame{link: layers.LinkTypeEthernet, iface: 1, data: conn.data(t, 0, h[:100])},
		frame{link: layers.LinkTypeEthernet, iface: 2, data: conn.data(t, 100, h[100:])},
	)
	for name, file := range map[string][]byte{
		"chromium.pcapng": readTestdata(t, "chromium.pcapng"),
		"generated":       generated,
	} {
		t.Run(name, func(t *testing.T) {
			ref, err := pcapgo.NewNgReader(bytes.NewReader(file), pcapgo.NgReaderOptions{WantMixedLinkType: true})
			if err != nil {
				t.Fatal(err)
			}
			s := &session{in: New(Options{}), name: name, st: &Stats{}}
			own := &ngSource{s: s, r: bufio.NewReader(bytes.NewReader(file)), max: 1 << 20}
			n := 0
			for {
				want, ci, werr := ref.ReadPacketData()
				got, problem, gerr := own.next()
				if problem != nil {
					t.Fatalf("packet %d: problem %v", n+1, problem)
				}
				if errors.Is(werr, io.EOF) || errors.Is(gerr, io.EOF) {
					if !errors.Is(werr, io.EOF) || !errors.Is(gerr, io.EOF) {
						t.Fatalf("packet %d: gopacket %v, ours %v", n+1, werr, gerr)
					}
					break
				}
				if werr != nil || gerr != nil {
					t.Fatalf("packet %d: gopacket %v, ours %v", n+1, werr, gerr)
				}
				n++
				if !bytes.Equal(got.data, want) || !got.ts.Equal(ci.Timestamp) || got.link != uint32(ci.AncillaryData[0].(layers.LinkType)) {
					t.Fatalf("packet %d differs: ts %v vs %v, link %d vs %v, %d vs %d bytes",
						n, got.ts, ci.Timestamp, got.link, ci.AncillaryData[0], len(got.data), len(want))
				}
			}
			if n < 3 {
				t.Fatalf("only %d packets", n)
			}
		})
	}
}

// TestNgReaderRejects covers the inputs that break gopacket v1.1.19's
// reader (a huge captured length, if_tsresol beyond 64 bits) and other
// damage.
func TestNgReaderRejects(t *testing.T) {
	var ng ngBuilder
	ng.section(binary.LittleEndian)
	ng.iface(uint16(linkEthernet), 0, 100) // 10^-100 s: not representable
	ng.epb(0, 12345, []byte{1, 2, 3, 4})
	huge := ng.b.Len()
	ng.epb(0, 0, []byte{5, 6, 7, 8})
	b := ng.b.Bytes()
	// Claim a 4 GiB captured length in the second EPB.
	ng.order.PutUint32(b[huge+8+12:], 0xfffffff0)

	s := &session{in: New(Options{}), name: "x", st: &Stats{}}
	src := &ngSource{s: s, r: bufio.NewReader(bytes.NewReader(b)), max: 1 << 20}
	p, problem, err := src.next()
	if err != nil || problem != nil || !p.ts.IsZero() || len(p.data) != 4 {
		t.Fatalf("first packet: %+v %v %v", p, problem, err)
	}
	_, problem, err = src.next()
	if err != nil || problem == nil || problem.Offset != int64(huge) {
		t.Fatalf("second packet: problem %v err %v", problem, err)
	}
	if _, _, err = src.next(); !errors.Is(err, io.EOF) {
		t.Fatalf("end: %v", err)
	}

	// A packet block bigger than the limit is skipped unread.
	var big ngBuilder
	big.section(binary.LittleEndian)
	big.iface(uint16(linkEthernet), 0, -1)
	big.epb(0, 0, make([]byte, 5000))
	big.epb(0, 0, []byte{9})
	src = &ngSource{s: s, r: bufio.NewReader(bytes.NewReader(big.b.Bytes())), max: 1000}
	if _, problem, err = src.next(); problem == nil || err != nil {
		t.Fatalf("oversized block: %v %v", problem, err)
	}
	if p, _, err = src.next(); err != nil || !bytes.Equal(p.data, []byte{9}) {
		t.Fatalf("after oversized block: %v %v", p.data, err)
	}

	// Blocks before any section header.
	src = &ngSource{s: s, r: bufio.NewReader(bytes.NewReader([]byte{1, 0, 0, 0, 12, 0, 0, 0, 12, 0, 0, 0})), max: 1000}
	if _, _, err = src.next(); err == nil {
		t.Fatal("block before section header accepted")
	}
}

// BenchmarkInspectPcap measures throughput on a capture of many TCP
// connections, each carrying a hello split over three segments, with
// non-TLS traffic between them.
func BenchmarkInspectPcap(b *testing.B) {
	h := goHellos(b)[0]
	var frames [][]byte
	for i := range 2000 {
		c := tcpConn{cli: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 40000), srv: srv4,
			cliISN: uint32(i) * 7919, srvISN: 1}
		web := tcpConn{cli: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)}), 40000), srv: srv4, cliISN: 1, srvISN: 1}
		p := split(h, 500, 1000)
		frames = append(frames, c.syn(b), c.synAck(b), c.data(b, 1000, p[2]), c.data(b, 0, p[0]), c.data(b, 500, p[1]),
			web.data(b, 0, []byte("GET / HTTP/1.1\r\n\r\n")), c.serverData(b, 0, make([]byte, 1400)))
	}
	file := writePcap(b, layers.LinkTypeEthernet, false, frames...)
	in := New(Options{})
	b.SetBytes(int64(len(file)))
	b.ResetTimer()
	for range b.N {
		c := &collector{}
		if _, err := in.Inspect(b.Context(), "bench.pcap", bytes.NewReader(file), c); err != nil || len(c.hellos) != 2000 {
			b.Fatalf("err %v, %d hellos", err, len(c.hellos))
		}
	}
	b.ReportMetric(float64(len(frames))*float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}
