package fingerprint

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestExtensionDecode(t *testing.T) {
	named := func(pairs ...any) []NamedValue {
		var out []NamedValue
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, NamedValue{Value: uint16(pairs[i].(int)), Name: pairs[i+1].(string)})
		}
		return out
	}
	quicTP := tCat([]byte{0x01, 0x04}, []byte{0x80, 0x00, 0x75, 0x30}, // max_idle_timeout = 30000
		[]byte{0x04, 0x01, 0x10}, // initial_max_data
		[]byte{0x40, 0x3a, 0x00}) // GREASE id 58 (31*1+27), empty
	for _, c := range []struct {
		name string
		ext  tExt
		want ExtensionValue
	}{
		{"server_name", tSNI("example.org"), ServerNameValue{Names: []ServerNameEntry{{0, "example.org"}}}},
		{"status_request", tExt{ExtStatusRequest, tCat([]byte{1}, tVec16([]byte{0, 2, 0xaa, 0xbb}), tVec16([]byte{1, 2, 3}))},
			StatusRequestValue{StatusType: 1, ResponderIDListLength: 4, RequestExtensionsLength: 3}},
		{"supported_groups", tGroups(0x0a0a, 0x11ec, 23, 0x9999),
			SupportedGroupsValue{Groups: named(0x0a0a, "GREASE", 0x11ec, "X25519MLKEM768", 23, "secp256r1", 0x9999, "")}},
		{"ec_point_formats", tPoints(0, 2), PointFormatsValue{Formats: named(0, "uncompressed", 2, "ansiX962_compressed_char2")}},
		{"signature_algorithms", tSigAlgs(0x0403, 0x0807), SignatureAlgorithmsValue{Algorithms: named(0x0403, "ecdsa_secp256r1_sha256", 0x0807, "ed25519")}},
		{"signature_algorithms_cert", tExt{ExtSignatureAlgorithmsCert, tVec16(tU16s(0x0804))},
			SignatureAlgorithmsValue{Algorithms: named(0x0804, "rsa_pss_rsae_sha256")}},
		{"delegated_credentials", tExt{ExtDelegatedCredentials, tVec16(tU16s(0x0503))},
			SignatureAlgorithmsValue{Algorithms: named(0x0503, "ecdsa_secp384r1_sha384")}},
		{"use_srtp", tExt{ExtUseSRTP, tCat(tVec16(tU16s(1, 7)), tVec8([]byte{9, 9}))}, UseSRTPValue{Profiles: []uint16{1, 7}, MKILength: 2}},
		{"alpn", tALPN("h2", "http/1.1"), ALPNValue{Protocols: []string{"h2", "http/1.1"}}},
		{"sct", tEmpty(ExtSignedCertificateTimestamp), EmptyValue{}},
		{"padding", tPadding(17), PaddingValue{Length: 17}},
		{"padding nonzero", tExt{ExtPadding, []byte{0, 1}}, PaddingValue{Length: 2, NonZero: true}},
		{"encrypt_then_mac", tEmpty(ExtEncryptThenMAC), EmptyValue{}},
		{"extended_master_secret", tEmpty(ExtExtendedMasterSecret), EmptyValue{}},
		{"compress_certificate", tCertComp(2, 3), CompressCertificateValue{Algorithms: named(2, "brotli", 3, "zstd")}},
		{"record_size_limit", tExt{ExtRecordSizeLimit, tU16(16385)}, RecordSizeLimitValue{Limit: 16385}},
		{"session_ticket", tTicket(192), OpaqueValue{Length: 192}},
		{"pre_shared_key", tPSK([]int{100, 7}, []int{32, 48}),
			PreSharedKeyValue{Identities: []PSKIdentity{{100, 0x1234}, {7, 0x1234}}, BinderLengths: []int{32, 48}}},
		{"early_data", tEmpty(ExtEarlyData), EmptyValue{}},
		{"supported_versions", tVersions(0x3a3a, 0x0304, 0x0303), SupportedVersionsValue{Versions: named(0x3a3a, "GREASE", 0x0304, "TLS 1.3", 0x0303, "TLS 1.2")}},
		{"cookie", tExt{ExtCookie, tVec16(make([]byte, 40))}, OpaqueValue{Length: 40}},
		{"psk_key_exchange_modes", tPSKModes(1, 0x0b), PSKModesValue{Modes: named(1, "psk_dhe_ke", 0x0b, "GREASE")}},
		{"certificate_authorities", tExt{ExtCertificateAuthorities, tVec16(tCat(tVec16([]byte{1, 2, 3}), tVec16([]byte{4})))},
			CertificateAuthoritiesValue{Count: 2}},
		{"post_handshake_auth", tEmpty(ExtPostHandshakeAuth), EmptyValue{}},
		{"key_share", tKeyShare([2]int{0x1a1a, 1}, [2]int{29, 32}),
			KeyShareValue{Shares: []KeyShare{{0x1a1a, "GREASE", 1}, {29, "x25519", 32}}}},
		{"key_share empty", tExt{ExtKeyShare, tVec16(nil)}, KeyShareValue{}},
		{"quic_transport_parameters", tExt{ExtQUICTransportParameters, quicTP},
			QUICTransportParametersValue{Params: []QUICTransportParameter{{1, "max_idle_timeout", 4}, {4, "initial_max_data", 1}, {58, "GREASE", 0}}}},
		{"quic_transport_parameters draft", tExt{ExtQUICTransportParametersDraft, []byte{0x0f, 0x00}},
			QUICTransportParametersValue{Params: []QUICTransportParameter{{15, "initial_source_connection_id", 0}}}},
		{"alps old", tALPS(ExtApplicationSettingsOld, "h2"), ApplicationSettingsValue{Protocols: []string{"h2"}}},
		{"alps", tALPS(ExtApplicationSettings, "h2", "h3"), ApplicationSettingsValue{Protocols: []string{"h2", "h3"}}},
		{"ech outer", tECHOuter(0x2c, 32, 239), ECHValue{Type: "outer", KDF: NamedValue{1, "HKDF-SHA256"},
			AEAD: NamedValue{1, "AES-128-GCM"}, ConfigID: 0x2c, EncLength: 32, PayloadLength: 239}},
		{"ech inner", tExt{ExtEncryptedClientHello, []byte{1}}, ECHValue{Type: "inner"}},
		{"renegotiation_info", tReneg(), OpaqueValue{Length: 0}},
		{"next_protocol_negotiation", tEmpty(ExtNextProtocolNegotiation), EmptyValue{}},
		{"unknown", tExt{0x1234, []byte{1, 2, 3}}, nil},
		{"grease", tExt{0xdada, []byte{1}}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Through the parser, so validation and decoding are both exercised.
			h := tHello{ciphers: []uint16{0x1301}, exts: []tExt{c.ext}}
			ch, err := ParseClientHello(h.rec())
			if err != nil {
				t.Fatal(err)
			}
			got, err := ch.Extensions[0].Decode()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %#v\nwant %#v", got, c.want)
			}
		})
	}
}

