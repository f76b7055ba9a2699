package transport

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"golang.org/x/net/http2/hpack"

	"github.com/guanaco-fp/guanaco/fingerprint"
)

// TestHPACKEncoderRoundTrip encodes 400 random blocks (repeated and new
// fields, every representation kind, table size changes that evict, Huffman
// always or when shorter) and
// decodes them with x/net's decoder, an independent implementation that
// fails on any table disagreement; fingerprint.HPACKCodes must then report
// the representation chosen for every field.
func TestHPACKEncoderRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	enc := newHPACKEncoder()
	var got []hpack.HeaderField
	dec := hpack.NewDecoder(4096, func(f hpack.HeaderField) { got = append(got, f) })
	names := []string{":method", ":path", ":authority", "accept", "user-agent", "x-custom", "cookie", "accept-encoding"}
	values := []string{"GET", "/", "/index.html", "gzip, deflate", "a", "text/html,application/xhtml+xml", "~~~~~~~~", ""}
	for block := range 400 {
		if block%50 == 49 {
			sz := []uint32{0, 64, 256, 4096}[rng.IntN(4)]
			enc.setMaxSize(sz)
			dec.SetAllowedMaxDynamicTableSize(4096)
		}
		enc.huffmanAlways = block%3 == 0
		var want []hpack.HeaderField
		var kinds []byte
		var b []byte
		b = enc.beginBlock(b)
		for range 1 + rng.IntN(12) {
			f := hpack.HeaderField{Name: names[rng.IntN(len(names))], Value: values[rng.IntN(len(values))]}
			if rng.IntN(4) == 0 {
				f.Value = fmt.Sprintf("v%d", rng.IntN(1000))
			}
			k := "lwv"[rng.IntN(3)]
			full, _ := enc.search(f.Name, f.Value)
			if full > 0 {
				k = 'i'
			}
			b = enc.appendField(b, f, k)
			want = append(want, f)
			kinds = append(kinds, k)
		}
		got = got[:0]
		if _, err := dec.Write(b); err != nil {
			t.Fatalf("block %d: x/net cannot decode: %v", block, err)
		}
		if err := dec.Close(); err != nil {
			t.Fatalf("block %d: %v", block, err)
		}
		for i := range got {
			got[i].Sensitive = false
		}
		if !slices.Equal(got, want) {
			t.Fatalf("block %d: decoded %v, want %v", block, got, want)
		}
		codes, err := fingerprint.HPACKCodes(b)
		if err != nil {
			t.Fatal(err)
		}
		codes = slices.DeleteFunc(codes, func(c string) bool { return c == "u" })
		for i, c := range codes {
			if c[0] != kinds[i] {
				t.Fatalf("block %d field %d: code %s, want kind %c", block, i, c, kinds[i])
			}
		}
	}
}

// BenchmarkHPACKEncoder encodes the chromium profile's navigation block
// (pseudo headers and its 13 headers, fresh table every 100 blocks so both
// indexed and literal fields occur) with this encoder and with x/net's
// hpack.Encoder in the same run, and reports the ratio of their times
// (ours / x/net; 1.0 = as fast).
func BenchmarkHPACKEncoder(b *testing.B) {
	p := testProfile(b)
	fields := []hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":authority", Value: "www.example.com"},
		{Name: ":scheme", Value: "https"}, {Name: ":path", Value: "/search?q=guanaco"}}
	for _, h := range p.H2.Headers["navigate"] {
		fields = append(fields, hpack.HeaderField{Name: h.Name, Value: h.Value})
	}
	run := func(encode func(fresh bool)) time.Duration {
		start := time.Now()
		for i := range b.N {
			encode(i%100 == 0)
		}
		return time.Since(start)
	}
	b.ResetTimer()
	var enc *hpackEncoder
	var blk []byte
	dOurs := run(func(fresh bool) {
		if fresh {
			enc = newHPACKEncoder()
		}
		blk = enc.beginBlock(blk[:0])
		for _, f := range fields {
			blk = enc.appendField(blk, f, hpackKind(p, f.Name, f.Value))
		}
	})
	var buf bytes.Buffer
	var xe *hpack.Encoder
	dXNet := run(func(fresh bool) {
		if fresh {
			xe = hpack.NewEncoder(&buf)
		}
		buf.Reset()
		for _, f := range fields {
			_ = xe.WriteField(f)
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(dOurs.Nanoseconds())/float64(b.N), "ours-ns/block")
	b.ReportMetric(float64(dXNet.Nanoseconds())/float64(b.N), "xnet-ns/block")
	b.ReportMetric(dOurs.Seconds()/dXNet.Seconds(), "ratio")
}
