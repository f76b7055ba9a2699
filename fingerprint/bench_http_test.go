package fingerprint

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkH2ChromeStart parses a Chrome-like connection start (preface,
// SETTINGS, WINDOW_UPDATE, one HEADERS block) and computes its Akamai
// fingerprint.
func BenchmarkH2ChromeStart(b *testing.B) {
	in := chromeLikeStart(b)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		s := NewH2Stream(H2Config{})
		s.Write(in)
		if fp := s.Akamai(); len(fp.Hash) != 32 {
			b.Fatal(fp)
		}
	}
}

// BenchmarkHTTP1CurlHead parses curl's request head.
func BenchmarkHTTP1CurlHead(b *testing.B) {
	in := readHTTPCapture(b, "curl-h1-get.bin")
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		req, _, err := ParseHTTP1Request(in, HTTP1Limits{})
		if err != nil || len(req.Headers) != 3 {
			b.Fatal(err)
		}
	}
}

// BenchmarkHTTP1StreamChromium runs a Chromium keep-alive connection (two
// heads) through an HTTP1Stream.
func BenchmarkHTTP1StreamChromium(b *testing.B) {
	in := readHTTPCapture(b, "chromium-headless-h1-keepalive.bin")
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		s := NewHTTP1Stream(HTTP1StreamConfig{})
		s.Write(in)
		if s.Status().Requests != 2 {
			b.Fatal(s.Status())
		}
	}
}

// BenchmarkHeaderOrder computes the header-order fingerprint of Chromium's
// navigation request.
func BenchmarkHeaderOrder(b *testing.B) {
	req, _, err := ParseHTTP1Request(readHTTPCapture(b, "chromium-headless-h1-keepalive.bin"), HTTP1Limits{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = req.HeaderOrder()
	}
}

// BenchmarkHTTP1StreamSlowHead feeds a large request head one byte at a
// time, as a slow client sends it. Compare ns/byte between the sizes: it
// stays flat when the incremental line scanner is linear (quadratic
// rescanning would make the 256 KiB case four times worse per byte).
func BenchmarkHTTP1StreamSlowHead(b *testing.B) {
	head := func(size int) []byte {
		var sb strings.Builder
		sb.WriteString("GET / HTTP/1.1\r\n")
		for sb.Len()+len("a:\r\n") <= size-len("\r\n") {
			sb.WriteString("a:\r\n")
		}
		sb.WriteString("\r\n")
		return []byte(sb.String())
	}
	for _, size := range []int{1 << 16, 1 << 18} {
		in := head(size)
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				s := NewHTTP1Stream(HTTP1StreamConfig{Limits: HTTP1Limits{MaxHeadBytes: 1 << 18, MaxHeaders: 1 << 20}})
				for j := range in {
					_, _ = s.Write(in[j : j+1])
				}
				if st := s.Status(); st.Requests != 1 {
					b.Fatalf("status %+v", st)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(in)), "ns/byte")
		})
	}
}
