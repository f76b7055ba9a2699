package fingerprint

import (
	"encoding/binary"
	"slices"
	"strconv"

	"github.com/guanaco-fp/guanaco/internal/jsontext"
)

// The JSON form of the decoded extension values, appended by hand: an
// Extension's MarshalJSON runs for every extension of every hello a
// fingerprint answer shows, and encoding/json's reflection made it the
// largest cost of that answer. Each appendJSON, and appendListJSON for a
// list straight from its data, writes exactly the bytes json.Marshal
// writes for the same value (field order and names of the json tags,
// omitempty, null for a nil slice and [] for an empty one, the string
// escaping of appendJSONString). TestExtensionValueJSONMatchesEncodingJSON,
// TestExtensionJSONMatchesLegacy and FuzzExtensionJSON hold them to it. A
// field added to a value type must be added to its appendJSON.

func appendStringElem(s string, b []byte) []byte { return jsontext.AppendString(b, s) }

// appendJSONInt appends a signed integer as encoding/json does.
func appendJSONInt(b []byte, v int) []byte { return strconv.AppendInt(b, int64(v), 10) }

// appendJSONUint appends an unsigned integer as encoding/json does.
func appendJSONUint(b []byte, v uint64) []byte { return strconv.AppendUint(b, v, 10) }

// appendJSON appends {"value":V,"name":N}, without name when it is empty.
func (n NamedValue) appendJSON(b []byte) []byte {
	b = append(b, `{"value":`...)
	b = appendJSONUint(b, uint64(n.Value))
	if n.Name != "" {
		b = append(b, `,"name":`...)
		b = jsontext.AppendString(b, n.Name)
	}
	return append(b, '}')
}

// appendJSONArray appends s as a JSON array, null when s is nil.
func appendJSONArray[T any](b []byte, s []T, elem func(T, []byte) []byte) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, v := range s {
		if i > 0 {
			b = append(b, ',')
		}
		b = elem(v, b)
	}
	return append(b, ']')
}

// appendNamedList appends {"<key>":[named values]}; key is the JSON
// member name with its quotes and colon.
func appendNamedList(b []byte, key string, l []NamedValue) []byte {
	b = append(b, '{')
	b = append(b, key...)
	b = appendJSONArray(b, l, NamedValue.appendJSON)
	return append(b, '}')
}

func (v ServerNameValue) appendJSON(b []byte) []byte {
	b = append(b, `{"names":`...)
	b = appendJSONArray(b, v.Names, func(n ServerNameEntry, b []byte) []byte {
		b = append(b, `{"type":`...)
		b = appendJSONUint(b, uint64(n.Type))
		b = append(b, `,"name":`...)
		b = jsontext.AppendString(b, n.Name)
		return append(b, '}')
	})
	return append(b, '}')
}

func (v StatusRequestValue) appendJSON(b []byte) []byte {
	b = append(b, `{"status_type":`...)
	b = appendJSONUint(b, uint64(v.StatusType))
	b = append(b, `,"responder_id_list_length":`...)
	b = appendJSONInt(b, v.ResponderIDListLength)
	b = append(b, `,"request_extensions_length":`...)
	b = appendJSONInt(b, v.RequestExtensionsLength)
	return append(b, '}')
}

func (v SupportedGroupsValue) appendJSON(b []byte) []byte {
	return appendNamedList(b, `"groups":`, v.Groups)
}

func (v PointFormatsValue) appendJSON(b []byte) []byte {
	return appendNamedList(b, `"formats":`, v.Formats)
}

func (v SignatureAlgorithmsValue) appendJSON(b []byte) []byte {
	return appendNamedList(b, `"algorithms":`, v.Algorithms)
}

func (v UseSRTPValue) appendJSON(b []byte) []byte {
	b = append(b, `{"profiles":`...)
	b = appendJSONArray(b, v.Profiles, func(p uint16, b []byte) []byte { return appendJSONUint(b, uint64(p)) })
	b = append(b, `,"mki_length":`...)
	b = appendJSONInt(b, v.MKILength)
	return append(b, '}')
}

func (v ALPNValue) appendJSON(b []byte) []byte {
	b = append(b, `{"protocols":`...)
	b = appendJSONArray(b, v.Protocols, appendStringElem)
	return append(b, '}')
}

func (v PaddingValue) appendJSON(b []byte) []byte {
	b = append(b, `{"length":`...)
	b = appendJSONInt(b, v.Length)
	if v.NonZero {
		b = append(b, `,"non_zero":true`...)
	}
	return append(b, '}')
}

func (EmptyValue) appendJSON(b []byte) []byte { return append(b, "{}"...) }

func (v CompressCertificateValue) appendJSON(b []byte) []byte {
	return appendNamedList(b, `"algorithms":`, v.Algorithms)
}

func (v RecordSizeLimitValue) appendJSON(b []byte) []byte {
	b = append(b, `{"limit":`...)
	b = appendJSONUint(b, uint64(v.Limit))
	return append(b, '}')
}

