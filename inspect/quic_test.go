package inspect

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/guanaco-fp/guanaco/quicinitial"
)

// RFC 9001 Appendix A and RFC 9369 Appendix A values.
const (
	rfcDCID             = "8394c8f03e515708"
	rfc9001ClientSecret = "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea"
	// The start of the unprotected payload of A.2: a CRYPTO frame at offset
	// 0 of length 241 holding the ClientHello.
	rfcPayloadPrefix = "060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868"
)

func TestQUICInitialKeys(t *testing.T) {
	dcid, _ := hex.DecodeString(rfcDCID)
	secret, err := quicinitial.ClientInitialSecret(quicV1, dcid)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(secret); got != rfc9001ClientSecret {
		t.Errorf("client_initial_secret %s, RFC 9001 A.1 says %s", got, rfc9001ClientSecret)
	}
	for _, tc := range []struct {
		version     uint32
		key, iv, hp string
	}{
		{quicV1, "1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c", "9f50449e04a0e810283a1e9933adedd2"},
		{quicV2, "8b1a0bc121284290a29e0971b5cd045d", "91f73e2351d8fa91660e909f", "45b95e15235d6f45a6b19cbcb0294ba9"},
	} {
		secret, _ := quicinitial.ClientInitialSecret(tc.version, dcid)
		prefix := "quic "
		if tc.version == quicV2 {
			prefix = "quicv2 "
		}
		for label, want := range map[string]string{"key": tc.key, "iv": tc.iv, "hp": tc.hp} {
			got, err := quicinitial.HKDFExpandLabel(secret, prefix+label, len(want)/2)
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(got) != want {
				t.Errorf("version %#x %s = %x, want %s", tc.version, label, got, want)
			}
		}
	}
}

func TestQUICOpenRFCPackets(t *testing.T) {
	for _, file := range []string{"rfc9001-a2-client-initial.hex", "rfc9369-a2-client-initial.hex"} {
		t.Run(file, func(t *testing.T) {
			pkt := mustHex(t, string(readTestdata(t, file)))
			if len(pkt) != 1200 {
				t.Fatalf("packet of %d bytes", len(pkt))
			}
			h, need, err := quicinitial.ParseLongHeader(pkt)
			if err != nil || need != 1200 || h.Type != quicInitial || hex.EncodeToString(h.DCID) != rfcDCID || h.PNOffset != 18 {
				t.Fatalf("header %+v need %d err %v", h, need, err)
			}
			k, err := quicinitial.NewClientKeys(h.Version, h.DCID)
			if err != nil {
				t.Fatal(err)
			}
			orig := append([]byte(nil), pkt...)
			var scratch []byte
			plain, err := quicinitial.Open(k, pkt, h, &scratch)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pkt, orig) {
				t.Error("quicinitial.Open modified its input")
			}
			// 1200 - 22 header bytes (packet number 2 in 4 bytes) - 16 tag.
			if len(plain) != 1162 || !strings.HasPrefix(hex.EncodeToString(plain), rfcPayloadPrefix) {
				t.Fatalf("plaintext %d bytes: %x...", len(plain), plain[:min(32, len(plain))])
			}
			var frames int
			err = quicinitial.CryptoFrames(plain, func(off uint64, data []byte) {
				frames++
				if off != 0 || len(data) != 241 || data[0] != 0x01 {
					t.Errorf("CRYPTO frame off %d len %d", off, len(data))
				}
			})
			if err != nil || frames != 1 {
				t.Errorf("frames %d err %v", frames, err)
			}
			// One flipped ciphertext bit: the AEAD must refuse it.
			pkt[100] ^= 1
			if _, err := quicinitial.Open(k, pkt, h, &scratch); !errors.Is(err, quicinitial.ErrUndecryptable) {
				t.Errorf("tampered packet: err %v", err)
			}
		})
	}
}

// TestQUICRFCHex runs the RFC packets through Inspect as hex text.
func TestQUICRFCHex(t *testing.T) {
	for _, file := range []string{"rfc9001-a2-client-initial.hex", "rfc9369-a2-client-initial.hex"} {
		text := readTestdata(t, file)
		c, _ := mustRun(t, file, text)
		if len(c.hellos) != 1 {
			t.Fatalf("%s: found %d hellos", file, len(c.hellos))
		}
		r := c.hellos[0]
		// q: QUIC, 13: TLS 1.3, d: SNI, 02 ciphers, 11 extensions, ALPN "alpn".
		if r.SNI != "example.com" || strings.Join(r.ALPN, ",") != "alpn" || r.Transport != "quic" ||
			!strings.HasPrefix(r.JA4, "q13d0211an_") || r.TLSVersion != "0x0304" {
			t.Errorf("%s: %+v", file, r)
		}
		at := int64(bytes.Index(text, []byte("\nc0")) + 1)
		if file == "rfc9369-a2-client-initial.hex" {
			at = int64(bytes.Index(text, []byte("\nd7")) + 1)
		}
		if r.Offset == nil || *r.Offset != at {
			t.Errorf("%s: offset %v, want %d", file, r.Offset, at)
		}
	}
}

// sealInitial builds a protected client Initial packet (RFC 9001 §5) with
// the given frames and source connection ID "src", padded to 1200 bytes
// unless pad is false (quicinitial.SealClient).
func sealInitial(t testing.TB, version uint32, dcid []byte, pn uint32, frames []byte, pad bool) []byte {
	t.Helper()
	minLen := 0
	if pad {
		minLen = 1200
	}
	pkt, err := quicinitial.SealClient(version, dcid, []byte("src"), nil, pn, frames, minLen)
	if err != nil {
		t.Fatal(err)
	}
	return pkt
}

