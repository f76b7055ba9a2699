package fingerprint

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// tParseHex parses "1301,1302,..." into values.
func tParseHex(t testing.TB, list string) []uint16 {
	t.Helper()
	var out []uint16
	for _, f := range strings.Split(list, ",") {
		b, err := hex.DecodeString(f)
		if err != nil || len(b) != 2 {
			t.Fatalf("bad hex %q", f)
		}
		out = append(out, uint16(b[0])<<8|uint16(b[1]))
	}
	return out
}

// tExtFor returns a well-formed extension of type typ for a test hello:
// the lists that JA4 and PeetPrint read come from the arguments, every other
// type gets plausible content.
func tExtFor(typ uint16, sigalgs []uint16) tExt {
	switch typ {
	case ExtServerName:
		return tSNI("example.com")
	case ExtALPN:
		return tALPN("h2", "http/1.1")
	case ExtSupportedGroups:
		return tGroups(0x0a0a, 29, 23, 24)
	case ExtECPointFormats:
		return tPoints(0)
	case ExtSignatureAlgorithms:
		return tSigAlgs(sigalgs...)
	case ExtSupportedVersions:
		return tVersions(0x1a1a, 0x0304, 0x0303)
	case ExtPSKKeyExchangeModes:
		return tPSKModes(1)
	case ExtKeyShare:
		return tKeyShare([2]int{0x0a0a, 1}, [2]int{29, 32})
	case ExtCompressCertificate:
		return tCertComp(2)
	case ExtStatusRequest:
		return tStatusRequest()
	case ExtRenegotiationInfo:
		return tReneg()
	case ExtApplicationSettingsOld, ExtApplicationSettings:
		return tALPS(typ, "h2")
	case ExtEncryptedClientHello:
		return tECHOuter(7, 32, 144)
	case ExtPadding:
		return tPadding(100)
	case ExtSessionTicket:
		return tTicket(0)
	case ExtSignedCertificateTimestamp, ExtExtendedMasterSecret:
		return tEmpty(typ)
	}
	return tExt{typ, []byte{0xde, 0xad}}
}

// tHelloFromJA4RO builds a TLS 1.3 hello from the cipher, extension and
// signature algorithm lists of a JA4_ro string, with GREASE inserted where
// browsers put it.
func tHelloFromJA4RO(t testing.TB, ro string) tHello {
	t.Helper()
	parts := strings.Split(ro, "_")
	ciphers := append([]uint16{0x2a2a}, tParseHex(t, parts[1])...)
	sigalgs := tParseHex(t, parts[3])
	exts := []tExt{tEmpty(0x5a5a)}
	for _, typ := range tParseHex(t, parts[2]) {
		exts = append(exts, tExtFor(typ, sigalgs))
	}
	exts = append(exts, tExt{0x6a6a, []byte{0}})
	return tHello{sid: make([]byte, 32), ciphers: ciphers, exts: exts}
}

func TestJA4SpecVector(t *testing.T) {
	// FoxIO technical_details/JA4.md: the example hello in wire order.
	const (
		ja4   = "t13d1516h2_8daaf6152771_e5627efa2ab1"
		ja4r  = "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601"
		ja4o  = "t13d1516h2_acb858a92679_18f69afefd3d"
		ja4ro = "t13d1516h2_1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035_001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015_0403,0804,0401,0503,0805,0501,0806,0601"
	)
	h := tHelloFromJA4RO(t, ja4ro)
	ch, err := ParseClientHello(h.rec())
	if err != nil {
		t.Fatal(err)
	}
	fp := ch.Fingerprints()
	for _, c := range [][3]string{{"ja4", fp.JA4, ja4}, {"ja4_r", fp.JA4R, ja4r}, {"ja4_o", fp.JA4O, ja4o}, {"ja4_ro", fp.JA4RO, ja4ro}} {
		if c[1] != c[2] {
			t.Errorf("%s:\n got  %s\n want %s", c[0], c[1], c[2])
		}
	}
}

