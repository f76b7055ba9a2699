package fingerprint

import (
	"encoding/hex"
	"fmt"
	"slices"
)

// Transport is the transport a ClientHello arrived on. It decides the first
// character of JA4 ("t" or "q").
type Transport string

// Transports.
const (
	TransportTCP  Transport = "tcp"
	TransportQUIC Transport = "quic"
)

// Size caps of the ClientHello parser. Input beyond them is rejected with
// CodeTooLarge before anything proportional to it is allocated.
const (
	// MaxRecordLength is the largest TLS record body accepted: 2^14 bytes
	// (RFC 8446 section 5.1) plus 256 bytes of slack for stacks that
	// overshoot.
	MaxRecordLength = 1<<14 + 256
	// MaxHandshakeLength is the largest ClientHello body (the 24-bit length
	// of the handshake header) accepted: 64 KiB.
	MaxHandshakeLength = 64 << 10
	// MaxClientHelloRecords is the largest number of records one
	// ClientHello may be fragmented over.
	MaxClientHelloRecords = 64
	// MaxClientHelloWireLength bounds the need that ClientHelloLength can
	// ever report: record headers for MaxClientHelloRecords records, the
	// largest message, and a final record that may run on past the message
	// end by up to MaxRecordLength bytes.
	MaxClientHelloWireLength = MaxClientHelloRecords*tlsRecordHeaderLen + tlsHandshakeHeaderLen +
		MaxHandshakeLength + MaxRecordLength
)

const (
	tlsRecordHeaderLen      = 5
	tlsHandshakeHeaderLen   = 4
	tlsRecordTypeHandshake  = 0x16
	tlsHandshakeClientHello = 0x01
	tlsMaxSessionIDLen      = 32
	tlsClientRandomLen      = 32
	tlsInlineExtensions     = 20
	tlsInlineCipherSuites   = 48
)

// HexBytes is a byte string that encodes as lowercase hex in JSON and other
// text encodings.
type HexBytes []byte

// MarshalText implements encoding.TextMarshaler.
func (h HexBytes) MarshalText() ([]byte, error) {
	out := make([]byte, hex.EncodedLen(len(h)))
	hex.Encode(out, h)
	return out, nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *HexBytes) UnmarshalText(b []byte) error {
	out := make([]byte, hex.DecodedLen(len(b)))
	if _, err := hex.Decode(out, b); err != nil {
		return fmt.Errorf("fingerprint: decoding hex bytes: %w", err)
	}
	*h = out
	return nil
}

// ClientHello is a parsed TLS ClientHello. Lists are in wire order with
// GREASE values kept; every byte slice points into Raw, which the
// ClientHello owns (the parser never retains the caller's buffer).
//
// The JSON encoding is for display (the web API): extensions carry their
// registered name and a "decoded" object. It decodes back into an
// equivalent ClientHello, but Raw is the canonical form to store: parse it
// again with ParseClientHello (or ParseClientHelloQUIC for Transport quic).
//
// A ClientHello returned by the parser has passed every framing check
// documented on ParseClientHello; content problems inside extensions are
// listed in Anomalies. The accessors and Fingerprints read a list-valued
// extension as far as it goes (see Anomaly); they also accept a
// ClientHello built or modified by hand and never panic.
type ClientHello struct {
	// Transport is tcp for hellos parsed by ParseClientHello and quic for
	// ParseClientHelloQUIC.
	Transport Transport `json:"transport"`
	// RecordVersion is the version field of the first record header, or 0
	// when the input was a bare handshake message.
	RecordVersion uint16 `json:"record_version"`
	// LegacyVersion is the ClientHello's legacy_version (0x0303 for TLS 1.3
	// hellos).
	LegacyVersion uint16 `json:"legacy_version"`
	// Random is the 32-byte client random.
	Random HexBytes `json:"random"`
	// SessionID is the legacy_session_id, 0 to 32 bytes.
	SessionID HexBytes `json:"session_id"`
	// CipherSuites in wire order, GREASE kept.
	CipherSuites []uint16 `json:"cipher_suites"`
	// CompressionMethods in wire order (one byte each).
	CompressionMethods HexBytes `json:"compression_methods"`
	// Extensions in wire order, GREASE kept and marked. Empty both when the
	// hello has no extensions block and when the block is empty.
	Extensions []Extension `json:"extensions"`
	// Raw is the complete handshake message (4-byte header included),
	// joined from all the records it was fragmented over.
	Raw []byte `json:"raw"`
	// Anomalies lists, in wire order, the RFC violations inside extensions
	// that the parser tolerated (see ParseClientHello); empty for a
	// well-formed hello. A malformed extension is itself a signal about
	// the client.
	Anomalies []Anomaly `json:"anomalies,omitempty"`
}

