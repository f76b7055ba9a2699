package fingerprint

import (
	"encoding/json"
	"testing"
)

// benchChromeHello is a current Chrome ClientHello record: 16 cipher suites
// (one GREASE), 18 extensions with GREASE at both ends, an X25519MLKEM768
// key share, ALPS, and a GREASE ECH extension.
func benchChromeHello() []byte { return tChromeLike().rec() }

func BenchmarkParseAndFingerprintChrome(b *testing.B) {
	in := benchChromeHello()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		ch, err := ParseClientHello(in)
		if err != nil {
			b.Fatal(err)
		}
		if fp := ch.Fingerprints(); len(fp.JA4) != 36 {
			b.Fatalf("JA4 %q", fp.JA4)
		}
	}
}

func BenchmarkParseClientHelloChrome(b *testing.B) {
	in := benchChromeHello()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseClientHello(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFingerprintsChrome(b *testing.B) {
	ch, err := ParseClientHello(benchChromeHello())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = ch.Fingerprints()
	}
}

func BenchmarkClientHelloLengthChrome(b *testing.B) {
	in := benchChromeHello()
	b.ReportAllocs()
	for b.Loop() {
		if need, err := ClientHelloLength(in); err != nil || need != len(in) {
			b.Fatal(need, err)
		}
	}
}

func BenchmarkClientHelloJSON(b *testing.B) {
	ch, err := ParseClientHello(benchChromeHello())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(ch); err != nil {
			b.Fatal(err)
		}
	}
}
