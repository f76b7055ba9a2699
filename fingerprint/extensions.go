package fingerprint

import (
	"encoding/json"
	"strconv"

	"github.com/guanaco-fp/guanaco/internal/jsontext"
)

// TLS extension types this package decodes, and a few more it names.
const (
	ExtServerName                   uint16 = 0
	ExtStatusRequest                uint16 = 5
	ExtSupportedGroups              uint16 = 10
	ExtECPointFormats               uint16 = 11
	ExtSignatureAlgorithms          uint16 = 13
	ExtUseSRTP                      uint16 = 14
	ExtALPN                         uint16 = 16
	ExtSignedCertificateTimestamp   uint16 = 18
	ExtPadding                      uint16 = 21
	ExtEncryptThenMAC               uint16 = 22
	ExtExtendedMasterSecret         uint16 = 23
	ExtCompressCertificate          uint16 = 27
	ExtRecordSizeLimit              uint16 = 28
	ExtDelegatedCredentials         uint16 = 34
	ExtSessionTicket                uint16 = 35
	ExtPreSharedKey                 uint16 = 41
	ExtEarlyData                    uint16 = 42
	ExtSupportedVersions            uint16 = 43
	ExtCookie                       uint16 = 44
	ExtPSKKeyExchangeModes          uint16 = 45
	ExtCertificateAuthorities       uint16 = 47
	ExtPostHandshakeAuth            uint16 = 49
	ExtSignatureAlgorithmsCert      uint16 = 50
	ExtKeyShare                     uint16 = 51
	ExtQUICTransportParameters      uint16 = 57
	ExtNextProtocolNegotiation      uint16 = 13172
	ExtApplicationSettingsOld       uint16 = 17513
	ExtApplicationSettings          uint16 = 17613
	ExtTrustAnchors                 uint16 = 0xca34
	ExtEncryptedClientHello         uint16 = 0xfe0d
	ExtRenegotiationInfo            uint16 = 0xff01
	ExtQUICTransportParametersDraft uint16 = 0xffa5
)

// Extension is one ClientHello extension as sent.
//
// Its JSON form adds the registered "name", the data "length" and, for the
// types Decode understands, a "decoded" object (or "decode_error" if the
// data of a hand-built Extension is malformed).
type Extension struct {
	// Type is the extension type.
	Type uint16 `json:"type"`
	// GREASE marks an RFC 8701 GREASE extension type.
	GREASE bool `json:"grease"`
	// Data is the extension_data, without the type and length header.
	Data HexBytes `json:"data"`
}

// Name returns the registered name of the extension type ("GREASE" for
// GREASE, "" when unknown).
func (e Extension) Name() string { return ExtensionName(e.Type) }

// MarshalJSON implements json.Marshaler. The JSON is appended by hand
// (extensions_json.go), exactly the bytes encoding/json writes for the
// same fields, without its reflection: this runs for every extension of
// every hello an answer shows. A well-formed list-valued extension is
// encoded straight from its data, other decoded values by their
// appendJSON.
func (e Extension) MarshalJSON() ([]byte, error) {
	return e.AppendJSON(make([]byte, 0, extensionJSONSize(e))), nil
}

// AppendJSON appends what MarshalJSON returns to b: an encoder with a
// buffer of its own saves MarshalJSON's allocation.
func (e Extension) AppendJSON(b []byte) []byte {
	b = append(b, `{"type":`...)
	b = strconv.AppendUint(b, uint64(e.Type), 10)
	if name := ExtensionName(e.Type); name != "" {
		b = append(b, `,"name":`...)
		b = jsontext.AppendString(b, name)
	}
	b = append(b, `,"grease":`...)
	b = strconv.AppendBool(b, e.GREASE)
	b = append(b, `,"length":`...)
	b = strconv.AppendInt(b, int64(len(e.Data)), 10)
	b = append(b, `,"data":"`...)
	b = appendHex(b, e.Data)
	b = append(b, '"')
	if !e.GREASE && !IsGREASE(e.Type) {
		// What Decode returns for well-formed list data, unbuilt.
		if l := listBody(e.Type, e.Data); l != nil {
			b = append(b, `,"decoded":`...)
			b = appendListJSON(b, e.Type, l)
			return append(b, '}')
		}
	}
	v, err := e.Decode()
	if v != nil {
		b = append(b, `,"decoded":`...)
		b = v.appendJSON(b)
	}
	if err != nil {
		b = append(b, `,"decode_error":`...)
		b = jsontext.AppendString(b, err.Error())
	}
	return append(b, '}')
}