// ParseClientHello parses one ClientHello from b, which is either a stream
// of TLS records starting with a handshake record (0x16) or a bare
// handshake message starting with its type byte (0x01), as QUIC CRYPTO
// frames carry it. The result has Transport tcp; use ParseClientHelloQUIC
// for QUIC.
//
// Records: each must be a handshake record whose body is 1 to
// MaxRecordLength bytes; the message may be fragmented over at most
// MaxClientHelloRecords of them and is joined. Bytes after the end of the
// message (the rest of its last record, later records) are ignored;
// ClientHelloLength reports where the records holding the ClientHello end.
// A bare message may likewise be followed by bytes that are ignored.
//
// The message body may be at most MaxHandshakeLength bytes.
//
// Framing is strict, as in every reference implementation: the records and
// the handshake header must be sound, the fields before the extensions
// must fit and follow RFC 8446 (a 0 to 32-byte session id, a non-empty
// even-length cipher_suites, a non-empty compression list), the extensions
// block must fit the message with no bytes after it, and every extension's
// length must fit the block. Any of these failing is an error.
//
// Content is lenient: an extension whose framing is sound but whose data
// breaks its RFC (an empty list, a zero-length name, an odd length, a
// value out of range, a length inside the data running past it, data in an
// extension that must be empty), a repeated non-GREASE extension type and
// a pre_shared_key that is not last do not fail the parse. Each is
// recorded in Anomalies with the extension type, its kind and the offset
// of the offending field; the extension is kept and decoded as far as it
// goes, and the hello is fingerprinted as Wireshark, Arkime and FoxIO's
// tools fingerprint it.
//
// The error is always a *ParseError. Its Offset, like an Anomaly's, is an
// index into b: for problems inside the message it is mapped back through
// the record framing to the byte of b where the offending field starts.
func ParseClientHello(b []byte) (*ClientHello, error) {
	if len(b) == 0 {
		return nil, errAt(CodeTruncated, 0, "empty input")
	}
	var (
		ch *ClientHello
		pe *ParseError
	)
	switch b[0] {
	case tlsRecordTypeHandshake:
		ch, pe = parseClientHelloRecords(b)
	case tlsHandshakeClientHello:
		ch, pe = parseClientHelloBare(b, TransportTCP)
	default:
		pe = errAt(CodeNotTLS, 0, "first byte 0x%02x is neither a TLS handshake record (0x16) nor a ClientHello message (0x01)", b[0])
	}
	if pe != nil {
		return nil, pe
	}
	return ch, nil
}

// ParseClientHelloQUIC parses a bare ClientHello handshake message, as
// carried in QUIC CRYPTO frames (the CRYPTO stream reassembled from offset
// 0), and marks it Transport quic. Rules and errors are those of
// ParseClientHello for a bare message; offsets index b.
func ParseClientHelloQUIC(b []byte) (*ClientHello, error) {
	ch, pe := parseClientHelloBare(b, TransportQUIC)
	if pe != nil {
		return nil, pe
	}
	return ch, nil
}

