package inspect

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/gopacket/layers"
)

// preambles are client->server bytes sent before the ClientHello by each
// recognised protocol, as real clients send them.
var preambles = []struct {
	name, want string
	b          []byte
}{
	{"smtp", PreambleSMTP, []byte("EHLO client.example\r\nSTARTTLS\r\n")},
	{"imap", PreambleIMAP, []byte("a001 CAPABILITY\r\na002 STARTTLS\r\n")},
	{"pop3", PreamblePOP3, []byte("CAPA\r\nSTLS\r\n")},
	{"ftp", PreambleFTP, []byte("AUTH TLS\r\n")},
	{"xmpp", PreambleXMPP, []byte("<?xml version='1.0'?><stream:stream to='example.com' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")},
	{"ldap", PreambleLDAP, append([]byte{0x30, 0x1d, 0x02, 0x01, 0x01, 0x77, 0x18, 0x80, 0x16}, "1.3.6.1.4.1.1466.20037"...)},
	{"connect", PreambleHTTPConnect, []byte("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nUser-Agent: curl/8.5.0\r\n\r\n")},
	{"socks4", PreambleSOCKS4, []byte{0x04, 0x01, 0x01, 0xbb, 93, 184, 216, 34, 0x00}},
	{"socks5", PreambleSOCKS5, []byte{0x05, 0x01, 0x00, 0x05, 0x01, 0x00, 0x03, 11, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm', 0x01, 0xbb}},
	{"mysql", PreambleMySQL, append([]byte{0x20, 0x00, 0x00, 0x01, 0x85, 0xae, 0xff, 0x19, 0x00, 0x00, 0x00, 0x01, 0x2d}, make([]byte, 23)...)},
	{"postgresql", PreamblePostgreSQL, []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}},
	{"unknown text", PreambleUnknown, []byte("HELLO THERE\r\n")},
	// A byte sequence that looks like a record start but is not a hello
	// (handshake type 2) must be skipped by the scan.
	{"false start", PreambleUnknown, []byte{0x16, 0x03, 0x03, 0x00, 0x30, 0x02, 0x00, 0x00, 0x2c, 0x03, 0x03, 'x'}},
}

func TestDetectPreamble(t *testing.T) {
	for _, p := range preambles {
		if got := DetectPreamble(p.b); got != p.want {
			t.Errorf("%s: DetectPreamble = %q, want %q", p.name, got, p.want)
		}
	}
	if got := DetectPreamble(nil); got != "" {
		t.Errorf("empty preamble: %q", got)
	}
}

// TestHelloAfterPreamble puts a real hello after each preamble, on its own
// connection, with the preamble and the hello split across segments, and
// checks the record's offset, preamble and fingerprints.
func TestHelloAfterPreamble(t *testing.T) {
	h := goHellos(t)[0]
	want := wantRecord(t, h, false)
	var frames [][]byte
	var conns []tcpConn
	for i, p := range preambles {
		c := tcpConn{cli: netip.AddrPortFrom(cliA.Addr(), uint16(2000+i)), srv: srv4, cliISN: uint32(1000 * i), srvISN: 9}
		conns = append(conns, c)
		stream := append(append([]byte(nil), p.b...), h...)
		frames = append(frames, c.syn(t), c.synAck(t))
		for _, s := range split(stream, len(p.b)/2, len(p.b)+3) {
			frames = append(frames, c.data(t, bytes.Index(stream, s), s))
		}
	}
	// A stream whose hello starts past the window is not scanned to its end.
	far := tcpConn{cli: netip.AddrPortFrom(cliB.Addr(), 3000), srv: srv4, cliISN: 1, srvISN: 2}
	farStream := append(bytes.Repeat([]byte("x"), PreambleWindow), h...)
	frames = append(frames, far.syn(t), far.synAck(t))
	for off := 0; off < len(farStream); off += 1400 {
		frames = append(frames, far.data(t, off, farStream[off:min(len(farStream), off+1400)]))
	}
	c, st := mustRun(t, "pre.pcap", writePcap(t, layers.LinkTypeEthernet, false, frames...))
	if len(c.problems) != 0 {
		t.Errorf("problems: %v", c.problems)
	}
	if len(c.hellos) != len(preambles) {
		t.Fatalf("found %d hellos, want %d", len(c.hellos), len(preambles))
	}
	for i, p := range preambles {
		r := findSource(t, c, streamName("pre.pcap", conns[i].cli, conns[i].srv))
		if r.Offset == nil || *r.Offset != int64(len(p.b)) || r.Preamble != p.want {
			t.Errorf("%s: offset %v preamble %q, want %d %q", p.name, r.Offset, r.Preamble, len(p.b), p.want)
		}
		r.Offset, r.Preamble = nil, ""
		sameHello(t, r, want)
	}
	if st.NotTLS != 1 {
		t.Errorf("NotTLS = %d, want 1 (the stream with its hello past the window)", st.NotTLS)
	}
}

// TestHelloAtStreamStartHasNoOffset keeps the old output for hellos that
// start their stream.
func TestHelloAtStreamStartHasNoOffset(t *testing.T) {
	h := goHellos(t)[0]
	cn := tcpConn{cli: cliA, srv: srv4, cliISN: 5, srvISN: 6}
	c, _ := mustRun(t, "start.pcap", writePcap(t, layers.LinkTypeEthernet, false, cn.syn(t), cn.synAck(t), cn.data(t, 0, h)))
	if len(c.hellos) != 1 || c.hellos[0].Offset != nil || c.hellos[0].Preamble != "" {
		t.Fatalf("hellos %+v", c.hellos)
	}
}

func TestScanHelloCandidates(t *testing.T) {
	h := goHellos(t)[0]
	for _, tc := range []struct {
		name string
		b    []byte
		at   int
		want candidate
	}{
		{"hello at 0", h, 0, candYes},
		{"after text", append([]byte("abc"), h...), 3, candYes},
		{"partial header", []byte("abc\x16\x03"), 3, candMore},
		{"no 0x16 yet", []byte(strings.Repeat("a", 100)), 100, candMore},
		{"window passed", bytes.Repeat([]byte{0}, PreambleWindow+10), 0, candNo},
		{"record too short", append([]byte{0x16, 0x03, 0x01, 0x00, 0x02, 0x01, 0, 0, 50, 3, 3}, h...), 11, candYes},
	} {
		at, c := scanHello(tc.b, 0)
		if c != tc.want || (c != candNo && at != tc.at) {
			t.Errorf("%s: scanHello = %d %v, want %d %v", tc.name, at, c, tc.at, tc.want)
		}
	}
}

// FuzzHelloAfterPreamble checks the preamble scan: for any preamble without
// a 0x16 byte (which could start a competing record), a real hello after it
// is found at the preamble's length, wherever the segments are cut; the
// scan functions never panic on the raw fuzzed bytes, and a candidate they
// report passes helloCandidate.
func FuzzHelloAfterPreamble(f *testing.F) {
	for _, p := range preambles {
		f.Add(p.b, uint16(len(p.b)/2))
	}
	f.Add([]byte{}, uint16(0))
	h := goHellos(f)[0]
	f.Fuzz(func(t *testing.T, p []byte, cut uint16) {
		if at, c := scanHello(p, 0); c == candYes && (at >= PreambleWindow || helloCandidate(p, at) != candYes) {
			t.Fatalf("scanHello %d %v on %x", at, c, p)
		}
		_ = DetectPreamble(p)
		if len(p) > 2000 {
			p = p[:2000]
		}
		p = bytes.ReplaceAll(p, []byte{0x16}, []byte{0x17})
		stream := append(append([]byte(nil), p...), h...)
		k := int(cut) % (len(stream) + 1)
		cn := tcpConn{cli: cliA, srv: srv4, cliISN: 77, srvISN: 88}
		frames := [][]byte{cn.syn(t), cn.synAck(t)}
		for _, s := range split(stream, k) {
			if len(s) > 0 {
				frames = append(frames, cn.data(t, bytes.Index(stream, s), s))
			}
		}
		c, _, err := run(t, "fz.pcap", writePcap(t, layers.LinkTypeEthernet, false, frames...), Options{})
		if err != nil || len(c.hellos) != 1 {
			t.Fatalf("preamble %x: %d hellos, err %v, problems %v", p, len(c.hellos), err, c.problems)
		}
		r := c.hellos[0]
		if len(p) == 0 && r.Offset != nil || len(p) > 0 && (r.Offset == nil || *r.Offset != int64(len(p)) || r.Preamble == "") {
			t.Fatalf("preamble %x: offset %v preamble %q", p, r.Offset, r.Preamble)
		}
	})
}

// TestPreambleCapturesAgreeWithTshark runs the real loopback captures of
// testdata/preamble (capture.sh: openssl s_client -starttls, curl through
// CONNECT and SOCKS proxies, curl FTPS and IMAP) and compares each hello
// with what tshark found in the same file (expect.sh wrote expect.json):
// the frame, the stream offset (tshark's relative tcp.seq - 1), SNI, ALPN
// and JA3; the preamble is the protocol the capture ran.
func TestPreambleCapturesAgreeWithTshark(t *testing.T) {
	var want []struct {
		File     string `json:"file"`
		DecodeAs string `json:"decode_as"`
		Preamble string `json:"preamble"`
		Frame    int64  `json:"tshark_frame"`
		Seq      int64  `json:"tshark_tcp_seq"`
		SNI      string `json:"sni"`
		ALPN     string `json:"alpn"`
		JA3      string `json:"ja3"`
		JA3Hash  string `json:"ja3_hash"`
	}
	if err := json.Unmarshal(readTestdata(t, "preamble/expect.json"), &want); err != nil {
		t.Fatal(err)
	}
	if len(want) < 12 {
		t.Fatalf("%d expectations, want 12", len(want))
	}
	for _, w := range want {
		t.Run(w.File, func(t *testing.T) {
			c, _ := mustRun(t, w.File, readTestdata(t, "preamble/"+w.File))
			if len(c.hellos) != 1 || len(c.problems) != 0 {
				t.Fatalf("%d hellos, problems %v", len(c.hellos), c.problems)
			}
			r := c.hellos[0]
			if r.Offset == nil || *r.Offset != w.Seq-1 || r.Packet != w.Frame || r.Preamble != w.Preamble {
				t.Errorf("offset %v packet %d preamble %q; tshark: seq %d frame %d, preamble %q", r.Offset, r.Packet, r.Preamble, w.Seq, w.Frame, w.Preamble)
			}
			if r.SNI != w.SNI || strings.Join(r.ALPN, ",") != w.ALPN || r.JA3 != w.JA3 || r.JA3Hash != w.JA3Hash {
				t.Errorf("got sni %q alpn %v ja3 %s %s\ntshark: sni %q alpn %q ja3 %s %s", r.SNI, r.ALPN, r.JA3, r.JA3Hash, w.SNI, w.ALPN, w.JA3, w.JA3Hash)
			}
		})
	}
}

// TestAnomalousHellosInCapture reads the loopback capture of the hellos
// with extension anomalies (fingerprint/testdata/anomalies): every hello is
// reported, four of them with their anomalies, none as a problem.
func TestAnomalousHellosInCapture(t *testing.T) {
	c, _ := mustRun(t, "anomalies.pcap", readTestdata(t, "../../fingerprint/testdata/anomalies/anomalies.pcap"))
	if len(c.hellos) != 6 || len(c.problems) != 0 {
		t.Fatalf("%d hellos, problems %v", len(c.hellos), c.problems)
	}
	with := 0
	for _, r := range c.hellos {
		if len(r.Anomalies) > 0 {
			with++
		}
	}
	if with != 4 {
		t.Errorf("%d hellos with anomalies, want 4", with)
	}
}

// TestRawStreamWithPreamble reads a client stream dumped as is: the
// preamble is skipped, the hello reported at its file offset.
func TestRawStreamWithPreamble(t *testing.T) {
	h := goHellos(t)[0]
	for _, p := range preambles[:11] {
		in := append(append([]byte(nil), p.b...), h...)
		c, st, err := run(t, p.name+".bin", in, Options{})
		if err != nil || len(c.hellos) != 1 || st.Format != FormatRaw {
			t.Errorf("%s: %d hellos, format %v, err %v, problems %v", p.name, len(c.hellos), st.Format, err, c.problems)
			continue
		}
		r := c.hellos[0]
		if r.Offset == nil || *r.Offset != int64(len(p.b)) || r.Preamble != p.want {
			t.Errorf("%s: offset %v preamble %q", p.name, r.Offset, r.Preamble)
		}
	}
	// Text without a hello stays unrecognised.
	if _, _, err := run(t, "text.bin", []byte("hello, world\n"), Options{}); err == nil {
		t.Errorf("plain text accepted")
	}
}