// Decode returns the typed value of the extension's data. It returns
// (nil, nil) for GREASE and for types without typed decoding (their data
// stays raw), and a *ParseError, with an offset into Data, when the data is
// malformed; a malformed list-valued extension then also returns its list
// decoded as far as it goes (the value the fingerprints use), a value out
// of range its decoded value, other types a nil value. The value types per extension type:
//
//	server_name                         ServerNameValue
//	status_request                      StatusRequestValue
//	supported_groups                    SupportedGroupsValue
//	ec_point_formats                    PointFormatsValue
//	signature_algorithms, signature_algorithms_cert,
//	delegated_credentials               SignatureAlgorithmsValue
//	use_srtp                            UseSRTPValue
//	application_layer_protocol_negotiation ALPNValue
//	padding                             PaddingValue
//	signed_certificate_timestamp, encrypt_then_mac, extended_master_secret,
//	early_data, post_handshake_auth,
//	next_protocol_negotiation           EmptyValue
//	compress_certificate                CompressCertificateValue
//	record_size_limit                   RecordSizeLimitValue
//	session_ticket, cookie,
//	renegotiation_info                  OpaqueValue
//	pre_shared_key                      PreSharedKeyValue
//	supported_versions                  SupportedVersionsValue
//	psk_key_exchange_modes              PSKModesValue
//	certificate_authorities             CertificateAuthoritiesValue
//	key_share                           KeyShareValue
//	quic_transport_parameters (57 and 0xffa5) QUICTransportParametersValue
//	application_settings (17513 and 17613)    ApplicationSettingsValue
//	encrypted_client_hello              ECHValue
func (e Extension) Decode() (ExtensionValue, error) {
	if e.GREASE || IsGREASE(e.Type) {
		return nil, nil
	}
	v, pe := decodeExtension(e.Type, tlsCursor{b: e.Data, end: len(e.Data)}, true)
	if pe != nil {
		if v != nil {
			return v, pe // decoded, with a value out of range
		}
		if l := lenientListBody(e.Type, e.Data); l != nil {
			return listValue(e.Type, l), pe
		}
		return nil, pe
	}
	return v, nil
}

// ExtensionValue is the typed decoding of one extension's data, returned by
// Extension.Decode. It is implemented only by the *Value types of this
// package.
type ExtensionValue interface {
	isExtensionValue()
	// appendJSON appends the value's JSON, exactly what encoding/json
	// writes for it (extensions_json.go).
	appendJSON(b []byte) []byte
}

// NamedValue is a code point with its registered name ("" when unknown,
// "GREASE" for GREASE values).
type NamedValue struct {
	Value uint16 `json:"value"`
	Name  string `json:"name,omitempty"`
}

// ServerNameValue decodes server_name (RFC 6066).
type ServerNameValue struct {
	Names []ServerNameEntry `json:"names"`
}

// ServerNameEntry is one ServerName; Type 0 is host_name.
type ServerNameEntry struct {
	Type uint8  `json:"type"`
	Name string `json:"name"`
}

// StatusRequestValue decodes status_request (RFC 6066): the status type (1
// is OCSP) and the sizes of its two lists.
type StatusRequestValue struct {
	StatusType              uint8 `json:"status_type"`
	ResponderIDListLength   int   `json:"responder_id_list_length"`
	RequestExtensionsLength int   `json:"request_extensions_length"`
}

// SupportedGroupsValue decodes supported_groups (RFC 8446 section 4.2.7).
type SupportedGroupsValue struct {
	Groups []NamedValue `json:"groups"`
}

