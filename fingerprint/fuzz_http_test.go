package fingerprint

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// addHTTPCaptures seeds f with every capture in testdata/http whose name
// contains kind ("h1" or "h2c"), followed by the extra arguments.
func addHTTPCaptures(f *testing.F, kind string, extra ...any) {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "http", "*.bin"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no captures: %v", err)
	}
	for _, p := range paths {
		if !strings.Contains(filepath.Base(p), kind) {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(append([]any{b}, extra...)...)
	}
}

// fuzzH1Limits are small so that fuzzing reaches the limits.
var fuzzH1Limits = HTTP1Limits{MaxHeadBytes: 1024, MaxHeaders: 16}

func FuzzHTTP1Request(f *testing.F) {
	addHTTPCaptures(f, "h1")
	for _, s := range []string{
		"GET / HTTP/1.1\nHost: a\n\n",
		"GET / HTTP/1.1\r\nA: b\r\n  folded\r\n\r\n",
		"GET / HTTP/1.1\r\n Host: a\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"G\x00T / HTTP/1.1\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, lim := range []HTTP1Limits{fuzzH1Limits, {}} {
			full, n, err := ParseHTTP1Request(data, lim)
			l := lim.withDefaults()
			if err != nil {
				var pe *ParseError
				if full != nil || n != 0 || !errors.As(err, &pe) || pe.Offset < 0 || pe.Offset > len(data) {
					t.Fatalf("bad error result: req %v n %d err %v", full, n, err)
				}
			} else {
				if n <= 0 || n > len(data) || n > l.MaxHeadBytes || len(full.Headers) > l.MaxHeaders {
					t.Fatalf("n %d of %d, %d headers", n, len(data), len(full.Headers))
				}
				again, n2, err := ParseHTTP1Request(data[:n], lim)
				if err != nil || n2 != n || !reflect.DeepEqual(again, full) {
					t.Fatalf("reparse of the head: %v %d %v", again, n2, err)
				}
			}
			// Prefix stability: a prefix is either incomplete or gives the
			// same answer as the whole input.
			step := len(data)/24 + 1
			for k := range len(data) {
				if k%step != 0 && (k < n-2 || k > n+2) {
					continue
				}
				req, nk, errk := ParseHTTP1Request(data[:k], lim)
				if IsIncomplete(errk) {
					continue
				}
				if !reflect.DeepEqual(req, full) || nk != n || !reflect.DeepEqual(errk, err) {
					t.Fatalf("prefix %d: %v %d %v; whole: %v %d %v", k, req, nk, errk, full, n, err)
				}
			}
		}
	})
}

func FuzzHTTP1Stream(f *testing.F) {
	addHTTPCaptures(f, "h1", uint8(1))
	f.Add([]byte("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x\r\nabc\r\n0\r\nT: v\n\nGET / HTTP/1.1\r\n\r\n"), uint8(3))
	f.Add([]byte("POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nab\r\n\nGET / HTTP/1.0\r\n\r\n"), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		c1, st1 := feedHTTP1(t, data, 0, fuzzH1Limits)
		sizes := []int{int(chunk%64) + 1}
		if len(data) <= 4096 {
			sizes = append(sizes, 1)
		}
		for _, size := range sizes {
			c2, st2 := feedHTTP1(t, data, size, fuzzH1Limits)
			if !reflect.DeepEqual(c1, c2) || !reflect.DeepEqual(st1, st2) {
				t.Fatalf("chunk %d: %+v %+v; at once %+v %+v", size, c2, st2, c1, st1)
			}
		}
		if st1.Consumed < 0 || st1.Consumed > int64(len(data)) || st1.Requests != len(c1.reqs) {
			t.Fatalf("status %+v for %d bytes, %d requests", st1, len(data), len(c1.reqs))
		}
		if st1.Stopped != HTTP1Running && st1.Consumed+st1.Ignored != int64(len(data)) {
			t.Fatalf("stopped: consumed %d + ignored %d != %d", st1.Consumed, st1.Ignored, len(data))
		}
		if (st1.Stopped == HTTP1StopError) != (st1.Err != nil) {
			t.Fatalf("stopped %q with err %v", st1.Stopped, st1.Err)
		}
	})
}

// fuzzH2Config keeps the kept-record limits small.
var fuzzH2Config = H2Config{MaxRequests: 4, MaxKept: 8, MaxContinuations: 4}

func FuzzH2Stream(f *testing.F) {
	addHTTPCaptures(f, "h2c", uint8(1))
	f.Add(chromeLikeStart(f), uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		r1 := feedH2(t, data, 0, fuzzH2Config)
		sizes := []int{int(chunk%64) + 1}
		if len(data) <= 4096 {
			sizes = append(sizes, 1)
		}
		for _, size := range sizes {
			r2 := feedH2(t, data, size, fuzzH2Config)
			if !reflect.DeepEqual(r1, r2) {
				t.Fatalf("chunk %d: %+v; at once %+v", size, r2, r1)
			}
		}
		c := r1.Conn
		if c.Consumed < 0 || c.Consumed > int64(len(data)) || (c.Err != nil && c.Consumed+c.Ignored != int64(len(data))) {
			t.Fatalf("consumed %d ignored %d of %d", c.Consumed, c.Ignored, len(data))
		}
		if len(c.Requests) > fuzzH2Config.MaxRequests || len(c.Priorities) > fuzzH2Config.MaxKept || len(r1.Requests) != c.RequestsSeen {
			t.Fatalf("bounds: %d requests, %d priorities, %d emitted of %d", len(c.Requests), len(c.Priorities), len(r1.Requests), c.RequestsSeen)
		}
		_ = c.Akamai()
	})
}
