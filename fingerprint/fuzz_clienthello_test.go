package fingerprint

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fuzzHelloSeeds returns real and constructed ClientHellos: the golden
// captures of real clients, hellos of Go's crypto/tls client, and the
// builders' hellos as records, split records and bare messages.
func fuzzHelloSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	golden, err := filepath.Glob("testdata/golden/*.hello")
	if err != nil {
		f.Fatal(err)
	}
	anomalous, err := filepath.Glob("testdata/anomalies/*.hello")
	if err != nil {
		f.Fatal(err)
	}
	golden = append(golden, anomalous...)
	for _, name := range golden {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	seeds = append(seeds,
		captureGoHello(f, &tls.Config{ServerName: "fuzz.example", NextProtos: []string{"h2", "http/1.1"}}),
		captureGoHello(f, &tls.Config{ServerName: "fuzz.example", MaxVersion: tls.VersionTLS12}),
	)
	chrome := tChromeLike()
	msg := chrome.msg()
	seeds = append(seeds, chrome.rec(), msg, tRecords(msg, 0x0301, 1, 2), tRecords(msg, 0x0303, 300, 900))
	for _, h := range []tHello{
		{ciphers: []uint16{0x002f}, noExts: true},
		{legacy: 0x0300, ciphers: []uint16{0x000a, 0x00ff}, noExts: true},
		{ciphers: []uint16{0x1301}, exts: []tExt{tSNI("x"), tPSK([]int{20}, []int{32})}},
		{ciphers: []uint16{0x1301}, exts: []tExt{
			{ExtQUICTransportParameters, []byte{0x01, 0x02, 0x40, 0x10, 0x40, 0x3a, 0x00}},
			{ExtEncryptedClientHello, []byte{1}}, {ExtUseSRTP, tCat(tVec16(tU16s(1)), tVec8(nil))},
			{ExtCertificateAuthorities, tVec16(tVec16([]byte{1}))}, {ExtCookie, tVec16([]byte{9})},
			{ExtRecordSizeLimit, tU16(0x4001)}, tALPS(ExtApplicationSettingsOld, "h2"), tPadding(9),
		}},
	} {
		seeds = append(seeds, h.rec())
	}
	// Hellos with content anomalies (see TestParseErrors).
	for _, exts := range [][]tExt{
		{tSNI("x"), tALPN("", "h2"), tPoints(), tGroups()},
		{tALPN(), {ExtSupportedGroups, tVec16([]byte{0, 29, 0})}, tKeyShare([2]int{29, 0}), tPSKModes()},
		{tEmpty(ExtExtendedMasterSecret), tEmpty(ExtExtendedMasterSecret), tPSK([]int{16}, []int{31}), tSNI("y")},
		{{ExtEncryptedClientHello, []byte{7}}, {ExtQUICTransportParameters, []byte{0x01, 0x05, 0x00}}, {ExtStatusRequest, []byte{1, 0, 0}}},
	} {
		seeds = append(seeds, tHello{ciphers: []uint16{0x1301}, exts: exts}.rec())
	}
	seeds = append(seeds, tHelloFromJA4RO(f, "t13d1516h2_1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035_001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015_0403,0804,0401,0503,0805,0501,0806,0601").rec())
	return seeds
}

