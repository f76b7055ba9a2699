package fingerprint

import (
	"crypto/md5"
	"crypto/sha256"
	"slices"
)

// TLSFingerprints holds the TLS fingerprints of one ClientHello, as defined
// in DESIGN.md section 4.2.
type TLSFingerprints struct {
	// JA3 is legacy_version,ciphers,extensions,groups,point_formats in
	// decimal, "-" inside a field, GREASE removed, extensions in wire order.
	JA3 string `json:"ja3"`
	// JA3Hash is the md5 of JA3, lowercase hex.
	JA3Hash string `json:"ja3_hash"`
	// JA3N is JA3 with the extension list sorted ascending.
	JA3N string `json:"ja3n"`
	// JA3NHash is the md5 of JA3N.
	JA3NHash string `json:"ja3n_hash"`
	// JA4 is FoxIO's a_b_c with sorted lists hashed.
	JA4 string `json:"ja4"`
	// JA4R is JA4 with b and c unhashed.
	JA4R string `json:"ja4_r"`
	// JA4O is JA4 over the lists in wire order, SNI and ALPN kept.
	JA4O string `json:"ja4_o"`
	// JA4RO is JA4O unhashed.
	JA4RO string `json:"ja4_ro"`
	// PeetPrint is the tls.peet.ws / TrackMe fingerprint
	// versions|alpn|groups|sigalgs|psk_modes|cert_compression|ciphers|sorted_extensions.
	PeetPrint string `json:"peetprint"`
	// PeetPrintHash is the md5 of PeetPrint.
	PeetPrintHash string `json:"peetprint_hash"`
}

// ja4Empty stands for the hash of an empty JA4 list.
const ja4Empty = "000000000000"

// fpSpan is a [start, end) range of the fingerprint buffer.
type fpSpan struct{ start, end int }

// fpLists holds the list bodies the fingerprints read, decoded as far as
// they go (see lenientListBody), gathered in one pass over the extensions
// (nil when absent; the first extension of a type wins, as with the
// accessors).
type fpLists struct {
	sni                                                         bool
	alpn, groups, points, sigalgs, versions, pskModes, certComp []byte
	seen                                                        uint16
}

// gatherLists collects the lists of ch that the fingerprints need.
func (ch *ClientHello) gatherLists() fpLists {
	var l fpLists
	for i := range ch.Extensions {
		e := &ch.Extensions[i]
		var dst *[]byte
		var bit uint16
		switch e.Type {
		case ExtServerName:
			l.sni = true
			continue
		case ExtALPN:
			dst, bit = &l.alpn, 1
		case ExtSupportedGroups:
			dst, bit = &l.groups, 2
		case ExtECPointFormats:
			dst, bit = &l.points, 4
		case ExtSignatureAlgorithms:
			dst, bit = &l.sigalgs, 8
		case ExtSupportedVersions:
			dst, bit = &l.versions, 16
		case ExtPSKKeyExchangeModes:
			dst, bit = &l.pskModes, 32
		case ExtCompressCertificate:
			dst, bit = &l.certComp, 64
		default:
			continue
		}
		if l.seen&bit != 0 {
			continue
		}
		l.seen |= bit
		*dst = lenientListBody(e.Type, e.Data)
	}
	return l
}

// maxVersion is MaxVersion over a gathered supported_versions list.
func maxVersion(versions []byte, legacy uint16) uint16 {
	best := uint16(0)
	for i := 0; i+1 < len(versions); i += 2 {
		if v := u16At(versions, i); !IsGREASE(v) && v > best {
			best = v
		}
	}
	if best == 0 {
		return legacy
	}
	return best
}

