package fingerprint

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// ---- test builders: a ClientHello assembled from plain lists ----

type tExt struct {
	typ  uint16
	data []byte
}

// tHello describes a ClientHello; zero fields get realistic defaults.
type tHello struct {
	legacy  uint16 // 0 -> 0x0303
	random  []byte // nil -> 32 bytes 0x00..0x1f
	sid     []byte
	ciphers []uint16
	comp    []byte // nil -> {0}
	exts    []tExt
	noExts  bool // omit the extensions block entirely
}

func tU16(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }

func tU16s(vs ...uint16) []byte {
	var b []byte
	for _, v := range vs {
		b = append(b, tU16(v)...)
	}
	return b
}

func tVec8(b []byte) []byte  { return append([]byte{byte(len(b))}, b...) }
func tVec16(b []byte) []byte { return append(tU16(uint16(len(b))), b...) }

func tCat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func (h tHello) body() []byte {
	legacy := h.legacy
	if legacy == 0 {
		legacy = 0x0303
	}
	random := h.random
	if random == nil {
		random = make([]byte, 32)
		for i := range random {
			random[i] = byte(i)
		}
	}
	comp := h.comp
	if comp == nil {
		comp = []byte{0}
	}
	b := tCat(tU16(legacy), random, tVec8(h.sid), tVec16(tU16s(h.ciphers...)), tVec8(comp))
	if !h.noExts {
		var exts []byte
		for _, e := range h.exts {
			exts = append(exts, tU16(e.typ)...)
			exts = append(exts, tVec16(e.data)...)
		}
		b = append(b, tVec16(exts)...)
	}
	return b
}

