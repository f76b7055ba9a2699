package fingerprint

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// extensionValueTypes has one value of every ExtensionValue type; the
// equivalence tests build values of each type from it.
// TestEveryExtensionValueTypeIsCovered fails when a type is missing.
var extensionValueTypes = []ExtensionValue{
	ServerNameValue{}, StatusRequestValue{}, SupportedGroupsValue{}, PointFormatsValue{},
	SignatureAlgorithmsValue{}, UseSRTPValue{}, ALPNValue{}, PaddingValue{}, EmptyValue{},
	CompressCertificateValue{}, RecordSizeLimitValue{}, OpaqueValue{}, PreSharedKeyValue{},
	SupportedVersionsValue{}, PSKModesValue{}, CertificateAuthoritiesValue{}, KeyShareValue{},
	QUICTransportParametersValue{}, ApplicationSettingsValue{}, ECHValue{},
}

// hostileStrings are strings encoding/json escapes in every way it can:
// quotes and backslashes, all control characters, HTML characters, DEL,
// U+2028/U+2029, invalid and truncated UTF-8, surrogates encoded in UTF-8,
// and valid multi-byte text.
func hostileStrings() []string {
	ss := []string{"", "h2", "http/1.1", `"`, `\`, `a"b\c`, "<script>&amp;</script>", "\x7f",
		"\u2028", "\u2029", "x\u2028y\u2029z", "\u2027\u202a", "\xff", "\xfe\xff", "\xe2\x80", "\xe2\x80\xa8\xe2",
		"\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf", "é", "日本語", "🦙", "\U0010ffff", "\ufffd", "a\x00b",
		"\b\f\n\r\t", strings.Repeat("<", 40)}
	var ctl []byte
	for c := 0; c < 0x20; c++ {
		ctl = append(ctl, byte(c))
	}
	ss = append(ss, string(ctl))
	var all []byte
	for c := 0; c < 256; c++ {
		all = append(all, byte(c))
	}
	return append(ss, string(all))
}

// randomString returns a hostile string, a random byte string, a random
// rune string or a mix of them.
func randomString(rng *rand.Rand, hostile []string) string {
	switch rng.IntN(4) {
	case 0:
		return hostile[rng.IntN(len(hostile))]
	case 1:
		b := make([]byte, rng.IntN(24))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return string(b)
	case 2:
		var sb strings.Builder
		for range rng.IntN(12) {
			r := rune(rng.IntN(0x110000))
			if rng.IntN(3) == 0 {
				r = rune(rng.IntN(0x80))
			}
			sb.WriteRune(r) // surrogates become U+FFFD
		}
		return sb.String()
	}
	var sb strings.Builder
	for range 1 + rng.IntN(4) {
		sb.WriteString(hostile[rng.IntN(len(hostile))])
		sb.WriteByte(byte(rng.IntN(256)))
	}
	return sb.String()
}

// fillRandom sets every field of v, recursively, to random values: integer
// extremes, hostile strings, nil, empty and filled slices. It fails on a
// kind it does not know, so a field of a new kind is noticed here.
func fillRandom(t *testing.T, rng *rand.Rand, v reflect.Value, hostile []string) {
	t.Helper()
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if !v.Type().Field(i).IsExported() {
				t.Fatalf("%s.%s: unexported field", v.Type(), v.Type().Field(i).Name)
			}
			fillRandom(t, rng, v.Field(i), hostile)
		}
	case reflect.String:
		v.SetString(randomString(rng, hostile))
	case reflect.Bool:
		v.SetBool(rng.IntN(2) == 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		bits := v.Type().Bits()
		lo, hi := int64(-1)<<(bits-1), int64(uint64(1)<<(bits-1)-1)
		switch rng.IntN(4) {
		case 0:
			v.SetInt([]int64{0, 1, -1, lo, hi}[rng.IntN(5)])
		case 1:
			v.SetInt(int64(rng.IntN(70000)))
		default:
			v.SetInt(int64(rng.Uint64()) >> (64 - bits))
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		bits := v.Type().Bits()
		switch rng.IntN(3) {
		case 0:
			v.SetUint([]uint64{0, 1, math.MaxUint64 >> (64 - bits)}[rng.IntN(3)])
		default:
			v.SetUint(rng.Uint64() >> (64 - bits))
		}
	case reflect.Slice:
		switch rng.IntN(4) {
		case 0:
			v.SetZero() // nil: null
		case 1:
			v.Set(reflect.MakeSlice(v.Type(), 0, 0)) // empty: []
		default:
			s := reflect.MakeSlice(v.Type(), 1+rng.IntN(6), 8)
			for i := range s.Len() {
				fillRandom(t, rng, s.Index(i), hostile)
			}
			v.Set(s)
		}
	default:
		t.Fatalf("fillRandom: %s has kind %s: teach fillRandom and check its appendJSON", v.Type(), v.Kind())
	}
}