// PointFormatsValue decodes ec_point_formats (RFC 8422).
type PointFormatsValue struct {
	Formats []NamedValue `json:"formats"`
}

// SignatureAlgorithmsValue decodes signature_algorithms,
// signature_algorithms_cert and delegated_credentials (a
// SignatureSchemeList each).
type SignatureAlgorithmsValue struct {
	Algorithms []NamedValue `json:"algorithms"`
}

// UseSRTPValue decodes use_srtp (RFC 5764).
type UseSRTPValue struct {
	Profiles  []uint16 `json:"profiles"`
	MKILength int      `json:"mki_length"`
}

// ALPNValue decodes application_layer_protocol_negotiation (RFC 7301).
type ALPNValue struct {
	Protocols []string `json:"protocols"`
}

// PaddingValue decodes padding (RFC 7685). NonZero reports padding bytes
// that are not zero, which the RFC forbids but servers must not reject.
type PaddingValue struct {
	Length  int  `json:"length"`
	NonZero bool `json:"non_zero,omitempty"`
}

// EmptyValue decodes the extensions whose ClientHello data must be empty.
type EmptyValue struct{}

// CompressCertificateValue decodes compress_certificate (RFC 8879).
type CompressCertificateValue struct {
	Algorithms []NamedValue `json:"algorithms"`
}

// RecordSizeLimitValue decodes record_size_limit (RFC 8449).
type RecordSizeLimitValue struct {
	Limit uint16 `json:"limit"`
}

// OpaqueValue decodes extensions whose content only matters by size:
// session_ticket (the ticket), cookie and renegotiation_info (the
// renegotiated_connection, empty on an initial handshake).
type OpaqueValue struct {
	Length int `json:"length"`
}

// PreSharedKeyValue decodes pre_shared_key (RFC 8446 section 4.2.11).
type PreSharedKeyValue struct {
	Identities    []PSKIdentity `json:"identities"`
	BinderLengths []int         `json:"binder_lengths"`
}

// PSKIdentity is one offered PSK identity.
type PSKIdentity struct {
	Length              int    `json:"length"`
	ObfuscatedTicketAge uint32 `json:"obfuscated_ticket_age"`
}

// SupportedVersionsValue decodes supported_versions (RFC 8446 section 4.2.1).
type SupportedVersionsValue struct {
	Versions []NamedValue `json:"versions"`
}

// PSKModesValue decodes psk_key_exchange_modes (RFC 8446 section 4.2.9).
type PSKModesValue struct {
	Modes []NamedValue `json:"modes"`
}

// CertificateAuthoritiesValue decodes certificate_authorities (RFC 8446
// section 4.2.4): the number of distinguished names offered.
type CertificateAuthoritiesValue struct {
	Count int `json:"count"`
}

// KeyShareValue decodes key_share (RFC 8446 section 4.2.8).
type KeyShareValue struct {
	Shares []KeyShare `json:"shares"`
}

// KeyShare is one KeyShareEntry: the group and the size of the key.
type KeyShare struct {
	Group     uint16 `json:"group"`
	Name      string `json:"name,omitempty"`
	KeyLength int    `json:"key_length"`
}

// QUICTransportParametersValue decodes quic_transport_parameters (RFC 9000
// section 18) and its draft code point 0xffa5.
type QUICTransportParametersValue struct {
	Params []QUICTransportParameter `json:"params"`
}

// QUICTransportParameter is one transport parameter: id and value length.
type QUICTransportParameter struct {
	ID     uint64 `json:"id"`
	Name   string `json:"name,omitempty"`
	Length int    `json:"length"`
}

// ApplicationSettingsValue decodes application_settings (ALPS, both code
// points 17513 and 17613): the protocols the client has settings for.
type ApplicationSettingsValue struct {
	Protocols []string `json:"protocols"`
}

// ECHValue decodes encrypted_client_hello
// (draft-ietf-tls-esni): an outer hello carries the HPKE cipher suite,
// config id and the sizes of enc and payload; an inner hello carries
// nothing else.
type ECHValue struct {
	// Type is "outer" (0) or "inner" (1).
	Type          string     `json:"type"`
	KDF           NamedValue `json:"kdf"`
	AEAD          NamedValue `json:"aead"`
	ConfigID      uint8      `json:"config_id"`
	EncLength     int        `json:"enc_length"`
	PayloadLength int        `json:"payload_length"`
}