// Fingerprints computes every TLS fingerprint of the hello. It is a pure
// function of the ClientHello and allocates the ten strings together. It
// reads only the fields appendFingerprintKey encodes, which is what lets
// FingerprintCache share results between hellos: a new input here must be
// added there.
//
// Rules beyond DESIGN.md section 4.2, each checked against the reference
// implementations:
//
//   - JA4 version: the highest non-GREASE supported_versions value, else
//     legacy_version (MaxVersion); 0x0002 and 0x0200 are "s2"; anything not
//     in FoxIO's table is "00". The record version is never used.
//   - JA4 ALPN: the first and last byte of the first ALPN protocol when both
//     are ASCII letters or digits; otherwise the first and last character of
//     the protocol's hex form (the high nibble of the first byte and the low
//     nibble of the last), so 0xab gives "ab" and 0x30 0xab gives "3b"; a
//     one-byte protocol supplies both characters; "00" without ALPN. GREASE
//     is not skipped in ALPN (no reference does).
//   - JA4 counts: GREASE excluded, capped at 99; the extension count
//     includes SNI and ALPN. Signature algorithms come from
//     signature_algorithms only, wire order, GREASE removed.
//   - JA4 c, and JA4_o's c: "000000000000" when both the extension list and
//     the signature algorithm list are empty; JA4_r/JA4_ro then show an
//     empty section. JA4_o and JA4_ro keep SNI (0000) and ALPN (0010) in
//     their extension list, as FoxIO's JA4.md specifies (its Rust tool drops
//     them; we follow the document).
//   - JA4_o when SNI and ALPN are the only (non-GREASE) extensions: c is the
//     hash of that original list ("0000" or "0000,0010"), as FoxIO's Rust
//     crate computes it. FoxIO's Python reference prints "000000000000"
//     there because it tests the sorted list, which is empty without SNI
//     and ALPN; JA4OPython gives that variant.
//   - PeetPrint follows TrackMe (pkg/tls/fingerprint_tls.go): versions from
//     supported_versions; ALPN protocols mapped h2 -> "2", http/1.1 ->
//     "1.1", http/1.0 -> "1.0" (case-insensitive) with all others dropped;
//     groups, signature_algorithms and ciphers in wire order with GREASE
//     written "GREASE"; psk_key_exchange_modes as its first mode only, "0"
//     when the extension is absent (TrackMe's zero value); compress_certificate
//     algorithms in decimal as sent; every extension type (GREASE, padding
//     and pre_shared_key included) as a decimal string, sorted as strings,
//     so "10" sorts before "5" and "GREASE" last. Deviation: TrackMe also
//     writes the (unassigned) group 6969 as "GREASE" and mixes in values of
//     extension 53 as signature algorithms; we do neither.
func (ch *ClientHello) Fingerprints() TLSFingerprints {
	var (
		cipherArr [128]uint16
		extArr    [64]uint16
		sortArr   [128]uint16
		extSorted [64]uint16
		bufArr    [4096]byte
	)
	ciphers := cipherArr[:0]
	for _, c := range ch.CipherSuites {
		if !IsGREASE(c) {
			ciphers = append(ciphers, c)
		}
	}
	exts := extArr[:0]
	for i := range ch.Extensions {
		if t := ch.Extensions[i].Type; !IsGREASE(t) {
			exts = append(exts, t)
		}
	}
	lists := ch.gatherLists()
	groups, points, sigalgs := lists.groups, lists.points, lists.sigalgs

	buf := bufArr[:0]
	// Each list value costs at most 7 output bytes in each of the strings
	// that carry its list; size the buffer once for large hellos.
	if est := 512 + 7*(5*(len(ch.CipherSuites)+len(ch.Extensions))+
		3*(len(groups)+len(sigalgs)+len(lists.versions))/2); est > len(bufArr) {
		buf = make([]byte, 0, est)
	}

	// JA3 and JA3N.
	ja3 := fpSpan{start: len(buf)}
	buf = appendDec(buf, ch.LegacyVersion)
	buf = append(buf, ',')
	buf = appendDecimals(buf, ciphers)
	buf = append(buf, ',')
	extStart := len(buf)
	buf = appendDecimals(buf, exts)
	extEnd := len(buf)
	buf = append(buf, ',')
	buf = appendRawDecimals(buf, groups, false)
	buf = append(buf, ',')
	for i, p := range points {
		if i > 0 {
			buf = append(buf, '-')
		}
		buf = appendDec(buf, uint16(p))
	}
	ja3.end = len(buf)

	sortedExts := append(extSorted[:0], exts...)
	slices.Sort(sortedExts)
	ja3n := fpSpan{start: len(buf)}
	buf = append(buf, buf[ja3.start:extStart]...)
	buf = appendDecimals(buf, sortedExts)
	buf = append(buf, buf[extEnd:ja3.end]...)
	ja3n.end = len(buf)

	// JA4 raw forms.
	var a [10]byte
	ch.ja4A(&a, &lists, len(ciphers), len(exts))

	ja4r := fpSpan{start: len(buf)}
	buf = append(buf, a[:]...)
	buf = append(buf, '_')
	sortedCiphers := append(sortArr[:0], ciphers...)
	slices.Sort(sortedCiphers)
	rB := fpSpan{start: len(buf)}
	buf = appendHexList(buf, sortedCiphers)
	rB.end = len(buf)
	buf = append(buf, '_')
	// sortedExts is still sorted; drop SNI and ALPN in place.
	kept := sortedExts[:0]
	for _, t := range sortedExts {
		if t != ExtServerName && t != ExtALPN {
			kept = append(kept, t)
		}
	}
	sortedExts = kept
	rC := fpSpan{start: len(buf)}
	buf = appendHexList(buf, sortedExts)
	buf = appendSigAlgs(buf, sigalgs)
	rC.end = len(buf)
	ja4r.end = len(buf)

	ja4ro := fpSpan{start: len(buf)}
	buf = append(buf, a[:]...)
	buf = append(buf, '_')
	roB := fpSpan{start: len(buf)}
	buf = appendHexList(buf, ciphers)
	roB.end = len(buf)
	buf = append(buf, '_')
	roC := fpSpan{start: len(buf)}
	buf = appendHexList(buf, exts)
	buf = appendSigAlgs(buf, sigalgs)
	roC.end = len(buf)
	ja4ro.end = len(buf)

	// PeetPrint.
	peet := fpSpan{start: len(buf)}
	buf = ch.appendPeetPrint(buf, &lists)
	peet.end = len(buf)

	// Hashes.
	ja3h := fpSpan{start: len(buf)}
	buf = appendMD5(buf, buf[ja3.start:ja3.end])
	ja3h.end = len(buf)
	ja3nh := fpSpan{start: len(buf)}
	buf = appendMD5(buf, buf[ja3n.start:ja3n.end])
	ja3nh.end = len(buf)
	ja4 := fpSpan{start: len(buf)}
	buf = append(buf, a[:]...)
	buf = append(buf, '_')
	buf = appendSHA12(buf, buf[rB.start:rB.end])
	buf = append(buf, '_')
	buf = appendSHA12(buf, buf[rC.start:rC.end])
	ja4.end = len(buf)
	ja4o := fpSpan{start: len(buf)}
	buf = append(buf, a[:]...)
	buf = append(buf, '_')
	buf = appendSHA12(buf, buf[roB.start:roB.end])
	buf = append(buf, '_')
	buf = appendSHA12(buf, buf[roC.start:roC.end])
	ja4o.end = len(buf)
	peeth := fpSpan{start: len(buf)}
	buf = appendMD5(buf, buf[peet.start:peet.end])
	peeth.end = len(buf)

	s := string(buf)
	at := func(sp fpSpan) string { return s[sp.start:sp.end] }
	return TLSFingerprints{
		JA3: at(ja3), JA3Hash: at(ja3h),
		JA3N: at(ja3n), JA3NHash: at(ja3nh),
		JA4: at(ja4), JA4R: at(ja4r), JA4O: at(ja4o), JA4RO: at(ja4ro),
		PeetPrint: at(peet), PeetPrintHash: at(peeth),
	}
}

