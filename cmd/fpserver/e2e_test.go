package main

// End-to-end tests of `fpserver serve` run in-process with Go clients:
// the standard library's HTTP/1.1 and HTTP/2 clients, raw TLS and TCP
// connections that write HTTP/1 requests byte for byte, and a hand-written
// HTTP/2 client built on x/net/http2's Framer and hpack. Every check goes
// through the running server: the JSON it answers, then the capture the
// writer stored (GET /api/captures/{id}) and fingerprints recomputed from
// the stored raw ClientHello.

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/guanaco-fp/guanaco/fingerprint"
)

// recordingConn records every byte the client writes, so a test can compare
// the ClientHello the server stored with the one actually sent.
type recordingConn struct {
	net.Conn
	mu      sync.Mutex
	written bytes.Buffer
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.written.Write(p)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// sentHello returns the ClientHello record(s) at the start of what the
// client wrote.
func (c *recordingConn) sentHello(t testing.TB) []byte {
	t.Helper()
	c.mu.Lock()
	b := bytes.Clone(c.written.Bytes())
	c.mu.Unlock()
	n, err := fingerprint.ClientHelloLength(b)
	if err != nil || n > len(b) {
		t.Fatalf("the client's first bytes are not a complete ClientHello (need %d of %d bytes): %v", n, len(b), err)
	}
	return b[:n]
}

// dialTLS opens a TLS connection to addr offering protos and records what
// the client sends.
func dialTLS(t testing.TB, s *e2eServer, addr string, protos ...string) (*tls.Conn, *recordingConn) {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, requestTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	rc := &recordingConn{Conn: raw}
	tc := tls.Client(rc, s.tlsConfig(protos...))
	_ = tc.SetDeadline(time.Now().Add(requestTimeout))
	if err := tc.Handshake(); err != nil {
		raw.Close()
		t.Fatalf("TLS handshake with %s: %v", addr, err)
	}
	t.Cleanup(func() { tc.Close() })
	return tc, rc
}

// exchangeH1 writes one raw HTTP/1 request and reads the response.
func exchangeH1(t testing.TB, c net.Conn, br *bufio.Reader, request string) (*http.Response, []byte) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(requestTimeout))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatalf("writing request: %v", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading response body: %v", err)
	}
	return resp, body
}