// ClientHelloLength reports how many bytes of a TLS connection hold the
// records that carry its ClientHello, given the bytes b read so far from
// the start of the connection. need > len(b) means the records are not
// complete and at least need bytes must be read (need only ever grows as b
// grows, and never exceeds MaxClientHelloWireLength); need <= len(b) means
// b[:need] holds exactly the complete records carrying the ClientHello,
// ending with the record in which the message ends.
//
// It checks the framing only (record types, record and handshake lengths,
// the handshake type, the caps), and reports an error as soon as the bytes
// seen prove the stream is not a TLS ClientHello: the first byte of an HTTP
// request or an SSH banner is enough for CodeNotTLS. It accepts input one
// byte at a time. Only records are accepted, not a bare message; the
// content is checked by ParseClientHello. The error is a *ParseError with
// an offset into b.
func ClientHelloLength(b []byte) (need int, err error) {
	st, pe := scanClientHelloRecords(b, nil)
	if pe != nil {
		return 0, pe
	}
	if st.complete {
		return st.wireLen, nil
	}
	return st.need, nil
}

// tlsRecordScan is the result of walking the records carrying a ClientHello.
type tlsRecordScan struct {
	complete      bool
	wireLen       int // when complete: end of the record in which the message ends
	need          int // when incomplete: input length needed to make progress
	msgLen        int // handshake header + body length; -1 until the header is seen
	recordVersion uint16
	oneRecord     bool // the whole message is in the first record
}

// scanClientHelloRecords walks the TLS records at the start of b that carry
// one ClientHello, checking the framing. If dst is non-nil it must be
// msgLen bytes long and receives the joined message.
func scanClientHelloRecords(b []byte, dst []byte) (tlsRecordScan, *ParseError) {
	st := tlsRecordScan{msgLen: -1}
	var hdr [tlsHandshakeHeaderLen]byte
	got := 0     // message bytes seen
	lenOff := 0  // input offset of the handshake length field
	records := 0 // records whose header was complete
	pos := 0     // start of the current record
	for {
		first := records == 0
		// Check what is present of the record header.
		h := b[pos:min(len(b), pos+tlsRecordHeaderLen)]
		if len(h) >= 1 && h[0] != tlsRecordTypeHandshake {
			if first {
				return st, errAt(CodeNotTLS, pos, "first byte 0x%02x is not a TLS handshake record (0x16)", h[0])
			}
			return st, errAt(CodeMalformed, pos, "record of content type %d inside the ClientHello", h[0])
		}
		if len(h) >= 2 && h[1] != 0x03 {
			if first {
				return st, errAt(CodeNotTLS, pos+1, "record version major %d is not 3", h[1])
			}
			return st, errAt(CodeMalformed, pos+1, "record version major %d is not 3", h[1])
		}
		if len(h) < tlsRecordHeaderLen {
			st.need = pos + tlsRecordHeaderLen
			return st, nil
		}
		rl := int(h[3])<<8 | int(h[4])
		if rl > MaxRecordLength {
			return st, errAt(CodeTooLarge, pos+3, "record length %d exceeds %d", rl, MaxRecordLength)
		}
		if rl == 0 {
			return st, errAt(CodeMalformed, pos+3, "zero-length handshake record")
		}
		records++
		if records > MaxClientHelloRecords {
			return st, errAt(CodeTooLarge, pos, "ClientHello fragmented over more than %d records", MaxClientHelloRecords)
		}
		if first {
			st.recordVersion = uint16(h[1])<<8 | uint16(h[2])
		}
		body := pos + tlsRecordHeaderLen
		frag := b[body:min(len(b), body+rl)]
		i := 0
		for ; i < len(frag) && got < tlsHandshakeHeaderLen; i++ {
			if got == 0 && frag[i] != tlsHandshakeClientHello {
				return st, errAt(CodeNotClientHello, body+i, "handshake message type %d is not ClientHello (1)", frag[i])
			}
			if got == 1 {
				lenOff = body + i
			}
			hdr[got] = frag[i]
			got++
		}
		if got == tlsHandshakeHeaderLen && st.msgLen < 0 {
			bodyLen := int(hdr[1])<<16 | int(hdr[2])<<8 | int(hdr[3])
			if bodyLen > MaxHandshakeLength {
				return st, errAt(CodeTooLarge, lenOff, "ClientHello length %d exceeds %d", bodyLen, MaxHandshakeLength)
			}
			st.msgLen = tlsHandshakeHeaderLen + bodyLen
			if dst != nil {
				copy(dst, hdr[:])
			}
		}
		if st.msgLen >= 0 && i < len(frag) {
			take := min(len(frag)-i, st.msgLen-got)
			if dst != nil {
				copy(dst[got:], frag[i:i+take])
			}
			got += take
		}
		if len(frag) < rl {
			st.need = body + rl
			return st, nil
		}
		pos = body + rl
		if st.msgLen >= 0 && got == st.msgLen {
			st.complete = true
			st.wireLen = pos
			st.oneRecord = records == 1
			return st, nil
		}
	}
}