func TestJA4FoxIOSigalgGREASEVector(t *testing.T) {
	// FoxIO python/test/testdata/sigalg-grease.pcapng.json: a Chrome hello
	// whose signature_algorithms starts with GREASE 0x0a0a.
	const (
		ja4   = "t13d1517h2_8daaf6152771_cb7bf5808d99"
		ja4r  = "t13d1517h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0017,001b,0023,002b,002d,0033,44cd,ca34,fe0d,ff01_0904,0905,0906,0403,0804,0401,0503,0805,0501,0806,0601"
		ja4o  = "t13d1517h2_acb858a92679_88bf22a3e888"
		ja4ro = "t13d1517h2_1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035_fe0d,0010,0017,0033,44cd,ff01,000a,000d,0023,002b,000b,ca34,002d,0000,0005,001b,0012_0904,0905,0906,0403,0804,0401,0503,0805,0501,0806,0601"
	)
	h := tHelloFromJA4RO(t, ja4ro)
	for i, e := range h.exts {
		if e.typ == ExtSignatureAlgorithms {
			h.exts[i] = tSigAlgs(append([]uint16{0x0a0a}, tParseHex(t, strings.Split(ja4ro, "_")[3])...)...)
		}
	}
	ch, err := ParseClientHello(h.rec())
	if err != nil {
		t.Fatal(err)
	}
	fp := ch.Fingerprints()
	for _, c := range [][3]string{{"ja4", fp.JA4, ja4}, {"ja4_r", fp.JA4R, ja4r}, {"ja4_o", fp.JA4O, ja4o}, {"ja4_ro", fp.JA4RO, ja4ro}} {
		if c[1] != c[2] {
			t.Errorf("%s:\n got  %s\n want %s", c[0], c[1], c[2])
		}
	}
	if !strings.HasPrefix(fp.PeetPrint, "GREASE-772-771|2-1.1|GREASE-29-23-24|GREASE-2308-") {
		t.Errorf("PeetPrint must keep the signature algorithm GREASE: %s", fp.PeetPrint)
	}
}

func TestJA4ALPNCharacters(t *testing.T) {
	for _, c := range []struct {
		proto []byte
		want  string
	}{
		// FoxIO JA4.md "ALPN Extension Value" examples.
		{[]byte{0xab}, "ab"},
		{[]byte{0xab, 0xcd}, "ad"},
		{[]byte{0x30, 0xab}, "3b"},
		{[]byte{0x30, 0x31, 0xab, 0xcd}, "3d"},
		{[]byte{0x30, 0xab, 0xcd, 0x31}, "01"},
		{[]byte("h2"), "h2"},
		{[]byte("http/1.1"), "h1"},
		{[]byte("h"), "hh"},
		{[]byte("h3-29"), "h9"},
		{[]byte("spdy/3"), "s3"},
		{[]byte("/x"), "28"},       // '/' is 0x2f, 'x' is 0x78
		{[]byte{0xc3, 0xa9}, "c9"}, // UTF-8 "é" is not ASCII alphanumeric
	} {
		h := tHello{ciphers: []uint16{0x1301}, exts: []tExt{{ExtALPN, tVec16(tVec8(c.proto))}}}
		ch, err := ParseClientHello(h.rec())
		if err != nil {
			t.Fatal(err)
		}
		if got := ch.Fingerprints().JA4[8:10]; got != c.want {
			t.Errorf("ALPN %x: got %q, want %q", c.proto, got, c.want)
		}
	}
}

