package inspect

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

var (
	cliA = netip.MustParseAddrPort("10.0.0.1:51234")
	cliB = netip.MustParseAddrPort("10.0.0.3:40000")
	srv4 = netip.MustParseAddrPort("10.0.0.2:443")
	cli6 = netip.MustParseAddrPort("[2001:db8::1]:50000")
	srv6 = netip.MustParseAddrPort("[2001:db8::2]:443")
)

func streamName(file string, cli, srv netip.AddrPort) string {
	return fmt.Sprintf("%s#%s->%s", file, cli, srv)
}

// TestPcapSegmentation covers a hello in one, two and three TCP segments,
// each on its own connection, in a pcap and in a pcapng.
func TestPcapSegmentation(t *testing.T) {
	hellos := goHellos(t)
	h := hellos[0]
	if len(h) < 600 {
		t.Fatalf("crypto/tls hello is only %d bytes", len(h))
	}
	conns := []tcpConn{
		{cli: netip.MustParseAddrPort("10.0.0.1:1001"), srv: srv4, cliISN: 1000, srvISN: 5000},
		{cli: netip.MustParseAddrPort("10.0.0.1:1002"), srv: srv4, cliISN: 0xfffffff0, srvISN: 7}, // seq wraps
		{cli: netip.MustParseAddrPort("10.0.0.1:1003"), srv: srv4, cliISN: 42, srvISN: 43},
	}
	segs := [][][]byte{
		{h},
		split(h, 300),
		split(h, 1, len(h)-1), // a one-byte first segment, then all but the last byte
	}
	var frames [][]byte
	for i, c := range conns {
		frames = append(frames, c.syn(t), c.synAck(t))
		off := 0
		for _, s := range segs[i] {
			frames = append(frames, c.data(t, off, s))
			off += len(s)
		}
		frames = append(frames, c.serverData(t, 0, []byte("\x16\x03\x03\x00\x04\x02\x00\x00\x00")))
	}
	want := wantRecord(t, h, false)
	check := func(t *testing.T, name string, data []byte) {
		c, st := mustRun(t, name, data)
		if len(c.hellos) != 3 {
			t.Fatalf("found %d hellos, want 3", len(c.hellos))
		}
		for _, cn := range conns {
			sameHello(t, findSource(t, c, streamName(name, cn.cli, cn.srv)), want)
		}
		// The server directions start with a SYN-ACK and are not streams
		// of interest.
		if st.TCPStreams != 3 || st.NotTLS != 0 {
			t.Errorf("TCPStreams = %d NotTLS = %d, want 3 and 0", st.TCPStreams, st.NotTLS)
		}
	}
	t.Run("pcap", func(t *testing.T) { check(t, "seg.pcap", writePcap(t, layers.LinkTypeEthernet, false, frames...)) })
	t.Run("pcap-nanos", func(t *testing.T) { check(t, "seg.pcap", writePcap(t, layers.LinkTypeEthernet, true, frames...)) })
	t.Run("pcap-bigendian", func(t *testing.T) { check(t, "seg.pcap", writePcapBE(uint32(linkEthernet), frames...)) })
	t.Run("pcapng", func(t *testing.T) {
		var fs []frame
		for _, f := range frames {
			fs = append(fs, frame{link: layers.LinkTypeEthernet, data: f})
		}
		check(t, "seg.pcapng", writePcapNG(t, fs...))
	})
}

