package fingerprint

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
)

func sha12(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])[:12]
}

// TestJA4OOnlySNIAndALPN pins the chosen JA4_o for hellos whose only
// extensions are SNI (and ALPN): the original list is hashed (FoxIO's Rust
// crate); JA4OPython gives FoxIO's Python reference's zero hash.
func TestJA4OOnlySNIAndALPN(t *testing.T) {
	for _, tc := range []struct {
		name string
		exts []tExt
		list string
	}{
		{"sni", []tExt{tSNI("a.example")}, "0000"},
		{"sni alpn", []tExt{tSNI("a.example"), tALPN("h2")}, "0000,0010"},
		{"grease sni alpn", []tExt{tEmpty(0x0a0a), tSNI("a.example"), tALPN("h2")}, "0000,0010"},
	} {
		ch, err := ParseClientHello(tHello{ciphers: []uint16{0x1301}, exts: tc.exts}.rec())
		if err != nil {
			t.Fatal(err)
		}
		fp := ch.Fingerprints()
		if !strings.HasSuffix(fp.JA4O, "_"+sha12(tc.list)) || !strings.HasSuffix(fp.JA4, "_"+ja4Empty) {
			t.Errorf("%s: JA4 %s JA4_o %s, want c of JA4_o = sha256(%q)[:12] = %s", tc.name, fp.JA4, fp.JA4O, tc.list, sha12(tc.list))
		}
		py := JA4OPython(fp.JA4O, ch.ExtensionTypes())
		if py != fp.JA4O[:len(fp.JA4O)-12]+ja4Empty {
			t.Errorf("%s: JA4OPython = %s", tc.name, py)
		}
	}
	// Any other extension: both tools agree.
	ch, err := ParseClientHello(tHello{ciphers: []uint16{0x1301}, exts: []tExt{tSNI("a"), tGroups(29)}}.rec())
	if err != nil {
		t.Fatal(err)
	}
	if fp := ch.Fingerprints(); JA4OPython(fp.JA4O, ch.ExtensionTypes()) != fp.JA4O {
		t.Errorf("JA4OPython changed a JA4_o with other extensions")
	}
}

// TestAnomalousHellosFingerprintLikeTheReferences builds the hellos the
// references fingerprint and our strict parser used to reject, and checks
// the fingerprints take the lists as far as they go.
func TestAnomalousHellosFingerprintLikeTheReferences(t *testing.T) {
	ch, err := ParseClientHello(tHello{ciphers: []uint16{0x1301, 0xc02f}, exts: []tExt{
		tSNI("a.example"), tALPN("", "h2"), tPoints(), tGroups(29, 23),
		{ExtSignatureAlgorithms, tVec16([]byte{0x04, 0x03, 0x08})}, // odd: 0403 kept, 08 dropped
	}}.rec())
	if err != nil {
		t.Fatal(err)
	}
	kinds := []string{}
	for _, a := range ch.Anomalies {
		kinds = append(kinds, ExtensionName(a.Extension)+":"+string(a.Kind))
	}
	if got := strings.Join(kinds, ","); got != "application_layer_protocol_negotiation:empty,ec_point_formats:empty,signature_algorithms:odd_length" {
		t.Errorf("anomalies %s", got)
	}
	fp := ch.Fingerprints()
	if fp.JA3 != "771,4865-49199,0-16-11-10-13,29-23," {
		t.Errorf("JA3 %s", fp.JA3)
	}
	// JA4: ALPN "00" (the first protocol is empty), the list of five
	// extensions counted, signature algorithms as far as they go.
	if !strings.HasPrefix(fp.JA4R, "t12d020500_1301,c02f_000a,000b,000d_0403") {
		t.Errorf("JA4_r %s", fp.JA4R)
	}
	if got := ch.ALPN(); len(got) != 2 || got[0] != "" || got[1] != "h2" {
		t.Errorf("ALPN %q", got)
	}
	b, err := json.Marshal(ch)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"anomalies":[{"extension":16,"name":"application_layer_protocol_negotiation","kind":"empty"`) ||
		!strings.Contains(string(b), `"decoded":{"protocols":["","h2"]}`) {
		t.Errorf("JSON: %s", b)
	}
}

// TestDecodeKeepsWhatItCan: a malformed list keeps the part that decodes,
// a value out of range keeps its value, and both report the problem.
func TestDecodeKeepsWhatItCan(t *testing.T) {
	v, err := Extension{Type: ExtRecordSizeLimit, Data: tU16(10)}.Decode()
	if err == nil || v != (RecordSizeLimitValue{Limit: 10}) {
		t.Errorf("record_size_limit 10: %v, %v", v, err)
	}
	v, err = Extension{Type: ExtSupportedGroups, Data: tVec16([]byte{0, 29, 0})}.Decode()
	if g, ok := v.(SupportedGroupsValue); err == nil || !ok || len(g.Groups) != 1 || g.Groups[0].Value != 29 {
		t.Errorf("odd supported_groups: %v, %v", v, err)
	}
	v, err = Extension{Type: ExtExtendedMasterSecret, Data: []byte{1}}.Decode()
	if err == nil || v != nil {
		t.Errorf("non-empty extended_master_secret: %v, %v", v, err)
	}
}
