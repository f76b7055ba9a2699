package web

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/capture"
	"github.com/guanaco-fp/guanaco/curate"
	"github.com/guanaco-fp/guanaco/fingerprint"
)

// oddStrings are the strings encoding/json treats specially: HTML
// characters, quotes and backslashes, every kind of control character,
// invalid UTF-8 (alone, truncated sequences, surrogates, overlong forms),
// U+2028/U+2029, other non-ASCII text and DEL.
var oddStrings = []string{
	"", "plain", `<script>alert("x")</script>`, "a&b>c<d", `back\slash "quoted"`,
	"\x00\x01\x07\x08\x09\x0a\x0b\x0c\x0d\x1b\x1f", "\x7f", "tab\there\nnewline\r\n",
	"\xff", "\xfe\xff", "abc\xe2\x82", "\xe2\x28\xa1", "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80",
	"line\u2028sep\u2029para", "\u2028", "Grüße 日本語 🦙", "\uFFFD", "é\xffé",
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
	strings.Repeat("<&>", 100), "\u2029\xff<",
}

// randString is an odd string, a random mix of them, or random bytes.
func randString(rng *rand.Rand) string {
	switch rng.IntN(4) {
	case 0:
		return oddStrings[rng.IntN(len(oddStrings))]
	case 1:
		var b strings.Builder
		for range rng.IntN(4) + 1 {
			b.WriteString(oddStrings[rng.IntN(len(oddStrings))])
		}
		return b.String()
	case 2:
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return string(b)
	default:
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(0x20 + rng.IntN(0x5f))
		}
		return string(b)
	}
}

func randHeaders(rng *rand.Rand) []fingerprint.Header {
	if rng.IntN(8) == 0 {
		return nil
	}
	hs := make([]fingerprint.Header, rng.IntN(12))
	for i := range hs {
		hs[i] = fingerprint.Header{Name: randString(rng), Value: randString(rng)}
	}
	return hs
}

func randPriority(rng *rand.Rand) fingerprint.H2Priority {
	return fingerprint.H2Priority{StreamID: rng.Uint32(), Exclusive: rng.IntN(2) == 0, DependsOn: rng.Uint32(), Weight: uint16(rng.IntN(257))}
}

func randH2(rng *rand.Rand) *H2Summary {
	h := &H2Summary{StreamID: rng.Uint32(), WindowUpdate: rng.Uint32(), HPACK: randString(rng), Akamai: randString(rng), AkamaiHash: randString(rng)}
	if rng.IntN(6) > 0 {
		h.Settings = make([]fingerprint.H2Setting, rng.IntN(7))
		for i := range h.Settings {
			h.Settings[i] = fingerprint.H2Setting{ID: uint16(rng.Uint32()), Value: rng.Uint32()}
		}
	}
	if rng.IntN(6) > 0 {
		h.PriorityFrames = make([]fingerprint.H2Priority, rng.IntN(5))
		for i := range h.PriorityFrames {
			h.PriorityFrames[i] = randPriority(rng)
		}
	}
	if rng.IntN(2) == 0 {
		p := randPriority(rng)
		h.HeadersPriority = &p
	}
	if rng.IntN(6) > 0 {
		h.PseudoOrder = make([]string, rng.IntN(5))
		for i := range h.PseudoOrder {
			h.PseudoOrder[i] = randString(rng)
		}
	}
	return h
}

func randFingerprints(rng *rand.Rand) fingerprints {
	return fingerprints{
		JA3: randString(rng), JA3Hash: randString(rng), JA3N: randString(rng), JA3NHash: randString(rng),
		JA4: randString(rng), JA4R: randString(rng), JA4O: randString(rng), JA4RO: randString(rng),
		PeetPrint: randString(rng), PeetPrintHash: randString(rng), Akamai: randString(rng), AkamaiHash: randString(rng),
		HeaderOrder: randString(rng), HeaderOrderHash: randString(rng),
	}
}

// goldenTLS returns the TLS objects of the golden ClientHellos, live (with a
// connection memo) and stored (without).
func goldenTLS(t *testing.T) []*tlsReport {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "fingerprint", "testdata", "golden", "*.hello"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden hellos: %v", err)
	}
	var out []*tlsReport
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ch, err := fingerprint.ParseClientHello(raw)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		info := &capture.TLSInfo{Raw: raw, Hello: ch, Fingerprints: ch.Fingerprints()}
		info.State.Version, info.State.CipherSuite, info.State.NegotiatedProtocol = 0x0304, 0x1301, "h2"
		out = append(out, connTLS(connMemoOf(info)),
			&tlsReport{ClientHello: ch, Raw: raw, SNI: ch.ServerName(), ALPN: ch.ALPN(), Negotiated: tlsNegotiated{Version: randString(rand.New(rand.NewPCG(1, uint64(len(out)))))}})
	}
	return out
}