func (ServerNameValue) isExtensionValue()              {}
func (StatusRequestValue) isExtensionValue()           {}
func (SupportedGroupsValue) isExtensionValue()         {}
func (PointFormatsValue) isExtensionValue()            {}
func (SignatureAlgorithmsValue) isExtensionValue()     {}
func (UseSRTPValue) isExtensionValue()                 {}
func (ALPNValue) isExtensionValue()                    {}
func (PaddingValue) isExtensionValue()                 {}
func (EmptyValue) isExtensionValue()                   {}
func (CompressCertificateValue) isExtensionValue()     {}
func (RecordSizeLimitValue) isExtensionValue()         {}
func (OpaqueValue) isExtensionValue()                  {}
func (PreSharedKeyValue) isExtensionValue()            {}
func (SupportedVersionsValue) isExtensionValue()       {}
func (PSKModesValue) isExtensionValue()                {}
func (CertificateAuthoritiesValue) isExtensionValue()  {}
func (KeyShareValue) isExtensionValue()                {}
func (QUICTransportParametersValue) isExtensionValue() {}
func (ApplicationSettingsValue) isExtensionValue()     {}
func (ECHValue) isExtensionValue()                     {}

// Interface guards.
var (
	_ ExtensionValue = ServerNameValue{}
	_ ExtensionValue = StatusRequestValue{}
	_ ExtensionValue = SupportedGroupsValue{}
	_ ExtensionValue = PointFormatsValue{}
	_ ExtensionValue = SignatureAlgorithmsValue{}
	_ ExtensionValue = UseSRTPValue{}
	_ ExtensionValue = ALPNValue{}
	_ ExtensionValue = PaddingValue{}
	_ ExtensionValue = EmptyValue{}
	_ ExtensionValue = CompressCertificateValue{}
	_ ExtensionValue = RecordSizeLimitValue{}
	_ ExtensionValue = OpaqueValue{}
	_ ExtensionValue = PreSharedKeyValue{}
	_ ExtensionValue = SupportedVersionsValue{}
	_ ExtensionValue = PSKModesValue{}
	_ ExtensionValue = CertificateAuthoritiesValue{}
	_ ExtensionValue = KeyShareValue{}
	_ ExtensionValue = QUICTransportParametersValue{}
	_ ExtensionValue = ApplicationSettingsValue{}
	_ ExtensionValue = ECHValue{}

	_ json.Marshaler = Extension{}
)

// extensionList reads the list that makes up the whole data of a
// list-valued extension and returns a cursor over the list body. The body
// is fully validated: for ALPN and ALPS every protocol name is non-empty,
// for key_share every entry is complete.
func extensionList(t uint16, c tlsCursor) (tlsCursor, *ParseError) {
	if body := listBody(t, c.bytes()); body != nil {
		return tlsCursor{b: c.b, pos: c.end - len(body), end: c.end}, nil
	}
	return checkExtensionList(t, c)
}

// listBody is the fast path of extensionList: the list body of the data d
// of a list-valued extension when d is well formed, else nil. It accepts
// exactly what checkExtensionList accepts (FuzzClientHello checks this).
func listBody(t uint16, d []byte) []byte {
	switch t {
	case ExtSupportedGroups, ExtSignatureAlgorithms, ExtSignatureAlgorithmsCert, ExtDelegatedCredentials:
		if len(d) >= 4 && len(d)%2 == 0 && int(u16At(d, 0)) == len(d)-2 {
			return d[2:]
		}
	case ExtECPointFormats, ExtPSKKeyExchangeModes:
		if len(d) >= 2 && int(d[0]) == len(d)-1 {
			return d[1:]
		}
	case ExtSupportedVersions, ExtCompressCertificate:
		if len(d) >= 3 && len(d)%2 == 1 && int(d[0]) == len(d)-1 {
			return d[1:]
		}
	case ExtALPN, ExtApplicationSettingsOld, ExtApplicationSettings:
		if len(d) < 4 || int(u16At(d, 0)) != len(d)-2 {
			return nil
		}
		l := d[2:]
		for i := 0; i < len(l); {
			n := int(l[i])
			if n == 0 || i+1+n > len(l) {
				return nil
			}
			i += 1 + n
		}
		return l
	case ExtKeyShare:
		if len(d) < 2 || int(u16At(d, 0)) != len(d)-2 {
			return nil
		}
		l := d[2:]
		for i := 0; i < len(l); {
			if i+4 > len(l) {
				return nil
			}
			n := int(u16At(l, i+2))
			if n == 0 || i+4+n > len(l) {
				return nil
			}
			i += 4 + n
		}
		return l
	}
	return nil
}