// msg is the bare handshake message.
func (h tHello) msg() []byte {
	body := h.body()
	return append([]byte{1, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
}

// rec is the message in one TLS 1.0 record.
func (h tHello) rec() []byte { return tRecords(h.msg(), 0x0301) }

// extOffset is the message offset of extension i's header.
func (h tHello) extOffset(i int) int {
	off := 4 + 2 + 32 + 1 + len(h.sid) + 2 + 2*len(h.ciphers) + 1 + max(len(h.comp), 1) + 2
	for _, e := range h.exts[:i] {
		off += 4 + len(e.data)
	}
	return off
}

// tRecords splits msg into handshake records of the given body sizes; the
// remainder goes into a last record.
func tRecords(msg []byte, ver uint16, sizes ...int) []byte {
	var out []byte
	for _, n := range append(sizes, len(msg)) {
		n = min(n, len(msg))
		if n == 0 {
			continue
		}
		out = append(out, 0x16, byte(ver>>8), byte(ver), byte(n>>8), byte(n))
		out = append(out, msg[:n]...)
		msg = msg[n:]
	}
	return out
}

// tInputOffset maps a message offset to an input offset for records of
// the given sizes (as built by tRecords), counting record headers.
func tInputOffset(msgOff int, sizes ...int) int {
	headers := 1
	seen := 0
	for _, n := range sizes {
		if msgOff < seen+n {
			break
		}
		seen += n
		headers++
	}
	return msgOff + 5*headers
}

func tSNI(host string) tExt {
	return tExt{ExtServerName, tVec16(tCat([]byte{0}, tVec16([]byte(host))))}
}

func tProtocols(protos ...string) []byte {
	var l []byte
	for _, p := range protos {
		l = append(l, tVec8([]byte(p))...)
	}
	return tVec16(l)
}

func tALPN(protos ...string) tExt           { return tExt{ExtALPN, tProtocols(protos...)} }
func tGroups(gs ...uint16) tExt             { return tExt{ExtSupportedGroups, tVec16(tU16s(gs...))} }
func tPoints(ps ...byte) tExt               { return tExt{ExtECPointFormats, tVec8(ps)} }
func tSigAlgs(as ...uint16) tExt            { return tExt{ExtSignatureAlgorithms, tVec16(tU16s(as...))} }
func tVersions(vs ...uint16) tExt           { return tExt{ExtSupportedVersions, tVec8(tU16s(vs...))} }
func tPSKModes(ms ...byte) tExt             { return tExt{ExtPSKKeyExchangeModes, tVec8(ms)} }
func tCertComp(as ...uint16) tExt           { return tExt{ExtCompressCertificate, tVec8(tU16s(as...))} }
func tEmpty(t uint16) tExt                  { return tExt{t, nil} }
func tStatusRequest() tExt                  { return tExt{ExtStatusRequest, []byte{1, 0, 0, 0, 0}} }
func tReneg() tExt                          { return tExt{ExtRenegotiationInfo, []byte{0}} }
func tTicket(n int) tExt                    { return tExt{ExtSessionTicket, make([]byte, n)} }
func tPadding(n int) tExt                   { return tExt{ExtPadding, make([]byte, n)} }
func tALPS(t uint16, protos ...string) tExt { return tExt{t, tProtocols(protos...)} }

// tKeyShare builds key_share from (group, key length) pairs.
func tKeyShare(pairs ...[2]int) tExt {
	var l []byte
	for _, p := range pairs {
		l = append(l, tU16(uint16(p[0]))...)
		l = append(l, tVec16(bytes.Repeat([]byte{0x42}, p[1]))...)
	}
	return tExt{ExtKeyShare, tVec16(l)}
}

// tECHOuter builds an outer encrypted_client_hello.
func tECHOuter(configID byte, encLen, payloadLen int) tExt {
	return tExt{ExtEncryptedClientHello, tCat([]byte{0}, tU16(1), tU16(1), []byte{configID},
		tVec16(make([]byte, encLen)), tVec16(make([]byte, payloadLen)))}
}

// tPSK builds pre_shared_key from identity and binder lengths.
func tPSK(idLens, binderLens []int) tExt {
	var ids, binders []byte
	for _, n := range idLens {
		ids = append(ids, tVec16(make([]byte, n))...)
		ids = append(ids, 0, 0, 0x12, 0x34)
	}
	for _, n := range binderLens {
		binders = append(binders, tVec8(make([]byte, n))...)
	}
	return tExt{ExtPreSharedKey, tCat(tVec16(ids), tVec16(binders))}
}

// tChromeLike is a Chrome-shaped TLS 1.3 hello.
func tChromeLike() tHello {
	return tHello{
		sid: bytes.Repeat([]byte{0x55}, 32),
		ciphers: []uint16{0x3a3a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
			0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035},
		exts: []tExt{
			tEmpty(0x8a8a),
			tSNI("www.example.com"),
			tEmpty(ExtExtendedMasterSecret),
			tReneg(),
			tGroups(0x4a4a, 0x11ec, 29, 23, 24),
			tPoints(0),
			tTicket(0),
			tALPN("h2", "http/1.1"),
			tStatusRequest(),
			tSigAlgs(0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601),
			tEmpty(ExtSignedCertificateTimestamp),
			tKeyShare([2]int{0x4a4a, 1}, [2]int{0x11ec, 1216}, [2]int{29, 32}),
			tPSKModes(1),
			tVersions(0x7a7a, 0x0304, 0x0303),
			tCertComp(2),
			tALPS(ExtApplicationSettings, "h2"),
			tECHOuter(0x8f, 32, 176),
			{0xbaba, []byte{0}},
		},
	}
}

func wantParseError(t *testing.T, err error, code ErrorCode, off int) {
	t.Helper()
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *ParseError", err, err)
	}
	if pe.Code != code || pe.Offset != off {
		t.Fatalf("got %s at %d (%v), want %s at %d", pe.Code, pe.Offset, err, code, off)
	}
	if !errors.Is(err, &ParseError{Code: code}) || ErrCode(err) != code {
		t.Fatalf("errors.Is/ErrCode do not see code %s in %v", code, err)
	}
}

// ---- parser ----

func TestParseClientHelloFields(t *testing.T) {
	h := tChromeLike()
	ch, err := ParseClientHello(h.rec())
	if err != nil {
		t.Fatal(err)
	}
	if ch.Transport != TransportTCP || ch.RecordVersion != 0x0301 || ch.LegacyVersion != 0x0303 {
		t.Errorf("transport/record/legacy = %s/%#x/%#x", ch.Transport, ch.RecordVersion, ch.LegacyVersion)
	}
	if len(ch.Random) != 32 || ch.Random[0] != 0 || ch.Random[31] != 31 {
		t.Errorf("random = %x", ch.Random)
	}
	if !bytes.Equal(ch.SessionID, h.sid) {
		t.Errorf("session id = %x", ch.SessionID)
	}
	if !slices.Equal(ch.CipherSuites, h.ciphers) {
		t.Errorf("ciphers = %x, want %x", ch.CipherSuites, h.ciphers)
	}
	if !bytes.Equal(ch.CompressionMethods, []byte{0}) {
		t.Errorf("compression = %x", ch.CompressionMethods)
	}
	if !bytes.Equal(ch.Raw, h.msg()) {
		t.Errorf("Raw differs from the handshake message")
	}
	if len(ch.Extensions) != len(h.exts) {
		t.Fatalf("%d extensions, want %d", len(ch.Extensions), len(h.exts))
	}
	for i, e := range ch.Extensions {
		if e.Type != h.exts[i].typ || !bytes.Equal(e.Data, h.exts[i].data) {
			t.Errorf("extension %d = %d %x, want %d %x", i, e.Type, e.Data, h.exts[i].typ, h.exts[i].data)
		}
		if e.GREASE != (i == 0 || i == len(h.exts)-1) {
			t.Errorf("extension %d (%#x): GREASE = %v", i, e.Type, e.GREASE)
		}
	}
	if got := ch.ServerName(); got != "www.example.com" {
		t.Errorf("ServerName = %q", got)
	}
	if got := ch.ALPN(); !slices.Equal(got, []string{"h2", "http/1.1"}) {
		t.Errorf("ALPN = %q", got)
	}
	if got := ch.SupportedGroups(); !slices.Equal(got, []uint16{0x4a4a, 0x11ec, 29, 23, 24}) {
		t.Errorf("SupportedGroups = %v", got)
	}
	if got := ch.PointFormats(); !bytes.Equal(got, []byte{0}) {
		t.Errorf("PointFormats = %v", got)
	}
	if got := ch.SignatureAlgorithms(); len(got) != 8 || got[0] != 0x0403 || got[7] != 0x0601 {
		t.Errorf("SignatureAlgorithms = %x", got)
	}
	if got := ch.SupportedVersions(); !slices.Equal(got, []uint16{0x7a7a, 0x0304, 0x0303}) {
		t.Errorf("SupportedVersions = %x", got)
	}
	wantShares := []KeyShare{{0x4a4a, "GREASE", 1}, {0x11ec, "X25519MLKEM768", 1216}, {29, "x25519", 32}}
	if got := ch.KeyShares(); !slices.Equal(got, wantShares) {
		t.Errorf("KeyShares = %+v", got)
	}
	if got := ch.PSKModes(); !bytes.Equal(got, []byte{1}) {
		t.Errorf("PSKModes = %v", got)
	}
	if got := ch.CertCompressionAlgs(); !slices.Equal(got, []uint16{2}) {
		t.Errorf("CertCompressionAlgs = %v", got)
	}
	if ch.MaxVersion() != 0x0304 || ch.HasPSK() || !ch.HasExtension(ExtEncryptedClientHello) || ch.HasExtension(ExtPadding) {
		t.Errorf("MaxVersion/HasPSK/HasExtension wrong")
	}
	if got := ch.ExtensionTypes(); len(got) != len(h.exts) || got[1] != ExtServerName {
		t.Errorf("ExtensionTypes = %v", got)
	}
	if e, ok := ch.FindExtension(ExtALPN); !ok || e.Name() != "application_layer_protocol_negotiation" || len(e.Data) != 14 {
		t.Errorf("FindExtension(ALPN) = %+v, %v", e, ok)
	}
	if _, ok := ch.FindExtension(ExtPadding); ok {
		t.Errorf("FindExtension found an absent extension")
	}
}

func TestParseClientHelloDoesNotRetainInput(t *testing.T) {
	in := tChromeLike().rec()
	ch, err := ParseClientHello(in)
	if err != nil {
		t.Fatal(err)
	}
	before := ch.Fingerprints()
	for i := range in {
		in[i] = 0xee
	}
	if after := ch.Fingerprints(); after != before || ch.ServerName() != "www.example.com" {
		t.Fatalf("ClientHello changed when the input buffer was overwritten")
	}
}

func TestParseBareRecordAndQUICAgree(t *testing.T) {
	h := tChromeLike()
	fromRec, err := ParseClientHello(h.rec())
	if err != nil {
		t.Fatal(err)
	}
	bare, err := ParseClientHello(h.msg())
	if err != nil {
		t.Fatal(err)
	}
	quic, err := ParseClientHelloQUIC(h.msg())
	if err != nil {
		t.Fatal(err)
	}
	if bare.RecordVersion != 0 || bare.Transport != TransportTCP || quic.Transport != TransportQUIC {
		t.Errorf("bare record version %#x, transports %s/%s", bare.RecordVersion, bare.Transport, quic.Transport)
	}
	fr, fb, fq := fromRec.Fingerprints(), bare.Fingerprints(), quic.Fingerprints()
	if fr != fb {
		t.Errorf("record and bare fingerprints differ:\n%+v\n%+v", fr, fb)
	}
	if !strings.HasPrefix(fq.JA4, "q") || fq.JA4[1:] != fr.JA4[1:] || fq.JA3 != fr.JA3 {
		t.Errorf("QUIC JA4 %s vs TCP %s", fq.JA4, fr.JA4)
	}
	if !bytes.Equal(fromRec.Raw, bare.Raw) {
		t.Errorf("Raw differs between record and bare input")
	}
}

func TestParseSplitRecords(t *testing.T) {
	h := tChromeLike()
	msg := h.msg()
	want, err := ParseClientHello(h.rec())
	if err != nil {
		t.Fatal(err)
	}
	for _, sizes := range [][]int{
		{1, 2},            // the 4-byte handshake header split over three records
		{100, 1000},       // three records in the middle of extensions
		{3, 1},            // header split 3+1
		{len(msg) - 1, 1}, // last byte alone: only two records
		{600, 600},
	} {
		in := tRecords(msg, 0x0303, sizes...)
		ch, err := ParseClientHello(in)
		if err != nil {
			t.Fatalf("split %v: %v", sizes, err)
		}
		if !bytes.Equal(ch.Raw, msg) || ch.Fingerprints() != want.Fingerprints() || ch.RecordVersion != 0x0303 {
			t.Errorf("split %v: differs from the single-record parse", sizes)
		}
		need, err := ClientHelloLength(in)
		if err != nil || need != len(in) {
			t.Errorf("split %v: ClientHelloLength = %d, %v; want %d", sizes, need, err, len(in))
		}
	}
}

func TestParseIgnoresBytesAfterTheHello(t *testing.T) {
	h := tChromeLike()
	msg := h.msg()
	// The last record runs on past the message, then a change_cipher_spec
	// record and application data follow, as in a 0-RTT flight.
	last := append(append([]byte(nil), msg[100:]...), 0x14, 0, 0, 0)
	in := tCat(tRecords(msg[:100], 0x0301), []byte{0x16, 3, 1, byte(len(last) >> 8), byte(len(last))}, last)
	wireLen := len(in)
	in = append(in, 0x14, 3, 3, 0, 1, 1, 0x17, 3, 3, 0, 2, 0xaa, 0xbb)
	ch, err := ParseClientHello(in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ch.Raw, msg) {
		t.Errorf("Raw includes bytes after the message")
	}
	need, err := ClientHelloLength(in)
	if err != nil || need != wireLen {
		t.Errorf("ClientHelloLength = %d, %v; want %d", need, err, wireLen)
	}
}

// TestParseErrors checks that framing problems fail the parse and that
// content problems inside an extension become anomalies at the right offset.
func TestParseErrors(t *testing.T) {
	good := tChromeLike()
	withExts := func(exts ...tExt) tHello {
		h := tHello{ciphers: []uint16{0x1301}, exts: exts}
		return h
	}
	// A hello whose second extension is malformed: offset of its data.
	bad := func(e tExt) ([]byte, int) {
		h := withExts(tSNI("a.example"), e)
		return h.rec(), 5 + h.extOffset(1) + 4
	}
	type tc struct {
		name string
		in   []byte
		code ErrorCode
		kind AnomalyKind
		off  int
	}
	var cases []tc
	add := func(name string, in []byte, code ErrorCode, off int) {
		cases = append(cases, tc{name: name, in: in, code: code, off: off})
	}
	// Content problems inside sound framing: parsed, with one anomaly.
	anom := func(name string, in []byte, kind AnomalyKind, off int) {
		cases = append(cases, tc{name: name, in: in, kind: kind, off: off})
	}
	add("empty", nil, CodeTruncated, 0)
	add("http request", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), CodeNotTLS, 0)
	add("ssh banner", []byte("SSH-2.0-OpenSSH_9.2\r\n"), CodeNotTLS, 0)
	add("sslv2 hello", []byte{0x80, 0x2e, 0x01, 0x00, 0x02}, CodeNotTLS, 0)
	add("record major 4", []byte{0x16, 0x04, 0x01, 0x00, 0x10}, CodeNotTLS, 1)
	add("record header only", []byte{0x16, 0x03, 0x01, 0x00, 0x10}, CodeTruncated, 5)
	rec := good.rec()
	add("truncated record", rec[:len(rec)-10], CodeTruncated, len(rec)-10)
	add("truncated record header", rec[:3], CodeTruncated, 3)
	big := append([]byte{0x16, 0x03, 0x01}, tU16(MaxRecordLength+1)...)
	add("record too large", append(big, make([]byte, 100)...), CodeTooLarge, 3)
	add("zero-length record", []byte{0x16, 0x03, 0x01, 0x00, 0x00, 0x16, 0x03, 0x01, 0x00, 0x01, 0x01}, CodeMalformed, 3)
	add("server hello", []byte{0x16, 0x03, 0x03, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00}, CodeNotClientHello, 5)
	add("handshake too large", []byte{0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x01, 0x00, 0x01}, CodeTooLarge, 6)
	split := tRecords(good.msg(), 0x0301, 50)
	alert := append(append([]byte(nil), split[:55]...), 0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x28)
	add("alert inside the hello", alert, CodeMalformed, 55)
	var many []byte
	for i := 0; i < MaxClientHelloRecords+1; i++ {
		many = append(many, 0x16, 0x03, 0x01, 0x00, 0x01, good.msg()[i])
	}
	add("too many records", many, CodeTooLarge, 6*MaxClientHelloRecords)
	add("bare truncated header", []byte{0x01, 0x00}, CodeTruncated, 2)
	add("bare too large", []byte{0x01, 0x02, 0x00, 0x00}, CodeTooLarge, 1)
	msg := good.msg()
	add("bare truncated body", msg[:len(msg)-1], CodeTruncated, len(msg)-1)

	longSID := tHello{sid: make([]byte, 33), ciphers: []uint16{0x1301}}
	add("session id 33 bytes", longSID.rec(), CodeMalformed, 5+4+2+32)
	add("no cipher suites", tHello{}.rec(), CodeMalformed, 5+4+2+32+1)
	oddCiphers := tHello{ciphers: []uint16{0x1301}}.msg()
	oddCiphers[4+2+32+1+1] = 3 // cipher_suites length 3
	add("odd cipher suites length", tRecords(oddCiphers, 0x0301), CodeMalformed, 5+4+2+32+1)
	add("no compression methods", tHello{ciphers: []uint16{0x1301}, comp: []byte{}}.rec(), CodeMalformed, 5+4+2+32+1+4)

	h := withExts(tSNI("a.example"), tGroups(29))
	m := h.msg()
	m[h.extOffset(1)+3]++ // supported_groups data length one byte past the block
	add("extension past its parent", tRecords(m, 0x0301), CodeBadLength, 5+h.extOffset(1)+2)
	m = h.msg()
	blockLenAt := h.extOffset(0) - 2
	m[blockLenAt+1]++ // extensions block length past the message
	add("extensions block past message", tRecords(m, 0x0301), CodeBadLength, 5+blockLenAt)
	m = append(h.msg(), 0xff)
	m[3]++ // body length covers one trailing byte
	add("trailing bytes after extensions", tRecords(m, 0x0301), CodeBadLength, 5+len(m)-1)
	h = withExts(tSNI("a.example"), tEmpty(ExtExtendedMasterSecret), tEmpty(ExtExtendedMasterSecret))
	anom("duplicate extension", h.rec(), AnomalyDuplicate, 5+h.extOffset(2))
	var lots []tExt
	for i := 0; i < 80; i++ {
		lots = append(lots, tEmpty(uint16(1000+i)))
	}
	lots = append(lots, tEmpty(1040))
	h = withExts(lots...)
	anom("duplicate among many extensions", h.rec(), AnomalyDuplicate, 5+h.extOffset(80))

	in, off := bad(tGroups())
	anom("empty supported_groups", in, AnomalyEmpty, off)
	in, off = bad(tExt{ExtSupportedGroups, tVec16([]byte{0, 29, 0})})
	anom("odd supported_groups", in, AnomalyOddLength, off)
	in, off = bad(tSigAlgs())
	anom("empty signature_algorithms", in, AnomalyEmpty, off)
	in, off = bad(tALPN())
	anom("empty ALPN list", in, AnomalyEmpty, off)
	in, off = bad(tALPN("h2", ""))
	anom("empty ALPN protocol", in, AnomalyEmpty, off+2+3)
	in, off = bad(tVersions())
	anom("empty supported_versions", in, AnomalyEmpty, off)
	in, off = bad(tPSKModes())
	anom("empty psk_key_exchange_modes", in, AnomalyEmpty, off)
	in, off = bad(tPoints())
	anom("empty ec_point_formats", in, AnomalyEmpty, off)
	in, off = bad(tCertComp())
	anom("empty compress_certificate", in, AnomalyEmpty, off)
	in, off = bad(tExt{ExtCookie, tVec16(nil)})
	anom("empty cookie", in, AnomalyEmpty, off)
	in, off = bad(tKeyShare([2]int{29, 0}))
	anom("empty key_exchange", in, AnomalyEmpty, off+2+2)
	in, off = bad(tExt{ExtKeyShare, tCat(tVec16(tCat(tU16(29), tU16(32))))})
	anom("key share past its list", in, AnomalyOverrun, off+2+2)
	in, off = bad(tExt{ExtExtendedMasterSecret, []byte{0}})
	anom("non-empty extended_master_secret", in, AnomalyNotEmpty, off)
	in, off = bad(tExt{ExtRecordSizeLimit, tU16(63)})
	anom("record_size_limit below 64", in, AnomalyOutOfRange, off)
	in, off = bad(tExt{ExtRecordSizeLimit, []byte{0x40, 0x01, 0x00}})
	anom("record_size_limit of 3 bytes", in, AnomalyTrailingBytes, off+2)
	in, off = bad(tExt{ExtSupportedGroups, tCat(tVec16(tU16(29)), []byte{0})})
	anom("trailing byte in supported_groups", in, AnomalyTrailingBytes, off+4)
	in, off = bad(tPSK([]int{16}, []int{32, 32}))
	anom("psk identities and binders disagree", in, AnomalyMismatch, off)
	in, off = bad(tPSK([]int{16}, []int{31}))
	anom("psk binders list too short", in, AnomalyTooShort, off+2+22)
	in, off = bad(tPSK([]int{16}, []int{31, 40}))
	anom("psk binder too short", in, AnomalyTooShort, off+2+22+2)
	in, off = bad(tExt{ExtEncryptedClientHello, []byte{7}})
	anom("unknown ECH type", in, AnomalyOutOfRange, off)
	in, off = bad(tExt{ExtEncryptedClientHello, tCat([]byte{0}, tU16(1), tU16(1), []byte{1}, tVec16(nil), tVec16(nil))})
	anom("ECH with empty payload", in, AnomalyEmpty, off+8)
	in, off = bad(tExt{ExtQUICTransportParameters, []byte{0x01, 0x05, 0x00}})
	anom("QUIC parameter past the extension", in, AnomalyOverrun, off+1)
	h = withExts(tExt{ExtServerName, tVec16(nil)})
	anom("empty server_name list", h.rec(), AnomalyEmpty, 5+h.extOffset(0)+4)
	in, off = bad(tExt{ExtStatusRequest, []byte{1, 0, 0}})
	anom("truncated status_request", in, AnomalyOverrun, off+3)
	h = withExts(tPSK([]int{16}, []int{32}), tSNI("a.example"))
	anom("pre_shared_key not last", h.rec(), AnomalyMisplaced, 5+h.extOffset(0))

	// An error inside the message maps back through the record headers.
	h = withExts(tSNI("a.example"), tGroups(29), tEmpty(ExtExtendedMasterSecret), tGroups(23))
	at := h.extOffset(3)
	anom("duplicate mapped through 3 records", tRecords(h.msg(), 0x0301, 30, at-30-2), AnomalyDuplicate,
		tInputOffset(at, 30, at-30-2))

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ch, err := ParseClientHello(c.in)
			if c.kind != "" {
				if err != nil {
					t.Fatalf("content problem %s failed the parse: %v", c.kind, err)
				}
				if len(ch.Anomalies) != 1 {
					t.Fatalf("anomalies %+v, want one %s", ch.Anomalies, c.kind)
				}
				if a := ch.Anomalies[0]; a.Kind != c.kind || a.Offset != c.off || a.Message == "" {
					t.Fatalf("anomaly %+v, want kind %s at offset %d", a, c.kind, c.off)
				}
				_ = ch.Fingerprints()
				return
			}
			if err == nil {
				t.Fatalf("parsed without error: %d extensions", len(ch.Extensions))
			}
			if ch != nil {
				t.Errorf("non-nil ClientHello with an error")
			}
			wantParseError(t, err, c.code, c.off)
		})
	}
}

