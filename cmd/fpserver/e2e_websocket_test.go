package main

// End-to-end tests of the WebSocket probe (/probe/ws) with hand-written
// clients: RFC 6455 handshakes over HTTP/1.1 on every listener, and an
// RFC 8441 extended CONNECT over HTTP/2. The handshake must be stored with
// initiator websocket and its header list exactly as sent, and the server
// must send the capture's report as one text message, then close cleanly.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// wsClientFrame is one final, masked client frame (RFC 6455 §5.2).
func wsClientFrame(opcode byte, payload []byte) []byte {
	b := []byte{0x80 | opcode}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	b = append(b, mask[:]...)
	for i, c := range payload {
		b = append(b, c^mask[i%4])
	}
	return b
}

// wsServerFrame is one frame the server sent.
type wsServerFrame struct {
	fin     bool
	opcode  byte
	payload []byte
}

// readWSFrame reads one unmasked server frame of at most 1 MiB.
func readWSFrame(r io.Reader) (wsServerFrame, error) {
	var f wsServerFrame
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:2]); err != nil {
		return f, err
	}
	f.fin, f.opcode = hdr[0]&0x80 != 0, hdr[0]&0x0f
	if hdr[0]&0x70 != 0 || hdr[1]&0x80 != 0 {
		return f, fmt.Errorf("server frame with RSV bits or a mask: %x", hdr[:2])
	}
	n := uint64(hdr[1] & 0x7f)
	switch n {
	case 126:
		if _, err := io.ReadFull(r, hdr[:2]); err != nil {
			return f, err
		}
		n = uint64(binary.BigEndian.Uint16(hdr[:2]))
	case 127:
		if _, err := io.ReadFull(r, hdr[:8]); err != nil {
			return f, err
		}
		n = binary.BigEndian.Uint64(hdr[:8])
	}
	if n > 1<<20 {
		return f, fmt.Errorf("server frame of %d bytes", n)
	}
	f.payload = make([]byte, n)
	_, err := io.ReadFull(r, f.payload)
	return f, err
}

// readWSReport reads what the probe sends after its handshake: one text
// message holding the report, then a close frame with status 1000.
func readWSReport(t *testing.T, r io.Reader) *reportJSON {
	t.Helper()
	msg, err := readWSFrame(r)
	if err != nil {
		t.Fatalf("reading the report message: %v", err)
	}
	if !msg.fin || msg.opcode != 0x1 {
		t.Fatalf("first server frame: fin %v opcode %d, want one text frame", msg.fin, msg.opcode)
	}
	rep, err := decodeReport(msg.payload)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := readWSFrame(r)
	if err != nil {
		t.Fatalf("reading the close frame: %v", err)
	}
	if cl.opcode != 0x8 || len(cl.payload) < 2 || binary.BigEndian.Uint16(cl.payload) != 1000 {
		t.Errorf("second server frame: opcode %d payload %x, want close 1000", cl.opcode, cl.payload)
	}
	return rep
}

// wsKey is a fresh Sec-WebSocket-Key.
func wsKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

func wsAcceptOf(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// wsVisitKey is a visit key (the gv cookie's form) for the tests.
func wsVisitKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x", b)
}

