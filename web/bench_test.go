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
