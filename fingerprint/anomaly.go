package fingerprint

// AnomalyKind says what is wrong with an extension whose framing is sound
// but whose contents break its RFC. Kinds are stable strings, like
// ErrorCode.
type AnomalyKind string

// Anomaly kinds.
const (
	// AnomalyEmpty: an empty list or a zero-length name where the RFC
	// requires at least one element or byte (an empty ALPN protocol name,
	// an empty ec_point_formats list).
	AnomalyEmpty AnomalyKind = "empty"
	// AnomalyTooShort: a non-empty vector below the RFC's minimum length.
	AnomalyTooShort AnomalyKind = "too_short"
	// AnomalyTooLong: a vector above the RFC's maximum length.
	AnomalyTooLong AnomalyKind = "too_long"
	// AnomalyOddLength: an odd byte length for a list of 2-byte values.
	AnomalyOddLength AnomalyKind = "odd_length"
	// AnomalyOutOfRange: a value the RFC does not allow.
	AnomalyOutOfRange AnomalyKind = "out_of_range"
	// AnomalyNotEmpty: data in an extension that must be empty in a
	// ClientHello.
	AnomalyNotEmpty AnomalyKind = "not_empty"
	// AnomalyTrailingBytes: bytes left over after the extension's content.
	AnomalyTrailingBytes AnomalyKind = "trailing_bytes"
	// AnomalyOverrun: a length inside the extension's data runs past the
	// data (the extension's own length, and so the hello, is sound).
	AnomalyOverrun AnomalyKind = "overrun"
	// AnomalyMismatch: counts that must agree do not (pre_shared_key
	// identities and binders).
	AnomalyMismatch AnomalyKind = "mismatch"
	// AnomalyDuplicate: a non-GREASE extension type seen a second time.
	AnomalyDuplicate AnomalyKind = "duplicate"
	// AnomalyMisplaced: pre_shared_key is not the last extension.
	AnomalyMisplaced AnomalyKind = "misplaced"
	// AnomalyMalformed: any other content error.
	AnomalyMalformed AnomalyKind = "malformed"
)

// Anomaly is an RFC violation inside a ClientHello extension that the
// parser tolerated: the extension is kept, decoded as far as it goes, and
// counted in every fingerprint exactly as the reference implementations
// (Wireshark, Arkime, FoxIO's JA4 tools) count it.
type Anomaly struct {
	// Extension is the extension type.
	Extension uint16 `json:"extension"`
	// Name is the extension's registered name, "" when unknown.
	Name string `json:"name,omitempty"`
	// Kind says what is wrong.
	Kind AnomalyKind `json:"kind"`
	// Offset is the byte offset of the offending field, from the start of
	// the input given to the parser (mapped through record headers like a
	// ParseError's).
	Offset int `json:"offset"`
	// Message describes the problem for people.
	Message string `json:"message"`
}

// newAnomaly turns a content error found in extension t into an Anomaly.
func newAnomaly(t uint16, pe *ParseError) Anomaly {
	kind := pe.kind
	if kind == "" {
		kind = AnomalyMalformed
		if pe.Code == CodeBadLength {
			kind = AnomalyOverrun
		}
	}
	return Anomaly{Extension: t, Name: ExtensionName(t), Kind: kind, Offset: pe.Offset, Message: pe.Msg}
}

// lenientListBody returns the list body of the data d of a list-valued
// extension decoded as far as it goes: the well-formed body when d is well
// formed, else the bytes the list's length prefix claims, cut to the data
// present and to whole elements (an odd trailing byte of a 2-byte list, a
// protocol name or key share running past the list are dropped). Empty
// names and empty lists are kept as they are. It returns nil when d cannot
// even hold the length prefix or t is not list-valued.
func lenientListBody(t uint16, d []byte) []byte {
	if b := listBody(t, d); b != nil {
		return b
	}
	var prefix, elem int // length prefix bytes; element: 2 (uint16), 1 (byte), 0 (variable)
	switch t {
	case ExtSupportedGroups, ExtSignatureAlgorithms, ExtSignatureAlgorithmsCert, ExtDelegatedCredentials:
		prefix, elem = 2, 2
	case ExtECPointFormats, ExtPSKKeyExchangeModes:
		prefix, elem = 1, 1
	case ExtSupportedVersions, ExtCompressCertificate:
		prefix, elem = 1, 2
	case ExtALPN, ExtApplicationSettingsOld, ExtApplicationSettings, ExtKeyShare:
		prefix = 2
	default:
		return nil
	}
	if len(d) < prefix {
		return nil
	}
	n := int(d[0])
	if prefix == 2 {
		n = int(u16At(d, 0))
	}
	body := d[prefix:]
	body = body[:min(n, len(body)):min(n, len(body))]
	switch {
	case elem == 2:
		body = body[:len(body)&^1]
	case elem == 0 && t == ExtKeyShare:
		i := 0
		for i+4 <= len(body) && i+4+int(u16At(body, i+2)) <= len(body) {
			i += 4 + int(u16At(body, i+2))
		}
		body = body[:i]
	case elem == 0:
		i := 0
		for i < len(body) && i+1+int(body[i]) <= len(body) {
			i += 1 + int(body[i])
		}
		body = body[:i]
	}
	return body
}