// checkExtensionList is the slow path of extensionList, which also
// explains what is wrong.
func checkExtensionList(t uint16, c tlsCursor) (tlsCursor, *ParseError) {
	var (
		l  tlsCursor
		pe *ParseError
	)
	switch t {
	case ExtSupportedGroups:
		l, pe = c.u16Vec16("supported_groups")
	case ExtSignatureAlgorithms:
		l, pe = c.u16Vec16("signature_algorithms")
	case ExtSignatureAlgorithmsCert:
		l, pe = c.u16Vec16("signature_algorithms_cert")
	case ExtDelegatedCredentials:
		l, pe = c.u16Vec16("delegated_credentials")
	case ExtECPointFormats:
		l, pe = c.vec8("ec_point_formats", 1, 255)
	case ExtSupportedVersions:
		l, pe = c.u16Vec8("supported_versions")
	case ExtCompressCertificate:
		l, pe = c.u16Vec8("compress_certificate")
	case ExtPSKKeyExchangeModes:
		l, pe = c.vec8("psk_key_exchange_modes", 1, 255)
	case ExtALPN, ExtApplicationSettingsOld, ExtApplicationSettings:
		l, pe = c.vec16("protocol_name_list", 2, 0xffff)
		if pe == nil {
			pe = checkProtocolNames(l)
		}
	case ExtKeyShare:
		l, pe = c.vec16("client_shares", 0, 0xffff)
		if pe == nil {
			pe = checkKeyShares(l)
		}
	default:
		return tlsCursor{}, errAt(CodeMalformed, c.pos, "extension %d is not list-valued", t)
	}
	if pe != nil {
		return tlsCursor{}, pe
	}
	if c.left() != 0 {
		return tlsCursor{}, c.done(ExtensionName(t))
	}
	return l, nil
}

// checkProtocolNames validates a ProtocolNameList body.
func checkProtocolNames(l tlsCursor) *ParseError {
	for l.left() > 0 {
		if _, pe := l.vec8("protocol_name", 1, 255); pe != nil {
			return pe
		}
	}
	return nil
}

// checkKeyShares validates a client_shares body.
func checkKeyShares(l tlsCursor) *ParseError {
	for l.left() > 0 {
		if _, pe := l.u16("key_share group"); pe != nil {
			return pe
		}
		if _, pe := l.vec16("key_exchange", 1, 0xffff); pe != nil {
			return pe
		}
	}
	return nil
}

// keyShares decodes a validated client_shares body.
func keyShares(l []byte) []KeyShare {
	var out []KeyShare
	for i := 0; i+4 <= len(l); {
		g := u16At(l, i)
		n := int(u16At(l, i+2))
		out = append(out, KeyShare{Group: g, Name: GroupName(g), KeyLength: n})
		i += 4 + n
	}
	return out
}

// namedU16s decodes a validated list of uint16 code points with names.
func namedU16s(l []byte, name func(uint16) string) []NamedValue {
	out := make([]NamedValue, len(l)/2)
	for i := range out {
		v := u16At(l, 2*i)
		out[i] = NamedValue{Value: v, Name: name(v)}
	}
	return out
}

// namedU8s decodes a validated list of one-byte code points with names.
func namedU8s(l []byte, name func(uint8) string) []NamedValue {
	out := make([]NamedValue, len(l))
	for i, v := range l {
		out[i] = NamedValue{Value: uint16(v), Name: name(v)}
	}
	return out
}