func (v OpaqueValue) appendJSON(b []byte) []byte {
	b = append(b, `{"length":`...)
	b = appendJSONInt(b, v.Length)
	return append(b, '}')
}

func (v PreSharedKeyValue) appendJSON(b []byte) []byte {
	b = append(b, `{"identities":`...)
	b = appendJSONArray(b, v.Identities, func(id PSKIdentity, b []byte) []byte {
		b = append(b, `{"length":`...)
		b = appendJSONInt(b, id.Length)
		b = append(b, `,"obfuscated_ticket_age":`...)
		b = appendJSONUint(b, uint64(id.ObfuscatedTicketAge))
		return append(b, '}')
	})
	b = append(b, `,"binder_lengths":`...)
	b = appendJSONArray(b, v.BinderLengths, func(n int, b []byte) []byte { return appendJSONInt(b, n) })
	return append(b, '}')
}

func (v SupportedVersionsValue) appendJSON(b []byte) []byte {
	return appendNamedList(b, `"versions":`, v.Versions)
}

func (v PSKModesValue) appendJSON(b []byte) []byte {
	return appendNamedList(b, `"modes":`, v.Modes)
}

func (v CertificateAuthoritiesValue) appendJSON(b []byte) []byte {
	b = append(b, `{"count":`...)
	b = appendJSONInt(b, v.Count)
	return append(b, '}')
}

func (v KeyShareValue) appendJSON(b []byte) []byte {
	b = append(b, `{"shares":`...)
	b = appendJSONArray(b, v.Shares, KeyShare.appendJSON)
	return append(b, '}')
}

func (s KeyShare) appendJSON(b []byte) []byte {
	b = append(b, `{"group":`...)
	b = appendJSONUint(b, uint64(s.Group))
	if s.Name != "" {
		b = append(b, `,"name":`...)
		b = jsontext.AppendString(b, s.Name)
	}
	b = append(b, `,"key_length":`...)
	b = appendJSONInt(b, s.KeyLength)
	return append(b, '}')
}

func (v QUICTransportParametersValue) appendJSON(b []byte) []byte {
	b = append(b, `{"params":`...)
	b = appendJSONArray(b, v.Params, func(p QUICTransportParameter, b []byte) []byte {
		b = append(b, `{"id":`...)
		b = appendJSONUint(b, p.ID)
		if p.Name != "" {
			b = append(b, `,"name":`...)
			b = jsontext.AppendString(b, p.Name)
		}
		b = append(b, `,"length":`...)
		b = appendJSONInt(b, p.Length)
		return append(b, '}')
	})
	return append(b, '}')
}

func (v ApplicationSettingsValue) appendJSON(b []byte) []byte {
	b = append(b, `{"protocols":`...)
	b = appendJSONArray(b, v.Protocols, appendStringElem)
	return append(b, '}')
}

func (v ECHValue) appendJSON(b []byte) []byte {
	b = append(b, `{"type":`...)
	b = jsontext.AppendString(b, v.Type)
	b = append(b, `,"kdf":`...)
	b = v.KDF.appendJSON(b)
	b = append(b, `,"aead":`...)
	b = v.AEAD.appendJSON(b)
	b = append(b, `,"config_id":`...)
	b = appendJSONUint(b, uint64(v.ConfigID))
	b = append(b, `,"enc_length":`...)
	b = appendJSONInt(b, v.EncLength)
	b = append(b, `,"payload_length":`...)
	b = appendJSONInt(b, v.PayloadLength)
	return append(b, '}')
}

// extensionJSONSize is the capacity MarshalJSON allocates for e: the
// envelope, the hex data and a generous estimate of the decoded value's
// JSON from the type and data length (a named code point is at most about
// 64 bytes of JSON), so the buffer normally does not grow. Strings that
// escape to more may grow it; the size is only a hint.
func extensionJSONSize(e Extension) int {
	n := 144 + 2*len(e.Data)
	switch e.Type {
	case ExtSupportedGroups, ExtSignatureAlgorithms, ExtSignatureAlgorithmsCert, ExtDelegatedCredentials,
		ExtSupportedVersions, ExtCompressCertificate:
		n += 26 * len(e.Data)
	case ExtECPointFormats, ExtPSKKeyExchangeModes:
		n += 52 * len(e.Data)
	case ExtServerName, ExtALPN, ExtApplicationSettingsOld, ExtApplicationSettings:
		n += 2 * len(e.Data)
	case ExtQUICTransportParameters, ExtQUICTransportParametersDraft:
		n += 32 * min(len(e.Data), 512)
	case ExtKeyShare, ExtPreSharedKey, ExtEncryptedClientHello:
		n += 192
	default:
		n += 96
	}
	return n
}