// TestPcapDisorder covers out-of-order, retransmitted and overlapping
// segments, two interleaved connections, a non-TLS flow and IPv6.
func TestPcapDisorder(t *testing.T) {
	hellos := goHellos(t)
	a := tcpConn{cli: cliA, srv: srv4, cliISN: 100, srvISN: 900}
	b := tcpConn{cli: cliB, srv: srv4, cliISN: 0x7ffffff0, srvISN: 1}
	v6 := tcpConn{cli: cli6, srv: srv6, cliISN: 77, srvISN: 88}
	web := tcpConn{cli: netip.MustParseAddrPort("10.0.0.9:33333"), srv: netip.MustParseAddrPort("10.0.0.2:80"), cliISN: 5, srvISN: 6}
	ha, hb, h6 := hellos[0], hellos[1], hellos[2]
	pa := split(ha, 200, 700)      // three segments
	pb := split(hb, len(hb)/2)     // two segments
	p6 := split(h6, 100, 400, 900) // four segments
	http := []byte("GET / HTTP/1.1\r\nHost: example\r\n\r\n")

	frames := [][]byte{
		a.syn(t), b.syn(t), web.syn(t), v6.syn(t),
		a.synAck(t), b.synAck(t), web.synAck(t), v6.synAck(t),
		web.data(t, 0, http),
		a.data(t, 200, pa[1]), // out of order: the middle first
		b.data(t, 0, pb[0]),
		v6.data(t, 400, p6[2]),
		a.data(t, 0, pa[0]),
		a.data(t, 0, pa[0]),                          // retransmitted duplicate
		a.data(t, 150, ha[150:700]),                  // overlapping retransmission
		b.data(t, len(pb[0])-10, hb[len(pb[0])-10:]), // overlaps the first segment's end
		v6.data(t, 0, p6[0]),
		v6.data(t, 900, p6[3]),
		a.data(t, 700, pa[2]),
		v6.data(t, 100, p6[1]),
		web.serverData(t, 0, []byte("HTTP/1.1 200 OK\r\n\r\n")),
	}
	data := writePcap(t, layers.LinkTypeEthernet, false, frames...)
	c, st := mustRun(t, "mix.pcap", data)
	if len(c.hellos) != 3 {
		t.Fatalf("found %d hellos, want 3: %+v", len(c.hellos), c.hellos)
	}
	sameHello(t, findSource(t, c, streamName("mix.pcap", a.cli, a.srv)), wantRecord(t, ha, false))
	sameHello(t, findSource(t, c, streamName("mix.pcap", b.cli, b.srv)), wantRecord(t, hb, false))
	r6 := findSource(t, c, "mix.pcap#[2001:db8::1]:50000->[2001:db8::2]:443")
	sameHello(t, r6, wantRecord(t, h6, false))
	// Hellos are emitted in the order they complete: b, then a, then v6.
	order := []string{c.hellos[0].SNI, c.hellos[1].SNI, c.hellos[2].SNI}
	if strings.Join(order, ",") != "b.example,a.example,c.example" {
		t.Errorf("completion order %v", order)
	}
	// The v6 hello completes with the 20th packet (frame index 19).
	if r6.Packet != 20 {
		t.Errorf("v6 hello packet = %d, want 20", r6.Packet)
	}
	if want := t0.Add(19 * time.Millisecond).Truncate(time.Microsecond).Format(time.RFC3339Nano); r6.Time != want {
		t.Errorf("v6 hello time = %s, want %s", r6.Time, want)
	}
	if st.NotTLS != 1 {
		t.Errorf("NotTLS = %d, want 1 (the HTTP request)", st.NotTLS)
	}
	if st.Packets != int64(len(frames)) {
		t.Errorf("Packets = %d, want %d", st.Packets, len(frames))
	}
}

// TestPcapMissingSYN covers captures that start mid-connection and a SYN
// captured after the first data.
func TestPcapMissingSYN(t *testing.T) {
	h := goHellos(t)[0]
	c1 := tcpConn{cli: cliA, srv: srv4, cliISN: 3000, srvISN: 1}
	c2 := tcpConn{cli: cliB, srv: srv4, cliISN: 4000, srvISN: 2}
	p := split(h, 500)
	frames := [][]byte{
		c1.data(t, 0, p[0]), c1.data(t, 500, p[1]), // no SYN at all
		c2.data(t, 0, p[0]), c2.syn(t), c2.data(t, 500, p[1]), // SYN after data
	}
	c, _ := mustRun(t, "nosyn.pcap", writePcap(t, layers.LinkTypeEthernet, false, frames...))
	if len(c.hellos) != 2 {
		t.Fatalf("found %d hellos, want 2", len(c.hellos))
	}
	want := wantRecord(t, h, false)
	sameHello(t, findSource(t, c, streamName("nosyn.pcap", c1.cli, c1.srv)), want)
	sameHello(t, findSource(t, c, streamName("nosyn.pcap", c2.cli, c2.srv)), want)
}