// parseClientHelloRecords parses a ClientHello carried in TLS records.
func parseClientHelloRecords(b []byte) (*ClientHello, *ParseError) {
	st, pe := scanClientHelloRecords(b, nil)
	if pe != nil {
		return nil, pe
	}
	if !st.complete {
		return nil, errAt(CodeTruncated, len(b), "input ends inside the ClientHello records (%d bytes, need %d)", len(b), st.need)
	}
	var raw []byte
	if st.oneRecord {
		raw = append([]byte(nil), b[tlsRecordHeaderLen:tlsRecordHeaderLen+st.msgLen]...)
	} else {
		raw = make([]byte, st.msgLen)
		if _, pe := scanClientHelloRecords(b, raw); pe != nil {
			return nil, pe
		}
	}
	ch, pe := parseClientHelloMessage(raw, TransportTCP)
	if pe != nil {
		pe.Offset = recordInputOffset(b, pe.Offset, st.msgLen)
		return nil, pe
	}
	for i := range ch.Anomalies {
		ch.Anomalies[i].Offset = recordInputOffset(b, ch.Anomalies[i].Offset, st.msgLen)
	}
	ch.RecordVersion = st.recordVersion
	return ch, nil
}

// recordInputOffset maps an offset in the joined handshake message of
// msgLen bytes back to the offset in b, a record stream already validated by
// scanClientHelloRecords. An offset at or past the message end maps to the
// byte after the last message byte.
func recordInputOffset(b []byte, msgOff, msgLen int) int {
	if msgOff >= msgLen {
		if msgLen == 0 {
			return 0
		}
		return recordInputOffset(b, msgLen-1, msgLen) + 1
	}
	pos, seen := 0, 0
	for pos+tlsRecordHeaderLen <= len(b) {
		rl := int(b[pos+3])<<8 | int(b[pos+4])
		body := pos + tlsRecordHeaderLen
		if msgOff < seen+rl {
			return min(body+msgOff-seen, len(b))
		}
		seen += rl
		pos = body + rl
	}
	return len(b)
}

// parseClientHelloBare parses a bare handshake message.
func parseClientHelloBare(b []byte, tr Transport) (*ClientHello, *ParseError) {
	if len(b) >= 1 && b[0] != tlsHandshakeClientHello {
		return nil, errAt(CodeNotClientHello, 0, "handshake message type %d is not ClientHello (1)", b[0])
	}
	if len(b) < tlsHandshakeHeaderLen {
		return nil, errAt(CodeTruncated, len(b), "input ends inside the handshake header (%d bytes)", len(b))
	}
	bodyLen := int(b[1])<<16 | int(b[2])<<8 | int(b[3])
	if bodyLen > MaxHandshakeLength {
		return nil, errAt(CodeTooLarge, 1, "ClientHello length %d exceeds %d", bodyLen, MaxHandshakeLength)
	}
	if len(b) < tlsHandshakeHeaderLen+bodyLen {
		return nil, errAt(CodeTruncated, len(b), "input ends inside the ClientHello (%d bytes, need %d)", len(b), tlsHandshakeHeaderLen+bodyLen)
	}
	raw := append([]byte(nil), b[:tlsHandshakeHeaderLen+bodyLen]...)
	return parseClientHelloMessage(raw, tr)
}

// clientHelloBlock lets one allocation hold a typical ClientHello with its
// cipher suite and extension slices.
type clientHelloBlock struct {
	ch      ClientHello
	exts    [tlsInlineExtensions]Extension
	ciphers [tlsInlineCipherSuites]uint16
}

