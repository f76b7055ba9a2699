package inspect

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/guanaco-fp/guanaco/fingerprint"
)

// realHello runs a real crypto/tls client against a loopback listener and
// returns the bytes it sent up to the end of the records holding its
// ClientHello.
func realHello(t testing.TB, cfg *tls.Config) []byte {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		b   []byte
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		var buf []byte
		tmp := make([]byte, 4096)
		for {
			n, rerr := c.Read(tmp)
			buf = append(buf, tmp[:n]...)
			need, perr := fingerprint.ClientHelloLength(buf)
			if perr != nil {
				got <- result{err: perr}
				return
			}
			if need <= len(buf) {
				got <- result{b: buf[:need]}
				return
			}
			if rerr != nil {
				got <- result{err: rerr}
				return
			}
		}
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tc := tls.Client(conn, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = tc.HandshakeContext(ctx) // fails once the listener hangs up: expected
	}()
	r := <-got
	conn.Close()
	wg.Wait()
	if r.err != nil {
		t.Fatalf("capturing a crypto/tls ClientHello: %v", r.err)
	}
	return r.b
}

// goHellos returns three distinct real crypto/tls hellos.
func goHellos(t testing.TB) [][]byte {
	t.Helper()
	return [][]byte{
		realHello(t, &tls.Config{ServerName: "a.example", NextProtos: []string{"h2", "http/1.1"}}),
		realHello(t, &tls.Config{ServerName: "b.example", MaxVersion: tls.VersionTLS12}),
		realHello(t, &tls.Config{ServerName: "c.example", NextProtos: []string{"http/1.1"},
			CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519}}),
	}
}

// wantRecord is the record that parsing raw directly gives.
func wantRecord(t testing.TB, raw []byte, quic bool) Record {
	t.Helper()
	parse := fingerprint.ParseClientHello
	if quic {
		parse = fingerprint.ParseClientHelloQUIC
	}
	ch, err := parse(raw)
	if err != nil {
		t.Fatalf("parsing the hello directly: %v", err)
	}
	return NewRecord("", ch)
}

// sameHello fails unless got describes the same hello as want.
func sameHello(t testing.TB, got, want Record) {
	t.Helper()
	if got.JA3 != want.JA3 || got.JA4 != want.JA4 || got.JA4RO != want.JA4RO ||
		got.PeetPrint != want.PeetPrint || got.SNI != want.SNI || got.JA3NHash != want.JA3NHash ||
		got.Transport != want.Transport || !equalU16(got.Ciphers, want.Ciphers) || !equalU16(got.Extensions, want.Extensions) {
		t.Errorf("hello mismatch:\n got  %s %s %s %v\n want %s %s %s %v", got.Source, got.SNI, got.JA4, got.Extensions,
			want.Source, want.SNI, want.JA4, want.Extensions)
	}
}

func equalU16(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// collector is a Handler that keeps everything.
type collector struct {
	hellos   []Record
	problems []*Error
}

func (c *collector) Hello(r Record) error { c.hellos = append(c.hellos, r); return nil }
func (c *collector) Problem(e *Error)     { c.problems = append(c.problems, e) }

// run inspects b as input name with opts.
func run(t testing.TB, name string, b []byte, opts Options) (*collector, Stats, error) {
	t.Helper()
	c := &collector{}
	st, err := New(opts).Inspect(context.Background(), name, bytes.NewReader(b), c)
	return c, st, err
}

// mustRun inspects b and fails on a returned error or on problems.
func mustRun(t testing.TB, name string, b []byte) (*collector, Stats) {
	t.Helper()
	c, st, err := run(t, name, b, Options{})
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	for _, p := range c.problems {
		t.Errorf("unexpected problem: %v", p)
	}
	return c, st
}

// findSource returns the hello with the given source.
func findSource(t testing.TB, c *collector, src string) Record {
	t.Helper()
	for _, r := range c.hellos {
		if r.Source == src {
			return r
		}
	}
	var have []string
	for _, r := range c.hellos {
		have = append(have, r.Source)
	}
	t.Fatalf("no hello from %s; have %q", src, have)
	return Record{}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
		}
	}
	out, err := hex.DecodeString(strings.Join(strings.Fields(b.String()), ""))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ---- packet building ----