// TestPcapTruncatedStream: a hello whose last segment was never captured
// is reported with its stream and offset, and the other hello still found.
func TestPcapTruncatedStream(t *testing.T) {
	hs := goHellos(t)
	a := tcpConn{cli: cliA, srv: srv4, cliISN: 1, srvISN: 2}
	b := tcpConn{cli: cliB, srv: srv4, cliISN: 3, srvISN: 4}
	pa := split(hs[0], 300, 600)
	frames := [][]byte{a.syn(t), b.syn(t), a.data(t, 0, pa[0]), a.data(t, 600, pa[2]), b.data(t, 0, hs[1])}
	c, _, err := run(t, "cut.pcap", writePcap(t, layers.LinkTypeEthernet, false, frames...), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.hellos) != 1 || c.hellos[0].SNI != "b.example" {
		t.Fatalf("hellos = %+v", c.hellos)
	}
	if len(c.problems) != 1 {
		t.Fatalf("problems = %v", c.problems)
	}
	p := c.problems[0]
	if p.Source != streamName("cut.pcap", a.cli, a.srv) || p.Offset != 300 || !p.InStream {
		t.Errorf("problem = %+v", p)
	}
	if msg := p.Error(); !strings.Contains(msg, "stream offset 300") || !strings.Contains(msg, "missing at stream offset 300") ||
		!strings.Contains(msg, fmt.Sprintf("of %d bytes", len(hs[0]))) {
		t.Errorf("message %q", msg)
	}
}