// parseClientHelloMessage parses a complete handshake message that the
// returned ClientHello takes ownership of. Error offsets index raw.
func parseClientHelloMessage(raw []byte, tr Transport) (*ClientHello, *ParseError) {
	c := tlsCursor{b: raw, pos: tlsHandshakeHeaderLen, end: len(raw)}
	legacy, pe := c.u16("legacy_version")
	if pe != nil {
		return nil, pe
	}
	rnd, pe := c.take(tlsClientRandomLen, "random")
	if pe != nil {
		return nil, pe
	}
	sid, pe := c.vec8("legacy_session_id", 0, tlsMaxSessionIDLen)
	if pe != nil {
		return nil, pe
	}
	cs, pe := c.u16Vec16("cipher_suites")
	if pe != nil {
		return nil, pe
	}
	cm, pe := c.vec8("legacy_compression_methods", 1, 255)
	if pe != nil {
		return nil, pe
	}
	var exts tlsCursor
	nExts := 0
	if c.left() > 0 {
		// Extensions are optional before TLS 1.3 (RFC 5246 section 7.4.1.2).
		if exts, pe = c.vec16("extensions", 0, 0xffff); pe != nil {
			return nil, pe
		}
		if pe := c.done("ClientHello"); pe != nil {
			return nil, pe
		}
		if nExts, pe = countExtensions(exts); pe != nil {
			return nil, pe
		}
	}

	nCiphers := cs.left() / 2
	var ch *ClientHello
	if nExts <= tlsInlineExtensions && nCiphers <= tlsInlineCipherSuites {
		blk := new(clientHelloBlock)
		ch = &blk.ch
		ch.CipherSuites = blk.ciphers[:nCiphers:nCiphers]
		if nExts > 0 {
			ch.Extensions = blk.exts[:nExts:nExts]
		}
	} else {
		ch = new(ClientHello)
		ch.CipherSuites = make([]uint16, nCiphers)
		ch.Extensions = make([]Extension, nExts)
	}
	ch.Transport = tr
	ch.Raw = raw
	ch.LegacyVersion = legacy
	ch.Random = HexBytes(rnd)
	ch.SessionID = HexBytes(sid.bytes())
	ch.CompressionMethods = HexBytes(cm.bytes())
	for i := range ch.CipherSuites {
		ch.CipherSuites[i] = u16At(raw, cs.pos+2*i)
	}
	if nExts > 0 {
		ch.Anomalies = parseExtensions(ch.Extensions, exts)
	}
	return ch, nil
}

// countExtensions checks the framing of an extensions block and counts its
// extensions.
func countExtensions(block tlsCursor) (int, *ParseError) {
	raw := block.b
	n := 0
	for p := block.pos; p < block.end; n++ {
		if block.end-p < 4 {
			return 0, errAt(CodeBadLength, p, "extension header needs 4 bytes, %d left in the extensions block", block.end-p)
		}
		typ := u16At(raw, p)
		l := int(u16At(raw, p+2))
		if l > block.end-p-4 {
			return 0, errAt(CodeBadLength, p+2, "extension %d (%s): length %d runs past the extensions block (%d bytes left)",
				typ, ExtensionName(typ), l, block.end-p-4)
		}
		p += 4 + l
	}
	return n, nil
}

// parseExtensions fills exts, sized by countExtensions, from the framed
// block, checks the content of every extension and returns the anomalies
// found, in wire order (nil when there are none).
func parseExtensions(exts []Extension, block tlsCursor) []Anomaly {
	raw := block.b
	p := block.pos
	var anomalies []Anomaly
	pskAt := -1
	for i := range exts {
		typ := u16At(raw, p)
		l := int(u16At(raw, p+2))
		start := p + 4
		e := &exts[i]
		e.Type = typ
		e.Data = HexBytes(raw[start : start+l : start+l])
		e.GREASE = IsGREASE(typ)
		if !e.GREASE {
			if _, pe := decodeExtension(typ, tlsCursor{b: raw, pos: start, end: start + l}, false); pe != nil {
				anomalies = append(anomalies, newAnomaly(typ, pe))
			}
			if typ == ExtPreSharedKey && pskAt < 0 && i != len(exts)-1 {
				pskAt = p
				anomalies = append(anomalies, Anomaly{Extension: typ, Name: ExtensionName(typ), Kind: AnomalyMisplaced,
					Offset: p, Message: "pre_shared_key is not the last extension"})
			}
		}
		p = start + l
	}
	return appendDuplicates(anomalies, exts, block)
}