// hexPairs holds the two lower-case hex digits of every byte value.
var hexPairs = func() (t [512]byte) {
	const digits = "0123456789abcdef"
	for i := range 256 {
		t[2*i], t[2*i+1] = digits[i>>4], digits[i&0xf]
	}
	return t
}()

// appendHex appends d in lower-case hex, as hex.AppendEncode does: eight
// bytes at a time with word arithmetic (the key share of a post-quantum
// hello is over a kilobyte), the rest from a table.
func appendHex(b []byte, d []byte) []byte {
	n := len(b)
	b = slices.Grow(b, 2*len(d))[:n+2*len(d)]
	out := b[n:]
	for len(d) >= 8 && len(out) >= 16 {
		x := binary.LittleEndian.Uint64(d)
		binary.LittleEndian.PutUint64(out, hex8(uint32(x)))
		binary.LittleEndian.PutUint64(out[8:], hex8(uint32(x>>32)))
		d, out = d[8:], out[16:]
	}
	for i, c := range d {
		out[2*i], out[2*i+1] = hexPairs[2*int(c)], hexPairs[2*int(c)+1]
	}
	return b
}

// hex8 returns the eight hex digits of the four bytes of x (x's low byte
// first), as a little-endian word: the digits in memory order.
func hex8(x uint32) uint64 {
	// One 16-bit lane per byte, then the high nibble into the lane's low
	// byte (written first) and the low nibble into its high byte.
	y := uint64(x)
	y = (y | y<<16) & 0x0000ffff0000ffff
	y = (y | y<<8) & 0x00ff00ff00ff00ff
	v := (y>>4)&0x000f000f000f000f | (y&0x000f000f000f000f)<<8
	// Each byte is a nibble: '0'+v, plus 'a'-'0'-10 where v >= 10.
	letters := ((v + 0x0606060606060606) >> 4) & 0x0101010101010101
	return v + 0x3030303030303030 + letters*('a'-'0'-10)
}

// appendListJSON appends the decoded JSON of a list-valued extension of
// type t straight from its validated list body l (listBody's result):
// exactly listValue(t, l).appendJSON(b), without building the value. t
// must be list-valued (listBody returned l).
func appendListJSON(b []byte, t uint16, l []byte) []byte {
	switch t {
	case ExtSupportedGroups:
		return appendNamedU16s(b, `{"groups":[`, l, GroupName)
	case ExtSignatureAlgorithms, ExtSignatureAlgorithmsCert, ExtDelegatedCredentials:
		return appendNamedU16s(b, `{"algorithms":[`, l, SignatureSchemeName)
	case ExtSupportedVersions:
		return appendNamedU16s(b, `{"versions":[`, l, VersionName)
	case ExtCompressCertificate:
		return appendNamedU16s(b, `{"algorithms":[`, l, CertCompressionAlgName)
	case ExtECPointFormats:
		return appendNamedU8s(b, `{"formats":[`, l, PointFormatName)
	case ExtPSKKeyExchangeModes:
		return appendNamedU8s(b, `{"modes":[`, l, PSKModeName)
	case ExtALPN, ExtApplicationSettingsOld, ExtApplicationSettings:
		// protocolNames: nil (null) for an empty body.
		b = append(b, `{"protocols":`...)
		if len(l) == 0 {
			return append(b, "null}"...)
		}
		b = append(b, '[')
		for i := 0; i < len(l); {
			n := int(l[i])
			if i > 0 {
				b = append(b, ',')
			}
			b = jsontext.AppendString(b, l[i+1:i+1+n])
			i += 1 + n
		}
		return append(b, "]}"...)
	case ExtKeyShare:
		// keyShares: nil (null) for an empty body.
		b = append(b, `{"shares":`...)
		if len(l) < 4 {
			return append(b, "null}"...)
		}
		b = append(b, '[')
		for i := 0; i+4 <= len(l); {
			if i > 0 {
				b = append(b, ',')
			}
			g := u16At(l, i)
			n := int(u16At(l, i+2))
			b = KeyShare{Group: g, Name: GroupName(g), KeyLength: n}.appendJSON(b)
			i += 4 + n
		}
		return append(b, "]}"...)
	}
	return b
}

// appendNamedU16s appends open, the named values of the uint16 code
// points in l (namedU16s) and "]}".
func appendNamedU16s(b []byte, open string, l []byte, name func(uint16) string) []byte {
	b = append(b, open...)
	for i := 0; i+2 <= len(l); i += 2 {
		if i > 0 {
			b = append(b, ',')
		}
		v := u16At(l, i)
		b = NamedValue{Value: v, Name: name(v)}.appendJSON(b)
	}
	return append(b, "]}"...)
}

// appendNamedU8s appends open, the named values of the one-byte code
// points in l (namedU8s) and "]}".
func appendNamedU8s(b []byte, open string, l []byte, name func(uint8) string) []byte {
	b = append(b, open...)
	for i, v := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = NamedValue{Value: uint16(v), Name: name(v)}.appendJSON(b)
	}
	return append(b, "]}"...)
}
