package fingerprint

import (
	"crypto/tls"
	"strings"
	"testing"
)

func TestNameTablesSorted(t *testing.T) {
	for name, table := range map[string][]codeName{
		"cipher suites":     cipherSuiteNames[:],
		"extensions":        extensionNames[:],
		"groups":            groupNames[:],
		"signature schemes": signatureSchemeNames[:],
	} {
		for i := 1; i < len(table); i++ {
			if table[i-1].code >= table[i].code {
				t.Errorf("%s: %#04x (%s) is not after %#04x (%s)", name, table[i].code, table[i].name,
					table[i-1].code, table[i-1].name)
			}
		}
		for _, row := range table {
			if row.name == "" || IsGREASE(row.code) {
				t.Errorf("%s: bad row %#04x %q", name, row.code, row.name)
			}
		}
	}
	for _, row := range cipherSuiteNames {
		if !strings.HasPrefix(row.name, "TLS_") {
			t.Errorf("cipher suite %#04x named %q", row.code, row.name)
		}
	}
}

func TestCipherSuiteNamesAgreeWithCryptoTLS(t *testing.T) {
	// crypto/tls names its suites with the IANA names (its pre-RFC 8422
	// aliases aside); an independent source for the rows it knows.
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if got := CipherSuiteName(s.ID); got != s.Name {
			t.Errorf("%#04x: %q, crypto/tls says %q", s.ID, got, s.Name)
		}
	}
}

func TestNames(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{CipherSuiteName(0x1301), "TLS_AES_128_GCM_SHA256"},
		{CipherSuiteName(0xcca9), "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"},
		{CipherSuiteName(0xcc14), "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256_OLD"},
		{CipherSuiteName(0x00ff), "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"},
		{CipherSuiteName(0x5600), "TLS_FALLBACK_SCSV"},
		{CipherSuiteName(0x3a3a), "GREASE"},
		{CipherSuiteName(0x1399), ""},
		{ExtensionName(ExtServerName), "server_name"},
		{ExtensionName(ExtEncryptedClientHello), "encrypted_client_hello"},
		{ExtensionName(ExtApplicationSettingsOld), "application_settings_old"},
		{ExtensionName(ExtApplicationSettings), "application_settings"},
		{ExtensionName(0xfafa), "GREASE"},
		{ExtensionName(0x7777), ""},
		{GroupName(0x11ec), "X25519MLKEM768"},
		{GroupName(29), "x25519"},
		{GroupName(0x0100), "ffdhe2048"},
		{GroupName(0xeaea), "GREASE"},
		{SignatureSchemeName(0x0403), "ecdsa_secp256r1_sha256"},
		{SignatureSchemeName(0x0807), "ed25519"},
		{SignatureSchemeName(0x0905), "mldsa65"},
		{VersionName(0x0304), "TLS 1.3"},
		{VersionName(0x0300), "SSL 3.0"},
		{VersionName(0x7f1c), "TLS 1.3 draft"},
		{VersionName(0x4a4a), "GREASE"},
		{VersionName(0x0305), ""},
		{CertCompressionAlgName(2), "brotli"},
		{PSKModeName(1), "psk_dhe_ke"},
		{PSKModeName(0x2a), "GREASE"},
		{PSKModeName(0xe4), "GREASE"},
		{PSKModeName(0x0c), ""},
		{PointFormatName(0), "uncompressed"},
		{HPKEKDFName(1), "HKDF-SHA256"},
		{HPKEAEADName(3), "ChaCha20Poly1305"},
		{QUICTransportParameterName(0x04), "initial_max_data"},
		{QUICTransportParameterName(27 + 31*5), "GREASE"},
		{QUICTransportParameterName(0x1234567), ""},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	for _, typ := range []uint16{ExtServerName, ExtStatusRequest, ExtSupportedGroups, ExtECPointFormats,
		ExtSignatureAlgorithms, ExtUseSRTP, ExtALPN, ExtSignedCertificateTimestamp, ExtPadding, ExtEncryptThenMAC,
		ExtExtendedMasterSecret, ExtCompressCertificate, ExtRecordSizeLimit, ExtDelegatedCredentials,
		ExtSessionTicket, ExtPreSharedKey, ExtEarlyData, ExtSupportedVersions, ExtCookie, ExtPSKKeyExchangeModes,
		ExtCertificateAuthorities, ExtPostHandshakeAuth, ExtSignatureAlgorithmsCert, ExtKeyShare,
		ExtQUICTransportParameters, ExtNextProtocolNegotiation, ExtApplicationSettingsOld, ExtApplicationSettings,
		ExtTrustAnchors, ExtEncryptedClientHello, ExtRenegotiationInfo, ExtQUICTransportParametersDraft} {
		if ExtensionName(typ) == "" {
			t.Errorf("extension constant %d has no name", typ)
		}
	}
	var sink int
	if n := testing.AllocsPerRun(10, func() { sink += len(CipherSuiteName(0xc02b)) + len(GroupName(29)) }); n != 0 || sink == 0 {
		t.Errorf("name lookups allocate")
	}
}