// TestPcapBrokenHello: a stream that claims a ClientHello but breaks its
// rules is a problem with the stream offset of the fault.
func TestPcapBrokenHello(t *testing.T) {
	h := append([]byte(nil), goHellos(t)[0]...)
	// Corrupt the cipher suites length (after the 5-byte record header, 4-byte
	// handshake header, 2-byte version, 32-byte random and the session id).
	sidLen := int(h[5+4+2+32])
	at := 5 + 4 + 2 + 32 + 1 + sidLen
	binary.BigEndian.PutUint16(h[at:], 0xfffe)
	a := tcpConn{cli: cliA, srv: srv4, cliISN: 1, srvISN: 2}
	c, _, err := run(t, "bad.pcap", writePcap(t, layers.LinkTypeEthernet, false, a.syn(t), a.data(t, 0, h)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.hellos) != 0 || len(c.problems) != 1 {
		t.Fatalf("hellos %d problems %v", len(c.hellos), c.problems)
	}
	p := c.problems[0]
	if !p.InStream || p.Offset != int64(at) || p.Packet != 2 {
		t.Errorf("problem at %d (packet %d), want stream offset %d packet 2: %v", p.Offset, p.Packet, at, p)
	}
}

// TestPcapLinkTypes covers VLAN tags, Linux cooked v1/v2, BSD loopback and
// raw IP link types, in pcapng files with several interfaces and sections.
func TestPcapLinkTypes(t *testing.T) {
	h := goHellos(t)[0]
	want := wantRecord(t, h, false)
	conn := tcpConn{cli: cliA, srv: srv4, cliISN: 10, srvISN: 20}
	eth := conn.data(t, 0, h)
	ip := eth[14:] // the IPv4 packet
	ip6 := tcpFrame(t, cli6, srv6, 11, 0, "PA", h, false)

	// 802.1ad outer tag, 802.1Q inner tag, then the original EtherType.
	vlan := append(append([]byte(nil), eth[:12]...), 0x88, 0xa8, 0x00, 0x09, 0x81, 0x00, 0x00, 0x07)
	vlan = append(vlan, eth[12:]...)
	sll := append([]byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00}, ip...)
	sll2 := append([]byte{0x86, 0xdd, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0}, ip6...)
	null := append([]byte{2, 0, 0, 0}, ip...) // AF_INET, little-endian
	loop := append([]byte{0, 0, 0, 30}, ip6...)

	var ng ngBuilder
	ng.section(binary.LittleEndian)
	ng.iface(uint16(linkEthernet), 0, -1) // 0
	ng.iface(uint16(linkLinuxSLL), 0, 6)  // 1
	ng.iface(uint16(linkNull), 0, 9)      // 2
	ng.iface(uint16(linkRaw), 0, 0x80|20) // 3: 2^-20 s
	ng.epb(0, 0, vlan)
	ng.epb(1, 1_700_000_000_000_000, sll)
	ng.epb(2, 1_700_000_000_000_000_000, null)
	ng.epb(3, uint64(5)<<20|1<<19, ip) // 5.5 s
	ng.section(binary.BigEndian)       // a second section, other byte order
	ng.iface(uint16(linkSLL2), 0, -1)
	ng.iface(uint16(linkLoop), 0, -1)
	ng.iface(uint16(linkIPv6), 0, -1)
	ng.epb(0, 0, sll2)
	ng.epb(1, 0, loop)
	ng.epb(2, 0, ip6)

	c, _, err := run(t, "links.pcapng", ng.b.Bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range c.problems {
		t.Errorf("problem: %v", p)
	}
	// Every packet carries the whole hello of one of two connections (IPv4
	// in the first section, IPv6 in the second): each connection's first
	// copy completes it, later copies are retransmissions.
	if len(c.hellos) != 2 {
		t.Fatalf("found %d hellos in one file, want 2 (one per connection)", len(c.hellos))
	}
	for _, r := range c.hellos {
		sameHello(t, r, want)
	}

	// Each link type on its own, so that every decoder must find its hello.
	cases := []struct {
		name string
		link uint16
		data []byte
		ts   uint64
		res  int
		when string
	}{
		{"vlan", uint16(linkEthernet), vlan, 1_700_000_000_123_456, -1, "2023-11-14T22:13:20.123456Z"},
		{"sll", uint16(linkLinuxSLL), sll, 1_700_000_000_000_001, 6, "2023-11-14T22:13:20.000001Z"},
		{"sll2", uint16(linkSLL2), sll2, 1_700_000_000_000_000_007, 9, "2023-11-14T22:13:20.000000007Z"},
		{"null", uint16(linkNull), null, 17 << 20, 0x80 | 20, "1970-01-01T00:00:17Z"},
		{"loop", uint16(linkLoop), loop, 0, -1, "1970-01-01T00:00:00Z"},
		{"raw", uint16(linkRaw), ip, 3, 0, "1970-01-01T00:00:03Z"},
		{"rawbsd", uint16(linkRawBSD), ip6, 0, -1, "1970-01-01T00:00:00Z"},
		{"ipv4", uint16(linkIPv4), ip, 0, -1, "1970-01-01T00:00:00Z"},
		{"ipv6", uint16(linkIPv6), ip6, 0, -1, "1970-01-01T00:00:00Z"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ng ngBuilder
			ng.section(binary.BigEndian)
			ng.iface(tc.link, 0, tc.res)
			ng.epb(0, tc.ts, tc.data)
			c, _ := mustRun(t, "one.pcapng", ng.b.Bytes())
			if len(c.hellos) != 1 {
				t.Fatalf("found %d hellos", len(c.hellos))
			}
			sameHello(t, c.hellos[0], want)
			if c.hellos[0].Time != tc.when {
				t.Errorf("time %s, want %s", c.hellos[0].Time, tc.when)
			}
		})
	}
}