// cryptoFrame encodes a CRYPTO frame (quicinitial.CryptoFrame).
func cryptoFrame(off int, data []byte) []byte { return quicinitial.CryptoFrame(off, data) }

// TestQUICChaos: a hello scattered over two Initial packets in shuffled
// CRYPTO frames with PING, PADDING and ACK frames between them (as Chrome
// sends it), the second datagram first and coalesced with a Handshake
// packet, plus a server Initial that must not decrypt; then a second
// connection between the same ports.
func TestQUICChaos(t *testing.T) {
	msg := goHellos(t)[0][5:] // the bare handshake message
	if len(msg) < 1300 {
		t.Fatalf("hello only %d bytes", len(msg))
	}
	dcid := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	cli := netip.MustParseAddrPort("192.0.2.1:55555")
	srv := netip.MustParseAddrPort("192.0.2.2:443")
	ack := []byte{0x02, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00} // largest 0, delay 0, 1 range... then range, gap/len pair
	var p1, p2 []byte
	p1 = append(p1, 0x01)
	p1 = append(p1, cryptoFrame(700, msg[700:1000])...)
	p1 = append(p1, 0x00, 0x00, 0x01)
	p1 = append(p1, cryptoFrame(0, msg[:300])...)
	p1 = append(p1, cryptoFrame(250, msg[250:700])...) // overlaps
	p2 = append(p2, ack...)
	p2 = append(p2, cryptoFrame(1000, msg[1000:])...)
	d1 := sealInitial(t, quicV1, dcid, 0, p1, true)
	d2 := sealInitial(t, quicV1, dcid, 1, p2, false)
	// Coalesce a Handshake packet (type 2) after the second Initial.
	hs := append([]byte{0xe3, 0, 0, 0, 1, 8}, dcid...)
	hs = append(hs, 0, 0x40, 20)
	hs = append(hs, make([]byte, 20)...)
	d2 = append(d2, hs...)
	server := sealInitial(t, quicV1, []byte{9, 9, 9, 9}, 0, cryptoFrame(0, []byte{2, 0, 0, 0}), true)
	server[30] ^= 0xff // whatever it is, it is not a client Initial of this connection

	// A second connection, QUIC v2, on the same ports after the first.
	dcid2 := []byte{0xaa, 0xbb, 0xcc, 0xdd}
	e1 := sealInitial(t, quicV2, dcid2, 0, cryptoFrame(0, msg), false)

	frames := [][]byte{
		udpFrame(t, cli, srv, d2),
		udpFrame(t, srv, cli, server),
		udpFrame(t, cli, srv, d1),
		udpFrame(t, cli, srv, d1), // a retransmission after completion
		udpFrame(t, cli, srv, e1),
	}
	c, st := mustRun(t, "q.pcap", writePcap(t, layers.LinkTypeEthernet, false, frames...))
	if len(c.hellos) != 2 {
		t.Fatalf("found %d hellos, want 2", len(c.hellos))
	}
	want := wantRecord(t, msg, true)
	for i, r := range c.hellos {
		sameHello(t, r, want)
		if r.Source != "q.pcap#192.0.2.1:55555->192.0.2.2:443" || !strings.HasPrefix(r.JA4, "q") {
			t.Errorf("hello %d: source %s ja4 %s", i, r.Source, r.JA4)
		}
	}
	if c.hellos[0].Packet != 3 || c.hellos[1].Packet != 5 {
		t.Errorf("packets %d, %d; want 3, 5", c.hellos[0].Packet, c.hellos[1].Packet)
	}
	if st.Undecryptable != 1 || st.QUICFlows != 2 {
		t.Errorf("Undecryptable %d QUICFlows %d", st.Undecryptable, st.QUICFlows)
	}

	// Only the first datagram: the hello is reported incomplete.
	c, _, err := run(t, "half.pcap", writePcap(t, layers.LinkTypeEthernet, false, udpFrame(t, cli, srv, d1)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.hellos) != 0 || len(c.problems) != 1 ||
		!strings.Contains(c.problems[0].Error(), "stream offset 1000: input ended inside a ClientHello: have 1000 of") {
		t.Errorf("hellos %d problems %v", len(c.hellos), c.problems)
	}

	// The same packets as raw bytes, back to back with zero padding.
	raw := append(append(append([]byte(nil), d1...), make([]byte, 40)...), d2...)
	c, _ = mustRun(t, "q.bin", raw)
	if len(c.hellos) != 1 || *c.hellos[0].Offset != int64(len(d1)+40) {
		t.Fatalf("raw: hellos %+v", c.hellos)
	}
	sameHello(t, c.hellos[0], want)
}

func TestCryptoFramesRejects(t *testing.T) {
	for name, p := range map[string][]byte{
		"stream frame":    {0x08, 0x00},
		"crypto too long": {0x06, 0x00, 0x10, 0x01},
		"truncated ack":   {0x02, 0x00},
		"ack ranges":      {0x02, 0x00, 0x00, 0x3f, 0x00},
		"close reason":    {0x1c, 0x00, 0x00, 0x05, 0x01},
	} {
		if err := quicinitial.CryptoFrames(p, func(uint64, []byte) {}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	ok := []byte{0x00, 0x01, 0x03, 0x05, 0x00, 0x01, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x1d, 0x00, 0x01, 'x', 0x06, 0x00, 0x01, 0xaa}
	var got []byte
	if err := quicinitial.CryptoFrames(ok, func(off uint64, d []byte) { got = append(got, d...) }); err != nil || !bytes.Equal(got, []byte{0xaa}) {
		t.Errorf("got %x err %v", got, err)
	}
}
