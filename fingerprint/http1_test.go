package fingerprint

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func readHTTPCapture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "http", name))
	if err != nil {
		t.Fatalf("reading capture: %v", err)
	}
	return b
}

func headerNames(hs []Header) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.Name
	}
	return out
}

func wantCode(t *testing.T, err error, code ErrorCode, off int) {
	t.Helper()
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want *ParseError %s", err, code)
	}
	if pe.Code != code || (off >= 0 && pe.Offset != off) {
		t.Fatalf("err = %v (code %s offset %d), want code %s offset %d", err, pe.Code, pe.Offset, code, off)
	}
}

func TestParseHTTP1RequestCurlCapture(t *testing.T) {
	raw := readHTTPCapture(t, "curl-h1-get.bin")
	req, n, err := ParseHTTP1Request(raw, HTTP1Limits{})
	if err != nil {
		t.Fatalf("ParseHTTP1Request: %v", err)
	}
	if n != len(raw) {
		t.Errorf("n = %d, want %d (the capture is one GET head)", n, len(raw))
	}
	if req.Method != "GET" || req.Target != "/" || req.Proto != "HTTP/1.1" {
		t.Errorf("request line = %q %q %q", req.Method, req.Target, req.Proto)
	}
	want := []Header{{"Host", "127.0.0.1:18080"}, {"User-Agent", "curl/7.88.1"}, {"Accept", "*/*"}}
	if !reflect.DeepEqual(req.Headers, want) {
		t.Errorf("headers = %q, want %q", req.Headers, want)
	}
	if req.BareLF || req.ObsFold {
		t.Errorf("BareLF=%v ObsFold=%v, want false", req.BareLF, req.ObsFold)
	}
	fp := req.HeaderOrder()
	// printf 'Host,User-Agent,Accept' | sha256sum | cut -c1-12
	if fp.Order != "Host,User-Agent,Accept" || fp.Hash != "fe444ad14866" {
		t.Errorf("HeaderOrder = %+v", fp)
	}
	if got := req.Get("user-agent"); got != "curl/7.88.1" {
		t.Errorf("Get(user-agent) = %q", got)
	}
	if got := req.Get("Cookie"); got != "" {
		t.Errorf("Get(Cookie) = %q, want empty", got)
	}
}

func TestParseHTTP1RequestPrefixesIncomplete(t *testing.T) {
	raw := readHTTPCapture(t, "chromium-headless-h1-keepalive.bin")
	_, n, err := ParseHTTP1Request(raw, HTTP1Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for k := 0; k < n; k++ {
		_, _, err := ParseHTTP1Request(raw[:k], HTTP1Limits{})
		if !IsIncomplete(err) {
			t.Fatalf("prefix %d of %d: err = %v, want incomplete", k, n, err)
		}
	}
}

func TestParseHTTP1RequestSyntax(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Header
		bareLF  bool
		obsFold bool
	}{
		{"bare LF everywhere", "GET / HTTP/1.1\nHost: a\nX: y\n\n", []Header{{"Host", "a"}, {"X", "y"}}, true, false},
		{"bare LF on final line only", "GET / HTTP/1.1\r\nHost: a\r\n\n", []Header{{"Host", "a"}}, true, false},
		{"duplicates and case kept", "GET / HTTP/1.1\r\nhost: a\r\nX-A: 1\r\nx-a: 2\r\nX-A: 3\r\n\r\n",
			[]Header{{"host", "a"}, {"X-A", "1"}, {"x-a", "2"}, {"X-A", "3"}}, false, false},
		{"value whitespace trimmed", "GET / HTTP/1.1\r\nA:  \t v w \t \r\nB:\r\n\r\n", []Header{{"A", "v w"}, {"B", ""}}, false, false},
		{"obs-fold joined with one space", "GET / HTTP/1.1\r\nA: one\r\n   two  \r\n\tthree\r\nB: x\r\n\r\n",
			[]Header{{"A", "one two three"}, {"B", "x"}}, false, true},
		{"obs-fold onto empty value", "GET / HTTP/1.1\r\nA:\r\n  x\r\n\r\n", []Header{{"A", "x"}}, false, true},
		{"obs-text value bytes", "GET / HTTP/1.1\r\nA: caf\xc3\xa9\r\n\r\n", []Header{{"A", "caf\xc3\xa9"}}, false, false},
		{"no headers", "GET / HTTP/1.0\r\n\r\n", []Header{}, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, n, err := ParseHTTP1Request([]byte(tc.in+"BODY"), HTTP1Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if n != len(tc.in) {
				t.Errorf("n = %d, want %d", n, len(tc.in))
			}
			if !reflect.DeepEqual(req.Headers, tc.want) {
				t.Errorf("headers = %q, want %q", req.Headers, tc.want)
			}
			if req.BareLF != tc.bareLF || req.ObsFold != tc.obsFold {
				t.Errorf("BareLF=%v ObsFold=%v, want %v %v", req.BareLF, req.ObsFold, tc.bareLF, tc.obsFold)
			}
		})
	}
}

