package fingerprint

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkExtensionMarshalJSON encodes every extension of a real
// browser's ClientHello (testdata/golden) with Extension.MarshalJSON, as
// the fingerprint answer does once per connection, and reports the speed-up
// over the former encoding/json path (legacyExtensionJSON), measured in the
// same run.
func BenchmarkExtensionMarshalJSON(b *testing.B) {
	for _, name := range []string{"chromium", "firefox_esr"} {
		raw, err := os.ReadFile(filepath.Join("testdata", "golden", name+".hello"))
		if err != nil {
			b.Fatal(err)
		}
		ch, err := ParseClientHello(raw)
		if err != nil {
			b.Fatal(err)
		}
		exts := ch.Extensions
		// The baseline runs first; each run leaves its ns/op of the final
		// (largest) b.N in base, which the second sub-benchmark divides by.
		var base float64
		b.Run(name+"/encoding_json", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, e := range exts {
					if _, err := legacyExtensionJSON(e); err != nil {
						b.Fatal(err)
					}
				}
			}
			base = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		})
		b.Run(name+"/appender", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, e := range exts {
					if _, err := e.MarshalJSON(); err != nil {
						b.Fatal(err)
					}
				}
			}
			if base > 0 {
				ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
				b.ReportMetric(base/ns, "x-vs-encoding_json")
			}
		})
		// AppendJSON into one reused buffer, as an encoder with a buffer
		// of its own can do.
		b.Run(name+"/append_reused", func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				buf = buf[:0]
				for _, e := range exts {
					buf = e.AppendJSON(buf)
				}
			}
			if base > 0 {
				ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
				b.ReportMetric(base/ns, "x-vs-encoding_json")
			}
		})
	}
}