// FuzzClientHello checks, for any input: no panic; errors are *ParseError
// with an offset inside the input; a parsed hello has computable
// fingerprints that survive a re-parse of Raw as a bare message, its
// anomalies lie inside the input and cover every extension that does not
// decode, the JSON encodes, and the record framing agrees with
// ClientHelloLength.
func FuzzClientHello(f *testing.F) {
	for _, s := range fuzzHelloSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ch, err := ParseClientHello(b)
		lenNeed, lenErr := ClientHelloLength(b)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is %T, not *ParseError", err, err)
			}
			if pe.Offset < 0 || pe.Offset > len(b) {
				t.Fatalf("offset %d outside input of %d bytes: %v", pe.Offset, len(b), err)
			}
			if ch != nil {
				t.Fatalf("ClientHello and error together")
			}
			if len(b) > 0 && b[0] == tlsRecordTypeHandshake {
				// Framing verdicts must agree with ClientHelloLength.
				switch {
				case lenErr != nil:
					if ErrCode(lenErr) != pe.Code || lenErr.(*ParseError).Offset != pe.Offset {
						t.Fatalf("ClientHelloLength says %v, ParseClientHello %v", lenErr, err)
					}
				case pe.Code == CodeTruncated:
					if lenNeed <= len(b) {
						t.Fatalf("truncated, but ClientHelloLength says complete at %d", lenNeed)
					}
				default:
					if lenNeed > len(b) {
						t.Fatalf("content error %v, but ClientHelloLength needs %d > %d", err, lenNeed, len(b))
					}
				}
			}
			return
		}
		fp := ch.Fingerprints()
		if len(fp.JA4) != 36 || len(fp.JA3Hash) != 32 || len(fp.PeetPrintHash) != 32 {
			t.Fatalf("malformed fingerprints %+v", fp)
		}
		again, err := ParseClientHello(ch.Raw)
		if err != nil {
			t.Fatalf("re-parse of Raw: %v", err)
		}
		if again.Fingerprints() != fp {
			t.Fatalf("re-parse changed the fingerprints:\n%+v\n%+v", again.Fingerprints(), fp)
		}
		quic, err := ParseClientHelloQUIC(ch.Raw)
		if err != nil || quic.Fingerprints().JA4[1:] != fp.JA4[1:] {
			t.Fatalf("QUIC parse of Raw: %v", err)
		}
		// Every anomaly points inside the input, re-parsing Raw finds the
		// same ones, and an extension that does not decode has one.
		if len(again.Anomalies) != len(ch.Anomalies) {
			t.Fatalf("re-parse of Raw: %d anomalies, first parse %d", len(again.Anomalies), len(ch.Anomalies))
		}
		flagged := map[uint16]bool{}
		for i, a := range ch.Anomalies {
			if a.Offset < 0 || a.Offset > len(b) || a.Kind == "" || a.Message == "" {
				t.Fatalf("anomaly %+v outside input of %d bytes or incomplete", a, len(b))
			}
			if again.Anomalies[i].Kind != a.Kind || again.Anomalies[i].Extension != a.Extension {
				t.Fatalf("re-parse anomaly %+v, first %+v", again.Anomalies[i], a)
			}
			flagged[a.Extension] = true
		}
		for _, e := range ch.Extensions {
			if _, err := e.Decode(); err != nil && !flagged[e.Type] {
				t.Fatalf("extension %d does not decode but has no anomaly: %v", e.Type, err)
			}
		}
		// The fast and slow list validators agree, on valid data and on
		// the fuzzed bytes read as each list type.
		for _, typ := range []uint16{ExtSupportedGroups, ExtSignatureAlgorithms, ExtECPointFormats,
			ExtSupportedVersions, ExtCompressCertificate, ExtALPN, ExtKeyShare} {
			for _, d := range [][]byte{b, b[min(len(b), 5):], ch.Raw[min(len(ch.Raw), 40):]} {
				fast := listBody(typ, d) != nil
				_, pe := checkExtensionList(typ, tlsCursor{b: d, end: len(d)})
				if fast != (pe == nil) {
					t.Fatalf("type %d on %x: fast path %v, slow path %v", typ, d, fast, pe)
				}
			}
		}
		if _, err := json.Marshal(ch); err != nil {
			t.Fatalf("JSON: %v", err)
		}
		if b[0] == tlsRecordTypeHandshake && (lenErr != nil || lenNeed > len(b)) {
			t.Fatalf("parsed records, but ClientHelloLength = %d, %v", lenNeed, lenErr)
		}
	})
}

// FuzzClientHelloLength checks the streaming length function: no panic,
// the need never exceeds the cap, a complete verdict is stable on the exact
// prefix and the byte before it is incomplete, and a prefix of an
// acceptable stream is never rejected.
func FuzzClientHelloLength(f *testing.F) {
	for _, s := range fuzzHelloSeeds(f) {
		if s[0] == tlsRecordTypeHandshake {
			f.Add(s)
			f.Add(s[:len(s)/2])
		}
	}
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	f.Add([]byte("SSH-2.0-OpenSSH_9.2\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		need, err := ClientHelloLength(b)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Offset < 0 || pe.Offset >= len(b) {
				t.Fatalf("bad error %v for %d bytes", err, len(b))
			}
			return
		}
		if need > MaxClientHelloWireLength || need < 5 {
			t.Fatalf("need %d outside [5, %d]", need, MaxClientHelloWireLength)
		}
		for _, k := range []int{0, 1, len(b) / 3, len(b) / 2, len(b) - 1} {
			if k < 0 || k > len(b) {
				continue
			}
			n, err := ClientHelloLength(b[:k])
			if err != nil {
				t.Fatalf("prefix %d rejected (%v) though %d bytes are acceptable", k, err, len(b))
			}
			if n > need {
				t.Fatalf("prefix %d needs %d, more than the longer input's %d", k, n, need)
			}
		}
		if need <= len(b) {
			if n, err := ClientHelloLength(b[:need]); err != nil || n != need {
				t.Fatalf("exact prefix: %d, %v; want %d", n, err, need)
			}
			if n, err := ClientHelloLength(b[:need-1]); err != nil || n <= need-1 {
				t.Fatalf("one byte short: %d, %v", n, err)
			}
			if _, err := ParseClientHello(b[:need]); ErrCode(err) == CodeTruncated {
				t.Fatalf("complete framing but the parser says truncated: %v", err)
			}
		}
	})
}