func TestParseAcceptsWhatTheRFCsAllow(t *testing.T) {
	for name, h := range map[string]tHello{
		"no extensions block":    {ciphers: []uint16{0x002f}, noExts: true},
		"empty extensions block": {ciphers: []uint16{0x002f}},
		"repeated GREASE type":   {ciphers: []uint16{0x1301}, exts: []tExt{tEmpty(0x0a0a), tEmpty(0x0a0a)}},
		"empty key_share list":   {ciphers: []uint16{0x1301}, exts: []tExt{{ExtKeyShare, tVec16(nil)}}},
		"psk last":               {ciphers: []uint16{0x1301}, exts: []tExt{tSNI("x"), tPSK([]int{1, 9}, []int{32, 48})}},
		"inner ECH":              {ciphers: []uint16{0x1301}, exts: []tExt{{ExtEncryptedClientHello, []byte{1}}}},
		"unknown extension":      {ciphers: []uint16{0x1301}, exts: []tExt{{0x1234, []byte("anything")}}},
		"nonzero padding":        {ciphers: []uint16{0x1301}, exts: []tExt{{ExtPadding, []byte{1, 2}}}},
		"32-byte session id":     {ciphers: []uint16{0x1301}, sid: make([]byte, 32)},
	} {
		if _, err := ParseClientHello(h.rec()); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// ---- ClientHelloLength ----

func TestClientHelloLengthByteByByte(t *testing.T) {
	h := tChromeLike()
	msg := h.msg()
	for _, c := range []struct {
		in   []byte
		want int
	}{
		{h.rec(), len(msg) + 5},
		{tRecords(msg, 0x0301, 1, 2), len(msg) + 15},
		{tRecords(msg, 0x0301, 700, 700), len(msg) + 15},
		{append(h.rec(), 0x14, 0x03, 0x03, 0x00, 0x01, 0x01), len(msg) + 5}, // CCS after the hello
	} {
		in, want := c.in, c.want
		prev := 0
		for i := 0; i <= len(in); i++ {
			need, err := ClientHelloLength(in[:i])
			if err != nil {
				t.Fatalf("prefix %d: %v", i, err)
			}
			if need < prev {
				t.Fatalf("prefix %d: need went down from %d to %d", i, prev, need)
			}
			prev = need
			if i < want && need <= i {
				t.Fatalf("prefix %d of %d: need %d claims completion", i, want, need)
			}
			if i >= want && need != want {
				t.Fatalf("prefix %d: need %d, want %d", i, need, want)
			}
			if need > MaxClientHelloWireLength {
				t.Fatalf("need %d exceeds the cap", need)
			}
		}
	}
}

func TestClientHelloLengthReadLoop(t *testing.T) {
	// Simulates the capture reader: read exactly what need asks for.
	h := tChromeLike()
	in := tRecords(h.msg(), 0x0301, 10, 500)
	var got []byte
	reads := 0
	for {
		need, err := ClientHelloLength(got)
		if err != nil {
			t.Fatal(err)
		}
		if need <= len(got) {
			if need != len(in) {
				t.Fatalf("complete at %d, want %d", need, len(in))
			}
			break
		}
		got = in[:need]
		reads++
	}
	if reads != 6 { // 3 records: header, body each
		t.Errorf("%d reads, want 6", reads)
	}
	if _, err := ParseClientHello(got); err != nil {
		t.Fatal(err)
	}
}

func TestClientHelloLengthRejectsEarly(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []byte
		code ErrorCode
		off  int
	}{
		{"http", []byte("G"), CodeNotTLS, 0},
		{"http2 preface", []byte("PRI * HTTP/2.0"), CodeNotTLS, 0},
		{"ssh", []byte("SSH-2.0-OpenSSH_9.2"), CodeNotTLS, 0},
		{"bare message", []byte{0x01, 0x00, 0x00, 0x10}, CodeNotTLS, 0},
		{"major 2", []byte{0x16, 0x02}, CodeNotTLS, 1},
		{"record too large", []byte{0x16, 0x03, 0x01, 0x41, 0x01}, CodeTooLarge, 3},
		{"alert record", []byte{0x15, 0x03, 0x01, 0x00, 0x02}, CodeNotTLS, 0},
		{"server hello", []byte{0x16, 0x03, 0x03, 0x00, 0x40, 0x02}, CodeNotClientHello, 5},
		{"hello too large", []byte{0x16, 0x03, 0x01, 0x00, 0x40, 0x01, 0x01, 0x00, 0x01}, CodeTooLarge, 6},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ClientHelloLength(c.in)
			wantParseError(t, err, c.code, c.off)
		})
	}
	// One byte of a handshake record is not yet a verdict.
	if need, err := ClientHelloLength([]byte{0x16}); err != nil || need != 5 {
		t.Errorf("ClientHelloLength(16) = %d, %v; want 5, nil", need, err)
	}
	if need, err := ClientHelloLength(nil); err != nil || need != 5 {
		t.Errorf("ClientHelloLength(nil) = %d, %v; want 5, nil", need, err)
	}
}