// emptyExtension checks that an extension's data is empty.
func emptyExtension(c tlsCursor, t uint16) *ParseError {
	if c.left() != 0 {
		return kindErrAt(AnomalyNotEmpty, CodeMalformed, c.pos, "%s: extension data must be empty, got %d bytes", ExtensionName(t), c.left())
	}
	return nil
}

// decodeExtension validates the data of extension t in c and, when build is
// set, returns its typed value. Without build it allocates nothing. Types
// without typed decoding return (nil, nil).
func decodeExtension(t uint16, c tlsCursor, build bool) (ExtensionValue, *ParseError) {
	switch t {
	case ExtServerName:
		return decodeServerName(c, build)
	case ExtStatusRequest:
		return decodeStatusRequest(c, build)
	case ExtSupportedGroups, ExtSignatureAlgorithms, ExtSignatureAlgorithmsCert, ExtDelegatedCredentials,
		ExtECPointFormats, ExtSupportedVersions, ExtCompressCertificate, ExtPSKKeyExchangeModes,
		ExtALPN, ExtApplicationSettingsOld, ExtApplicationSettings, ExtKeyShare:
		l, pe := extensionList(t, c)
		if pe != nil || !build {
			return nil, pe
		}
		return listValue(t, l.bytes()), nil
	case ExtUseSRTP:
		return decodeUseSRTP(c, build)
	case ExtSignedCertificateTimestamp, ExtEncryptThenMAC, ExtExtendedMasterSecret, ExtEarlyData,
		ExtPostHandshakeAuth, ExtNextProtocolNegotiation:
		if pe := emptyExtension(c, t); pe != nil || !build {
			return nil, pe
		}
		return EmptyValue{}, nil
	case ExtPadding:
		if !build {
			return nil, nil
		}
		v := PaddingValue{Length: c.left()}
		for _, x := range c.bytes() {
			if x != 0 {
				v.NonZero = true
				break
			}
		}
		return v, nil
	case ExtRecordSizeLimit:
		at := c.pos
		limit, pe := c.u16("record_size_limit")
		if pe == nil {
			pe = c.done("record_size_limit")
		}
		if pe == nil && limit < 64 {
			// RFC 8449 section 4: a value below 64 must not be sent.
			pe = kindErrAt(AnomalyOutOfRange, CodeMalformed, at, "record_size_limit: %d is below the minimum 64", limit)
		}
		if !build || pe != nil && pe.kind != AnomalyOutOfRange {
			return nil, pe
		}
		return RecordSizeLimitValue{Limit: limit}, pe
	case ExtSessionTicket:
		if !build {
			return nil, nil
		}
		return OpaqueValue{Length: c.left()}, nil
	case ExtCookie:
		v, pe := c.vec16("cookie", 1, 0xffff)
		if pe == nil {
			pe = c.done("cookie")
		}
		if pe != nil || !build {
			return nil, pe
		}
		return OpaqueValue{Length: v.left()}, nil
	case ExtRenegotiationInfo:
		v, pe := c.vec8("renegotiated_connection", 0, 255)
		if pe == nil {
			pe = c.done("renegotiation_info")
		}
		if pe != nil || !build {
			return nil, pe
		}
		return OpaqueValue{Length: v.left()}, nil
	case ExtPreSharedKey:
		return decodePreSharedKey(c, build)
	case ExtCertificateAuthorities:
		return decodeCertificateAuthorities(c, build)
	case ExtQUICTransportParameters, ExtQUICTransportParametersDraft:
		return decodeQUICTransportParameters(c, build)
	case ExtEncryptedClientHello:
		return decodeECH(c, build)
	}
	return nil, nil
}