// TestParseHTTP1RequestMatchesNetHTTP checks accepted heads against
// net/http's own reader: same method, target, proto and, per canonical name,
// the same values in the same order.
func TestParseHTTP1RequestMatchesNetHTTP(t *testing.T) {
	inputs := []string{
		string(readHTTPCapture(t, "curl-h1-get.bin")),
		"POST /x?y=1 HTTP/1.1\nHost: h\nContent-Length: 3\n\n",
		"GET / HTTP/1.1\r\nHost: h\r\nA: one\r\n   two  \r\n\tthree\r\nB: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nA:\r\n  x\r\nA: second\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: h\r\nX:\t tab \t\r\n\r\n",
	}
	for _, in := range inputs {
		req, _, err := ParseHTTP1Request([]byte(in), HTTP1Limits{})
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		std, err := http.ReadRequest(bufio.NewReader(strings.NewReader(in)))
		if err != nil {
			t.Fatalf("net/http rejects %q: %v", in, err)
		}
		if req.Method != std.Method || req.Target != std.RequestURI || req.Proto != std.Proto {
			t.Errorf("%q: request line %q %q %q, net/http %q %q %q", in, req.Method, req.Target, req.Proto, std.Method, std.RequestURI, std.Proto)
		}
		got := http.Header{}
		for _, h := range req.Headers {
			got.Add(h.Name, h.Value)
		}
		if host := got.Get("Host"); host != "" {
			if std.Host != host {
				t.Errorf("%q: Host %q, net/http %q", in, host, std.Host)
			}
			got.Del("Host")
		}
		if !reflect.DeepEqual(got, std.Header) {
			t.Errorf("%q: headers %q, net/http %q", in, got, std.Header)
		}
	}
}

func TestParseHTTP1RequestErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		code ErrorCode
		off  int
	}{
		{"no space after method", "GET\r\n\r\n", CodeMalformed, 3},
		{"no space after target", "GET /\r\n\r\n", CodeMalformed, 5},
		{"bad method byte", "G(T / HTTP/1.1\r\n\r\n", CodeMalformed, 1},
		{"empty method", " / HTTP/1.1\r\n\r\n", CodeMalformed, 0},
		{"empty target", "GET  HTTP/1.1\r\n\r\n", CodeMalformed, 4},
		{"control byte in target", "GET /a\x01b HTTP/1.1\r\n\r\n", CodeMalformed, 6},
		{"bad version", "GET / HTTP/1.10\r\n\r\n", CodeMalformed, 6},
		{"extra word", "GET / x HTTP/1.1\r\n\r\n", CodeMalformed, 6},
		{"CR inside request line", "GET /\r HTTP/1.1\r\n\r\n", CodeMalformed, 5},
		{"missing colon", "GET / HTTP/1.1\r\nHost\r\n\r\n", CodeMalformed, 16},
		{"empty name", "GET / HTTP/1.1\r\n: v\r\n\r\n", CodeMalformed, 16},
		{"space before colon", "GET / HTTP/1.1\r\nHost : v\r\n\r\n", CodeMalformed, 20},
		{"CR in value", "GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", CodeMalformed, 20},
		{"NUL in value", "GET / HTTP/1.1\r\nA: b\x00\r\n\r\n", CodeMalformed, 20},
		{"first header folded", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", CodeMalformed, 16},
		{"lone CR line", "GET / HTTP/1.1\r\nA: b\r\n\r\r\n", CodeMalformed, 22},
		{"leading empty line", "\r\nGET / HTTP/1.1\r\n\r\n", CodeMalformed, 0},
		{"missing CRLF", "GET / HTTP/1.1\r\nHost: a\r\n", CodeTruncated, 25},
		{"empty input", "", CodeTruncated, 0},
		{"error beats truncation", "GET / HTTP/1.1\r\nbad line\r\nHost: a", CodeMalformed, 16},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _, err := ParseHTTP1Request([]byte(tc.in), HTTP1Limits{})
			if req != nil {
				t.Errorf("req = %+v, want nil", req)
			}
			wantCode(t, err, tc.code, tc.off)
		})
	}
}