// ---- real hellos from Go's crypto/tls client ----

// captureGoHello runs a crypto/tls client against a pipe and returns the
// records of its ClientHello, read with ClientHelloLength.
func captureGoHello(t testing.TB, cfg *tls.Config) []byte {
	t.Helper()
	cli, srv := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tls.Client(cli, cfg).Handshake()
	}()
	defer func() {
		srv.Close()
		cli.Close()
		<-done
	}()
	_ = srv.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got []byte
	buf := make([]byte, 4096)
	for {
		need, err := ClientHelloLength(got)
		if err != nil {
			t.Fatalf("ClientHelloLength: %v", err)
		}
		if need <= len(got) {
			return got[:need]
		}
		n, err := srv.Read(buf[:min(len(buf), need-len(got))])
		if err != nil {
			t.Fatalf("reading the hello: %v", err)
		}
		got = append(got, buf[:n]...)
	}
}

func TestParseGoCryptoTLSHellos(t *testing.T) {
	tls13 := []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_AES_256_GCM_SHA384, tls.TLS_CHACHA20_POLY1305_SHA256}
	for _, c := range []struct {
		name       string
		cfg        *tls.Config
		sni        string
		maxVersion uint16
		ja4Prefix  string
		ja4ALPN    string
	}{
		{
			name: "tls13 with sni and alpn",
			cfg: &tls.Config{ServerName: "example.com", NextProtos: []string{"h2", "http/1.1"},
				MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13,
				CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256},
				CipherSuites:     []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}},
			sni: "example.com", maxVersion: tls.VersionTLS13, ja4Prefix: "t13d05", ja4ALPN: "h2",
		},
		{
			name: "tls12 only",
			cfg: &tls.Config{ServerName: "tls12.example", NextProtos: []string{"http/1.1"},
				MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12,
				CurvePreferences: []tls.CurveID{tls.CurveP384},
				CipherSuites:     []uint16{tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384}},
			sni: "tls12.example", maxVersion: tls.VersionTLS12, ja4Prefix: "t12d01", ja4ALPN: "h1",
		},
		{
			name: "ip address, no sni",
			cfg: &tls.Config{ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13,
				CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519}},
			sni: "", maxVersion: tls.VersionTLS13, ja4Prefix: "t13i", ja4ALPN: "00",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			raw := captureGoHello(t, c.cfg)
			ch, err := ParseClientHello(raw)
			if err != nil {
				t.Fatal(err)
			}
			if got := ch.ServerName(); got != c.sni {
				t.Errorf("ServerName = %q, want %q", got, c.sni)
			}
			if got := ch.ALPN(); !slices.Equal(got, c.cfg.NextProtos) {
				t.Errorf("ALPN = %q, want %q", got, c.cfg.NextProtos)
			}
			if got := ch.MaxVersion(); got != c.maxVersion {
				t.Errorf("MaxVersion = %#x, want %#x", got, c.maxVersion)
			}
			if vs := ch.SupportedVersions(); len(vs) > 0 && (vs[0] != c.maxVersion || slices.Max(vs) != c.maxVersion) {
				t.Errorf("SupportedVersions = %x", vs)
			}
			if slices.Contains(ch.SupportedVersions(), tls.VersionTLS12) != (c.cfg.MinVersion <= tls.VersionTLS12) {
				t.Errorf("SupportedVersions %x disagree with MinVersion %#x", ch.SupportedVersions(), c.cfg.MinVersion)
			}
			// Go ignores the order of CipherSuites and CurvePreferences:
			// compare as sets.
			allowed := append(slices.Clone(c.cfg.CipherSuites), tls13...)
			if c.cfg.CipherSuites == nil {
				for _, s := range tls.CipherSuites() {
					allowed = append(allowed, s.ID)
				}
			}
			for _, cs := range ch.CipherSuites {
				if !slices.Contains(allowed, cs) {
					t.Errorf("unexpected cipher suite %#04x (%s)", cs, CipherSuiteName(cs))
				}
			}
			for _, cs := range c.cfg.CipherSuites {
				if !slices.Contains(ch.CipherSuites, cs) {
					t.Errorf("configured cipher suite %#04x missing", cs)
				}
			}
			for _, cs := range tls13 {
				if slices.Contains(ch.CipherSuites, cs) != (c.maxVersion == tls.VersionTLS13) {
					t.Errorf("TLS 1.3 suite %#04x presence wrong for max %#x", cs, c.maxVersion)
				}
			}
			groups := ch.SupportedGroups()
			if len(groups) != len(c.cfg.CurvePreferences) {
				t.Errorf("SupportedGroups = %v, want the set %v", groups, c.cfg.CurvePreferences)
			}
			for _, g := range c.cfg.CurvePreferences {
				if !slices.Contains(groups, uint16(g)) {
					t.Errorf("group %d missing from %v", g, groups)
				}
			}
			shares := ch.KeyShares()
			if c.maxVersion == tls.VersionTLS13 {
				if len(shares) == 0 {
					t.Errorf("no key shares")
				}
				for _, ks := range shares {
					if !slices.Contains(groups, ks.Group) {
						t.Errorf("key share for unoffered group %d", ks.Group)
					}
					// X25519MLKEM768: ML-KEM-768 key (1184) || X25519 (32).
					want := map[uint16]int{29: 32, 23: 65, 24: 97, 0x11ec: 1184 + 32}[ks.Group]
					if want != 0 && ks.KeyLength != want {
						t.Errorf("key share %s length %d, want %d", ks.Name, ks.KeyLength, want)
					}
				}
			} else if ch.HasExtension(ExtKeyShare) {
				t.Errorf("TLS 1.2-only hello has key_share")
			}
			fp := ch.Fingerprints()
			if !strings.HasPrefix(fp.JA4, c.ja4Prefix) || fp.JA4[8:10] != c.ja4ALPN {
				t.Errorf("JA4 %s: want prefix %s and ALPN %s", fp.JA4, c.ja4Prefix, c.ja4ALPN)
			}
			for _, e := range ch.Extensions {
				if _, err := e.Decode(); err != nil {
					t.Errorf("extension %d does not decode: %v", e.Type, err)
				}
			}
		})
	}
}