func TestExtensionDecodeErrorOffsetsIndexData(t *testing.T) {
	e := Extension{Type: ExtALPN, Data: tCat(tU16(6), tVec8([]byte("h2")), []byte{0, 0, 0})}
	_, err := e.Decode()
	wantParseError(t, err, CodeMalformed, 5) // the empty protocol name after "h2"
	e = Extension{Type: ExtKeyShare, Data: tCat(tU16(4), tU16(29), tU16(32))}
	_, err = e.Decode()
	wantParseError(t, err, CodeBadLength, 4)
}

// TestExtensionJSONMatchesReflection checks the hand-written extension JSON
// against what encoding/json makes of the same fields, for every extension
// of the golden hellos and for malformed hand-built ones.
func TestExtensionJSONMatchesReflection(t *testing.T) {
	var exts []Extension
	files, err := filepath.Glob("testdata/golden/*.hello")
	if err != nil || len(files) == 0 {
		t.Fatalf("golden hellos: %v", err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ch, err := ParseClientHello(raw)
		if err != nil {
			t.Fatal(err)
		}
		exts = append(exts, ch.Extensions...)
	}
	exts = append(exts,
		Extension{Type: ExtSupportedGroups, Data: []byte{0, 3, 1}},            // malformed: decode_error
		Extension{Type: 0x1234, Data: []byte{0xde, 0xad, '"', '<'}},           // unknown type, no name
		Extension{Type: 0x0a0a, GREASE: true, Data: nil},                      // GREASE, empty data
		Extension{Type: ExtServerName, Data: []byte{0, 5, 0, 0, 2, 'a', '"'}}, // quote inside decoded value
	)
	for _, e := range exts {
		got, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("extension %d: %v", e.Type, err)
		}
		ref := struct {
			Type        uint16         `json:"type"`
			Name        string         `json:"name,omitempty"`
			GREASE      bool           `json:"grease"`
			Length      int            `json:"length"`
			Data        HexBytes       `json:"data"`
			Decoded     ExtensionValue `json:"decoded,omitempty"`
			DecodeError string         `json:"decode_error,omitempty"`
		}{Type: e.Type, Name: ExtensionName(e.Type), GREASE: e.GREASE, Length: len(e.Data), Data: e.Data}
		v, derr := e.Decode()
		ref.Decoded = v
		if derr != nil {
			ref.DecodeError = derr.Error()
		}
		want, err := json.Marshal(ref)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("extension %d:\n got  %s\n want %s", e.Type, got, want)
		}
	}
}