// TestE2EWebSocketHTTP1 opens a WebSocket with a hand-written RFC 6455
// handshake on each listener (plain HTTP, the HTTP/1.1-only listener, and
// the main listener with ALPN http/1.1): 101 with the right
// Sec-WebSocket-Accept, the report as one text message, a close frame, and
// the connection closed after the client's close frame. The handshake is
// stored with initiator websocket, HTTP version 1.1 and its header list as
// sent; the visit's profile gets it as h1.headers.websocket. Refused
// handshakes (another origin, bad key or version, no upgrade) get their
// status and store nothing.
func TestE2EWebSocketHTTP1(t *testing.T) {
	s := startServer(t)
	for _, tc := range []struct {
		name, listener string
		tls            bool
	}{
		{"plain", lnHTTP, false},
		{"https-h1", lnHTTPSH1, true},
		{"https-alpn-http1.1", lnHTTPS, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := s.addr(t, tc.listener)
			dial := func() net.Conn {
				if tc.tls {
					c, _ := dialTLS(t, s, addr, "http/1.1")
					return c
				}
				c, err := net.DialTimeout("tcp", addr, requestTimeout)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				return c
			}
			scheme := "http"
			if tc.tls {
				scheme = "https"
			}
			visit := wsVisitKey()

			// The navigation of the visit, so that a profile can be built.
			nc := dial()
			nbr := bufio.NewReader(nc)
			resp, body := exchangeH1(t, nc, nbr, rawRequest("GET / HTTP/1.1", [][2]string{
				{"Host", addr}, {"User-Agent", "ws-e2e/1"}, {"Accept", "text/html"}, {"Cookie", "gv=" + visit},
			}))
			if resp.StatusCode != 200 {
				t.Fatalf("navigation: %d: %.300s", resp.StatusCode, body)
			}

			c := dial()
			br := bufio.NewReader(c)
			key := wsKey()
			// Chromium's order and casing.
			sent := [][2]string{
				{"Host", addr}, {"Connection", "Upgrade"}, {"Pragma", "no-cache"}, {"Cache-Control", "no-cache"},
				{"User-Agent", "ws-e2e/1"}, {"Upgrade", "websocket"}, {"Origin", scheme + "://" + addr},
				{"Sec-WebSocket-Version", "13"}, {"Accept-Encoding", "gzip, deflate, br, zstd"}, {"Accept-Language", "en-US,en;q=0.9"},
				{"Cookie", "gv=" + visit}, {"Sec-WebSocket-Key", key}, {"Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"},
			}
			_ = c.SetDeadline(time.Now().Add(requestTimeout))
			if _, err := io.WriteString(c, rawRequest("GET /probe/ws HTTP/1.1", sent)); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
			if err != nil {
				t.Fatalf("reading the handshake response: %v", err)
			}
			if resp.StatusCode != http.StatusSwitchingProtocols {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d, want 101: %.300s", resp.StatusCode, b)
			}
			if got := resp.Header.Get("Sec-WebSocket-Accept"); got != wsAcceptOf(key) {
				t.Errorf("Sec-WebSocket-Accept %q, want %q", got, wsAcceptOf(key))
			}
			if !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") || !strings.EqualFold(resp.Header.Get("Connection"), "upgrade") {
				t.Errorf("101 head %v", resp.Header)
			}
			if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
				t.Errorf("the server accepted extension %q; its frames use none", ext)
			}
			live := readWSReport(t, br)
			if _, err := c.Write(wsClientFrame(0x8, []byte{0x03, 0xe8})); err != nil {
				t.Fatal(err)
			}
			// The server closes the TCP connection after the close handshake.
			if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
				t.Errorf("after the close handshake: %d more bytes, %v; want EOF", len(rest), err)
			}

			if live.Initiator != "websocket" || live.Method != "GET" || live.Path != "/probe/ws" || live.HTTP.Version != "1.1" || !live.Complete {
				t.Errorf("report: initiator %q, %s %s, version %q, complete %v", live.Initiator, live.Method, live.Path, live.HTTP.Version, live.Complete)
			}
			if !equalPairs(live.HTTP.Headers, sent) {
				t.Errorf("report headers\n got %q\nwant %q", live.HTTP.Headers, sent)
			}
			if live.Stored != "queued" {
				t.Fatal("the handshake's capture was not queued")
			}
			stored := s.waitCapture(t, live.CaptureID)
			checkStoredHTTP(t, live, stored)
			if tc.tls {
				checkStoredTLS(t, live, stored)
				if stored.TLS.Negotiated.ALPN != "http/1.1" {
					t.Errorf("stored ALPN %q", stored.TLS.Negotiated.ALPN)
				}
			}

			// The visit's profile carries the handshake as its h1 websocket list.
			if tc.tls {
				var p visitProfile
				// The navigation's capture may reach the store after the
				// handshake's.
				waitFor(t, captureTimeout, "the visit profile with both captures", func() (bool, error) {
					code, body := get(t, plainClient(), s.url(t, lnHTTP, "/api/profiles/visit/"+url.PathEscape(visit)))
					if code != http.StatusOK {
						return false, fmt.Errorf("visit profile: %d: %.500s", code, body)
					}
					p = visitProfile{}
					if err := json.Unmarshal(body, &p); err != nil {
						return false, err
					}
					return p.H1 != nil && len(p.H1.Headers["navigate"]) > 0, fmt.Errorf("profile without an h1 navigate list: %.500s", body)
				})
				var names []string
				for _, h := range p.H1.Headers["websocket"] {
					names = append(names, h[0])
					if (h[0] == "Sec-WebSocket-Key" || h[0] == "Cookie") && h[1] != "" {
						t.Errorf("profile keeps the caller-only value %s: %q", h[0], h[1])
					}
				}
				var want []string
				for _, h := range sent {
					want = append(want, h[0])
				}
				if !slices.Equal(names, want) {
					t.Errorf("profile h1 websocket list %q, want %q", names, want)
				}
				if !slices.Contains(p.Source.Captures, live.CaptureID) {
					t.Errorf("profile source %q lacks the handshake %s", p.Source.Captures, live.CaptureID)
				}
			}
		})
	}

	// Refused handshakes on the plain listener.
	addr := s.addr(t, lnHTTP)
	base := func(key, version, origin string, upgrade bool) [][2]string {
		h := [][2]string{{"Host", addr}, {"User-Agent", "ws-e2e/refused"}}
		if upgrade {
			h = append(h, [2]string{"Connection", "Upgrade"}, [2]string{"Upgrade", "websocket"})
		}
		if origin != "" {
			h = append(h, [2]string{"Origin", origin})
		}
		return append(h, [2]string{"Sec-WebSocket-Version", version}, [2]string{"Sec-WebSocket-Key", key})
	}
	for _, tc := range []struct {
		name    string
		headers [][2]string
		status  int
	}{
		{"another origin", base(wsKey(), "13", "https://evil.example", true), http.StatusForbidden},
		{"short key", base("c2hvcnQ=", "13", "", true), http.StatusBadRequest},
		{"old version", base(wsKey(), "8", "", true), http.StatusUpgradeRequired},
		{"no upgrade", base(wsKey(), "13", "", false), http.StatusUpgradeRequired},
	} {
		c, err := net.DialTimeout("tcp", addr, requestTimeout)
		if err != nil {
			t.Fatal(err)
		}
		resp, body := exchangeH1(t, c, bufio.NewReader(c), rawRequest("GET /probe/ws HTTP/1.1", tc.headers))
		c.Close()
		if resp.StatusCode != tc.status || !bytes.Contains(body, []byte(`"error"`)) {
			t.Errorf("%s: %d %.200s, want %d with the JSON error", tc.name, resp.StatusCode, body, tc.status)
		}
	}
}

