package fingerprint

import (
	"strconv"
	"unicode/utf8"
)

// The JSON form of the decoded extension values, appended by hand: an
// Extension's MarshalJSON runs for every extension of every hello a
// fingerprint answer shows, and encoding/json's reflection made it the
// largest cost of that answer. Each appendJSON writes exactly the bytes
// json.Marshal writes for the same value (field order and names of the
// json tags, omitempty, null for a nil slice and [] for an empty one, the
// string escaping of appendJSONString); TestExtensionValueJSONMatchesEncodingJSON
// and FuzzExtensionJSON hold them to it. A field added to a value type must
// be added to its appendJSON.

// appendJSONString appends s as a JSON string exactly as encoding/json
// writes it: `"` and `\` escaped with a backslash; \b, \f, \n, \r and \t
// by name; other bytes below 0x20 and the HTML characters <, > and & as
// \u00XX; each byte of invalid UTF-8 as \ufffd; U+2028 and U+2029 as
// \u2028 and \u2029; everything else (DEL included) as is.
func appendJSONString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

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
		b = appendJSONString(b, n.Name)
	}
	return append(b, '}')
}

// appendJSONArray appends s as a JSON array, null when s is nil.
func appendJSONArray[T any](b []byte, s []T, elem func([]byte, T) []byte) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, v := range s {
		if i > 0 {
			b = append(b, ',')
		}
		b = elem(b, v)
	}
	return append(b, ']')
}

func appendNamedValue(b []byte, n NamedValue) []byte { return n.appendJSON(b) }

// appendNamedList appends {"<key>":[named values]}; key is the JSON
// member name with its quotes and colon.
func appendNamedList(b []byte, key string, l []NamedValue) []byte {
	b = append(b, '{')
	b = append(b, key...)
	b = appendJSONArray(b, l, appendNamedValue)
	return append(b, '}')
}

func appendStringElem(b []byte, s string) []byte { return appendJSONString(b, s) }

func (v ServerNameValue) appendJSON(b []byte) []byte {
	b = append(b, `{"names":`...)
	b = appendJSONArray(b, v.Names, func(b []byte, n ServerNameEntry) []byte {
		b = append(b, `{"type":`...)
		b = appendJSONUint(b, uint64(n.Type))
		b = append(b, `,"name":`...)
		b = appendJSONString(b, n.Name)
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
	b = appendJSONArray(b, v.Profiles, func(b []byte, p uint16) []byte { return appendJSONUint(b, uint64(p)) })
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
	b = appendJSONArray(b, v.Identities, func(b []byte, id PSKIdentity) []byte {
		b = append(b, `{"length":`...)
		b = appendJSONInt(b, id.Length)
		b = append(b, `,"obfuscated_ticket_age":`...)
		b = appendJSONUint(b, uint64(id.ObfuscatedTicketAge))
		return append(b, '}')
	})
	b = append(b, `,"binder_lengths":`...)
	b = appendJSONArray(b, v.BinderLengths, appendJSONInt)
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
	b = appendJSONArray(b, v.Shares, func(b []byte, s KeyShare) []byte {
		b = append(b, `{"group":`...)
		b = appendJSONUint(b, uint64(s.Group))
		if s.Name != "" {
			b = append(b, `,"name":`...)
			b = appendJSONString(b, s.Name)
		}
		b = append(b, `,"key_length":`...)
		b = appendJSONInt(b, s.KeyLength)
		return append(b, '}')
	})
	return append(b, '}')
}

func (v QUICTransportParametersValue) appendJSON(b []byte) []byte {
	b = append(b, `{"params":`...)
	b = appendJSONArray(b, v.Params, func(b []byte, p QUICTransportParameter) []byte {
		b = append(b, `{"id":`...)
		b = appendJSONUint(b, p.ID)
		if p.Name != "" {
			b = append(b, `,"name":`...)
			b = appendJSONString(b, p.Name)
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
	b = appendJSONString(b, v.Type)
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

// extensionJSONSize is the capacity MarshalJSON allocates for e, whose
// decoded value is v: the envelope, the hex data and a generous estimate
// of v's JSON (registered names are at most about 40 bytes), so the
// buffer normally does not grow. Hostile strings that escape to more may
// grow it; the size is only a hint.
func extensionJSONSize(e Extension, v ExtensionValue) int {
	n := 128 + 2*len(e.Data)
	switch v := v.(type) {
	case nil:
	case SupportedGroupsValue:
		n += 16 + 64*len(v.Groups)
	case SignatureAlgorithmsValue:
		n += 16 + 64*len(v.Algorithms)
	case PointFormatsValue:
		n += 16 + 64*len(v.Formats)
	case SupportedVersionsValue:
		n += 16 + 64*len(v.Versions)
	case CompressCertificateValue:
		n += 16 + 64*len(v.Algorithms)
	case PSKModesValue:
		n += 16 + 64*len(v.Modes)
	case KeyShareValue:
		n += 16 + 80*len(v.Shares)
	case QUICTransportParametersValue:
		n += 16 + 96*len(v.Params)
	case PreSharedKeyValue:
		n += 48 + 64*len(v.Identities) + 8*len(v.BinderLengths)
	case ServerNameValue, ALPNValue, ApplicationSettingsValue:
		n += 32 + 2*len(e.Data)
	default:
		n += 192
	}
	return n
}