// TestPcapNGSimplePackets: Simple Packet Blocks have no timestamp and use
// interface 0, and the snap length of that interface bounds them.
func TestPcapNGSimplePackets(t *testing.T) {
	h := goHellos(t)[0]
	conn := tcpConn{cli: cliA, srv: srv4, cliISN: 10, srvISN: 20}
	p := split(h, 700)
	var ng ngBuilder
	ng.section(binary.LittleEndian)
	ng.iface(uint16(linkEthernet), 0, -1)
	ng.spb(conn.syn(t))
	ng.spb(conn.data(t, 0, p[0]))
	ng.spb(conn.data(t, 700, p[1]))
	c, _ := mustRun(t, "spb.pcapng", ng.b.Bytes())
	if len(c.hellos) != 1 {
		t.Fatalf("found %d hellos", len(c.hellos))
	}
	sameHello(t, c.hellos[0], wantRecord(t, h, false))
	if c.hellos[0].Time != "" || c.hellos[0].Packet != 3 {
		t.Errorf("time %q packet %d", c.hellos[0].Time, c.hellos[0].Packet)
	}

	// A snap length that cuts the last packet short leaves the hello
	// incomplete: reported, not found.
	var cut ngBuilder
	cut.section(binary.LittleEndian)
	cut.iface(uint16(linkEthernet), 200, -1)
	cut.spb(conn.data(t, 0, h))
	cc, _, err := run(t, "snap.pcapng", cut.b.Bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cc.hellos) != 0 || len(cc.problems) != 1 || !strings.Contains(cc.problems[0].Error(), "input ended inside a ClientHello") {
		t.Errorf("hellos %d problems %v", len(cc.hellos), cc.problems)
	}
}

// TestPcapIPFragments: a hello in a TCP segment carried by IPv4 fragments
// (out of order) and by IPv6 fragments.
func TestPcapIPFragments(t *testing.T) {
	h := goHellos(t)[0]
	want := wantRecord(t, h, false)

	whole := tcpFrame(t, cliA, srv4, 1, 0, "PA", h, false) // an IPv4 packet
	tcpBytes := whole[20:]
	frag4 := func(off int, more bool, part []byte) []byte {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, Id: 0x4242,
			FragOffset: uint16(off / 8), SrcIP: cliA.Addr().AsSlice(), DstIP: srv4.Addr().AsSlice()}
		if more {
			ip.Flags = layers.IPv4MoreFragments
		}
		buf := gopacket.NewSerializeBuffer()
		err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}, ip, gopacket.Payload(part))
		if err != nil {
			t.Fatal(err)
		}
		return append([]byte(nil), buf.Bytes()...)
	}
	// Fragment boundaries must be multiples of 8.
	f1, f2, f3 := frag4(0, true, tcpBytes[:512]), frag4(512, true, tcpBytes[512:1024]), frag4(1024, false, tcpBytes[1024:])

	whole6 := tcpFrame(t, cli6, srv6, 1, 0, "PA", h, false)
	tcp6 := whole6[40:]
	frag6 := func(off int, more bool, part []byte) []byte {
		fh := make([]byte, 8)
		fh[0] = protoTCP
		v := uint16(off)
		if more {
			v |= 1
		}
		binary.BigEndian.PutUint16(fh[2:], v)
		binary.BigEndian.PutUint32(fh[4:], 0xabcdef01)
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocol(protoFragment),
			SrcIP: cli6.Addr().AsSlice(), DstIP: srv6.Addr().AsSlice()}
		buf := gopacket.NewSerializeBuffer()
		err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true},
			&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv6}, ip,
			gopacket.Payload(append(fh, part...)))
		if err != nil {
			t.Fatal(err)
		}
		return append([]byte(nil), buf.Bytes()...)
	}
	g1, g2 := frag6(0, true, tcp6[:800]), frag6(800, false, tcp6[800:])

	c, _ := mustRun(t, "frag.pcap", writePcap(t, layers.LinkTypeEthernet, false, f3, f1, g2, f2, g1))
	if len(c.hellos) != 2 {
		t.Fatalf("found %d hellos, want 2", len(c.hellos))
	}
	sameHello(t, findSource(t, c, streamName("frag.pcap", cliA, srv4)), want)
	sameHello(t, findSource(t, c, streamName("frag.pcap", cli6, srv6)), want)
}