// listValue builds the value of a list-valued extension from its validated
// list body.
func listValue(t uint16, l []byte) ExtensionValue {
	switch t {
	case ExtSupportedGroups:
		return SupportedGroupsValue{Groups: namedU16s(l, GroupName)}
	case ExtSignatureAlgorithms, ExtSignatureAlgorithmsCert, ExtDelegatedCredentials:
		return SignatureAlgorithmsValue{Algorithms: namedU16s(l, SignatureSchemeName)}
	case ExtECPointFormats:
		return PointFormatsValue{Formats: namedU8s(l, PointFormatName)}
	case ExtSupportedVersions:
		return SupportedVersionsValue{Versions: namedU16s(l, VersionName)}
	case ExtCompressCertificate:
		return CompressCertificateValue{Algorithms: namedU16s(l, CertCompressionAlgName)}
	case ExtPSKKeyExchangeModes:
		return PSKModesValue{Modes: namedU8s(l, PSKModeName)}
	case ExtALPN:
		return ALPNValue{Protocols: protocolNames(l)}
	case ExtApplicationSettingsOld, ExtApplicationSettings:
		return ApplicationSettingsValue{Protocols: protocolNames(l)}
	case ExtKeyShare:
		return KeyShareValue{Shares: keyShares(l)}
	}
	return nil
}

func decodeServerName(c tlsCursor, build bool) (ExtensionValue, *ParseError) {
	list, pe := c.vec16("server_name_list", 1, 0xffff)
	if pe != nil {
		return nil, pe
	}
	if pe := c.done("server_name"); pe != nil {
		return nil, pe
	}
	var v ServerNameValue
	for list.left() > 0 {
		typ, pe := list.u8("name_type")
		if pe != nil {
			return nil, pe
		}
		name, pe := list.vec16("server name", 1, 0xffff)
		if pe != nil {
			return nil, pe
		}
		if build {
			v.Names = append(v.Names, ServerNameEntry{Type: typ, Name: string(name.bytes())})
		}
	}
	if !build {
		return nil, nil
	}
	return v, nil
}

func decodeStatusRequest(c tlsCursor, build bool) (ExtensionValue, *ParseError) {
	typ, pe := c.u8("status_type")
	if pe != nil {
		return nil, pe
	}
	ids, pe := c.vec16("responder_id_list", 0, 0xffff)
	if pe != nil {
		return nil, pe
	}
	exts, pe := c.vec16("request_extensions", 0, 0xffff)
	if pe != nil {
		return nil, pe
	}
	if pe := c.done("status_request"); pe != nil {
		return nil, pe
	}
	if !build {
		return nil, nil
	}
	return StatusRequestValue{StatusType: typ, ResponderIDListLength: ids.left(), RequestExtensionsLength: exts.left()}, nil
}

func decodeUseSRTP(c tlsCursor, build bool) (ExtensionValue, *ParseError) {
	profiles, pe := c.u16Vec16("SRTPProtectionProfiles")
	if pe != nil {
		return nil, pe
	}
	mki, pe := c.vec8("srtp_mki", 0, 255)
	if pe != nil {
		return nil, pe
	}
	if pe := c.done("use_srtp"); pe != nil {
		return nil, pe
	}
	if !build {
		return nil, nil
	}
	return UseSRTPValue{Profiles: u16s(profiles.bytes()), MKILength: mki.left()}, nil
}

func decodePreSharedKey(c tlsCursor, build bool) (ExtensionValue, *ParseError) {
	start := c.pos
	ids, pe := c.vec16("PSK identities", 7, 0xffff)
	if pe != nil {
		return nil, pe
	}
	var v PreSharedKeyValue
	nIDs := 0
	for ids.left() > 0 {
		id, pe := ids.vec16("PSK identity", 1, 0xffff)
		if pe != nil {
			return nil, pe
		}
		age, pe := ids.u32("obfuscated_ticket_age")
		if pe != nil {
			return nil, pe
		}
		nIDs++
		if build {
			v.Identities = append(v.Identities, PSKIdentity{Length: id.left(), ObfuscatedTicketAge: age})
		}
	}
	binders, pe := c.vec16("PSK binders", 33, 0xffff)
	if pe != nil {
		return nil, pe
	}
	nBinders := 0
	for binders.left() > 0 {
		b, pe := binders.vec8("PSK binder", 32, 255)
		if pe != nil {
			return nil, pe
		}
		nBinders++
		if build {
			v.BinderLengths = append(v.BinderLengths, b.left())
		}
	}
	if pe := c.done("pre_shared_key"); pe != nil {
		return nil, pe
	}
	if nIDs != nBinders {
		return nil, kindErrAt(AnomalyMismatch, CodeMalformed, start, "pre_shared_key: %d identities but %d binders", nIDs, nBinders)
	}
	if !build {
		return nil, nil
	}
	return v, nil
}