// appendDuplicates appends an anomaly for every repetition of a non-GREASE
// extension type, at the offset of the repeated extension's header, and
// sorts the result by offset.
func appendDuplicates(anomalies []Anomaly, exts []Extension, block tlsCursor) []Anomaly {
	// A 256-bit filter on a hash of the type; only a filter hit compares
	// with the earlier extensions (quadratic only for adversarial input,
	// which the 64 KiB message cap bounds).
	var filter [4]uint64
	p := block.pos
	added := false
	for i := range exts {
		t := exts[i].Type
		if !exts[i].GREASE {
			h := uint8(t ^ t>>8)
			if filter[h>>6]&(1<<(h&63)) != 0 && slices.ContainsFunc(exts[:i], func(e Extension) bool { return e.Type == t }) {
				anomalies = append(anomalies, Anomaly{Extension: t, Name: ExtensionName(t), Kind: AnomalyDuplicate,
					Offset: p, Message: fmt.Sprintf("extension %d (%s) appears more than once", t, ExtensionName(t))})
				added = true
			}
			filter[h>>6] |= 1 << (h & 63)
		}
		p += 4 + len(exts[i].Data)
	}
	if added {
		slices.SortStableFunc(anomalies, func(a, b Anomaly) int { return a.Offset - b.Offset })
	}
	return anomalies
}

// tlsCursor reads TLS presentation-language vectors from b[pos:end].
// Offsets in its errors are indices into b.
type tlsCursor struct {
	b   []byte
	pos int
	end int
}

func (c *tlsCursor) left() int { return c.end - c.pos }

// bytes returns the unread bytes without consuming them.
func (c *tlsCursor) bytes() []byte { return c.b[c.pos:c.end:c.end] }

func (c *tlsCursor) short(n int, field string) *ParseError {
	return kindErrAt(AnomalyOverrun, CodeBadLength, c.pos, "%s needs %d bytes, %d left in its container", field, n, c.left())
}

func (c *tlsCursor) u8(field string) (uint8, *ParseError) {
	if c.left() < 1 {
		return 0, c.short(1, field)
	}
	v := c.b[c.pos]
	c.pos++
	return v, nil
}

func (c *tlsCursor) u16(field string) (uint16, *ParseError) {
	if c.left() < 2 {
		return 0, c.short(2, field)
	}
	v := uint16(c.b[c.pos])<<8 | uint16(c.b[c.pos+1])
	c.pos += 2
	return v, nil
}

func (c *tlsCursor) u32(field string) (uint32, *ParseError) {
	if c.left() < 4 {
		return 0, c.short(4, field)
	}
	v := uint32(c.b[c.pos])<<24 | uint32(c.b[c.pos+1])<<16 | uint32(c.b[c.pos+2])<<8 | uint32(c.b[c.pos+3])
	c.pos += 4
	return v, nil
}

// take consumes n bytes.
func (c *tlsCursor) take(n int, field string) ([]byte, *ParseError) {
	if c.left() < n {
		return nil, c.short(n, field)
	}
	v := c.b[c.pos : c.pos+n : c.pos+n]
	c.pos += n
	return v, nil
}