// TestE2EWebSocketH2ExtendedConnect opens the probe's WebSocket over
// HTTP/2 with RFC 8441's extended CONNECT from a hand-written client: the
// server advertises SETTINGS_ENABLE_CONNECT_PROTOCOL, answers 200, sends
// the report and a close frame in DATA frames and ends the stream after the
// client's close frame. The stored capture has initiator websocket, method
// CONNECT, HTTP version 2, and the header block as sent with :protocol in
// its place.
func TestE2EWebSocketH2ExtendedConnect(t *testing.T) {
	s := startServer(t)
	addr := s.addr(t, lnHTTPS)
	tc, _ := dialTLS(t, s, addr, "h2")
	if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("negotiated %q", p)
	}
	h := newH2Client(t, tc, []http2.Setting{
		{ID: http2.SettingHeaderTableSize, Val: 65536}, {ID: http2.SettingEnablePush, Val: 0},
		{ID: http2.SettingInitialWindowSize, Val: 6291456}, {ID: http2.SettingMaxHeaderListSize, Val: 262144},
	}, 15663105, nil, nil)

	// RFC 8441 §4: a client uses extended CONNECT only after the server's
	// SETTINGS enabled it.
	enabled := false
	for {
		_ = tc.SetDeadline(time.Now().Add(requestTimeout))
		f, err := h.fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading the server's SETTINGS: %v", err)
		}
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			v, ok := sf.Value(http2.SettingEnableConnectProtocol)
			enabled = ok && v == 1
			if err := h.fr.WriteSettingsAck(); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if !enabled {
		t.Fatal("the server does not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (GODEBUG http2xconnect, internal/h2xconnect)")
	}

	visit := wsVisitKey()
	sent := [][2]string{
		{":method", "CONNECT"}, {":authority", addr}, {":scheme", "https"}, {":path", "/probe/ws"}, {":protocol", "websocket"},
		{"pragma", "no-cache"}, {"cache-control", "no-cache"}, {"user-agent", "ws-e2e/h2"}, {"origin", "https://" + addr},
		{"sec-websocket-version", "13"}, {"accept-encoding", "gzip, deflate, br, zstd"}, {"accept-language", "en-US,en;q=0.9"},
		{"cookie", "gv=" + visit}, {"sec-websocket-extensions", "permessage-deflate; client_max_window_bits"},
	}
	const stream = 1
	h.sendHeaders(stream, sent, &http2.PriorityParam{Exclusive: true, Weight: 255}, false, 0)

	var (
		status     string
		data       bytes.Buffer
		live       *reportJSON
		sentClose  bool
		streamDone bool
	)
	for !streamDone {
		_ = tc.SetDeadline(time.Now().Add(requestTimeout))
		f, err := h.fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading frames (status %q, %d bytes of data): %v", status, data.Len(), err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = h.fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				_ = h.fr.WritePing(true, f.Data)
			}
		case *http2.GoAwayFrame:
			t.Fatalf("GOAWAY %v: %q", f.ErrCode, f.DebugData())
		case *http2.RSTStreamFrame:
			if f.StreamID == stream {
				t.Fatalf("RST_STREAM %v (status %q)", f.ErrCode, status)
			}
		case *http2.HeadersFrame:
			if f.StreamID != stream {
				continue
			}
			if !f.HeadersEnded() {
				t.Fatal("response head split into CONTINUATION frames")
			}
			fields, err := h.dec.DecodeFull(f.HeaderBlockFragment())
			if err != nil {
				t.Fatalf("decoding the response head: %v", err)
			}
			for _, fl := range fields {
				if fl.Name == ":status" {
					status = fl.Value
				}
			}
			streamDone = f.StreamEnded()
		case *http2.DataFrame:
			if f.StreamID != stream {
				continue
			}
			data.Write(f.Data())
			if n := uint32(len(f.Data())); n > 0 {
				_ = h.fr.WriteWindowUpdate(0, n)
				_ = h.fr.WriteWindowUpdate(stream, n)
			}
			streamDone = f.StreamEnded()
		}
		if status != "" && status != "200" {
			t.Fatalf("extended CONNECT answered %s: %q", status, data.Bytes())
		}
		if live == nil && !sentClose {
			// Parse the report and the close frame once both arrived.
			r := bytes.NewReader(data.Bytes())
			if _, err := readWSFrame(r); err != nil {
				continue
			}
			if _, err := readWSFrame(r); err != nil {
				continue
			}
			live = readWSReport(t, bytes.NewReader(data.Bytes()))
			if err := h.fr.WriteData(stream, true, wsClientFrame(0x8, []byte{0x03, 0xe8})); err != nil {
				t.Fatal(err)
			}
			sentClose = true
		}
	}
	if live == nil {
		t.Fatalf("stream ended before the report and close frame (status %q, %d bytes)", status, data.Len())
	}
	if status != "200" {
		t.Errorf("status %q, want 200", status)
	}

	if live.Initiator != "websocket" || live.Method != "CONNECT" || live.Path != "/probe/ws" || live.HTTP.Version != "2" || !live.Complete {
		t.Errorf("report: initiator %q, %s %s, version %q, complete %v", live.Initiator, live.Method, live.Path, live.HTTP.Version, live.Complete)
	}
	if !equalPairs(live.HTTP.Headers, sent) {
		t.Errorf("report headers\n got %q\nwant %q", live.HTTP.Headers, sent)
	}
	if h2 := live.HTTP.H2; h2 == nil || !slices.Equal(h2.PseudoOrder, []string{":method", ":authority", ":scheme", ":path", ":protocol"}) ||
		h2.HeadersPriority == nil || h2.HeadersPriority.Weight != 256 {
		t.Errorf("report h2 %+v", live.HTTP.H2)
	}
	stored := s.waitCapture(t, live.CaptureID)
	checkStoredHTTP(t, live, stored)
	checkStoredTLS(t, live, stored)
	if stored.HTTP.H2 == nil || !slices.Contains(stored.HTTP.H2.PseudoOrder, ":protocol") {
		t.Errorf("stored h2 %+v", stored.HTTP.H2)
	}

	// The connection still serves requests.
	h.sendHeaders(3, [][2]string{{":method", "GET"}, {":authority", addr}, {":scheme", "https"}, {":path", "/api/clean"}, {"user-agent", "ws-e2e/h2"}}, nil, true, 0)
	r, err := h.readResponse(3)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("request after the WebSocket: %v", err)
	}
	if r.status != "200" {
		t.Errorf("request after the WebSocket: status %q", r.status)
	}
}