// TestFastJSONMatchesEncodingJSON holds the reflection-free encoders of the
// live answers to encoding/json's output (json.Encoder, HTML escaping on, a
// trailing newline), byte for byte, over generated reports with hostile
// strings everywhere a client's bytes can appear, with and without TLS,
// HTTP/2 and a verdict.
func TestFastJSONMatchesEncodingJSON(t *testing.T) {
	tlsReports := goldenTLS(t)
	rng := rand.New(rand.NewPCG(10, 2026))
	for i := range 3000 {
		rep := &report{
			CaptureID: randString(rng), CaptureURL: randString(rng), Stored: []string{"", StoredQueued, StoredDropped, randString(rng)}[rng.IntN(4)],
			CreatedAt: time.Unix(rng.Int64N(1<<34), rng.Int64N(1e9)).UTC(),
			Initiator: randString(rng), ClientIP: randString(rng), Host: randString(rng), Method: randString(rng),
			Path: randString(rng), UserAgent: randString(rng), Complete: rng.IntN(2) == 0,
			Fingerprints: randFingerprints(rng),
		}
		if rng.IntN(2) == 0 {
			rep.StoredReason = randString(rng)
		}
		if rng.IntN(3) > 0 {
			rep.TLS = tlsReports[rng.IntN(len(tlsReports))]
			if conn := rep.TLS.conn; conn != nil {
				// A live report: its TLS fingerprints are the
				// connection's (encoded once per connection), or for
				// the test other values, which must not be taken from
				// the connection's cache.
				rep.conn = conn
				fp := conn.info.Fingerprints
				f := &rep.Fingerprints
				tlsFields := [...]*string{&f.JA3, &f.JA3Hash, &f.JA3N, &f.JA3NHash, &f.JA4, &f.JA4R, &f.JA4O, &f.JA4RO, &f.PeetPrint, &f.PeetPrintHash}
				for k, v := range [...]string{fp.JA3, fp.JA3Hash, fp.JA3N, fp.JA3NHash, fp.JA4, fp.JA4R, fp.JA4O, fp.JA4RO, fp.PeetPrint, fp.PeetPrintHash} {
					*tlsFields[k] = v
				}
				if rng.IntN(3) == 0 {
					*tlsFields[rng.IntN(len(tlsFields))] += "x" // one value differs
				}
			}
		}
		rep.HTTP = httpReport{Version: randString(rng), Headers: randHeaders(rng), HeaderOrder: randString(rng)}
		if rng.IntN(2) == 0 {
			rep.HTTP.H2 = randH2(rng)
		}
		if rng.IntN(3) == 0 {
			rep.Verdict = &verdictReport{Claimed: randString(rng), Consistent: rng.IntN(2) == 0, Reason: randString(rng),
				Differences: []curate.Difference{{Field: randString(rng), Claimed: randString(rng), Observed: randString(rng)}}}
		}
		want, err := encodeJSONIndent(rep, false)
		if err != nil {
			t.Fatal(err)
		}
		got, err := encodeReport(rep)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("report %d: fast encoding differs from encoding/json:\n got %q\nwant %q", i, got, want)
		}

		clean := cleanReport{CaptureID: rep.CaptureID, Stored: rep.Stored, StoredReason: rep.StoredReason,
			HTTPVersion: rep.HTTP.Version, UserAgent: rep.UserAgent, fingerprints: rep.Fingerprints, conn: rep.conn}
		want, err = encodeJSONIndent(clean, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendCleanReport(nil, &clean); string(got) != string(want) {
			t.Fatalf("clean report %d: fast encoding differs from encoding/json:\n got %q\nwant %q", i, got, want)
		}
	}
}