func TestJA4EdgeCases(t *testing.T) {
	many := make([]uint16, 120)
	for i := range many {
		many[i] = uint16(0xc100 + i)
	}
	for _, c := range []struct {
		name   string
		h      tHello
		quic   bool
		prefix string // the a section
		check  func(t *testing.T, fp TLSFingerprints)
	}{
		{
			name: "no sni", prefix: "t13i0103h2",
			h: tHello{ciphers: []uint16{0x1301}, exts: []tExt{tALPN("h2"), tVersions(0x0304), tSigAlgs(0x0403)}},
		},
		{
			name: "no alpn", prefix: "t13d010200",
			h: tHello{ciphers: []uint16{0x1301}, exts: []tExt{tSNI("x"), tVersions(0x0304)}},
		},
		{
			name: "more than 99 ciphers", prefix: "t12i9900",
			h: tHello{ciphers: many, noExts: true},
			check: func(t *testing.T, fp TLSFingerprints) {
				if n := strings.Count(strings.Split(fp.JA4R, "_")[1], ",") + 1; n != 120 {
					t.Errorf("JA4_r lists %d ciphers, want all 120", n)
				}
			},
		},
		{
			name: "no extensions block", prefix: "t12i010000",
			h: tHello{ciphers: []uint16{0x002f}, noExts: true},
			check: func(t *testing.T, fp TLSFingerprints) {
				if !strings.HasSuffix(fp.JA4, "_000000000000") || fp.JA4R != "t12i010000_002f_" || fp.JA3 != "771,47,,," {
					t.Errorf("got %s / %s / %s", fp.JA4, fp.JA4R, fp.JA3)
				}
			},
		},
		{
			name: "only sni and alpn", prefix: "t12d0102h2",
			h: tHello{ciphers: []uint16{0x002f}, exts: []tExt{tSNI("x"), tALPN("h2")}},
			check: func(t *testing.T, fp TLSFingerprints) {
				if !strings.HasSuffix(fp.JA4, "_000000000000") || strings.HasSuffix(fp.JA4O, "_000000000000") {
					t.Errorf("JA4 c must be empty but JA4_o c not: %s / %s", fp.JA4, fp.JA4O)
				}
			},
		},
		{
			name: "grease in supported_versions", prefix: "t13i0101",
			h: tHello{ciphers: []uint16{0x1301}, exts: []tExt{tVersions(0xfafa, 0x0303, 0x0304, 0x0a0a)}},
		},
		{
			name: "only grease in supported_versions", prefix: "t12i0101",
			h: tHello{ciphers: []uint16{0x1301}, exts: []tExt{tVersions(0xfafa)}},
		},
		{
			name: "quic", quic: true, prefix: "q13d0103h3",
			h: tHello{ciphers: []uint16{0x1301}, exts: []tExt{tSNI("x"), tALPN("h3"), tVersions(0x0304)}},
		},
		{
			name: "tls 1.2 only", prefix: "t12d0202h1",
			h: tHello{ciphers: []uint16{0xc02b, 0x0a0a, 0xc02f}, exts: []tExt{tSNI("x"), tALPN("http/1.1"), tEmpty(0x0a0a)}},
		},
		{name: "ssl3 legacy version", prefix: "ts3i0100", h: tHello{legacy: 0x0300, ciphers: []uint16{0x000a}, noExts: true}},
		{name: "tls 1.0", prefix: "t10i0100", h: tHello{legacy: 0x0301, ciphers: []uint16{0x000a}, noExts: true}},
		{name: "tls 1.1", prefix: "t11i0100", h: tHello{legacy: 0x0302, ciphers: []uint16{0x000a}, noExts: true}},
		{name: "ssl2 code", prefix: "ts2i0100", h: tHello{legacy: 0x0002, ciphers: []uint16{0x000a}, noExts: true}},
		{name: "dtls 1.2", prefix: "td2i0100", h: tHello{legacy: 0xfefd, ciphers: []uint16{0x000a}, noExts: true}},
		{name: "unknown version", prefix: "t00i0101", h: tHello{ciphers: []uint16{0x1301}, exts: []tExt{tVersions(0x0305)}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			parse := ParseClientHello
			in := c.h.rec()
			if c.quic {
				parse, in = ParseClientHelloQUIC, c.h.msg()
			}
			ch, err := parse(in)
			if err != nil {
				t.Fatal(err)
			}
			fp := ch.Fingerprints()
			if !strings.HasPrefix(fp.JA4, c.prefix) {
				t.Errorf("JA4 %s, want prefix %s", fp.JA4, c.prefix)
			}
			tCheckHashes(t, fp)
			if c.check != nil {
				c.check(t, fp)
			}
		})
	}
}

// tCheckHashes checks that every hashed field is the hash of its raw field,
// computed here independently.
func tCheckHashes(t *testing.T, fp TLSFingerprints) {
	t.Helper()
	md5hex := func(s string) string { sum := md5.Sum([]byte(s)); return hex.EncodeToString(sum[:]) }
	sha12 := func(s string) string {
		if s == "" {
			return "000000000000"
		}
		sum := sha256.Sum256([]byte(s))
		return hex.EncodeToString(sum[:])[:12]
	}
	hashed := func(raw string) string {
		a, rest, _ := strings.Cut(raw, "_")
		b, c, _ := strings.Cut(rest, "_")
		return a + "_" + sha12(b) + "_" + sha12(c)
	}
	if fp.JA3Hash != md5hex(fp.JA3) || fp.JA3NHash != md5hex(fp.JA3N) || fp.PeetPrintHash != md5hex(fp.PeetPrint) {
		t.Errorf("md5 hashes do not match their strings: %+v", fp)
	}
	if fp.JA4 != hashed(fp.JA4R) || fp.JA4O != hashed(fp.JA4RO) {
		t.Errorf("JA4 %s / JA4_o %s are not the hashes of %s / %s", fp.JA4, fp.JA4O, fp.JA4R, fp.JA4RO)
	}
}

func TestAppendDec(t *testing.T) {
	for v := 0; v <= 0xffff; v++ {
		if got, want := string(appendDec(nil, uint16(v))), strconv.Itoa(v); got != want {
			t.Fatalf("appendDec(%d) = %q", v, got)
		}
	}
}