func TestParseHTTP1RequestLimits(t *testing.T) {
	t.Run("head bytes", func(t *testing.T) {
		lim := HTTP1Limits{MaxHeadBytes: 64}
		head := "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", 64-len("GET / HTTP/1.1\r\nX: ")-4) + "\r\n\r\n"
		if len(head) != 64 {
			t.Fatalf("test head is %d bytes", len(head))
		}
		if _, n, err := ParseHTTP1Request([]byte(head+"more"), lim); err != nil || n != 64 {
			t.Fatalf("head of exactly the limit: n=%d err=%v", n, err)
		}
		long := "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", 64) + "\r\n\r\n"
		_, _, err := ParseHTTP1Request([]byte(long), lim)
		wantCode(t, err, CodeTooLarge, 64)
		// Still incomplete at exactly the limit, too large one byte later.
		_, _, err = ParseHTTP1Request([]byte(long[:64]), lim)
		wantCode(t, err, CodeTruncated, 64)
		_, _, err = ParseHTTP1Request([]byte(long[:65]), lim)
		wantCode(t, err, CodeTooLarge, 64)
	})
	t.Run("default head bytes", func(t *testing.T) {
		huge := "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", DefaultHTTP1MaxHeadBytes)
		_, _, err := ParseHTTP1Request([]byte(huge), HTTP1Limits{})
		wantCode(t, err, CodeTooLarge, DefaultHTTP1MaxHeadBytes)
	})
	t.Run("header count", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("GET / HTTP/1.1\r\n")
		for i := 0; i < DefaultHTTP1MaxHeaders; i++ {
			fmt.Fprintf(&b, "H%d: v\r\n", i)
		}
		ok := b.String() + "\r\n"
		req, _, err := ParseHTTP1Request([]byte(ok), HTTP1Limits{})
		if err != nil || len(req.Headers) != DefaultHTTP1MaxHeaders {
			t.Fatalf("%d headers: err=%v", DefaultHTTP1MaxHeaders, err)
		}
		off := b.Len()
		b.WriteString("Extra: v\r\n") // no terminating empty line: enforced while scanning
		_, _, err = ParseHTTP1Request([]byte(b.String()), HTTP1Limits{})
		wantCode(t, err, CodeTooLarge, off)
	})
	t.Run("custom header count", func(t *testing.T) {
		in := "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"
		_, _, err := ParseHTTP1Request([]byte(in), HTTP1Limits{MaxHeaders: 2})
		wantCode(t, err, CodeTooLarge, len("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n"))
	})
}

func TestHeaderJSON(t *testing.T) {
	hs := []Header{{"Host", "a"}, {"x-Dup", "1"}, {"x-Dup", "\"2\""}}
	b, err := json.Marshal(hs)
	if err != nil {
		t.Fatal(err)
	}
	if want := `[["Host","a"],["x-Dup","1"],["x-Dup","\"2\""]]`; string(b) != want {
		t.Errorf("json = %s, want %s", b, want)
	}
	var back []Header
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, hs) {
		t.Errorf("round trip = %q", back)
	}
	for _, bad := range []string{`[["a"]]`, `[["a","b","c"]]`, `[{"name":"a","value":"b"}]`, `[[1,2]]`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("Unmarshal(%s) succeeded", bad)
		}
	}
}

// h1Collector records what an HTTP1Stream emits.
type h1Collector struct {
	seqs []int
	offs []int64
	reqs []*HTTP1Request
}

func (c *h1Collector) on(seq int, off int64, req *HTTP1Request) {
	c.seqs = append(c.seqs, seq)
	c.offs = append(c.offs, off)
	c.reqs = append(c.reqs, req)
}

// feedHTTP1 writes in to a new stream in pieces of at most chunk bytes
// (all at once when chunk <= 0).
func feedHTTP1(t testing.TB, in []byte, chunk int, lim HTTP1Limits) (*h1Collector, HTTP1StreamStatus) {
	t.Helper()
	c := &h1Collector{}
	s := NewHTTP1Stream(HTTP1StreamConfig{Limits: lim, OnRequest: c.on})
	if chunk <= 0 {
		chunk = len(in) + 1
	}
	for len(in) > 0 {
		k := min(chunk, len(in))
		n, err := s.Write(in[:k])
		if n != k || err != nil {
			t.Fatalf("Write = %d, %v; want %d, nil", n, err, k)
		}
		in = in[k:]
	}
	return c, s.Status()
}

