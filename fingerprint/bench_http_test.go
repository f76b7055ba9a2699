package fingerprint

import "testing"

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
