package fingerprint

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkExtensionMarshalJSON encodes every extension of a real
// browser's ClientHello (testdata/golden) with Extension.MarshalJSON, as
// the fingerprint answer does once per connection, next to the former
// encoding/json path (legacyExtensionJSON); the ratio sub-benchmark prints
// the speed-up over it, both timed in the same loop.
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
		b.Run(name+"/encoding_json", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, e := range exts {
					if _, err := legacyExtensionJSON(e); err != nil {
						b.Fatal(err)
					}
				}
			}
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
		})
		// Both paths timed alternately in the same loop, so that a change
		// in the machine's load affects both: the ratio of the two times
		// is the speed-up.
		b.Run(name+"/ratio", func(b *testing.B) {
			var legacy, hand time.Duration
			for b.Loop() {
				t0 := time.Now()
				for _, e := range exts {
					if _, err := legacyExtensionJSON(e); err != nil {
						b.Fatal(err)
					}
				}
				t1 := time.Now()
				for _, e := range exts {
					if _, err := e.MarshalJSON(); err != nil {
						b.Fatal(err)
					}
				}
				hand += time.Since(t1)
				legacy += t1.Sub(t0)
			}
			b.ReportMetric(float64(legacy.Nanoseconds())/float64(b.N), "encoding_json-ns/op")
			b.ReportMetric(float64(hand.Nanoseconds())/float64(b.N), "appender-ns/op")
			b.ReportMetric(float64(legacy)/float64(hand), "speedup")
		})
	}
}