// ---- hand-built values and JSON ----

func TestAccessorsOnHandBuiltHello(t *testing.T) {
	ch := &ClientHello{
		LegacyVersion: 0x0303,
		CipherSuites:  []uint16{0x1301},
		Extensions: []Extension{
			{Type: ExtServerName, Data: []byte{0x00, 0x09, 0x00}},
			{Type: ExtALPN, Data: []byte{0x00, 0x05, 0x02, 'h'}},
			{Type: ExtSupportedGroups, Data: []byte{0x00, 0x03, 0x00, 0x1d, 0x00}},
			{Type: ExtSupportedVersions, Data: []byte{0x04, 0x03}},
			{Type: ExtKeyShare, Data: []byte{0x00, 0x06, 0x00, 0x1d, 0x00, 0x20}},
			{Type: ExtPSKKeyExchangeModes, Data: nil},
		},
	}
	// Lists read as far as they go: the odd trailing byte of
	// supported_groups is dropped; a protocol name, version or key share
	// running past its list is dropped.
	if ch.ServerName() != "" || ch.ALPN() != nil || ch.KeyShares() != nil ||
		ch.SupportedVersions() != nil || ch.PSKModes() != nil {
		t.Errorf("malformed extensions must read as empty")
	}
	if g := ch.SupportedGroups(); len(g) != 1 || g[0] != 29 {
		t.Errorf("supported_groups read as far as it goes = %v, want [29]", g)
	}
	if ch.MaxVersion() != 0x0303 {
		t.Errorf("MaxVersion = %#x", ch.MaxVersion())
	}
	fp := ch.Fingerprints()
	if !strings.HasPrefix(fp.JA4, "t12d010600_") || fp.JA3 != "771,4865,0-16-10-43-51-45,29," {
		t.Errorf("fingerprints of a hand-built hello: %+v", fp)
	}
	if _, err := ch.Extensions[2].Decode(); err == nil {
		t.Errorf("Decode of malformed supported_groups succeeded")
	}
	b, err := json.Marshal(ch)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"decode_error"`) {
		t.Errorf("JSON lacks decode_error: %s", b)
	}
	var empty ClientHello
	_ = empty.Fingerprints()
	_ = empty.MaxVersion()
}

func TestClientHelloJSON(t *testing.T) {
	ch, err := ParseClientHello(tChromeLike().rec())
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(ch)
	if err != nil {
		t.Fatal(err)
	}
	var generic struct {
		Transport  string `json:"transport"`
		Random     string `json:"random"`
		Extensions []struct {
			Type    uint16          `json:"type"`
			Name    string          `json:"name"`
			GREASE  bool            `json:"grease"`
			Length  int             `json:"length"`
			Decoded json.RawMessage `json:"decoded"`
		} `json:"extensions"`
	}
	if err := json.Unmarshal(b, &generic); err != nil {
		t.Fatal(err)
	}
	if generic.Transport != "tcp" || generic.Random != "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" {
		t.Errorf("transport %q random %q", generic.Transport, generic.Random)
	}
	byName := map[string]string{}
	for _, e := range generic.Extensions {
		byName[e.Name] = string(e.Decoded)
	}
	for name, want := range map[string]string{
		"server_name":            `{"names":[{"type":0,"name":"www.example.com"}]}`,
		"supported_groups":       `{"groups":[{"value":19018,"name":"GREASE"},{"value":4588,"name":"X25519MLKEM768"},{"value":29,"name":"x25519"},{"value":23,"name":"secp256r1"},{"value":24,"name":"secp384r1"}]}`,
		"key_share":              `{"shares":[{"group":19018,"name":"GREASE","key_length":1},{"group":4588,"name":"X25519MLKEM768","key_length":1216},{"group":29,"name":"x25519","key_length":32}]}`,
		"encrypted_client_hello": `{"type":"outer","kdf":{"value":1,"name":"HKDF-SHA256"},"aead":{"value":1,"name":"AES-128-GCM"},"config_id":143,"enc_length":32,"payload_length":176}`,
		"application_settings":   `{"protocols":["h2"]}`,
		"extended_master_secret": `{}`,
		"psk_key_exchange_modes": `{"modes":[{"value":1,"name":"psk_dhe_ke"}]}`,
		"renegotiation_info":     `{"length":0}`,
		"status_request":         `{"status_type":1,"responder_id_list_length":0,"request_extensions_length":0}`,
	} {
		if got := byName[name]; got != want {
			t.Errorf("%s decoded:\n got  %s\n want %s", name, got, want)
		}
	}
	if g := generic.Extensions[0]; g.Name != "GREASE" || !g.GREASE || g.Decoded != nil {
		t.Errorf("GREASE extension JSON: %+v", g)
	}
	// The JSON decodes back into an equivalent ClientHello.
	var back ClientHello
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Fingerprints() != ch.Fingerprints() || !bytes.Equal(back.Raw, ch.Raw) || back.ServerName() != ch.ServerName() {
		t.Errorf("JSON round trip changed the hello")
	}
}