// TestFastJSONTimeRange checks that a time encoding/json refuses is refused.
func TestFastJSONTimeRange(t *testing.T) {
	rep := &report{CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := encodeJSONIndent(rep, false); err == nil {
		t.Fatal("encoding/json accepted year 10000")
	}
	if _, err := encodeReport(rep); err == nil {
		t.Fatal("fast encoder accepted year 10000")
	}
}

// TestFastTLSJSONMatchesEncodingJSON holds the "tls" object's encoder to
// encoding/json's field-by-field encoding, over every ClientHello in the
// fingerprint test data (real browsers and tools, malformed extensions with
// anomalies), generated hellos with long lists, and hostile strings in the
// fields that are not from the hello.
func TestFastTLSJSONMatchesEncodingJSON(t *testing.T) {
	var files []string
	for _, dir := range []string{"golden", "anomalies"} {
		fs, err := filepath.Glob(filepath.Join("..", "fingerprint", "testdata", dir, "*.hello"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, fs...)
	}
	if len(files) < 10 {
		t.Fatalf("only %d hellos found", len(files))
	}
	var hellos [][]byte
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		hellos = append(hellos, raw)
	}
	hellos = append(hellos, rawHello(t, 16, 2, 4), rawHello(t, 300, 300, 300), rawHello(t, 1, 0, 0))
	rng := rand.New(rand.NewPCG(7, 7))
	anomalies := 0
	for i, raw := range hellos {
		ch, err := fingerprint.ParseClientHello(raw)
		if err != nil {
			t.Fatalf("hello %d: %v", i, err)
		}
		anomalies += len(ch.Anomalies)
		for k := range 20 {
			tr := &tlsReport{ClientHello: ch, Raw: raw, SNI: ch.ServerName(), ALPN: ch.ALPN(),
				Negotiated: tlsNegotiated{Version: "TLS 1.3", CipherSuite: "TLS_AES_128_GCM_SHA256", ALPN: "h2"}}
			switch k % 5 {
			case 1:
				tr.SNI, tr.Negotiated = randString(rng), tlsNegotiated{randString(rng), randString(rng), randString(rng)}
				tr.ALPN = []string{randString(rng), randString(rng)}
			case 2:
				tr.Raw, tr.ALPN = nil, nil
			case 3:
				tr.ClientHello = nil
			case 4:
				// A hand-built hello: extensions whose data does not
				// decode, odd transport and lists.
				h := *ch
				h.Transport = fingerprint.Transport(randString(rng))
				h.CipherSuites, h.Extensions = nil, nil
				if rng.IntN(2) == 0 {
					h.Extensions = []fingerprint.Extension{{Type: 0, Data: []byte{1, 2, 3}}, {Type: 16, Data: []byte{0, 9, 2}}, {Type: 0x1a1a, GREASE: true}}
				}
				h.Anomalies = []fingerprint.Anomaly{{Extension: 16, Name: randString(rng), Kind: fingerprint.AnomalyKind(randString(rng)), Offset: rng.IntN(1000), Message: randString(rng)}}
				tr.ClientHello = &h
			}
			want, err := json.Marshal((*plainTLSReport)(tr))
			if err != nil {
				t.Fatal(err)
			}
			got, err := tr.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Fatalf("hello %d (%s), variant %d: fast encoding differs from encoding/json:\n got %s\nwant %s", i, files[min(i, len(files)-1)], k, got, want)
			}
		}
	}
	if anomalies == 0 {
		t.Error("no hello with anomalies: the anomaly encoding went untested")
	}
}