// tcpConn builds the packets of one TCP connection.
type tcpConn struct {
	cli, srv       netip.AddrPort
	cliISN, srvISN uint32
}

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
)

// ipLayers returns the network layer for src->dst and the ethernet type.
func ipLayers(src, dst netip.Addr, proto layers.IPProtocol) (gopacket.NetworkLayer, gopacket.SerializableLayer, layers.EthernetType) {
	if src.Is4() {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, Flags: layers.IPv4DontFragment,
			SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		return ip, ip, layers.EthernetTypeIPv4
	}
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	return ip, ip, layers.EthernetTypeIPv6
}

// serialize builds an Ethernet frame (or a bare IP packet when eth is
// false) carrying a TCP segment.
func tcpFrame(t testing.TB, src, dst netip.AddrPort, seq, ack uint32, flags string, payload []byte, eth bool) []byte {
	t.Helper()
	netl, ipl, et := ipLayers(src.Addr(), dst.Addr(), layers.IPProtocolTCP)
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()),
		Seq: seq, Ack: ack, Window: 65535, DataOffset: 5,
		SYN: strings.Contains(flags, "S"), ACK: strings.Contains(flags, "A"),
		PSH: strings.Contains(flags, "P"), FIN: strings.Contains(flags, "F")}
	if err := tcp.SetNetworkLayerForChecksum(netl); err != nil {
		t.Fatal(err)
	}
	ls := []gopacket.SerializableLayer{ipl, tcp, gopacket.Payload(payload)}
	if eth {
		ls = append([]gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: et}}, ls...)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// udpFrame builds an Ethernet frame carrying a UDP datagram.
func udpFrame(t testing.TB, src, dst netip.AddrPort, payload []byte) []byte {
	t.Helper()
	netl, ipl, et := ipLayers(src.Addr(), dst.Addr(), layers.IPProtocolUDP)
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	if err := udp.SetNetworkLayerForChecksum(netl); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: et}, ipl, udp, gopacket.Payload(payload))
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func (c tcpConn) syn(t testing.TB) []byte {
	return tcpFrame(t, c.cli, c.srv, c.cliISN, 0, "S", nil, true)
}

func (c tcpConn) synAck(t testing.TB) []byte {
	return tcpFrame(t, c.srv, c.cli, c.srvISN, c.cliISN+1, "SA", nil, true)
}

// data is a client segment carrying payload at stream offset off.
func (c tcpConn) data(t testing.TB, off int, payload []byte) []byte {
	return tcpFrame(t, c.cli, c.srv, c.cliISN+1+uint32(off), c.srvISN+1, "PA", payload, true)
}

// serverData is a server segment at stream offset off.
func (c tcpConn) serverData(t testing.TB, off int, payload []byte) []byte {
	return tcpFrame(t, c.srv, c.cli, c.srvISN+1+uint32(off), c.cliISN+1, "PA", payload, true)
}

// split cuts b at the given offsets.
func split(b []byte, cuts ...int) [][]byte {
	var out [][]byte
	prev := 0
	for _, c := range cuts {
		out = append(out, b[prev:c])
		prev = c
	}
	return append(out, b[prev:])
}

// frame is one packet to write to a capture.
type frame struct {
	link  layers.LinkType
	iface int
	data  []byte
}

var t0 = time.Date(2026, 5, 4, 3, 2, 1, 123456789, time.UTC)

// writePcap writes Ethernet frames as a pcap (nanosecond timestamps when
// nanos) with gopacket's writer; packet i is stamped t0 + i ms.
func writePcap(t testing.TB, link layers.LinkType, nanos bool, frames ...[]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	if nanos {
		w = pcapgo.NewWriterNanos(&b)
	}
	if err := w.WriteFileHeader(262144, link); err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(f), Length: len(f)}
		if err := w.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// writePcapNG writes frames as a pcapng with gopacket's writer; every