// rawRequest builds an HTTP/1 request head from ordered header pairs,
// written exactly as given (case, order, duplicates).
func rawRequest(requestLine string, headers [][2]string) string {
	var b strings.Builder
	b.WriteString(requestLine + "\r\n")
	for _, h := range headers {
		b.WriteString(h[0] + ": " + h[1] + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// TestE2EStandardClients sends requests with net/http's clients over h2,
// HTTP/1.1 on the main listener, the HTTP/1.1-only listener and plain
// HTTP, and checks the protocol each report shows and what was stored.
func TestE2EStandardClients(t *testing.T) {
	s := startServer(t)
	h2c, h1c := s.client(true), s.client(false)
	defer h2c.CloseIdleConnections()
	defer h1c.CloseIdleConnections()

	cases := []struct {
		name    string
		client  *http.Client
		url     string
		version string   // http.version in the report
		tls     bool     // over TLS
		alpn    string   // negotiated ALPN
		offered []string // ALPN the client offered
		ja4ALPN string   // JA4's ALPN characters
	}{
		{"h2", h2c, s.url(t, lnHTTPS, "/api/fingerprint?via=h2"), "2", true, "h2", []string{"h2", "http/1.1"}, "h2"},
		// net/http offers no ALPN at all when HTTP/2 is disabled.
		{"h1 on main listener", h1c, s.url(t, lnHTTPS, "/api/fingerprint?via=h1"), "1.1", true, "", []string{}, "00"},
		{"h2 client on h1-only listener", h2c, s.url(t, lnHTTPSH1, "/api/fingerprint?via=h1only"), "1.1", true, "http/1.1", []string{"h2", "http/1.1"}, "h2"},
		{"plain", plainClient(), s.url(t, lnHTTP, "/api/fingerprint?via=plain"), "1.1", false, "", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, tc.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("User-Agent", "guanaco-e2e/"+tc.name)
			req.Header.Set("X-E2e-Case", tc.name)
			resp, err := tc.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, err %v: %.300s", resp.StatusCode, err, body)
			}
			wantMajor := 1
			if tc.version == "2" {
				wantMajor = 2
			}
			if resp.ProtoMajor != wantMajor {
				t.Errorf("response protocol %s, want HTTP/%d", resp.Proto, wantMajor)
			}
			live, err := decodeReport(body)
			if err != nil {
				t.Fatal(err)
			}
			if live.HTTP.Version != tc.version || !live.Complete || live.Initiator != "api" || live.Path != "/api/fingerprint" {
				t.Errorf("report: version %q complete %v initiator %q path %q", live.HTTP.Version, live.Complete, live.Initiator, live.Path)
			}
			if live.UserAgent != "guanaco-e2e/"+tc.name {
				t.Errorf("user_agent %q", live.UserAgent)
			}
			// net/http sends the canonical name over HTTP/1, lower case over h2.
			caseHeader := "X-E2e-Case"
			if tc.version == "2" {
				caseHeader = "x-e2e-case"
			}
			if v, ok := live.header(caseHeader); !ok || v != tc.name {
				t.Errorf("header X-E2e-Case missing or wrong in %q", live.HTTP.Headers)
			}
			names := live.headerNames()
			if tc.version == "2" {
				// HTTP/2: the four pseudo headers first, then lower-case names.
				if len(names) < 5 {
					t.Fatalf("headers %q", names)
				}
				pseudo := slices.Clone(names[:4])
				slices.Sort(pseudo)
				if !slices.Equal(pseudo, []string{":authority", ":method", ":path", ":scheme"}) {
					t.Errorf("first four headers %q are not the pseudo headers", names[:4])
				}
				for _, n := range names[4:] {
					if n != strings.ToLower(n) || strings.HasPrefix(n, ":") {
						t.Errorf("HTTP/2 regular header %q", n)
					}
				}
				if live.HTTP.H2 == nil || live.Fingerprints["akamai"] == "" || live.HTTP.H2.Akamai != live.Fingerprints["akamai"] {
					t.Errorf("HTTP/2 request without Akamai: %+v %q", live.HTTP.H2, live.Fingerprints["akamai"])
				}
			} else {
				// net/http's HTTP/1 client writes Host first, in canonical case.
				if len(names) == 0 || names[0] != "Host" {
					t.Errorf("headers %q do not start with Host", names)
				}
				if live.HTTP.H2 != nil || live.Fingerprints["akamai"] != "" {
					t.Errorf("HTTP/1 request with HTTP/2 data: %+v", live.HTTP.H2)
				}
			}
			if strings.Join(names, ",") != live.Fingerprints["header_order"] {
				t.Errorf("header_order %q, headers %q", live.Fingerprints["header_order"], names)
			}

			stored := s.waitCapture(t, live.CaptureID)
			checkStoredHTTP(t, live, stored)
			if !tc.tls {
				if live.TLS != nil || stored.TLS != nil || live.Fingerprints["ja4"] != "" {
					t.Errorf("plain HTTP request with TLS data: %+v", live.TLS)
				}
				return
			}
			if live.TLS == nil {
				t.Fatal("no tls object")
			}
			if live.TLS.Negotiated.ALPN != tc.alpn || live.TLS.Negotiated.Version != "TLS 1.3" {
				t.Errorf("negotiated %+v, want ALPN %q over TLS 1.3", live.TLS.Negotiated, tc.alpn)
			}
			if !slices.Equal(live.TLS.ALPN, tc.offered) {
				t.Errorf("offered ALPN %q, want %q", live.TLS.ALPN, tc.offered)
			}
			fp := checkStoredTLS(t, live, stored)
			// An IP host sends no SNI ("i"); JA4's ALPN characters come
			// from the client's first ALPN value ("00" without ALPN).
			if !strings.HasPrefix(fp.JA4, "t13i") || fp.JA4[8:10] != tc.ja4ALPN {
				t.Errorf("JA4 %q: want t13i........%s", fp.JA4, tc.ja4ALPN)
			}
		})
	}
}

// TestE2ERawHTTP1 writes HTTP/1 requests byte for byte over TLS (main and
// h1-only listeners) and plain TCP, two per connection with different
// header case, order and duplicates, and checks that each report shows its
// own request's headers exactly as sent.
func TestE2ERawHTTP1(t *testing.T) {
	s := startServer(t)
	type request struct {
		line    string
		headers [][2]string
		body    string
	}
	mk := func(host string) []request {
		return []request{
			{
				line: "GET /api/echo/first?a=1&b=two&a=3 HTTP/1.1",
				headers: [][2]string{
					{"host", host}, {"USER-AGENT", "raw-e2e/1.0"}, {"accept", "*/*"},
					{"X-Mixed-Case", "one"}, {"x-dup", "1"}, {"X-Dup", "2"}, {"Accept-Language", "en-GB,en;q=0.8"},
				},
			},
			{
				line: "POST /api/echo/second HTTP/1.1",
				headers: [][2]string{
					{"Content-Type", "text/plain"}, {"Host", host}, {"content-length", "11"},
					{"user-agent", "raw-e2e/2.0"}, {"Connection", "close"},
				},
				body: "hello world",
			},
		}
	}
	for _, lst := range []string{lnHTTPS, lnHTTPSH1, lnHTTP} {
		t.Run(lst, func(t *testing.T) {
			addr := s.addr(t, lst)
			var conn net.Conn
			var rec *recordingConn
			if lst == lnHTTP {
				c, err := net.DialTimeout("tcp", addr, requestTimeout)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				conn = c
			} else {
				// Offer h2 too on the h1-only listener: it must pick http/1.1.
				protos := []string{"http/1.1"}
				if lst == lnHTTPSH1 {
					protos = []string{"h2", "http/1.1"}
				}
				tc, rc := dialTLS(t, s, addr, protos...)
				if got := tc.ConnectionState().NegotiatedProtocol; got != "http/1.1" {
					t.Fatalf("negotiated %q, want http/1.1", got)
				}
				conn, rec = tc, rc
			}
			br := bufio.NewReader(conn)
			var lives []*reportJSON
			for i, rq := range mk(addr) {
				resp, body := exchangeH1(t, conn, br, rawRequest(rq.line, rq.headers)+rq.body)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("request %d: status %d: %.300s", i, resp.StatusCode, body)
				}
				live, err := decodeReport(body)
				if err != nil {
					t.Fatal(err)
				}
				if !equalPairs(live.HTTP.Headers, rq.headers) {
					t.Errorf("request %d: headers\n got %q\nwant %q", i, live.HTTP.Headers, rq.headers)
				}
				var names []string
				for _, h := range rq.headers {
					names = append(names, h[0])
				}
				if live.Fingerprints["header_order"] != strings.Join(names, ",") {
					t.Errorf("request %d: header_order %q", i, live.Fingerprints["header_order"])
				}
				if live.HTTP.Version != "1.1" || live.Initiator != "echo" || !live.Complete {
					t.Errorf("request %d: version %q initiator %q complete %v", i, live.HTTP.Version, live.Initiator, live.Complete)
				}
				if wantUA := rq.headers[slices.IndexFunc(rq.headers, func(h [2]string) bool { return strings.EqualFold(h[0], "user-agent") })][1]; live.UserAgent != wantUA {
					t.Errorf("request %d: user_agent %q, want %q", i, live.UserAgent, wantUA)
				}
				lives = append(lives, live)
			}
			if q := lives[0].Query; !equalPairs(q, [][2]string{{"a", "1"}, {"b", "two"}, {"a", "3"}}) {
				t.Errorf("query pairs %q", q)
			}
			if lives[1].Method != "POST" || lives[1].Body != "hello world" || lives[1].BodyEncoding != "text" {
				t.Errorf("echo of the POST: method %q body %q (%s)", lives[1].Method, lives[1].Body, lives[1].BodyEncoding)
			}
			if lives[0].Fingerprints["header_order_hash"] == lives[1].Fingerprints["header_order_hash"] {
				t.Error("two different header orders have the same hash")
			}
			for _, live := range lives {
				stored := s.waitCapture(t, live.CaptureID)
				checkStoredHTTP(t, live, stored)
				if lst == lnHTTP {
					if stored.TLS != nil {
						t.Error("plain capture stored a ClientHello")
					}
					continue
				}
				checkStoredTLS(t, live, stored)
				if !bytes.Equal(stored.TLS.Raw, rec.sentHello(t)) {
					t.Errorf("stored ClientHello (%d bytes) differs from the bytes the client sent (%d)", len(stored.TLS.Raw), len(rec.sentHello(t)))
				}
			}
			if lst != lnHTTP && lives[0].TLS.Negotiated.ALPN != "http/1.1" {
				t.Errorf("negotiated ALPN %q", lives[0].TLS.Negotiated.ALPN)
			}
		})
	}

	t.Run("HTTP/1.0 plain", func(t *testing.T) {
		c, err := net.DialTimeout("tcp", s.addr(t, lnHTTP), requestTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		hdrs := [][2]string{{"User-Agent", "old/1.0"}, {"Accept", "text/html"}}
		resp, body := exchangeH1(t, c, bufio.NewReader(c), rawRequest("GET /api/fingerprint HTTP/1.0", hdrs))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		live, err := decodeReport(body)
		if err != nil {
			t.Fatal(err)
		}
		if live.HTTP.Version != "1.0" || !equalPairs(live.HTTP.Headers, hdrs) {
			t.Errorf("version %q headers %q", live.HTTP.Version, live.HTTP.Headers)
		}
		checkStoredHTTP(t, live, s.waitCapture(t, live.CaptureID))
	})
}

// h2Client is a minimal HTTP/2 client on x/net/http2's Framer and hpack,
// so a test decides every frame and header order on the wire.
type h2Client struct {
	t   testing.TB
	c   net.Conn
	fr  *http2.Framer
	enc *hpack.Encoder
	buf bytes.Buffer
	dec *hpack.Decoder
}

// newH2Client writes the connection preface: the magic, a SETTINGS frame
// with settings in the given order, a connection WINDOW_UPDATE when
// windowUpdate > 0, and the PRIORITY frames.
func newH2Client(t testing.TB, c net.Conn, settings []http2.Setting, windowUpdate uint32, prios map[uint32]http2.PriorityParam, prioOrder []uint32) *h2Client {
	t.Helper()
	h := &h2Client{t: t, c: c, fr: http2.NewFramer(c, c)}
	h.enc = hpack.NewEncoder(&h.buf)
	tableSize := uint32(4096)
	for _, s := range settings {
		if s.ID == http2.SettingHeaderTableSize {
			tableSize = s.Val
		}
	}
	h.dec = hpack.NewDecoder(tableSize, nil)
	h.fr.ReadMetaHeaders = nil
	h.fr.MaxHeaderListSize = 1 << 20
	_ = c.SetDeadline(time.Now().Add(requestTimeout))
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatalf("writing preface: %v", err)
	}
	if err := h.fr.WriteSettings(settings...); err != nil {
		t.Fatal(err)
	}
	if windowUpdate > 0 {
		if err := h.fr.WriteWindowUpdate(0, windowUpdate); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range prioOrder {
		if err := h.fr.WritePriority(id, prios[id]); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// encode hpack-encodes the fields in order.
func (h *h2Client) encode(fields [][2]string) []byte {
	h.buf.Reset()
	for _, f := range fields {
		if err := h.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}); err != nil {
			h.t.Fatal(err)
		}
	}
	return bytes.Clone(h.buf.Bytes())
}

// sendHeaders writes one request's header block, split into a HEADERS
// frame and CONTINUATION frames of at most frag bytes (0: one frame).
func (h *h2Client) sendHeaders(stream uint32, fields [][2]string, prio *http2.PriorityParam, endStream bool, frag int) {
	h.t.Helper()
	block := h.encode(fields)
	first := block
	if frag > 0 && len(block) > frag {
		first = block[:frag]
	}
	p := http2.HeadersFrameParam{StreamID: stream, BlockFragment: first, EndStream: endStream, EndHeaders: len(first) == len(block)}
	if prio != nil {
		p.Priority = *prio
	}
	_ = h.c.SetDeadline(time.Now().Add(requestTimeout))
	if err := h.fr.WriteHeaders(p); err != nil {
		h.t.Fatalf("writing HEADERS: %v", err)
	}
	for rest := block[len(first):]; len(rest) > 0; {
		n := min(frag, len(rest))
		if err := h.fr.WriteContinuation(stream, n == len(rest), rest[:n]); err != nil {
			h.t.Fatalf("writing CONTINUATION: %v", err)
		}
		rest = rest[n:]
	}
}

// h2Response is what readResponse collected for one stream.
type h2Response struct {
	status  string
	headers []hpack.HeaderField
	body    []byte
	reset   *http2.ErrCode // RST_STREAM on the stream
	goAway  *http2.GoAwayFrame
}

// readResponse reads frames until stream ends, acknowledging the server's
// SETTINGS and PINGs and returning flow-control credit for DATA. A GOAWAY or
// a closed connection ends it early with the error.
func (h *h2Client) readResponse(stream uint32) (*h2Response, error) {
	r := &h2Response{}
	var block []byte
	for {
		_ = h.c.SetDeadline(time.Now().Add(requestTimeout))
		f, err := h.fr.ReadFrame()
		if err != nil {
			return r, fmt.Errorf("reading frame: %w", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if err := h.fr.WriteSettingsAck(); err != nil {
					return r, err
				}
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				if err := h.fr.WritePing(true, f.Data); err != nil {
					return r, err
				}
			}
		case *http2.GoAwayFrame:
			ga := *f
			r.goAway = &ga
			return r, fmt.Errorf("GOAWAY %v (last stream %d): %q", f.ErrCode, f.LastStreamID, f.DebugData())
		case *http2.RSTStreamFrame:
			if f.StreamID == stream {
				code := f.ErrCode
				r.reset = &code
				return r, fmt.Errorf("RST_STREAM %v", f.ErrCode)
			}
		case *http2.HeadersFrame:
			if f.StreamID != stream {
				continue
			}
			block = append(block[:0], f.HeaderBlockFragment()...)
			if f.HeadersEnded() {
				if err := h.decodeBlock(r, block); err != nil {
					return r, err
				}
			}
			if f.StreamEnded() {
				return r, nil
			}
		case *http2.ContinuationFrame:
			if f.StreamID != stream {
				continue
			}
			block = append(block, f.HeaderBlockFragment()...)
			if f.HeadersEnded() {
				if err := h.decodeBlock(r, block); err != nil {
					return r, err
				}
			}
		case *http2.DataFrame:
			if f.StreamID != stream {
				continue
			}
			r.body = append(r.body, f.Data()...)
			if n := uint32(len(f.Data())); n > 0 {
				if err := h.fr.WriteWindowUpdate(0, n); err != nil {
					return r, err
				}
				if !f.StreamEnded() {
					if err := h.fr.WriteWindowUpdate(stream, n); err != nil {
						return r, err
					}
				}
			}
			if f.StreamEnded() {
				return r, nil
			}
		}
	}
}

func (h *h2Client) decodeBlock(r *h2Response, block []byte) error {
	fields, err := h.dec.DecodeFull(block)
	if err != nil {
		return fmt.Errorf("decoding response headers: %w", err)
	}
	for _, f := range fields {
		if f.Name == ":status" && r.status == "" {
			r.status = f.Value
		}
	}
	r.headers = append(r.headers, fields...)
	return nil
}

// TestE2EHandwrittenH2 drives the HTTP/2 listener with a client that
// writes a Chrome-like preface (SETTINGS order, connection WINDOW_UPDATE,
// PRIORITY frames, HEADERS priority, pseudo-header order m,a,s,p) and
// checks the Akamai fingerprint is exactly what was sent, for the live
// report and the stored capture, and that a second stream on the same
// connection reports its own header order under the connection's Akamai.
func TestE2EHandwrittenH2(t *testing.T) {
	s := startServer(t)
	addr := s.addr(t, lnHTTPS)
	tc, rec := dialTLS(t, s, addr, "h2")
	if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("negotiated %q", p)
	}
	settings := []http2.Setting{
		{ID: http2.SettingHeaderTableSize, Val: 65536},
		{ID: http2.SettingEnablePush, Val: 0},
		{ID: http2.SettingInitialWindowSize, Val: 6291456},
		{ID: http2.SettingMaxHeaderListSize, Val: 262144},
		{ID: 9, Val: 1}, // SETTINGS_NO_RFC7540_PRIORITIES, kept by number
	}
	prios := map[uint32]http2.PriorityParam{
		3: {StreamDep: 0, Exclusive: false, Weight: 200},
		5: {StreamDep: 3, Exclusive: true, Weight: 100},
	}
	h := newH2Client(t, tc, settings, 15663105, prios, []uint32{3, 5})
	// The wire weight is the real weight minus one.
	const wantAkamai = "1:65536;2:0;4:6291456;6:262144;9:1|15663105|3:0:0:201,5:1:3:101|m,a,s,p"

	first := [][2]string{
		{":method", "GET"}, {":authority", addr}, {":scheme", "https"}, {":path", "/api/fingerprint"},
		{"sec-ch-ua", `"Chromium";v="156"`}, {"user-agent", "h2-e2e/1"}, {"accept", "application/json"},
		{"accept-language", "en"}, {"x-dup", "a"}, {"x-dup", "b"},
	}
	h.sendHeaders(1, first, &http2.PriorityParam{StreamDep: 0, Exclusive: true, Weight: 255}, true, 0)
	r1, err := h.readResponse(1)
	if err != nil || r1.status != "200" {
		t.Fatalf("stream 1: status %q, err %v: %.300s", r1.status, err, r1.body)
	}
	live1, err := decodeReport(r1.body)
	if err != nil {
		t.Fatal(err)
	}

	// Stream 7 (PRIORITY frames used 3 and 5): another pseudo order, no
	// priority, a body.
	second := [][2]string{
		{":method", "POST"}, {":scheme", "https"}, {":path", "/api/echo/h2?x=1"}, {":authority", addr},
		{"content-type", "application/octet-stream"}, {"user-agent", "h2-e2e/2"}, {"content-length", "4"},
	}
	h.sendHeaders(7, second, nil, false, 0)
	if err := h.fr.WriteData(7, true, []byte{0, 1, 2, 0xff}); err != nil {
		t.Fatal(err)
	}
	r2, err := h.readResponse(7)
	if err != nil || r2.status != "200" {
		t.Fatalf("stream 7: status %q, err %v: %.300s", r2.status, err, r2.body)
	}
	live2, err := decodeReport(r2.body)
	if err != nil {
		t.Fatal(err)
	}

	for i, c := range []struct {
		live   *reportJSON
		fields [][2]string
		pseudo []string
		stream uint32
	}{
		{live1, first, []string{":method", ":authority", ":scheme", ":path"}, 1},
		{live2, second, []string{":method", ":scheme", ":path", ":authority"}, 7},
	} {
		live := c.live
		if !equalPairs(live.HTTP.Headers, c.fields) {
			t.Errorf("stream %d: headers\n got %q\nwant %q", c.stream, live.HTTP.Headers, c.fields)
		}
		if live.HTTP.Version != "2" || live.TLS == nil || live.TLS.Negotiated.ALPN != "h2" {
			t.Errorf("stream %d: version %q", c.stream, live.HTTP.Version)
		}
		if live.Fingerprints["akamai"] != wantAkamai {
			t.Errorf("stream %d: akamai\n got %q\nwant %q", c.stream, live.Fingerprints["akamai"], wantAkamai)
		}
		h2 := live.HTTP.H2
		if h2 == nil {
			t.Fatalf("stream %d: no h2 object", c.stream)
		}
		if h2.StreamID != c.stream || !slices.Equal(h2.PseudoOrder, c.pseudo) || h2.WindowUpdate != 15663105 || len(h2.Settings) != len(settings) {
			t.Errorf("stream %d: h2 %+v", c.stream, h2)
		}
		for j, st := range h2.Settings {
			if uint16(settings[j].ID) != st.ID || settings[j].Val != st.Value {
				t.Errorf("stream %d: setting %d is %d:%d, sent %d:%d", c.stream, j, st.ID, st.Value, settings[j].ID, settings[j].Val)
			}
		}
		if want := []fingerprint.H2Priority{{StreamID: 3, Weight: 201}, {StreamID: 5, Exclusive: true, DependsOn: 3, Weight: 101}}; !slices.Equal(h2.PriorityFrames, want) {
			t.Errorf("stream %d: priority frames %+v", c.stream, h2.PriorityFrames)
		}
		if i == 0 {
			if hp := h2.HeadersPriority; hp == nil || !hp.Exclusive || hp.DependsOn != 0 || hp.Weight != 256 {
				t.Errorf("stream 1: HEADERS priority %+v, want exclusive, dep 0, weight 256", hp)
			}
		} else if h2.HeadersPriority != nil {
			t.Errorf("stream 7: HEADERS priority %+v, none was sent", h2.HeadersPriority)
		}
		stored := s.waitCapture(t, live.CaptureID)
		checkStoredHTTP(t, live, stored)
		checkStoredTLS(t, live, stored)
		if !bytes.Equal(stored.TLS.Raw, rec.sentHello(t)) {
			t.Errorf("stream %d: stored ClientHello differs from the bytes sent", c.stream)
		}
		if stored.HTTP.H2 == nil || stored.HTTP.H2.Akamai != wantAkamai || !slices.Equal(stored.HTTP.H2.PseudoOrder, c.pseudo) {
			t.Errorf("stream %d: stored h2 %+v", c.stream, stored.HTTP.H2)
		}
	}
	if live2.Body != "AAEC/w==" || live2.BodyEncoding != "base64" || live2.Method != "POST" {
		t.Errorf("echo body %q (%s) method %s", live2.Body, live2.BodyEncoding, live2.Method)
	}
}