// TestGzip: a gzip-compressed capture is decompressed and detected.
func TestGzip(t *testing.T) {
	h := goHellos(t)[1]
	conn := tcpConn{cli: cliA, srv: srv4, cliISN: 1, srvISN: 2}
	pcap := writePcap(t, layers.LinkTypeEthernet, false, conn.syn(t), conn.data(t, 0, h))
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(pcap)
	zw.Close()
	c, st := mustRun(t, "c.pcap.gz", z.Bytes())
	if !st.Gzip || st.Format != FormatPcap || len(c.hellos) != 1 {
		t.Fatalf("gzip %v format %v hellos %d", st.Gzip, st.Format, len(c.hellos))
	}
	sameHello(t, c.hellos[0], wantRecord(t, h, false))
}

// TestCaptureDamage: a truncated capture still yields what came before; a
// damaged pcapng block is a problem and reading goes on.
func TestCaptureDamage(t *testing.T) {
	hs := goHellos(t)
	a := tcpConn{cli: cliA, srv: srv4, cliISN: 1, srvISN: 2}
	b := tcpConn{cli: cliB, srv: srv4, cliISN: 3, srvISN: 4}
	full := writePcap(t, layers.LinkTypeEthernet, false, a.data(t, 0, hs[0]), b.data(t, 0, hs[1]))
	cut := full[:len(full)-10]
	c, _, err := run(t, "cut.pcap", cut, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.hellos) != 1 || len(c.problems) != 1 {
		t.Fatalf("hellos %d problems %v", len(c.hellos), c.problems)
	}
	if p := c.problems[0]; p.Offset != int64(24+16+len(a.data(t, 0, hs[0]))) || !strings.Contains(p.Error(), "truncated") {
		t.Errorf("problem %v (offset %d)", p, p.Offset)
	}

	var ng ngBuilder
	ng.section(binary.LittleEndian)
	ng.iface(uint16(linkEthernet), 0, -1)
	ng.epb(0, 0, a.data(t, 0, hs[0]))
	badAt := ng.b.Len()
	ng.epb(7, 0, []byte{1, 2, 3}) // undeclared interface
	ng.epb(0, 0, b.data(t, 0, hs[1]))
	c, _, err = run(t, "dmg.pcapng", ng.b.Bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.hellos) != 2 || len(c.problems) != 1 || c.problems[0].Offset != int64(badAt) || c.problems[0].Packet != 2 {
		t.Fatalf("hellos %d problems %+v", len(c.hellos), c.problems)
	}

	// A corrupt trailing length breaks the framing: fatal, but the hello
	// before it was already delivered.
	bad := append([]byte(nil), ng.b.Bytes()...)
	binary.LittleEndian.PutUint32(bad[badAt-4:], 12345)
	c, _, err = run(t, "frame.pcapng", bad, Options{})
	if err == nil || !strings.Contains(err.Error(), "trailing block length") {
		t.Fatalf("err = %v", err)
	}
	if len(c.hellos) != 0 {
		t.Errorf("hellos %d: the damaged block itself carried the only complete one", len(c.hellos))
	}
}