// ja4A writes JA4's 10-character a section.
func (ch *ClientHello) ja4A(a *[10]byte, lists *fpLists, nCiphers, nExts int) {
	a[0] = 't'
	if ch.Transport == TransportQUIC {
		a[0] = 'q'
	}
	v := ja4Version(maxVersion(lists.versions, ch.LegacyVersion))
	a[1], a[2] = v[0], v[1]
	a[3] = 'i'
	if lists.sni {
		a[3] = 'd'
	}
	putTwoDigits(a[4:6], nCiphers)
	putTwoDigits(a[6:8], nExts)
	a[8], a[9] = '0', '0'
	if l := lists.alpn; len(l) > 1 && l[0] > 0 {
		first := l[1 : 1+int(l[0])]
		a[8], a[9] = ja4ALPN(first)
	}
}

// ja4Version maps a protocol version to JA4's two characters.
func ja4Version(v uint16) string {
	switch v {
	case 0x0304:
		return "13"
	case 0x0303:
		return "12"
	case 0x0302:
		return "11"
	case 0x0301:
		return "10"
	case 0x0300:
		return "s3"
	case 0x0002, 0x0200:
		return "s2"
	case 0xfeff:
		return "d1"
	case 0xfefd:
		return "d2"
	case 0xfefc:
		return "d3"
	}
	return "00"
}