// feedHTTP1AllWays feeds in at once and in several chunkings and fails if
// any result differs from the one-shot result, which it returns.
func feedHTTP1AllWays(t *testing.T, in []byte, lim HTTP1Limits) (*h1Collector, HTTP1StreamStatus) {
	t.Helper()
	c, st := feedHTTP1(t, in, 0, lim)
	for _, chunk := range []int{1, 2, 3, 7, 64} {
		c2, st2 := feedHTTP1(t, in, chunk, lim)
		if !reflect.DeepEqual(c, c2) || !reflect.DeepEqual(st, st2) {
			t.Fatalf("chunk %d: got %+v %+v, at once %+v %+v", chunk, c2, st2, c, st)
		}
	}
	return c, st
}

func TestHTTP1StreamChromiumCapture(t *testing.T) {
	raw := readHTTPCapture(t, "chromium-headless-h1-keepalive.bin")
	c, st := feedHTTP1AllWays(t, raw, HTTP1Limits{})
	if st.Requests != 2 || len(c.reqs) != 2 || st.Stopped != HTTP1Running || st.Consumed != int64(len(raw)) {
		t.Fatalf("status %+v, %d requests", st, len(c.reqs))
	}
	if !reflect.DeepEqual(c.seqs, []int{0, 1}) || c.offs[0] != 0 || c.offs[1] <= 0 {
		t.Errorf("seqs %v offsets %v", c.seqs, c.offs)
	}
	if !bytes.HasPrefix(raw[c.offs[1]:], []byte("GET /favicon.ico HTTP/1.1\r\n")) {
		t.Errorf("second offset %d does not point at the second head", c.offs[1])
	}
	wantFirst := "Host,Connection,sec-ch-ua,sec-ch-ua-mobile,sec-ch-ua-platform,Upgrade-Insecure-Requests,User-Agent,Accept,Sec-Fetch-Site,Sec-Fetch-Mode,Sec-Fetch-User,Sec-Fetch-Dest,Accept-Encoding,Accept-Language"
	if got := c.reqs[0].HeaderOrder().Order; got != wantFirst {
		t.Errorf("first order = %s", got)
	}
	second := c.reqs[1]
	if second.Target != "/favicon.ico" || second.Get("referer") != "http://127.0.0.1:18080/page" || second.Get("Sec-Fetch-Dest") != "image" {
		t.Errorf("second request = %+v", second)
	}
	if got := strings.Join(headerNames(second.Headers[:4]), ","); got != "Host,Connection,sec-ch-ua-platform,User-Agent" {
		t.Errorf("second order starts %s", got)
	}
}

func TestHTTP1StreamCurlPOSTKeepAlive(t *testing.T) {
	raw := readHTTPCapture(t, "curl-h1-keepalive-post.bin")
	c, st := feedHTTP1AllWays(t, raw, HTTP1Limits{})
	if st.Requests != 2 || st.BodyBytes != 2*int64(len("hello=world")) || st.Consumed != int64(len(raw)) || st.Stopped != HTTP1Running {
		t.Fatalf("status %+v", st)
	}
	for i, r := range c.reqs {
		if r.Method != "POST" || r.Get("Content-Length") != "11" || r.Get("X-Mixed-Case") != "Yes" {
			t.Errorf("request %d = %+v", i, r)
		}
	}
	if c.reqs[0].Target != "/a" || c.reqs[1].Target != "/b" {
		t.Errorf("targets %q %q", c.reqs[0].Target, c.reqs[1].Target)
	}
}

func TestHTTP1StreamCurlChunkedCapture(t *testing.T) {
	raw := readHTTPCapture(t, "curl-h1-chunked.bin")
	c, st := feedHTTP1AllWays(t, raw, HTTP1Limits{})
	// The capture holds a chunked upload (0x1a = 26 bytes), then a second
	// chunked POST whose body curl never sent.
	if st.Requests != 2 || st.BodyBytes != 26 || st.Stopped != HTTP1Running || st.Consumed != int64(len(raw)) {
		t.Fatalf("status %+v", st)
	}
	if c.reqs[0].Get("Transfer-Encoding") != "chunked" || c.reqs[0].Get("Expect") != "100-continue" || c.reqs[1].Target != "/after" {
		t.Errorf("requests %+v %+v", c.reqs[0], c.reqs[1])
	}
}