// vec reads a vector with an lenBytes-byte length prefix whose length must
// be within [minLen, maxLen], and returns a cursor over its content.
func (c *tlsCursor) vec(lenBytes int, field string, minLen, maxLen int) (tlsCursor, *ParseError) {
	at := c.pos
	if c.left() < lenBytes {
		return tlsCursor{}, errAt(CodeBadLength, at, "%s: %d-byte length prefix truncated, %d bytes left in its container", field, lenBytes, c.left())
	}
	l := 0
	for i := 0; i < lenBytes; i++ {
		l = l<<8 | int(c.b[c.pos+i])
	}
	if l > c.left()-lenBytes {
		return tlsCursor{}, kindErrAt(AnomalyOverrun, CodeBadLength, at, "%s: length %d runs past its container (%d bytes left)", field, l, c.left()-lenBytes)
	}
	if l < minLen {
		kind := AnomalyTooShort
		if l == 0 {
			kind = AnomalyEmpty
		}
		return tlsCursor{}, kindErrAt(kind, CodeMalformed, at, "%s: length %d is below the minimum %d", field, l, minLen)
	}
	if l > maxLen {
		return tlsCursor{}, kindErrAt(AnomalyTooLong, CodeMalformed, at, "%s: length %d exceeds the maximum %d", field, l, maxLen)
	}
	start := c.pos + lenBytes
	c.pos = start + l
	return tlsCursor{b: c.b, pos: start, end: start + l}, nil
}

func (c *tlsCursor) vec8(field string, minLen, maxLen int) (tlsCursor, *ParseError) {
	return c.vec(1, field, minLen, maxLen)
}

func (c *tlsCursor) vec16(field string, minLen, maxLen int) (tlsCursor, *ParseError) {
	return c.vec(2, field, minLen, maxLen)
}

// u16Vec16 reads a non-empty list of uint16 values with a 2-byte length.
func (c *tlsCursor) u16Vec16(field string) (tlsCursor, *ParseError) {
	at := c.pos
	v, pe := c.vec16(field, 2, 0xfffe)
	if pe != nil {
		return v, pe
	}
	if v.left()%2 != 0 {
		return tlsCursor{}, kindErrAt(AnomalyOddLength, CodeMalformed, at, "%s: odd length %d for a list of 2-byte values", field, v.left())
	}
	return v, nil
}

// u16Vec8 reads a non-empty list of uint16 values with a 1-byte length.
func (c *tlsCursor) u16Vec8(field string) (tlsCursor, *ParseError) {
	at := c.pos
	v, pe := c.vec8(field, 2, 254)
	if pe != nil {
		return v, pe
	}
	if v.left()%2 != 0 {
		return tlsCursor{}, kindErrAt(AnomalyOddLength, CodeMalformed, at, "%s: odd length %d for a list of 2-byte values", field, v.left())
	}
	return v, nil
}

// done reports bytes left over in a container that should be used up.
func (c *tlsCursor) done(field string) *ParseError {
	if c.left() != 0 {
		return kindErrAt(AnomalyTrailingBytes, CodeBadLength, c.pos, "%s: %d unexpected trailing bytes", field, c.left())
	}
	return nil
}

// u16At reads the big-endian uint16 at b[i:].
func u16At(b []byte, i int) uint16 { return uint16(b[i])<<8 | uint16(b[i+1]) }

// ext returns the data of the first extension of type t.
func (ch *ClientHello) ext(t uint16) ([]byte, bool) {
	for i := range ch.Extensions {
		if ch.Extensions[i].Type == t {
			return ch.Extensions[i].Data, true
		}
	}
	return nil, false
}

// extList returns the list body of a list-valued extension decoded as far
// as it goes (see lenientListBody), or nil when the extension is absent or
// too short to hold its length prefix.
func (ch *ClientHello) extList(t uint16) []byte {
	d, ok := ch.ext(t)
	if !ok {
		return nil
	}
	return lenientListBody(t, d)
}

// u16s decodes a list of big-endian uint16 values.
func u16s(b []byte) []uint16 {
	if len(b) < 2 {
		return nil
	}
	out := make([]uint16, len(b)/2)
	for i := range out {
		out[i] = u16At(b, 2*i)
	}
	return out
}

// FindExtension returns the first extension of type t.
func (ch *ClientHello) FindExtension(t uint16) (Extension, bool) {
	for i := range ch.Extensions {
		if ch.Extensions[i].Type == t {
			return ch.Extensions[i], true
		}
	}
	return Extension{}, false
}