// proxyV2Header builds a PROXY protocol v2 header for a TCP/IPv4 stream.
func proxyV2Header(src, dst *net.TCPAddr) []byte {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n")
	b = append(b, 0x21, 0x11) // version 2, PROXY command; AF_INET, STREAM
	b = binary.BigEndian.AppendUint16(b, 12)
	b = append(b, src.IP.To4()...)
	b = append(b, dst.IP.To4()...)
	b = binary.BigEndian.AppendUint16(b, uint16(src.Port))
	b = binary.BigEndian.AppendUint16(b, uint16(dst.Port))
	return b
}

// readUntilClosed reads from c until it is closed by the server or
// timeout passes, and returns what was read and how long it took. A timeout
// is reported as errConnStillOpen.
func readUntilClosed(c net.Conn, timeout time.Duration) ([]byte, time.Duration, error) {
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(timeout))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return b, time.Since(start), errConnStillOpen
	}
	// io.ReadAll returns nil at EOF; a reset (RST) is also a close.
	return b, time.Since(start), nil
}

// errConnStillOpen: the server neither answered nor closed in time.
var errConnStillOpen = errors.New("connection still open")

// TestE2EProxyProtocolUntrusted runs a server that trusts PROXY headers
// only from 10.0.0.0/8 and sends it a valid v2 header from 127.0.0.1: the
// connection must be closed, nothing stored, and the failure counted.
// A connection without a header is served normally.
func TestE2EProxyProtocolUntrusted(t *testing.T) {
	s := startServer(t, "-proxy-protocol", "-trusted-proxies", "10.0.0.0/8", "-store-full-ip")
	for _, lst := range []string{lnHTTPS, lnHTTP} {
		c, err := net.DialTimeout("tcp", s.addr(t, lst), requestTimeout)
		if err != nil {
			t.Fatal(err)
		}
		hdr := proxyV2Header(&net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000}, c.RemoteAddr().(*net.TCPAddr))
		var payload []byte
		if lst == lnHTTP {
			payload = []byte("GET /api/fingerprint HTTP/1.1\r\nHost: x\r\n\r\n")
		}
		if _, err := c.Write(append(hdr, payload...)); err != nil {
			t.Fatal(err)
		}
		if lst == lnHTTPS {
			// A real client would go on with its hello; the server must
			// refuse the connection whatever follows.
			tc := tls.Client(c, s.tlsConfig("h2"))
			_ = tc.SetDeadline(time.Now().Add(requestTimeout))
			if err := tc.Handshake(); err == nil {
				t.Fatalf("%s: TLS handshake after an untrusted PROXY header succeeded", lst)
			}
		} else {
			got, _, err := readUntilClosed(c, requestTimeout)
			if err != nil || len(got) != 0 {
				t.Fatalf("%s: after an untrusted PROXY header the server answered %q (err %v); want a closed connection", lst, got, err)
			}
		}
		c.Close()
	}
	waitFor(t, 5*time.Second, "proxy_protocol handshake failures on both listeners", func() (bool, error) {
		for _, lst := range []string{lnHTTPS, lnHTTP} {
			n := s.metricValue(t, "fpserver_handshake_failures_total", map[string]string{"listener": lst, "reason": "proxy_protocol"})
			if n != 1 {
				return false, fmt.Errorf("listener %s: %v failures", lst, n)
			}
		}
		return true, nil
	})
	if n := s.metricValue(t, "fpserver_web_captures_offered_total", nil); n != 0 {
		t.Errorf("%v captures offered after refused connections", n)
	}
	if n := s.metricValue(t, "fpserver_connections_total", nil); n != 0 {
		t.Errorf("%v connections reached HTTP", n)
	}

	// Without a header the untrusted peer is an ordinary client.
	rep, _ := getReport(t, s.client(true), s.url(t, lnHTTPS, "/api/fingerprint"))
	if rep.ClientIP != "127.0.0.1" {
		t.Errorf("client_ip %q, want 127.0.0.1", rep.ClientIP)
	}
	s.waitCapture(t, rep.CaptureID)
	if n := s.metricValue(t, "guanaco_store_writer_written_total", nil); n != 1 {
		t.Errorf("%v captures written, want only the ordinary request's", n)
	}
}

