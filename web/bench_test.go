package web

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/guanaco-fp/guanaco/capture"
	"github.com/guanaco-fp/guanaco/store"
)

// discardSink queues every capture and keeps none.
type discardSink struct{}

func (discardSink) Offer(store.Capture) bool { return true }

// benchLiveAnswer measures the handler alone answering path (middleware,
// routing, fingerprint, capture record, JSON) for one kept-alive HTTP/1.1
// or HTTP/2 connection: every request carries the same capture, the sink
// keeps nothing, the storage caps are off. For comparing handler changes;
// fpserver's throughput against a plain server is BenchmarkServeRatio's.
func benchLiveAnswer(b *testing.B, h2 bool, path string) {
	req := httptest.NewRequest("GET", "https://fp.example"+path, nil)
	var rc *capture.Request
	if h2 {
		req.ProtoMajor, req.ProtoMinor, req.Proto = 2, 0, "HTTP/2.0"
		rc, _ = chromeH2Capture(b)(req)
	} else {
		rc, _ = curlH1Capture(b, false)(req)
	}
	e := newEnv(b, func(d *Deps) {
		d.Captures = discardSink{}
		d.CaptureOf = func(*http.Request) (*capture.Request, bool) { return rc, true }
		d.MaxCapturesPerConn, d.MaxCapturesPerMinute = -1, -1
	})
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("GET %s = %d", path, w.Code)
		}
	}
}

func BenchmarkLiveCleanHTTP1(b *testing.B)       { benchLiveAnswer(b, false, "/api/clean") }
func BenchmarkLiveCleanHTTP2(b *testing.B)       { benchLiveAnswer(b, true, "/api/clean") }
func BenchmarkLiveFingerprintHTTP2(b *testing.B) { benchLiveAnswer(b, true, "/api/fingerprint") }

// BenchmarkNewConnFingerprintHTTP2 is BenchmarkLiveFingerprintHTTP2 on a
// new connection each time: the handshake report, which a connection
// encodes once (tlsReport.MarshalJSON), is encoded on every request. The
// connections' captures are made ahead, a thousand at a time with the timer
// stopped.
func BenchmarkNewConnFingerprintHTTP2(b *testing.B) {
	g := loadGolden(b, "chromium")
	req := httptest.NewRequest("GET", "https://fp.example/api/fingerprint", nil)
	req.ProtoMajor, req.ProtoMinor, req.Proto = 2, 0, "HTTP/2.0"
	var rc *capture.Request
	e := newEnv(b, func(d *Deps) {
		d.Captures = discardSink{}
		d.CaptureOf = func(*http.Request) (*capture.Request, bool) { return rc, true }
		d.MaxCapturesPerConn, d.MaxCapturesPerMinute = -1, -1
	})
	newCapture := chromeH2Capture(b)
	var ahead []*capture.Request
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if len(ahead) == 0 {
			b.StopTimer()
			for range min(b.N-i, 1000) {
				c, _ := newCapture(req)
				c.TLS = tlsInfo(b, g, "h2")
				ahead = append(ahead, c)
			}
			b.StartTimer()
		}
		rc, ahead = ahead[0], ahead[1:]
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("GET /api/fingerprint = %d", w.Code)
		}
	}
}