// HasExtension reports whether the hello carries an extension of type t.
func (ch *ClientHello) HasExtension(t uint16) bool {
	_, ok := ch.ext(t)
	return ok
}

// HasPSK reports whether the hello carries a pre_shared_key extension, i.e.
// offers session resumption.
func (ch *ClientHello) HasPSK() bool { return ch.HasExtension(ExtPreSharedKey) }

// ExtensionTypes returns the extension types in wire order, GREASE kept.
func (ch *ClientHello) ExtensionTypes() []uint16 {
	out := make([]uint16, len(ch.Extensions))
	for i := range ch.Extensions {
		out[i] = ch.Extensions[i].Type
	}
	return out
}

// ServerName returns the first host_name in the server_name extension, or
// "" when there is none.
func (ch *ClientHello) ServerName() string {
	d, ok := ch.ext(ExtServerName)
	if !ok {
		return ""
	}
	c := tlsCursor{b: d, end: len(d)}
	list, pe := c.vec16("server_name_list", 1, 0xffff)
	if pe != nil {
		return ""
	}
	for list.left() > 0 {
		typ, pe := list.u8("name_type")
		if pe != nil {
			return ""
		}
		name, pe := list.vec16("host_name", 1, 0xffff)
		if pe != nil {
			return ""
		}
		if typ == 0 {
			return string(name.bytes())
		}
	}
	return ""
}

// ALPN returns the protocols of the application_layer_protocol_negotiation
// extension in wire order, or nil when it is absent.
func (ch *ClientHello) ALPN() []string {
	l := ch.extList(ExtALPN)
	if l == nil {
		return nil
	}
	return protocolNames(l)
}

// protocolNames splits a validated ProtocolNameList body.
func protocolNames(l []byte) []string {
	var out []string
	for i := 0; i < len(l); {
		n := int(l[i])
		out = append(out, string(l[i+1:i+1+n]))
		i += 1 + n
	}
	return out
}

// SupportedGroups returns the supported_groups list in wire order, GREASE
// kept, or nil when the extension is absent.
func (ch *ClientHello) SupportedGroups() []uint16 { return u16s(ch.extList(ExtSupportedGroups)) }

// PointFormats returns the ec_point_formats list, or nil when absent.
func (ch *ClientHello) PointFormats() []uint8 {
	l := ch.extList(ExtECPointFormats)
	if l == nil {
		return nil
	}
	return append([]uint8(nil), l...)
}

// SignatureAlgorithms returns the signature_algorithms list in wire order,
// GREASE kept, or nil when absent.
func (ch *ClientHello) SignatureAlgorithms() []uint16 {
	return u16s(ch.extList(ExtSignatureAlgorithms))
}

// SupportedVersions returns the supported_versions list in wire order,
// GREASE kept, or nil when absent.
func (ch *ClientHello) SupportedVersions() []uint16 { return u16s(ch.extList(ExtSupportedVersions)) }

// PSKModes returns the psk_key_exchange_modes list, or nil when absent.
func (ch *ClientHello) PSKModes() []uint8 {
	l := ch.extList(ExtPSKKeyExchangeModes)
	if l == nil {
		return nil
	}
	return append([]uint8(nil), l...)
}

// CertCompressionAlgs returns the compress_certificate algorithm list, or
// nil when absent.
func (ch *ClientHello) CertCompressionAlgs() []uint16 {
	return u16s(ch.extList(ExtCompressCertificate))
}

// KeyShares returns the key_share entries in wire order, GREASE kept, or
// nil when the extension is absent or offers no share.
func (ch *ClientHello) KeyShares() []KeyShare {
	l := ch.extList(ExtKeyShare)
	if l == nil {
		return nil
	}
	return keyShares(l)
}

// MaxVersion returns the highest non-GREASE version in supported_versions,
// or LegacyVersion when the extension is absent or holds only GREASE.
func (ch *ClientHello) MaxVersion() uint16 {
	return maxVersion(ch.extList(ExtSupportedVersions), ch.LegacyVersion)
}