// TestExtensionValueJSONMatchesEncodingJSON builds thousands of values of
// every ExtensionValue type with random fields and compares appendJSON
// with json.Marshal byte for byte.
func TestExtensionValueJSONMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 1))
	hostile := hostileStrings()
	for _, proto := range extensionValueTypes {
		typ := reflect.TypeOf(proto)
		t.Run(typ.Name(), func(t *testing.T) {
			check := func(v ExtensionValue) {
				t.Helper()
				want, err := json.Marshal(v)
				if err != nil {
					t.Fatal(err)
				}
				got := v.appendJSON([]byte("prefix"))
				if !bytes.HasPrefix(got, []byte("prefix")) || !bytes.Equal(got[6:], want) {
					t.Fatalf("%#v:\n got  %s\n want prefix%s", v, got, want)
				}
			}
			check(proto) // the zero value
			for range 2000 {
				p := reflect.New(typ).Elem()
				fillRandom(t, rng, p, hostile)
				check(p.Interface().(ExtensionValue))
			}
		})
	}
}

// testHelloExtensions returns every extension of the golden and anomaly
// hellos of testdata, with the file each came from.
func testHelloExtensions(t testing.TB) (exts []Extension, from []string) {
	t.Helper()
	var files []string
	for _, dir := range []string{"golden", "anomalies"} {
		fs, err := filepath.Glob(filepath.Join("testdata", dir, "*.hello"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, fs...)
	}
	if len(files) < 14 {
		t.Fatalf("only %d test hellos", len(files))
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ch, err := ParseClientHello(raw)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, e := range ch.Extensions {
			exts = append(exts, e)
			from = append(from, filepath.Base(f))
		}
	}
	return exts, from
}

// TestEveryExtensionValueTypeIsCovered holds extensionValueTypes to the
// ExtensionValue types that exist: those declared in the package (every
// isExtensionValue method in its source) and those Decode returns for the
// extensions of the test hellos and for every extension type with a few
// payloads. A type added without an entry there fails here, so the
// equivalence tests above cover it (and the compiler requires its
// appendJSON: it is part of the interface).
func TestEveryExtensionValueTypeIsCovered(t *testing.T) {
	covered := map[string]bool{}
	for _, v := range extensionValueTypes {
		covered[reflect.TypeOf(v).Name()] = true
	}
	if len(covered) != len(extensionValueTypes) {
		t.Fatal("extensionValueTypes lists a type twice")
	}

	declared := map[string]bool{}
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv == nil || fd.Name.Name != "isExtensionValue" {
				continue
			}
			rt := fd.Recv.List[0].Type
			if st, ok := rt.(*ast.StarExpr); ok {
				t.Errorf("%s: isExtensionValue on a pointer receiver", name)
				rt = st.X
			}
			declared[rt.(*ast.Ident).Name] = true
		}
	}
	if len(declared) < 20 {
		t.Fatalf("found only %d isExtensionValue methods", len(declared))
	}
	for name := range declared {
		if !covered[name] {
			t.Errorf("ExtensionValue type %s is not in extensionValueTypes", name)
		}
	}
	for name := range covered {
		if !declared[name] {
			t.Errorf("extensionValueTypes lists %s, which declares no isExtensionValue", name)
		}
	}

	decoded := map[string]bool{}
	note := func(e Extension) {
		v, _ := e.Decode()
		if v == nil {
			return
		}
		name := reflect.TypeOf(v).Name()
		decoded[name] = true
		if !covered[name] {
			t.Errorf("Decode of extension %d returned %T, which is not in extensionValueTypes", e.Type, v)
		}
	}
	exts, _ := testHelloExtensions(t)
	for _, e := range exts {
		note(e)
	}
	// Small payloads under every type code: each decodes as some type's
	// minimal valid data (status_request, use_srtp, certificate_authorities,
	// lists, ECH inner, ...).
	payloads := [][]byte{nil, {0}, {1}, {0, 0}, {0, 2, 0, 29}, {2, 0, 1}, {3, 'a', 'b', 'c'},
		{0, 4, 0, 29, 0, 1, 7}, {0, 4, 0, 0, 1, 'a'}, {1, 0, 0, 0, 0}, {0, 2, 0, 1, 0}, {0, 3, 0, 1, 1},
		{0, 3, 2, 'h', '2'}, {0, 0x40}, tPSK([]int{20}, []int{32}).data, tECHOuter(1, 32, 100).data}
	for typ := range 0x10000 {
		for _, p := range payloads {
			note(Extension{Type: uint16(typ), Data: p})
		}
	}
	for name := range covered {
		if !decoded[name] {
			t.Errorf("no test extension decodes to %s: add a payload here", name)
		}
	}
}