// slowConn writes its first Write (the ClientHello) one byte per write
// call, pausing after the first bytes so the server sees a split record
// header, then passes writes through.
type slowConn struct {
	net.Conn
	once sync.Once
}

func (c *slowConn) Write(p []byte) (int, error) {
	slow := false
	c.once.Do(func() { slow = true })
	if !slow {
		return c.Conn.Write(p)
	}
	for i := range p {
		if _, err := c.Conn.Write(p[i : i+1]); err != nil {
			return i, err
		}
		switch {
		case i < 8:
			time.Sleep(15 * time.Millisecond) // record header and handshake header split
		case i%64 == 0:
			time.Sleep(time.Millisecond)
		}
	}
	return len(p), nil
}

// TestE2EHostileInput sends the server what a hostile or broken client
// would, and checks that it answers or closes as it should, counts the
// failure, and keeps serving.
func TestE2EHostileInput(t *testing.T) {
	const handshakeTimeout = 1500 * time.Millisecond
	s := startServer(t, "-handshake-timeout", handshakeTimeout.String(), "-max-header-bytes", "8192")
	failures := func(reason string) float64 {
		return s.metricValue(t, "fpserver_handshake_failures_total", map[string]string{"listener": lnHTTPS, "reason": reason})
	}
	dial := func(t *testing.T, name string) net.Conn {
		c, err := net.DialTimeout("tcp", s.addr(t, name), requestTimeout)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	waitMetric := func(t *testing.T, reason string, want float64) {
		t.Helper()
		waitFor(t, 5*time.Second, "handshake failure "+reason, func() (bool, error) {
			n := failures(reason)
			return n == want, fmt.Errorf("%v", n)
		})
	}

	t.Run("not TLS", func(t *testing.T) {
		c := dial(t, lnHTTPS)
		if _, err := c.Write([]byte("\x00\x01\x02 this is not a TLS record at all\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		got, _, err := readUntilClosed(c, 5*time.Second)
		if err != nil {
			t.Fatalf("server kept the connection open: %v", err)
		}
		if bytes.HasPrefix(got, []byte("HTTP/")) {
			t.Errorf("answered garbage with HTTP: %q", got)
		}
		waitMetric(t, "not_tls", 1)
		s.checkHealthy(t)
	})

	t.Run("plain HTTP on the TLS port", func(t *testing.T) {
		c := dial(t, lnHTTPS)
		if _, err := io.WriteString(c, "GET /api/fingerprint HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		got, _, err := readUntilClosed(c, 5*time.Second)
		if err != nil || !bytes.HasPrefix(got, []byte("HTTP/1.0 400 ")) || !bytes.Contains(got, []byte("HTTPS server")) {
			t.Fatalf("answer %q, err %v; want a 400 and a close", got, err)
		}
		waitMetric(t, "http_on_tls", 1)
		s.checkHealthy(t)
	})

	t.Run("silent connection", func(t *testing.T) {
		c := dial(t, lnHTTPS)
		done := make(chan error, 1)
		var elapsed time.Duration
		go func() {
			var err error
			_, elapsed, err = readUntilClosed(c, handshakeTimeout+10*time.Second)
			done <- err
		}()
		// The silent client must not hold up others.
		s.checkHealthy(t)
		if err := <-done; err != nil {
			t.Fatalf("silent connection not closed: %v", err)
		}
		if elapsed < handshakeTimeout-200*time.Millisecond {
			t.Errorf("closed after %v, before the %v handshake timeout", elapsed, handshakeTimeout)
		}
		waitMetric(t, "timeout", 1)
	})

	t.Run("hello one byte at a time", func(t *testing.T) {
		raw := dial(t, lnHTTPS)
		rec := &recordingConn{Conn: &slowConn{Conn: raw}}
		tc := tls.Client(rec, s.tlsConfig("http/1.1"))
		_ = tc.SetDeadline(time.Now().Add(requestTimeout))
		start := time.Now()
		if err := tc.Handshake(); err != nil {
			t.Fatalf("handshake with a byte-at-a-time hello: %v", err)
		}
		hello := rec.sentHello(t)
		t.Logf("hello of %d bytes sent one byte per write in %v", len(hello), time.Since(start))
		resp, body := exchangeH1(t, tc, bufio.NewReader(tc), rawRequest("GET /api/fingerprint HTTP/1.1", [][2]string{{"Host", "127.0.0.1"}, {"User-Agent", "slow"}}))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		live, err := decodeReport(body)
		if err != nil {
			t.Fatal(err)
		}
		stored := s.waitCapture(t, live.CaptureID)
		checkStoredTLS(t, live, stored)
		if !bytes.Equal(stored.TLS.Raw, hello) {
			t.Errorf("stored hello differs from the %d bytes sent", len(hello))
		}
	})

	t.Run("oversized HTTP/1 headers", func(t *testing.T) {
		for _, lst := range []string{lnHTTPSH1, lnHTTP} {
			var c net.Conn
			if lst == lnHTTP {
				c = dial(t, lst)
			} else {
				c, _ = dialTLS(t, s, s.addr(t, lst), "http/1.1")
			}
			_ = c.SetDeadline(time.Now().Add(requestTimeout))
			big := strings.Repeat("x", 20000)
			if _, err := io.WriteString(c, rawRequest("GET /api/fingerprint HTTP/1.1", [][2]string{{"Host", "h"}, {"X-Big", big}})); err != nil {
				t.Fatal(err)
			}
			// net/http answers 431 and closes; the unread rest of the
			// request may turn the close into a reset, so only the status
			// line is read.
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("%s: reading the answer to oversized headers: %v", lst, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("%s: status %d, want 431", lst, resp.StatusCode)
			}
		}
		s.checkHealthy(t)
	})

	// x/net/http2 counts a header list as the decoded name and value
	// lengths plus 32 per field, against -max-header-bytes (8 KiB here)
	// plus 4 KiB of slack, the HTTP/1 rule.
	h2Request := func(addr string, n int, size int) [][2]string {
		fields := [][2]string{{":method", "GET"}, {":authority", addr}, {":scheme", "https"}, {":path", "/api/fingerprint"}}
		for i := range n {
			// Hex digits: hpack's Huffman code shrinks them only a little.
			v := strings.Repeat(fmt.Sprintf("%x", i*7919+0xabcdef), size/6+1)[:size]
			fields = append(fields, [2]string{fmt.Sprintf("x-big-%d", i), v})
		}
		return fields
	}

	t.Run("oversized HTTP/2 header block in one frame", func(t *testing.T) {
		addr := s.addr(t, lnHTTPS)
		tc, _ := dialTLS(t, s, addr, "h2")
		h := newH2Client(t, tc, []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 1 << 20}}, 0, nil, nil)
		// 3 x 5000 bytes decoded: over the limit, but small enough that the
		// server decodes it and answers 431 on the stream.
		h.sendHeaders(1, h2Request(addr, 3, 5000), nil, true, 0)
		r, err := h.readResponse(1)
		if err != nil || r.status != "431" {
			t.Fatalf("status %q err %v; want 431", r.status, err)
		}
		// The connection survives: a normal request on it is served.
		h.sendHeaders(3, h2Request(addr, 1, 10), nil, true, 0)
		r, err = h.readResponse(3)
		if err != nil || r.status != "200" {
			t.Fatalf("request after the 431 on the same connection: %q %v", r.status, err)
		}
		live, err := decodeReport(r.body)
		if err != nil {
			t.Fatal(err)
		}
		if live.HTTP.Version != "2" || live.TLS == nil {
			t.Errorf("request after the 431: version %q", live.HTTP.Version)
		}
		// The capture skips the oversized block (keeping HPACK in sync),
		// as the server does, so the next request is captured whole.
		if !live.Complete || len(live.HTTP.Headers) == 0 {
			t.Errorf("request after the 431 served, but its capture is incomplete (headers %q)", live.HTTP.Headers)
		}
		s.checkHealthy(t)
	})

	t.Run("oversized HTTP/2 header block in CONTINUATION frames", func(t *testing.T) {
		addr := s.addr(t, lnHTTPS)
		tc, _ := dialTLS(t, s, addr, "h2")
		h := newH2Client(t, tc, nil, 0, nil, nil)
		// 64 KB in 4 KiB fragments: x/net/http2 stops reading once the
		// list is over the limit and closes the connection with
		// PROTOCOL_ERROR rather than decode more CONTINUATION frames.
		h.sendHeaders(1, h2Request(addr, 16, 4000), nil, true, 4096)
		r, err := h.readResponse(1)
		if r.goAway == nil || r.goAway.ErrCode != http2.ErrCodeProtocol {
			t.Fatalf("status %q err %v; want GOAWAY PROTOCOL_ERROR", r.status, err)
		}
		if _, _, err := readUntilClosed(tc, 5*time.Second); err != nil {
			t.Errorf("connection not closed after GOAWAY: %v", err)
		}
		s.checkHealthy(t)
	})
}