// ja4ALPN returns JA4's two ALPN characters for a non-empty protocol.
func ja4ALPN(p []byte) (byte, byte) {
	f, l := p[0], p[len(p)-1]
	if isASCIIAlnum(f) && isASCIIAlnum(l) {
		return f, l
	}
	const digits = "0123456789abcdef"
	return digits[f>>4], digits[l&0x0f]
}

func isASCIIAlnum(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z'
}

// putTwoDigits writes n, capped at 99, as two decimal digits.
func putTwoDigits(dst []byte, n int) {
	n = min(n, 99)
	dst[0] = byte('0' + n/10)
	dst[1] = byte('0' + n%10)
}

// appendDecimals appends vs in decimal joined by "-".
func appendDecimals(buf []byte, vs []uint16) []byte {
	for i, v := range vs {
		if i > 0 {
			buf = append(buf, '-')
		}
		buf = appendDec(buf, v)
	}
	return buf
}

// appendDec appends v in decimal.
func appendDec(buf []byte, v uint16) []byte {
	switch {
	case v < 10:
		return append(buf, byte('0'+v))
	case v < 100:
		return append(buf, byte('0'+v/10), byte('0'+v%10))
	case v < 1000:
		return append(buf, byte('0'+v/100), byte('0'+v/10%10), byte('0'+v%10))
	case v < 10000:
		return append(buf, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
	}
	return append(buf, byte('0'+v/10000), byte('0'+v/1000%10), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}

// appendRawDecimals appends a big-endian uint16 list in decimal joined by
// "-". GREASE values are written "GREASE" when markGREASE is set and
// skipped otherwise.
func appendRawDecimals(buf []byte, l []byte, markGREASE bool) []byte {
	first := true
	for i := 0; i+1 < len(l); i += 2 {
		v := u16At(l, i)
		if IsGREASE(v) && !markGREASE {
			continue
		}
		if !first {
			buf = append(buf, '-')
		}
		first = false
		if IsGREASE(v) {
			buf = append(buf, greaseName...)
		} else {
			buf = appendDec(buf, v)
		}
	}
	return buf
}

// appendHex4 appends v as four lowercase hex digits.
func appendHex4(buf []byte, v uint16) []byte {
	const digits = "0123456789abcdef"
	return append(buf, digits[v>>12], digits[v>>8&0xf], digits[v>>4&0xf], digits[v&0xf])
}

// appendHexList appends vs as 4-digit hex joined by ",".
func appendHexList(buf []byte, vs []uint16) []byte {
	for i, v := range vs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendHex4(buf, v)
	}
	return buf
}

// appendSigAlgs appends "_" and the non-GREASE signature algorithms of a
// raw list as 4-digit hex joined by ",", or nothing when there are none.
func appendSigAlgs(buf []byte, l []byte) []byte {
	first := true
	for i := 0; i+1 < len(l); i += 2 {
		v := u16At(l, i)
		if IsGREASE(v) {
			continue
		}
		if first {
			buf = append(buf, '_')
			first = false
		} else {
			buf = append(buf, ',')
		}
		buf = appendHex4(buf, v)
	}
	return buf
}

// appendHexBytes appends b in lowercase hex.
func appendHexBytes(buf, b []byte) []byte {
	const digits = "0123456789abcdef"
	for _, x := range b {
		buf = append(buf, digits[x>>4], digits[x&0x0f])
	}
	return buf
}

// appendMD5 appends the lowercase hex md5 of b.
func appendMD5(buf, b []byte) []byte {
	sum := md5.Sum(b)
	return appendHexBytes(buf, sum[:])
}

// appendSHA12 appends the first 12 hex characters of the sha256 of b, or
// ja4Empty when b is empty.
func appendSHA12(buf, b []byte) []byte {
	if len(b) == 0 {
		return append(buf, ja4Empty...)
	}
	sum := sha256.Sum256(b)
	return appendHexBytes(buf, sum[:6])
}

// appendPeetPrint appends the PeetPrint string (see Fingerprints).
func (ch *ClientHello) appendPeetPrint(buf []byte, lists *fpLists) []byte {
	buf = appendRawDecimals(buf, lists.versions, true)
	buf = append(buf, '|')
	first := true
	alpn := lists.alpn
	for i := 0; i < len(alpn); {
		n := int(alpn[i])
		p := alpn[i+1 : i+1+n]
		i += 1 + n
		var short string
		switch {
		case asciiEqualFold(p, "h2"):
			short = "2"
		case asciiEqualFold(p, "http/1.1"):
			short = "1.1"
		case asciiEqualFold(p, "http/1.0"):
			short = "1.0"
		default:
			continue
		}
		if !first {
			buf = append(buf, '-')
		}
		first = false
		buf = append(buf, short...)
	}
	buf = append(buf, '|')
	buf = appendRawDecimals(buf, lists.groups, true)
	buf = append(buf, '|')
	buf = appendRawDecimals(buf, lists.sigalgs, true)
	buf = append(buf, '|')
	if len(lists.pskModes) > 0 {
		buf = appendDec(buf, uint16(lists.pskModes[0]))
	} else {
		buf = append(buf, '0')
	}
	buf = append(buf, '|')
	for i := 0; i+1 < len(lists.certComp); i += 2 {
		if i > 0 {
			buf = append(buf, '-')
		}
		buf = appendDec(buf, u16At(lists.certComp, i))
	}
	buf = append(buf, '|')
	for i, c := range ch.CipherSuites {
		if i > 0 {
			buf = append(buf, '-')
		}
		if IsGREASE(c) {
			buf = append(buf, greaseName...)
		} else {
			buf = appendDec(buf, c)
		}
	}
	buf = append(buf, '|')
	// Sort the extension types as TrackMe's sort.Strings sorts their
	// spellings: each key holds the decimal digits left-aligned in 40 bits
	// (a shorter string is a prefix padded with zero bytes, which sort
	// first), and GREASE, spelled "GREASE", sorts after every digit string.
	var keyArr [64]uint64
	keys := keyArr[:0]
	for i := range ch.Extensions {
		keys = append(keys, peetSortKey(ch.Extensions[i].Type))
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			buf = append(buf, '-')
		}
		if k == peetGREASEKey {
			buf = append(buf, greaseName...)
			continue
		}
		for shift := 32; shift >= 0 && byte(k>>shift) != 0; shift -= 8 {
			buf = append(buf, byte(k>>shift))
		}
	}
	return buf
}