// TestTLSJSONSizeFits holds tlsJSONSize to the encodings of the hellos in
// the fingerprint test data (real browsers and tools, malformed
// extensions): each fits the buffer it starts in, so none is copied to a
// larger one while it is written. (Hellos built with hundreds of list
// entries may outgrow it; they are encoded all the same.)
func TestTLSJSONSizeFits(t *testing.T) {
	var hellos [][]byte
	for _, dir := range []string{"golden", "anomalies"} {
		files, err := filepath.Glob(filepath.Join("..", "fingerprint", "testdata", dir, "*.hello"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			hellos = append(hellos, raw)
		}
	}
	if len(hellos) < 10 {
		t.Fatalf("only %d hellos found", len(hellos))
	}
	for i, raw := range hellos {
		ch, err := fingerprint.ParseClientHello(raw)
		if err != nil {
			t.Fatalf("hello %d: %v", i, err)
		}
		tr := &tlsReport{ClientHello: ch, Raw: raw, SNI: ch.ServerName(), ALPN: ch.ALPN(),
			Negotiated: tlsNegotiated{Version: "TLS 1.3", CipherSuite: "TLS_AES_128_GCM_SHA256", ALPN: "h2"}}
		got, err := tr.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if size := tlsJSONSize(tr); len(got) > size {
			t.Errorf("hello %d (%d bytes): encoding is %d bytes, more than the %d it starts in", i, len(raw), len(got), size)
		}
	}
}

// fillAll sets every exported field reachable from v (structs, pointers,
// slices, maps of them) to a non-zero random value, so a field added to a
// report type shows up in the comparison with encoding/json even when no
// generator above knows it.
func fillAll(rng *rand.Rand, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		fillAll(rng, v.Elem())
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Unix(rng.Int64N(1<<32), rng.Int64N(1e9)).UTC()))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillAll(rng, v.Field(i))
			}
		}
	case reflect.Slice:
		n := 1 + rng.IntN(3)
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range n {
			fillAll(rng, s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for range 2 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fillAll(rng, k)
			fillAll(rng, e)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.String:
		v.SetString(randString(rng) + "x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1 + rng.Int64N(100))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1 + rng.Uint64N(100))
	}
}

// TestFastJSONEveryField fills every exported field of the report (but the
// TLS object and the verdict, encoded by their own code and tested above)
// and of the clean answer, and compares the fast encoding with
// encoding/json's: a field added to a report type without its appender
// fails here.
func TestFastJSONEveryField(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 8))
	for i := range 200 {
		var rep report
		fillAll(rng, reflect.ValueOf(&rep).Elem())
		rep.TLS, rep.Verdict = nil, nil
		want, err := encodeJSONIndent(&rep, false)
		if err != nil {
			t.Fatal(err)
		}
		got, err := encodeReport(&rep)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("report %d: fast encoding differs from encoding/json:\n got %s\nwant %s", i, got, want)
		}
		var clean cleanReport
		fillAll(rng, reflect.ValueOf(&clean).Elem())
		if want, err = encodeJSONIndent(clean, false); err != nil {
			t.Fatal(err)
		}
		if got := appendCleanReport(nil, &clean); string(got) != string(want) {
			t.Fatalf("clean report %d: fast encoding differs from encoding/json:\n got %s\nwant %s", i, got, want)
		}
	}
}

// plainTLSReport is a tlsReport without its MarshalJSON: encoding/json's
// field-by-field encoding, which appendTLSReport reproduces (the tests
// compare the two).
type plainTLSReport tlsReport

// TestFastTLSSummaryMatchesEncodingJSON holds the stored TLS summary's
// encoder to encoding/json's output (the summary is deduplicated by its
// bytes, so they must not change): every exported field filled at random,
// hostile strings, nil and empty lists, each optional member present and
// absent; and the summaries of every test hello through summaryJSON.
func TestFastTLSSummaryMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 4))
	for i := range 2000 {
		var s tlsSummary
		fillAll(rng, reflect.ValueOf(&s).Elem())
		switch i % 6 {
		case 1:
			s.QUIC, s.Truncated = nil, nil
		case 2:
			s.ALPN, s.CipherSuites, s.Extensions = nil, []uint16{}, nil
		case 3:
			s.QUIC.InitialPackets, s.Truncated = 0, []string{}
		case 4:
			s.SNI, s.Negotiated.ALPN = randString(rng), randString(rng)
		}
		want, err := json.Marshal(&s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendTLSSummary(nil, &s); string(got) != string(want) {
			t.Fatalf("summary %d differs from encoding/json:\n got %s\nwant %s", i, got, want)
		}
	}
	for i, tr := range goldenTLS(t) {
		q := &quicReport{Version: "0x00000001", NegotiatedVersion: "0x00000001", InitialPackets: i % 3}
		if i%4 == 3 {
			q = nil
		}
		got, err := tr.summaryJSON(nil, q)
		if err != nil {
			t.Fatal(err)
		}
		s := tr.summary(q)
		if want, _ := json.Marshal(&s); string(got) != string(want) {
			t.Fatalf("hello %d: summary differs from encoding/json:\n got %s\nwant %s", i, got, want)
		}
		if want := fmt.Sprintf("0x%04x", tr.ClientHello.MaxVersion()); s.MaxVersion != want {
			t.Fatalf("hello %d: max_version %q, want %q", i, s.MaxVersion, want)
		}
	}
}

// TestHex16 compares hex16 with fmt for every value.
func TestHex16(t *testing.T) {
	for v := range 1 << 16 {
		if got, want := hex16(uint16(v)), fmt.Sprintf("0x%04x", v); got != want {
			t.Fatalf("hex16(%d) = %q, want %q", v, got, want)
		}
	}
}
