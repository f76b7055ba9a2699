package inspect

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/guanaco-fp/guanaco/quicinitial"
)

// fuzzOptions keeps fuzzed inputs cheap while exercising every limit.
var fuzzOptions = Options{
	MaxStreamBytes:         8 << 10,
	MaxFlows:               32,
	MaxBufferedBytes:       64 << 10,
	MaxFragmentedDatagrams: 8,
	MaxPacketBytes:         64 << 10,
}

// checkInspect runs Inspect on b and checks the invariants that hold for
// every input.
func checkInspect(t *testing.T, name string, b []byte) {
	c := &collector{}
	st, err := New(fuzzOptions).Inspect(context.Background(), name, bytes.NewReader(b), c)
	if st.Hellos != len(c.hellos) || st.Problems != len(c.problems) {
		t.Fatalf("stats %d/%d, handler saw %d/%d", st.Hellos, st.Problems, len(c.hellos), len(c.problems))
	}
	for _, r := range c.hellos {
		if !strings.HasPrefix(r.Source, name) || r.ALPN == nil || r.Ciphers == nil || r.Extensions == nil ||
			r.JA4 == "" || len(r.JA3Hash) != 32 || (r.Transport != "tcp" && r.Transport != "quic") {
			t.Fatalf("malformed record %+v", r)
		}
		if r.Offset != nil && (*r.Offset < 0 || *r.Offset >= int64(len(b))) {
			t.Fatalf("offset %d outside the input of %d bytes", *r.Offset, len(b))
		}
	}
	for _, p := range c.problems {
		if !strings.HasPrefix(p.Source, name) || p.Err == nil || p.Error() == "" {
			t.Fatalf("malformed problem %+v", p)
		}
	}
	if err != nil && err.Error() == "" {
		t.Fatal("empty error")
	}
}

func addSeeds(f *testing.F, files ...string) {
	for _, name := range files {
		f.Add(readTestdata(f, name))
	}
}

// FuzzInput fuzzes format detection and every reader behind it.
func FuzzInput(f *testing.F) {
	addSeeds(f, "curl.pcap", "chromium.pcapng", "rfc9001-a2-client-initial.hex", "rfc9369-a2-client-initial.hex")
	hs := goHellos(f)
	f.Add(hs[0])
	f.Add(append(append([]byte(nil), hs[1]...), 0x14, 0x03, 0x03, 0x00, 0x01, 0x01))
	f.Add(hs[2][5:])
	f.Add([]byte(hex.EncodeToString(hs[1]) + "\n# c\n0x" + hex.EncodeToString(hs[0][:200])))
	f.Add(mustHex(f, string(readTestdata(f, "rfc9001-a2-client-initial.hex"))))
	conn := tcpConn{cli: cliA, srv: srv4, cliISN: 1, srvISN: 2}
	p := split(hs[0], 300)
	f.Add(writePcap(f, layers.LinkTypeEthernet, true, conn.syn(f), conn.data(f, 300, p[1]), conn.data(f, 0, p[0])))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkInspect(t, "in", b)
	})
}

// fuzzLinks are the link types FuzzPcap picks from.
var fuzzLinks = []uint32{linkEthernet, linkLinuxSLL, linkSLL2, linkNull, linkLoop, linkRaw, linkIPv4, linkIPv6}

// FuzzPcap fuzzes the packet records of a pcap file behind a valid header:
// link, IP (with fragments), TCP reassembly and QUIC. The first byte picks
// the link type.
func FuzzPcap(f *testing.F) {
	curl := readTestdata(f, "curl.pcap")
	f.Add(append([]byte{0}, curl[24:]...))
	hs := goHellos(f)
	conn := tcpConn{cli: cliA, srv: srv4, cliISN: 0xfffffff0, srvISN: 2}
	p := split(hs[0], 100, 700)
	pc := writePcap(f, layers.LinkTypeEthernet, false,
		conn.syn(f), conn.synAck(f), conn.data(f, 100, p[1]), conn.data(f, 0, p[0]), conn.data(f, 0, p[0]), conn.data(f, 700, p[2]))
	f.Add(append([]byte{0}, pc[24:]...))
	raw := writePcap(f, layers.LinkType(linkRaw), false, tcpFrame(f, cli6, srv6, 5, 0, "PA", hs[1], false))
	f.Add(append([]byte{5}, raw[24:]...))
	dcid := []byte{1, 2, 3, 4}
	q := writePcap(f, layers.LinkTypeEthernet, false,
		udpFrame(f, cliA, srv4, sealInitial(f, quicV1, dcid, 1, cryptoFrame(600, hs[2][5+600:]), true)),
		udpFrame(f, cliA, srv4, sealInitial(f, quicV1, dcid, 0, cryptoFrame(0, hs[2][5:5+600]), true)))
	f.Add(append([]byte{0}, q[24:]...))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		hdr := make([]byte, 24)
		binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
		binary.LittleEndian.PutUint16(hdr[4:], 2)
		binary.LittleEndian.PutUint16(hdr[6:], 4)
		binary.LittleEndian.PutUint32(hdr[16:], 65535)
		binary.LittleEndian.PutUint32(hdr[20:], fuzzLinks[int(b[0])%len(fuzzLinks)])
		checkInspect(t, "p.pcap", append(hdr, b[1:]...))
	})
}

// FuzzPcapNG fuzzes the blocks of a pcapng file after a valid little-endian
// section header.
func FuzzPcapNG(f *testing.F) {
	var shb ngBuilder
	shb.section(binary.LittleEndian)
	prefix := shb.b.Bytes()
	chromium := readTestdata(f, "chromium.pcapng")
	total := binary.LittleEndian.Uint32(chromium[4:8])
	f.Add(chromium[total:])
	hs := goHellos(f)
	var ng ngBuilder
	ng.order = binary.LittleEndian
	ng.iface(uint16(linkLinuxSLL), 0, 0x80|30)
	ng.iface(uint16(linkRaw), 1500, 3)
	ip := tcpFrame(f, cliA, srv4, 1, 0, "PA", hs[0], false)
	ng.epb(1, 12345, ip)
	ng.spb(append([]byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00}, ip...))
	f.Add(ng.b.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		checkInspect(t, "n.pcapng", append(append([]byte(nil), prefix...), b...))
	})
}

// FuzzCryptoFrames fuzzes the Initial frame walker.
func FuzzCryptoFrames(f *testing.F) {
	f.Add([]byte{0x06, 0x00, 0x01, 0xaa})
	f.Add([]byte{0x03, 0x05, 0x00, 0x01, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x1d, 0x00, 0x01, 'x'})
	f.Fuzz(func(t *testing.T, p []byte) {
		total := 0
		_ = quicinitial.CryptoFrames(p, func(off uint64, d []byte) { total += len(d) })
		if total > len(p) {
			t.Fatalf("%d CRYPTO bytes from %d input bytes", total, len(p))
		}
	})
}