// peetGREASEKey is the sort key of every GREASE extension type.
const peetGREASEKey = ^uint64(0)

// peetSortKey returns the PeetPrint sort key of extension type t.
func peetSortKey(t uint16) uint64 {
	if IsGREASE(t) {
		return peetGREASEKey
	}
	var d [5]byte
	digits := appendDec(d[:0], t)
	var k uint64
	for _, c := range digits {
		k = k<<8 | uint64(c)
	}
	return k << (8 * (5 - len(digits)))
}

// asciiEqualFold reports whether p equals s ignoring ASCII case.
func asciiEqualFold(p []byte, s string) bool {
	if len(p) != len(s) {
		return false
	}
	for i := range p {
		c := p[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// JA4OPython returns the JA4_o that FoxIO's Python reference prints for a
// hello whose JA4_o (as Fingerprints computes it) is ja4o and whose
// extension types in wire order are exts: the same string, except that c
// is "000000000000" when SNI and ALPN are the only non-GREASE extensions
// (the Python tool zeroes the hash when the list without SNI and ALPN is
// empty; the Rust crate and Fingerprints hash the original list).
func JA4OPython(ja4o string, exts []uint16) string {
	only := false
	for _, t := range exts {
		if IsGREASE(t) {
			continue
		}
		if t != ExtServerName && t != ExtALPN {
			return ja4o
		}
		only = true
	}
	if !only || len(ja4o) < len(ja4Empty) {
		return ja4o
	}
	return ja4o[:len(ja4o)-len(ja4Empty)] + ja4Empty
}