// extensionJSONCases are extensions beyond the test hellos': malformed
// data (decode_error, partial lists), unknown types, GREASE, and
// hostile strings in the decoded values.
func extensionJSONCases() []Extension {
	var out []Extension
	for _, s := range hostileStrings() {
		if s == "" || len(s) > 255 {
			continue
		}
		out = append(out,
			Extension{Type: ExtServerName, Data: tSNI(s).data},
			Extension{Type: ExtALPN, Data: tProtocols(s, "h2")},
			Extension{Type: ExtApplicationSettings, Data: tProtocols("h2", s)},
		)
	}
	return append(out,
		Extension{Type: ExtSupportedGroups, Data: []byte{0, 3, 1}},
		Extension{Type: ExtSupportedGroups, Data: []byte{0, 5, 0, 29, 0x11, 0xec, 0}},
		Extension{Type: ExtALPN, Data: tCat(tU16(6), tVec8([]byte("h2")), []byte{0, 0, 0})},
		Extension{Type: ExtKeyShare, Data: tCat(tU16(4), tU16(29), tU16(32))},
		Extension{Type: ExtKeyShare, Data: tVec16(nil)},
		Extension{Type: ExtRecordSizeLimit, Data: tU16(10)},
		Extension{Type: ExtEncryptedClientHello, Data: []byte{7}},
		Extension{Type: ExtPadding, Data: []byte{0, 1, 0}},
		Extension{Type: 0x1234, Data: []byte{0xde, 0xad, '"', '<'}},
		Extension{Type: 0x0a0a, GREASE: true, Data: nil},
		Extension{Type: ExtServerName, Data: []byte{0, 5, 0, 0, 2, 'a', '"'}},
	)
}

// TestExtensionJSONMatchesLegacy compares MarshalJSON of every extension
// of the test hellos and of extensionJSONCases with the former
// encoding/json path, byte for byte.
func TestExtensionJSONMatchesLegacy(t *testing.T) {
	exts, from := testHelloExtensions(t)
	decoded := 0
	for _, e := range extensionJSONCases() {
		exts = append(exts, e)
		from = append(from, "extensionJSONCases")
	}
	for i, e := range exts {
		if got := checkExtensionJSON(t, e, from[i]); bytes.Contains(got, []byte(`"decoded":`)) {
			decoded++
		}
	}
	if decoded < len(exts)/2 {
		t.Fatalf("only %d of %d extensions have a decoded value", decoded, len(exts))
	}
}

// checkExtensionJSON fails t unless e's MarshalJSON equals the former
// encoding/json path's output and is valid JSON; it returns the output.
func checkExtensionJSON(t *testing.T, e Extension, from string) []byte {
	t.Helper()
	got, err := e.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	want, err := legacyExtensionJSON(e)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: extension %d:\n got  %s\n want %s", from, e.Type, got, want)
	}
	if !json.Valid(got) {
		t.Fatalf("%s: extension %d: invalid JSON %s", from, e.Type, got)
	}
	return got
}

// FuzzExtensionJSON decodes arbitrary extension data of any type and holds
// MarshalJSON to the former encoding/json path and the decoded value's
// appendJSON to json.Marshal.
func FuzzExtensionJSON(f *testing.F) {
	exts, _ := testHelloExtensions(f)
	for _, e := range append(exts, extensionJSONCases()...) {
		f.Add(e.Type, e.GREASE, []byte(e.Data))
	}
	f.Fuzz(func(t *testing.T, typ uint16, grease bool, data []byte) {
		e := Extension{Type: typ, GREASE: grease, Data: data}
		checkExtensionJSON(t, e, fmt.Sprintf("%x", data))
		if v, _ := e.Decode(); v != nil {
			want, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if got := v.appendJSON(nil); !bytes.Equal(got, want) {
				t.Fatalf("%#v:\n got  %s\n want %s", v, got, want)
			}
		}
	})
}

// TestAppendHexMatchesEncodingHex compares appendHex with hex.AppendEncode
// for every byte value at every position of the word loop and the tail,
// and random data of every length up to 100.
func TestAppendHexMatchesEncodingHex(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 2))
	var inputs [][]byte
	for c := range 256 {
		for pos := range 9 {
			d := make([]byte, 9)
			d[pos] = byte(c)
			inputs = append(inputs, d)
		}
	}
	for n := range 101 {
		d := make([]byte, n)
		for i := range d {
			d[i] = byte(rng.IntN(256))
		}
		inputs = append(inputs, d)
	}
	for _, d := range inputs {
		want := hex.AppendEncode([]byte("pre"), d)
		if got := appendHex([]byte("pre"), d); !bytes.Equal(got, want) {
			t.Fatalf("%x:\n got  %s\n want %s", d, got, want)
		}
	}
}

// TestExtensionJSONSizeHint checks that MarshalJSON's buffer, sized by
// extensionJSONSize, holds the JSON of every well-formed extension of the
// test hellos without growing (one allocation per extension; a
// decode_error message may grow it).
func TestExtensionJSONSizeHint(t *testing.T) {
	exts, from := testHelloExtensions(t)
	checked := 0
	for i, e := range exts {
		if _, err := e.Decode(); err != nil {
			continue
		}
		checked++
		b, err := e.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if size := extensionJSONSize(e); len(b) > size {
			t.Errorf("%s: extension %d: %d bytes of JSON, size hint %d", from[i], e.Type, len(b), size)
		}
	}
	if checked < 100 {
		t.Fatalf("only %d well-formed extensions", checked)
	}
}