// TestFlowLimits: the flow table and buffer budget are bounded, and a
// dropped flow with a partial hello is reported.
func TestFlowLimits(t *testing.T) {
	h := goHellos(t)[0]
	var frames [][]byte
	for i := range 10 {
		c := tcpConn{cli: netip.AddrPortFrom(cliA.Addr(), uint16(2000+i)), srv: srv4, cliISN: 1, srvISN: 2}
		frames = append(frames, c.syn(t), c.data(t, 0, h[:100]))
	}
	c, st, err := run(t, "many.pcap", writePcap(t, layers.LinkTypeEthernet, false, frames...),
		Options{MaxFlows: 4, MaxStreamBytes: 4096, MaxBufferedBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	if st.Evicted != 6 {
		t.Errorf("Evicted = %d, want 6", st.Evicted)
	}
	// 6 evicted with a report, 4 still open at the end: 10 problems.
	if len(c.problems) != 10 {
		t.Errorf("problems = %d, want 10", len(c.problems))
	}
	dropped := 0
	for _, p := range c.problems {
		if strings.Contains(p.Error(), "dropped before its ClientHello was complete") {
			dropped++
		}
	}
	if dropped != 6 {
		t.Errorf("dropped reports = %d", dropped)
	}

	// MaxBufferedBytes: two flows of 3009 buffered bytes (of a 4100-byte
	// hello each) under a 5000-byte budget.
	c1 := tcpConn{cli: cliA, srv: srv4, cliISN: 1, srvISN: 2}
	c2 := tcpConn{cli: cliB, srv: srv4, cliISN: 1, srvISN: 2}
	big := append([]byte{0x16, 0x03, 0x01, 0x0f, 0xff, 0x01, 0x00, 0x0f, 0xfb}, make([]byte, 3000)...)
	_, st, err = run(t, "budget.pcap", writePcap(t, layers.LinkTypeEthernet, false, c1.data(t, 0, big), c2.data(t, 0, big)),
		Options{MaxStreamBytes: 5000, MaxBufferedBytes: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if st.Evicted != 1 {
		t.Errorf("Evicted = %d, want 1", st.Evicted)
	}
}

// TestRealCaptures checks captures of real clients made on a Debian
// machine (see testdata/README.txt). The expected JA3 hashes and frame
// numbers were computed by Wireshark 4.0's tshark, independently of this
// package.
func TestRealCaptures(t *testing.T) {
	t.Run("curl", func(t *testing.T) {
		c, st := mustRun(t, "curl.pcap", readTestdata(t, "curl.pcap"))
		if len(c.hellos) != 1 {
			t.Fatalf("found %d hellos", len(c.hellos))
		}
		r := c.hellos[0]
		if r.SNI != "fp.test" || strings.Join(r.ALPN, ",") != "h2,http/1.1" || r.Transport != "tcp" || r.Packet != 4 {
			t.Errorf("sni %q alpn %v transport %s packet %d", r.SNI, r.ALPN, r.Transport, r.Packet)
		}
		if r.JA3Hash != "0149f47eabf9a20d0893e2a44e5a6323" {
			t.Errorf("ja3_hash %s, tshark says 0149f47eabf9a20d0893e2a44e5a6323", r.JA3Hash)
		}
		if r.TLSVersion != "0x0304" || r.TLSVersionName != "TLS 1.3" {
			t.Errorf("version %s %s", r.TLSVersion, r.TLSVersionName)
		}
		if !strings.HasPrefix(r.Source, "curl.pcap#127.0.0.1:") || !strings.HasSuffix(r.Source, "->127.0.0.1:44317") {
			t.Errorf("source %s", r.Source)
		}
		if st.Format != FormatPcap {
			t.Errorf("format %v", st.Format)
		}
	})
	t.Run("chromium", func(t *testing.T) {
		c, st := mustRun(t, "chromium.pcapng", readTestdata(t, "chromium.pcapng"))
		want := []struct {
			packet    int64
			transport string
			ja3       string
			alpn      string
			ja4a      string
		}{
			{4, "tcp", "92e7ab87965bfda4de184a7e8814c727", "h2,http/1.1", "t13d1517h2"},
			{11, "tcp", "48e6e46c52f0a59a01aecb789b5aee82", "h2,http/1.1", "t13d1517h2"},
			{37, "quic", "b0460120cf1af8a762e51c85cf3f4151", "h3", "q13d0312h3"},
		}
		if len(c.hellos) != len(want) {
			t.Fatalf("found %d hellos, want %d", len(c.hellos), len(want))
		}
		for i, w := range want {
			r := c.hellos[i]
			if r.Packet != w.packet || string(r.Transport) != w.transport || r.JA3Hash != w.ja3 ||
				strings.Join(r.ALPN, ",") != w.alpn || !strings.HasPrefix(r.JA4, w.ja4a+"_") || r.SNI != "fp.test" {
				t.Errorf("hello %d: packet %d %s ja3 %s alpn %v ja4 %s sni %s; want %+v",
					i, r.Packet, r.Transport, r.JA3Hash, r.ALPN, r.JA4, r.SNI, w)
			}
		}
		// Chrome's QUIC hello is about 1.9 KB: it only completes with the
		// second Initial datagram (the first is frame 36).
		if st.QUICFlows != 1 || st.Format != FormatPcapNG {
			t.Errorf("QUICFlows %d format %v", st.QUICFlows, st.Format)
		}
	})
}