func TestHTTP1StreamFraming(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		targets  []string
		body     int64
		stopped  HTTP1StopReason
		code     ErrorCode
		stopOff  int64
		consumed int64 // -1: len(in)
	}{
		{"pipelined GETs", "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
			[]string{"/1", "/2"}, 0, HTTP1Running, "", 0, -1},
		{"content-length body", "POST /1 HTTP/1.1\r\nContent-Length: 5\r\n\r\nGET /XGET /2 HTTP/1.1\r\n\r\n",
			[]string{"/1", "/2"}, 5, HTTP1Running, "", 0, -1},
		{"chunked with extensions and trailers",
			"POST /1 HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n3;ext=1\r\nabc\r\n10 \t\r\n0123456789abcdef\r\n0\r\nT1: x\r\nT2: y\r\n\r\nGET /2 HTTP/1.1\r\n\r\n",
			[]string{"/1", "/2"}, 19, HTTP1Running, "", 0, -1},
		{"chunked wins over content-length",
			"POST /1 HTTP/1.1\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\nGET /2 HTTP/1.1\r\n\r\n",
			[]string{"/1", "/2"}, 1, HTTP1Running, "", 0, -1},
		{"HTTP/1.0 ignores transfer-encoding",
			"POST /1 HTTP/1.0\r\nTransfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\nxxGET /2 HTTP/1.0\r\n\r\n",
			[]string{"/1", "/2"}, 2, HTTP1Running, "", 0, -1},
		{"equal duplicate content-length", "POST /1 HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nxGET /2 HTTP/1.1\r\n\r\n",
			[]string{"/1", "/2"}, 1, HTTP1Running, "", 0, -1},
		{"CRLF tolerated after POST", "POST /1 HTTP/1.1\r\nContent-Length: 1\r\n\r\nx\r\n\r\nGET /2 HTTP/1.1\r\n\r\n",
			[]string{"/1", "/2"}, 1, HTTP1Running, "", 0, -1},
		{"at most four CR/LF after POST", "POST /1 HTTP/1.1\r\n\r\n\r\n\r\n\r\nGET /2 HTTP/1.1\r\n\r\n",
			[]string{"/1"}, 0, HTTP1StopError, CodeMalformed, 24, 24},
		{"no CRLF tolerance after GET", "GET /1 HTTP/1.1\r\n\r\n\r\nGET /2 HTTP/1.1\r\n\r\n",
			[]string{"/1"}, 0, HTTP1StopError, CodeMalformed, 19, 19},
		{"trailer section ended by bare LF before the CRLFCRLF",
			"POST /1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: x\n\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n",
			[]string{"/1", "/2", "/3"}, 0, HTTP1Running, "", 0, -1},
		{"upgrade stops", "GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x85binary",
			[]string{"/ws"}, 0, HTTP1StopUpgrade, "", 0, 61},
		{"CONNECT stops", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01",
			[]string{"example.com:443"}, 0, HTTP1StopConnect, "", 0, 59},
		{"HTTP/2 preface stops", "GET / HTTP/1.1\r\n\r\n" + H2ClientPreface + "\x00\x00\x00\x04",
			[]string{"/"}, 0, HTTP1StopHTTP2, "", 18, 18},
		{"HTTP/2.0 other than the preface", "GET / HTTP/2.0\r\n\r\n", nil, 0, HTTP1StopError, CodeProtocol, 0, 0},
		{"conflicting content-length", "POST /1 HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx",
			[]string{"/1"}, 0, HTTP1StopError, CodeProtocol, 0, 58},
		{"signed content-length", "POST /1 HTTP/1.1\r\nContent-Length: +1\r\n\r\nx",
			[]string{"/1"}, 0, HTTP1StopError, CodeProtocol, 0, 40},
		{"two transfer-encodings", "POST /1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
			[]string{"/1"}, 0, HTTP1StopError, CodeProtocol, 0, 76},
		{"unsupported transfer-encoding", "POST /1 HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
			[]string{"/1"}, 0, HTTP1StopError, CodeProtocol, 0, 54},
		{"chunk data without CRLF", "POST /1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n",
			[]string{"/1"}, 1, HTTP1StopError, CodeMalformed, 52, 52},
		{"bare LF in chunk line", "POST /1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\nx\r\n",
			[]string{"/1"}, 0, HTTP1StopError, CodeMalformed, 49, 48},
		{"bad chunk size", "POST /1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1g\r\nx\r\n",
			[]string{"/1"}, 0, HTTP1StopError, CodeMalformed, 49, 48},
		{"chunk size over 16 digits", "POST /1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000001\r\n",
			[]string{"/1"}, 0, HTTP1StopError, CodeTooLarge, 64, 48},
		{"bad trailer", "POST /1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nno colon\r\n\r\n",
			[]string{"/1"}, 0, HTTP1StopError, CodeMalformed, 51, 51},
		{"malformed second head", "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\nbad\r\n\r\n",
			[]string{"/1"}, 0, HTTP1StopError, CodeMalformed, 36, 19},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, st := feedHTTP1AllWays(t, []byte(tc.in), HTTP1Limits{})
			var targets []string
			for _, r := range c.reqs {
				targets = append(targets, r.Target)
			}
			if !reflect.DeepEqual(targets, tc.targets) {
				t.Errorf("targets %q, want %q", targets, tc.targets)
			}
			if st.Requests != len(tc.targets) || st.BodyBytes != tc.body || st.Stopped != tc.stopped {
				t.Errorf("status %+v, want %d requests, %d body bytes, stopped %q", st, len(tc.targets), tc.body, tc.stopped)
			}
			if tc.code != "" {
				wantCode(t, st.Err, tc.code, int(tc.stopOff))
			} else if st.Err != nil {
				t.Errorf("Err = %v", st.Err)
			}
			if tc.stopped != HTTP1Running && st.StopOffset != tc.stopOff {
				t.Errorf("StopOffset = %d, want %d", st.StopOffset, tc.stopOff)
			}
			consumed := tc.consumed
			if consumed < 0 {
				consumed = int64(len(tc.in))
			}
			if st.Consumed != consumed || (st.Stopped != HTTP1Running && st.Consumed+st.Ignored != int64(len(tc.in))) {
				t.Errorf("Consumed %d Ignored %d, want consumed %d of %d", st.Consumed, st.Ignored, consumed, len(tc.in))
			}
		})
	}
}