func decodeCertificateAuthorities(c tlsCursor, build bool) (ExtensionValue, *ParseError) {
	list, pe := c.vec16("authorities", 3, 0xffff)
	if pe != nil {
		return nil, pe
	}
	if pe := c.done("certificate_authorities"); pe != nil {
		return nil, pe
	}
	n := 0
	for list.left() > 0 {
		if _, pe := list.vec16("DistinguishedName", 1, 0xffff); pe != nil {
			return nil, pe
		}
		n++
	}
	if !build {
		return nil, nil
	}
	return CertificateAuthoritiesValue{Count: n}, nil
}

// quicVarint reads a QUIC variable-length integer (RFC 9000 section 16,
// QUICVarint).
func (c *tlsCursor) quicVarint(field string) (uint64, *ParseError) {
	v, n, ok := QUICVarint(c.bytes())
	if !ok {
		if c.left() < 1 {
			return 0, c.short(1, field)
		}
		return 0, c.short(1<<(c.b[c.pos]>>6), field)
	}
	c.pos += n
	return v, nil
}

func decodeQUICTransportParameters(c tlsCursor, build bool) (ExtensionValue, *ParseError) {
	var v QUICTransportParametersValue
	for c.left() > 0 {
		id, pe := c.quicVarint("transport parameter id")
		if pe != nil {
			return nil, pe
		}
		at := c.pos
		l, pe := c.quicVarint("transport parameter length")
		if pe != nil {
			return nil, pe
		}
		if l > uint64(c.left()) {
			return nil, kindErrAt(AnomalyOverrun, CodeBadLength, at, "transport parameter %d: length %d runs past the extension (%d bytes left)", id, l, c.left())
		}
		c.pos += int(l)
		if build {
			v.Params = append(v.Params, QUICTransportParameter{ID: id, Name: QUICTransportParameterName(id), Length: int(l)})
		}
	}
	if !build {
		return nil, nil
	}
	return v, nil
}

func decodeECH(c tlsCursor, build bool) (ExtensionValue, *ParseError) {
	at := c.pos
	typ, pe := c.u8("ECHClientHelloType")
	if pe != nil {
		return nil, pe
	}
	switch typ {
	case 0: // outer
		kdf, pe := c.u16("HpkeKdfId")
		if pe != nil {
			return nil, pe
		}
		aead, pe := c.u16("HpkeAeadId")
		if pe != nil {
			return nil, pe
		}
		id, pe := c.u8("config_id")
		if pe != nil {
			return nil, pe
		}
		enc, pe := c.vec16("enc", 0, 0xffff)
		if pe != nil {
			return nil, pe
		}
		payload, pe := c.vec16("payload", 1, 0xffff)
		if pe != nil {
			return nil, pe
		}
		if pe := c.done("encrypted_client_hello"); pe != nil {
			return nil, pe
		}
		if !build {
			return nil, nil
		}
		return ECHValue{
			Type:          "outer",
			KDF:           NamedValue{Value: kdf, Name: HPKEKDFName(kdf)},
			AEAD:          NamedValue{Value: aead, Name: HPKEAEADName(aead)},
			ConfigID:      id,
			EncLength:     enc.left(),
			PayloadLength: payload.left(),
		}, nil
	case 1: // inner
		if pe := c.done("encrypted_client_hello"); pe != nil {
			return nil, pe
		}
		if !build {
			return nil, nil
		}
		return ECHValue{Type: "inner"}, nil
	}
	return nil, kindErrAt(AnomalyOutOfRange, CodeMalformed, at, "encrypted_client_hello: unknown ECHClientHelloType %d", typ)
}