// distinct frame.iface gets an interface with the frame's link type.
func writePcapNG(t testing.TB, frames ...frame) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriter(&b, frames[0].link)
	if err != nil {
		t.Fatal(err)
	}
	have := 1
	for i, f := range frames {
		for f.iface >= have {
			if _, err := w.AddInterface(pcapgo.NgInterface{LinkType: f.link, SnapLength: 262144}); err != nil {
				t.Fatal(err)
			}
			have++
		}
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Millisecond),
			CaptureLength: len(f.data), Length: len(f.data), InterfaceIndex: f.iface}
		if err := w.WritePacket(ci, f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// ngBuilder writes pcapng by hand, for what gopacket's writer cannot
// express: big-endian sections, Simple Packet Blocks, link types above 255,
// other timestamp resolutions.
type ngBuilder struct {
	b     bytes.Buffer
	order binary.ByteOrder
}

func (n *ngBuilder) block(typ uint32, body []byte) {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	total := uint32(12 + len(body))
	var h [8]byte
	n.order.PutUint32(h[:4], typ)
	n.order.PutUint32(h[4:], total)
	n.b.Write(h[:])
	n.b.Write(body)
	n.b.Write(h[4:])
}

func (n *ngBuilder) section(order binary.ByteOrder) {
	n.order = order
	body := make([]byte, 16)
	order.PutUint32(body[0:], ngByteOrderMagic)
	order.PutUint16(body[4:], 1)
	order.PutUint16(body[6:], 0)
	binary.BigEndian.PutUint64(body[8:], ^uint64(0))
	n.block(ngSectionHeader, body)
}

// iface adds an interface; tsresol < 0 omits the option.
func (n *ngBuilder) iface(link uint16, snap uint32, tsresol int) {
	body := make([]byte, 8)
	n.order.PutUint16(body[0:], link)
	n.order.PutUint32(body[4:], snap)
	if tsresol >= 0 {
		opt := make([]byte, 8)
		n.order.PutUint16(opt[0:], ngOptTSResol)
		n.order.PutUint16(opt[2:], 1)
		opt[4] = byte(tsresol)
		body = append(body, opt...)
		body = append(body, 0, 0, 0, 0) // opt_endofopt
	}
	n.block(ngInterface, body)
}

func (n *ngBuilder) epb(iface uint32, ts uint64, data []byte) {
	body := make([]byte, 20, 20+len(data))
	n.order.PutUint32(body[0:], iface)
	n.order.PutUint32(body[4:], uint32(ts>>32))
	n.order.PutUint32(body[8:], uint32(ts))
	n.order.PutUint32(body[12:], uint32(len(data)))
	n.order.PutUint32(body[16:], uint32(len(data)))
	n.block(ngEnhancedPacket, append(body, data...))
}

func (n *ngBuilder) spb(data []byte) {
	body := make([]byte, 4, 4+len(data))
	n.order.PutUint32(body[0:], uint32(len(data)))
	n.block(ngSimplePacket, append(body, data...))
}

// writePcapBE writes a big-endian microsecond pcap by hand (gopacket
// writes little-endian only).
func writePcapBE(link uint32, frames ...[]byte) []byte {
	var b bytes.Buffer
	be := binary.BigEndian
	h := make([]byte, 24)
	be.PutUint32(h[0:], 0xa1b2c3d4)
	be.PutUint16(h[4:], 2)
	be.PutUint16(h[6:], 4)
	be.PutUint32(h[16:], 65535)
	be.PutUint32(h[20:], link)
	b.Write(h)
	for i, f := range frames {
		ts := t0.Add(time.Duration(i) * time.Millisecond)
		r := make([]byte, 16)
		be.PutUint32(r[0:], uint32(ts.Unix()))
		be.PutUint32(r[4:], uint32(ts.Nanosecond()/1000))
		be.PutUint32(r[8:], uint32(len(f)))
		be.PutUint32(r[12:], uint32(len(f)))
		b.Write(r)
		b.Write(f)
	}
	return b.Bytes()
}

// errStop is returned by handlers that stop an input.
var errStop = errors.New("stop")