func TestJA3(t *testing.T) {
	h := tHello{
		ciphers: []uint16{0x0a0a, 0x1301, 0xc02b},
		exts: []tExt{tEmpty(0x0a0a), tSNI("x"), tEmpty(ExtExtendedMasterSecret), tGroups(0x1a1a, 29, 23),
			tPoints(0, 1), tEmpty(0x2a2a), tPadding(3)},
	}
	ch, err := ParseClientHello(h.rec())
	if err != nil {
		t.Fatal(err)
	}
	fp := ch.Fingerprints()
	if want := "771,4865-49195,0-23-10-11-21,29-23,0-1"; fp.JA3 != want {
		t.Errorf("JA3 %s, want %s", fp.JA3, want)
	}
	if want := "771,4865-49195,0-10-11-21-23,29-23,0-1"; fp.JA3N != want {
		t.Errorf("JA3N %s, want %s", fp.JA3N, want)
	}
	tCheckHashes(t, fp)
}

func TestPeetPrint(t *testing.T) {
	h := tHello{
		ciphers: []uint16{0x0a0a, 0x1301, 0xc02b},
		exts: []tExt{
			tEmpty(0x0a0a), tSNI("x"), tStatusRequest(), tGroups(0x2a2a, 0x11ec, 29),
			tALPN("h2", "http/1.1", "h3", "HTTP/1.0"), tReneg(), tALPS(ExtApplicationSettings, "h2"),
			tPadding(5), tVersions(0x2a2a, 0x0304, 0x0303), tPSKModes(1, 0), tSigAlgs(0x0a0a, 0x0403),
			tCertComp(2, 1), tEmpty(0x1a1a), tPSK([]int{8}, []int{32}),
		},
	}
	ch, err := ParseClientHello(h.rec())
	if err != nil {
		t.Fatal(err)
	}
	fp := ch.Fingerprints()
	want := "GREASE-772-771|2-1.1-1.0|GREASE-4588-29|GREASE-1027|1|2-1|GREASE-4865-49195|" +
		"0-10-13-16-17613-21-27-41-43-45-5-65281-GREASE-GREASE"
	if fp.PeetPrint != want {
		t.Errorf("PeetPrint:\n got  %s\n want %s", fp.PeetPrint, want)
	}
	tCheckHashes(t, fp)

	// Without supported_versions, ALPN and psk_key_exchange_modes.
	h = tHello{ciphers: []uint16{0x002f}, exts: []tExt{tSNI("x"), tGroups(23)}}
	ch, err = ParseClientHello(h.rec())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ch.Fingerprints().PeetPrint, "||23||0||47|0-10"; got != want {
		t.Errorf("PeetPrint %s, want %s", got, want)
	}
}

func TestFingerprintsUnderExtensionPermutation(t *testing.T) {
	// Chromium permutes its extensions per connection: JA4, JA4_r, JA3N and
	// PeetPrint must not move; JA3 and JA4_o must.
	base := tChromeLike()
	ch, err := ParseClientHello(base.rec())
	if err != nil {
		t.Fatal(err)
	}
	want := ch.Fingerprints()
	rng := rand.New(rand.NewPCG(1, 2))
	changed := 0
	for i := 0; i < 20; i++ {
		h := base
		h.exts = append([]tExt(nil), base.exts...)
		inner := h.exts[1 : len(h.exts)-1] // keep the GREASE at both ends, as Chrome does
		rng.Shuffle(len(inner), func(i, j int) { inner[i], inner[j] = inner[j], inner[i] })
		ch, err := ParseClientHello(h.rec())
		if err != nil {
			t.Fatal(err)
		}
		got := ch.Fingerprints()
		if got.JA4 != want.JA4 || got.JA4R != want.JA4R || got.JA3N != want.JA3N || got.PeetPrint != want.PeetPrint {
			t.Fatalf("order-independent fingerprint moved:\n%+v\n%+v", got, want)
		}
		if got.JA3 != want.JA3 {
			changed++
			if got.JA4O == want.JA4O {
				t.Errorf("JA3 changed but JA4_o did not")
			}
		}
	}
	if changed == 0 {
		t.Errorf("no permutation changed JA3")
	}
}

func TestFingerprintsAllocations(t *testing.T) {
	in := tChromeLike().rec()
	ch, err := ParseClientHello(in)
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(50, func() { _ = ch.Fingerprints() }); n > 1 {
		t.Errorf("Fingerprints: %.0f allocations, want 1", n)
	}
	if n := testing.AllocsPerRun(50, func() {
		ch, _ := ParseClientHello(in)
		_ = ch.Fingerprints()
	}); n >= 20 {
		t.Errorf("parse and fingerprint: %.0f allocations, want < 20", n)
	}
	// Real hellos of every shape: one allocation for all ten strings.
	golden, _ := filepath.Glob("testdata/golden/*.hello")
	for _, name := range golden {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		ch, err := ParseClientHello(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if n := testing.AllocsPerRun(20, func() { _ = ch.Fingerprints() }); n > 1 {
			t.Errorf("%s: Fingerprints made %.0f allocations", name, n)
		}
	}
}