func TestHTTP1StreamLimits(t *testing.T) {
	lim := HTTP1Limits{MaxHeadBytes: 100}
	in := "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\nX: " + strings.Repeat("y", 200)
	c, st := feedHTTP1AllWays(t, []byte(in), lim)
	if len(c.reqs) != 1 || st.Stopped != HTTP1StopError {
		t.Fatalf("status %+v", st)
	}
	wantCode(t, st.Err, CodeTooLarge, 19+100)

	var b strings.Builder
	b.WriteString("GET / HTTP/1.1\r\n")
	for i := 0; i < 5; i++ {
		fmt.Fprintf(&b, "H%d: v\r\n", i)
	}
	c, st = feedHTTP1AllWays(t, []byte(b.String()), HTTP1Limits{MaxHeaders: 4})
	if len(c.reqs) != 0 || st.Stopped != HTTP1StopError {
		t.Fatalf("status %+v", st)
	}
	wantCode(t, st.Err, CodeTooLarge, len("GET / HTTP/1.1\r\n")+4*len("H0: v\r\n"))
}
func TestHTTP1StreamAfterStopIgnores(t *testing.T) {
	s := NewHTTP1Stream(HTTP1StreamConfig{})
	s.Write([]byte("BAD\r\n"))
	st := s.Status()
	if st.Stopped != HTTP1StopError || st.Ignored != 5 || st.Consumed != 0 {
		t.Fatalf("status %+v", st)
	}
	n, err := s.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	if n != 18 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if st := s.Status(); st.Ignored != 5+18 || st.Requests != 0 {
		t.Fatalf("status %+v", st)
	}
}

// TestHTTP1StreamConcurrentStatus reads Status while the stream is written;
// run with -race to check the locking.
func TestHTTP1StreamConcurrentStatus(t *testing.T) {
	in := readHTTPCapture(t, "curl-h1-chunked.bin")
	s := NewHTTP1Stream(HTTP1StreamConfig{OnRequest: func(int, int64, *HTTP1Request) {}})
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			default:
				_ = s.Status()
			}
		}
	}()
	for i := range in {
		s.Write(in[i : i+1])
	}
	close(done)
	<-finished
	if st := s.Status(); st.Requests != 2 || st.BodyBytes != 26 {
		t.Fatalf("status %+v", st)
	}
}
