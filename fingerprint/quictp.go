package fingerprint

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// QUICParam is one QUIC transport parameter (RFC 9000 §18) as the client
// sent it in quic_transport_parameters, in wire order.
type QUICParam struct {
	ID   uint64 `json:"id"`
	Name string `json:"name,omitempty"`
	// GREASE marks a reserved id (31*N + 27, RFC 9000 §18.1).
	GREASE bool `json:"grease,omitempty"`
	// Value is the parameter's raw value.
	Value HexBytes `json:"value"`
	// Int is the value decoded as a variable-length integer, for the
	// parameters RFC 9000 and its extensions define as one.
	Int *uint64 `json:"int,omitempty"`
}

// QUICTransportParamsFP is the transport-parameters fingerprint: Text is
// the ids sorted ascending (decimal; GREASE ids, whose value is random,
// written "GREASE" at the end) joined by "-", then "_" and the integer
// values of the stable parameters (limits, timeouts and flags a client
// build sends the same on every connection: quicStableParams) as
// "id:value" joined by "-", in the same order. Sorted, because Chromium
// permutes its transport parameters on every connection as it does its
// TLS extensions; the wire order is in the parameter list. Connection IDs,
// tokens, version_information (GREASE versions) and other parameters'
// values are left out: they change per connection. Hash is the first 12
// hex digits of the SHA-256 of Text.
type QUICTransportParamsFP struct {
	Text string `json:"quic_tp"`
	Hash string `json:"quic_tp_hash"`
}

// quicIntParams are the transport parameters whose value is one varint.
var quicIntParams = map[uint64]bool{
	0x01: true, 0x03: true, 0x04: true, 0x05: true, 0x06: true, 0x07: true,
	0x08: true, 0x09: true, 0x0a: true, 0x0b: true, 0x0e: true, 0x20: true,
	0xff04de1b: true, // min_ack_delay (draft-ietf-quic-ack-frequency)
}

// IsQUICGREASEParam reports whether id is a reserved transport parameter
// (31*N + 27).
func IsQUICGREASEParam(id uint64) bool { return id >= 27 && (id-27)%31 == 0 }

// QUICTransportParams returns the transport parameters of the hello's
// quic_transport_parameters extension (57, else the draft code point
// 0xffa5) in wire order; nil when it has none. A parameter whose length
// runs past the extension is an error.
func (ch *ClientHello) QUICTransportParams() ([]QUICParam, error) {
	data, ok := ch.ext(ExtQUICTransportParameters)
	if !ok {
		if data, ok = ch.ext(ExtQUICTransportParametersDraft); !ok {
			return nil, nil
		}
	}
	return ParseQUICTransportParams(data)
}

// ParseQUICTransportParams parses the data of a quic_transport_parameters
// extension. Values are copied.
func ParseQUICTransportParams(b []byte) ([]QUICParam, error) {
	var out []QUICParam
	for i := 0; i < len(b); {
		id, n, ok := QUICVarint(b[i:])
		if !ok {
			return out, fmt.Errorf("fingerprint: transport parameter at offset %d: truncated id", i)
		}
		i += n
		l, n, ok := QUICVarint(b[i:])
		if !ok {
			return out, fmt.Errorf("fingerprint: transport parameter %d: truncated length", id)
		}
		i += n
		if l > uint64(len(b)-i) {
			return out, fmt.Errorf("fingerprint: transport parameter %d: length %d runs past the extension (%d bytes left)", id, l, len(b)-i)
		}
		p := QUICParam{ID: id, Name: QUICTransportParameterName(id), GREASE: IsQUICGREASEParam(id),
			Value: append(HexBytes{}, b[i:i+int(l)]...)}
		if quicIntParams[id] {
			if v, n, ok := QUICVarint(p.Value); ok && n == len(p.Value) {
				p.Int = &v
			}
		}
		out = append(out, p)
		i += int(l)
	}
	return out, nil
}

// QUICTransportParamsFingerprint computes the fingerprint of params (see
// QUICTransportParamsFP).
func QUICTransportParamsFingerprint(params []QUICParam) QUICTransportParamsFP {
	sorted := slices.Clone(params)
	slices.SortStableFunc(sorted, func(a, b QUICParam) int { return cmp.Compare(a.ID, b.ID) })
	var ids, vals []string
	grease := 0
	for _, p := range sorted {
		if p.GREASE {
			grease++
			continue
		}
		ids = append(ids, strconv.FormatUint(p.ID, 10))
		if p.Int != nil { // the integer parameters (quicIntParams)
			vals = append(vals, strconv.FormatUint(p.ID, 10)+":"+strconv.FormatUint(*p.Int, 10))
		}
	}
	for ; grease > 0; grease-- {
		ids = append(ids, "GREASE")
	}
	text := strings.Join(ids, "-") + "_" + strings.Join(vals, "-")
	sum := sha256.Sum256([]byte(text))
	return QUICTransportParamsFP{Text: text, Hash: hex.EncodeToString(sum[:6])}
}

// QUICVarint decodes a QUIC variable-length integer (RFC 9000 §16) at the
// start of b: its value and length, ok false when b is too short.
func QUICVarint(b []byte) (v uint64, n int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	n = 1 << (b[0] >> 6)
	if len(b) < n {
		return 0, 0, false
	}
	v = uint64(b[0] & 0x3f)
	for _, c := range b[1:n] {
		v = v<<8 | uint64(c)
	}
	return v, n, true
}
