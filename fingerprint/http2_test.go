package fingerprint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Builder writes a client connection with golang.org/x/net/http2's Framer
// and one HPACK encoder, as a real client would.
type h2Builder struct {
	t    testing.TB
	buf  bytes.Buffer
	fr   *http2.Framer
	hbuf bytes.Buffer
	enc  *hpack.Encoder
}

func newH2Builder(t testing.TB) *h2Builder {
	b := &h2Builder{t: t}
	b.buf.WriteString(http2.ClientPreface)
	b.fr = http2.NewFramer(&b.buf, nil)
	b.enc = hpack.NewEncoder(&b.hbuf)
	return b
}

// block HPACK-encodes name/value pairs.
func (b *h2Builder) block(kv ...string) []byte {
	b.hbuf.Reset()
	for i := 0; i+1 < len(kv); i += 2 {
		if err := b.enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]}); err != nil {
			b.t.Fatal(err)
		}
	}
	return bytes.Clone(b.hbuf.Bytes())
}

func (b *h2Builder) check(err error) {
	b.t.Helper()
	if err != nil {
		b.t.Fatal(err)
	}
}

// raw appends a frame with arbitrary contents.
func (b *h2Builder) raw(typ, flags uint8, stream uint32, payload []byte) {
	b.check(b.fr.WriteRawFrame(http2.FrameType(typ), http2.Flags(flags), stream, payload))
}

func (b *h2Builder) bytes() []byte { return bytes.Clone(b.buf.Bytes()) }

var chromePseudo = []string{":method", "GET", ":authority", "example.com", ":scheme", "https", ":path", "/"}

var chromeHeaders = []string{
	"sec-ch-ua", `"Chromium";v="156"`,
	"sec-ch-ua-mobile", "?0",
	"upgrade-insecure-requests", "1",
	"user-agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0.0.0",
	"accept", "text/html",
	"accept-encoding", "gzip, deflate, br, zstd",
	"priority", "u=0, i",
}

// chromeLikeStart is a Chrome-like connection start: SETTINGS, connection
// WINDOW_UPDATE, and a HEADERS frame with exclusive priority weight 256.
func chromeLikeStart(t testing.TB) []byte {
	b := newH2Builder(t)
	b.check(b.fr.WriteSettings(
		http2.Setting{ID: 1, Val: 65536},
		http2.Setting{ID: 2, Val: 0},
		http2.Setting{ID: 4, Val: 6291456},
		http2.Setting{ID: 6, Val: 262144},
	))
	b.check(b.fr.WriteWindowUpdate(0, 15663105))
	b.check(b.fr.WriteHeaders(http2.HeadersFrameParam{
		StreamID:      1,
		BlockFragment: b.block(append(append([]string{}, chromePseudo...), chromeHeaders...)...),
		EndStream:     true,
		EndHeaders:    true,
		Priority:      http2.PriorityParam{StreamDep: 0, Exclusive: true, Weight: 255},
	}))
	return b.bytes()
}

// h2Result is what a stream produced, in a comparable form.
type h2Result struct {
	Conn     H2Conn
	ErrText  string
	Requests []H2Request
	Trailers []string
}

// feedH2 writes in to a new H2Stream in pieces of at most chunk bytes (all at
// once when chunk <= 0).
func feedH2(t testing.TB, in []byte, chunk int, cfg H2Config) h2Result {
	t.Helper()
	var res h2Result
	cfg.OnRequest = func(r H2Request) { res.Requests = append(res.Requests, r) }
	cfg.OnTrailers = func(id uint32, tr []Header) {
		res.Trailers = append(res.Trailers, fmt.Sprintf("%d:%s", id, HeaderOrderOf(headerNames(tr)...).Order))
	}
	s := NewH2Stream(cfg)
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
	res.Conn = s.Snapshot()
	if res.Conn.Err != nil {
		res.ErrText = res.Conn.Err.Error()
	}
	return res
}

// feedH2AllWays feeds in at once and in several chunkings, fails if any
// result differs, and returns the one-shot result.
func feedH2AllWays(t *testing.T, in []byte, cfg H2Config) h2Result {
	t.Helper()
	want := feedH2(t, in, 0, cfg)
	for _, chunk := range []int{1, 2, 5, 9, 10, 100} {
		got := feedH2(t, in, chunk, cfg)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("chunk %d: got %+v\nat once %+v", chunk, got, want)
		}
	}
	return want
}

func TestH2StreamChromeLike(t *testing.T) {
	in := chromeLikeStart(t)
	res := feedH2AllWays(t, in, H2Config{})
	c := res.Conn
	if c.Err != nil {
		t.Fatal(c.Err)
	}
	fp := c.Akamai()
	if fp.Text != "1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p" {
		t.Errorf("Akamai text = %s", fp.Text)
	}
	// printf '1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p' | md5sum
	if fp.Hash != "52d84b11737d980aef856699f885ca86" {
		t.Errorf("Akamai hash = %s", fp.Hash)
	}
	if len(c.Requests) != 1 || len(res.Requests) != 1 {
		t.Fatalf("requests kept %d, emitted %d", len(c.Requests), len(res.Requests))
	}
	r := c.Requests[0]
	if want := (&H2Priority{StreamID: 1, Exclusive: true, DependsOn: 0, Weight: 256}); !reflect.DeepEqual(r.Priority, want) {
		t.Errorf("priority = %+v", r.Priority)
	}
	if r.StreamID != 1 || !r.EndStream || r.Padded || r.Continuations != 0 || r.Flags != H2FlagEndStream|H2FlagEndHeaders|H2FlagPriority {
		t.Errorf("request = %+v", r)
	}
	if got := r.HeaderOrder().Order; got != ":method,:authority,:scheme,:path,sec-ch-ua,sec-ch-ua-mobile,upgrade-insecure-requests,user-agent,accept,accept-encoding,priority" {
		t.Errorf("header order = %s", got)
	}
	if r.Get(":authority") != "example.com" || r.Get("User-Agent") != "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0.0.0" {
		t.Errorf("Get: %q %q", r.Get(":authority"), r.Get("User-Agent"))
	}
	if c.Consumed != int64(len(in)) || c.Counters.Frames != 3 || c.Counters.HeaderBlocks != 1 || c.Counters.WindowUpdates != 1 {
		t.Errorf("consumed %d counters %+v", c.Consumed, c.Counters)
	}
	if !reflect.DeepEqual(res.Requests[0], r) {
		t.Errorf("emitted %+v, kept %+v", res.Requests[0], r)
	}
}

// TestH2StreamExtendedConnect: an RFC 8441 extended CONNECT (WebSocket
// over HTTP/2) keeps :protocol among the pseudo headers in its place; the
// Akamai pseudo list of a connection whose first request it is counts it
// (as "p").
func TestH2StreamExtendedConnect(t *testing.T) {
	b := newH2Builder(t)
	b.check(b.fr.WriteSettings(http2.Setting{ID: 1, Val: 65536}))
	b.check(b.fr.WriteHeaders(http2.HeadersFrameParam{
		StreamID: 1, EndHeaders: true, Priority: http2.PriorityParam{Exclusive: true, Weight: 255},
		BlockFragment: b.block(":method", "CONNECT", ":authority", "example.com", ":scheme", "https", ":path", "/ws",
			":protocol", "websocket", "user-agent", "ua", "origin", "https://example.com", "sec-websocket-version", "13"),
	}))
	b.check(b.fr.WriteData(1, false, []byte{0x81, 0x80, 1, 2, 3, 4})) // a masked empty text frame
	res := feedH2AllWays(t, b.bytes(), H2Config{})
	if res.Conn.Err != nil || len(res.Requests) != 1 {
		t.Fatalf("err %v, %d requests", res.Conn.Err, len(res.Requests))
	}
	r := res.Requests[0]
	if got := strings.Join(r.PseudoOrder(), ","); got != ":method,:authority,:scheme,:path,:protocol" {
		t.Errorf("pseudo order %s", got)
	}
	if r.Get(":protocol") != "websocket" || r.Get(":method") != "CONNECT" || r.EndStream {
		t.Errorf("request %+v", r)
	}
	if got := r.HeaderOrder().Order; got != ":method,:authority,:scheme,:path,:protocol,user-agent,origin,sec-websocket-version" {
		t.Errorf("header order %s", got)
	}
	if got := res.Conn.Akamai().Text; got != "1:65536|00|0|m,a,s,p,p" {
		t.Errorf("akamai %s", got)
	}
}

func TestH2StreamFirefoxLikePriorityFrames(t *testing.T) {
	b := newH2Builder(t)
	b.check(b.fr.WriteSettings(http2.Setting{ID: 1, Val: 65536}, http2.Setting{ID: 4, Val: 131072}, http2.Setting{ID: 5, Val: 16384}))
	b.check(b.fr.WriteWindowUpdate(0, 12517377))
	prios := []struct {
		id, dep uint32
		w       uint8
	}{{3, 0, 200}, {5, 0, 100}, {7, 0, 0}, {9, 7, 0}, {11, 3, 0}, {13, 0, 240}}
	for _, p := range prios {
		b.check(b.fr.WritePriority(p.id, http2.PriorityParam{StreamDep: p.dep, Weight: p.w}))
	}
	b.check(b.fr.WriteHeaders(http2.HeadersFrameParam{
		StreamID:      15,
		BlockFragment: b.block(":method", "GET", ":path", "/", ":authority", "example.com", ":scheme", "https", "user-agent", "Firefox"),
		EndStream:     true,
		EndHeaders:    true,
		Priority:      http2.PriorityParam{StreamDep: 13, Weight: 41},
	}))
	// A PRIORITY frame after the first HEADERS is not part of the
	// fingerprint.
	b.check(b.fr.WritePriority(17, http2.PriorityParam{StreamDep: 3, Weight: 21}))
	c := feedH2AllWays(t, b.bytes(), H2Config{}).Conn
	if c.Err != nil {
		t.Fatal(c.Err)
	}
	fp := c.Akamai()
	if fp.Text != "1:65536;4:131072;5:16384|12517377|3:0:0:201,5:0:0:101,7:0:0:1,9:0:7:1,11:0:3:1,13:0:0:241|m,p,a,s" {
		t.Errorf("Akamai text = %s", fp.Text)
	}
	if fp.Hash != "3d9132023bf26a71d40fe766e5c24c9d" {
		t.Errorf("Akamai hash = %s", fp.Hash)
	}
	if want := []H2Priority{{StreamID: 17, DependsOn: 3, Weight: 22}}; !reflect.DeepEqual(c.LaterPriorities, want) {
		t.Errorf("later priorities = %+v", c.LaterPriorities)
	}
	if p := c.Requests[0].Priority; p == nil || *p != (H2Priority{StreamID: 15, DependsOn: 13, Weight: 42}) {
		t.Errorf("HEADERS priority = %+v", p)
	}
	if c.Counters.PriorityFrames != 7 {
		t.Errorf("priority frames = %d", c.Counters.PriorityFrames)
	}
}

func TestH2StreamContinuationPaddingTrailers(t *testing.T) {
	b := newH2Builder(t)
	b.check(b.fr.WriteSettings(http2.Setting{ID: 3, Val: 100}))
	block := b.block(":method", "POST", ":scheme", "https", ":path", "/upload", ":authority", "a.example",
		"content-type", "text/plain", "x-long", strings.Repeat("v", 300), "te", "trailers")
	third := len(block) / 3
	b.check(b.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:third], PadLength: 7}))
	b.check(b.fr.WriteContinuation(1, false, block[third:2*third]))
	b.check(b.fr.WriteContinuation(1, true, block[2*third:]))
	b.check(b.fr.WriteDataPadded(1, false, []byte("hello"), []byte{0, 0, 0}))
	b.check(b.fr.WriteData(1, false, []byte(" world")))
	b.check(b.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b.block("x-checksum", "abc"), EndStream: true, EndHeaders: true}))
	// The same fields again: the encoder now uses its dynamic table.
	again := b.block(":method", "POST", ":scheme", "https", ":path", "/upload", ":authority", "a.example", "content-type", "text/plain")
	b.check(b.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: again, EndStream: true, EndHeaders: true}))
	b.check(b.fr.WriteRSTStream(3, http2.ErrCodeCancel))
	b.check(b.fr.WritePing(false, [8]byte{1, 2, 3, 4, 5, 6, 7, 8}))
	b.check(b.fr.WriteSettingsAck())
	b.check(b.fr.WriteSettings(http2.Setting{ID: 4, Val: 1 << 20}))
	b.check(b.fr.WriteWindowUpdate(1, 1000))
	b.check(b.fr.WriteGoAway(3, http2.ErrCodeNo, []byte("bye")))

	res := feedH2AllWays(t, b.bytes(), H2Config{})
	c := res.Conn
	if c.Err != nil {
		t.Fatal(c.Err)
	}
	if len(c.Requests) != 2 || c.RequestsSeen != 2 {
		t.Fatalf("requests %+v", c.Requests)
	}
	r := c.Requests[0]
	if !r.Padded || r.PadLength != 7 || r.Continuations != 2 || r.EndStream || r.Priority != nil {
		t.Errorf("first request = %+v", r)
	}
	if r.Get("x-long") != strings.Repeat("v", 300) || r.Get("te") != "trailers" || len(r.Pseudo) != 4 || len(r.Headers) != 3 {
		t.Errorf("first request fields = %q %q", r.Pseudo, r.Headers)
	}
	if want := []Header{{"x-checksum", "abc"}}; !reflect.DeepEqual(r.Trailers, want) {
		t.Errorf("trailers = %q", r.Trailers)
	}
	if len(res.Trailers) != 1 || res.Trailers[0] != "1:x-checksum" {
		t.Errorf("OnTrailers calls = %q", res.Trailers)
	}
	if len(again) >= 20 {
		t.Errorf("second block is %d bytes: the encoder did not index, so the test does not exercise the dynamic table", len(again))
	}
	r2 := c.Requests[1]
	if r2.StreamID != 3 || r2.Get(":path") != "/upload" || r2.Get("content-type") != "text/plain" || r2.Trailers != nil {
		t.Errorf("second request = %+v", r2)
	}
	if len(res.Requests) != 2 || res.Requests[0].Trailers != nil {
		t.Errorf("emitted requests = %+v", res.Requests)
	}
	want := H2Counters{Frames: 14, DataFrames: 2, DataBytes: 11, HeaderBlocks: 2, TrailerBlocks: 1, SettingsFrames: 2,
		SettingsAcks: 1, WindowUpdates: 1, RSTStreams: 1, Pings: 1, GoAways: 1}
	if c.Counters != want {
		t.Errorf("counters = %+v, want %+v", c.Counters, want)
	}
	if !reflect.DeepEqual(c.LaterSettings, [][]H2Setting{{{4, 1 << 20}}}) || !reflect.DeepEqual(c.Settings, []H2Setting{{3, 100}}) {
		t.Errorf("settings %v later %v", c.Settings, c.LaterSettings)
	}
	if c.WindowUpdate != 0 || !reflect.DeepEqual(c.WindowUpdates, []H2WindowUpdate{{1, 1000}}) {
		t.Errorf("window update %d, all %v", c.WindowUpdate, c.WindowUpdates)
	}
	if !reflect.DeepEqual(c.RSTStreams, []H2RSTStream{{3, uint32(http2.ErrCodeCancel)}}) {
		t.Errorf("RST_STREAMs %v", c.RSTStreams)
	}
	if c.GoAway == nil || c.GoAway.LastStreamID != 3 || string(c.GoAway.DebugData) != "bye" {
		t.Errorf("GOAWAY %+v", c.GoAway)
	}
	if got := c.Akamai().Text; got != "3:100|00|0|m,s,p,a" {
		t.Errorf("Akamai = %s", got)
	}
}

func TestH2StreamRealCaptures(t *testing.T) {
	t.Run("curl GET", func(t *testing.T) {
		raw := readHTTPCapture(t, "curl-h2c-get.bin")
		c := feedH2AllWays(t, raw, H2Config{}).Conn
		if c.Err != nil {
			t.Fatal(c.Err)
		}
		// Read from the capture: SETTINGS 3:100, 4:33554432, 2:0 and a
		// connection WINDOW_UPDATE of 33488897 (32 MiB - 65535).
		if want := []H2Setting{{3, 100}, {4, 33554432}, {2, 0}}; !reflect.DeepEqual(c.Settings, want) {
			t.Errorf("settings = %v", c.Settings)
		}
		fp := c.Akamai()
		// printf '3:100;4:33554432;2:0|33488897|0|m,p,s,a' | md5sum
		if fp.Text != "3:100;4:33554432;2:0|33488897|0|m,p,s,a" || fp.Hash != "fd07c74c4990fc43ef9f4b3277cf3cf2" {
			t.Errorf("Akamai = %+v", fp)
		}
		r := c.Requests[0]
		want := []Header{{"user-agent", "curl/7.88.1"}, {"accept", "*/*"}}
		if !reflect.DeepEqual(r.Headers, want) || r.Get(":authority") != "127.0.0.1:18080" || r.Priority != nil || !r.EndStream {
			t.Errorf("request = %+v", r)
		}
		if c.Counters.SettingsAcks != 1 || c.Consumed != int64(len(raw)) {
			t.Errorf("counters %+v consumed %d", c.Counters, c.Consumed)
		}
	})
	t.Run("curl POST", func(t *testing.T) {
		c := feedH2AllWays(t, readHTTPCapture(t, "curl-h2c-post.bin"), H2Config{}).Conn
		r := c.Requests[0]
		if c.Err != nil || r.Get(":method") != "POST" || r.Get("content-length") != "3" || r.EndStream {
			t.Fatalf("err %v request %+v", c.Err, r)
		}
		if c.Counters.DataFrames != 1 || c.Counters.DataBytes != 3 {
			t.Errorf("counters %+v", c.Counters)
		}
	})
	t.Run("nghttp GET", func(t *testing.T) {
		c := feedH2AllWays(t, readHTTPCapture(t, "nghttp-h2c-get.bin"), H2Config{}).Conn
		if c.Err != nil {
			t.Fatal(c.Err)
		}
		fp := c.Akamai()
		if fp.Text != "3:100;4:65535|00|3:0:0:201,5:0:0:101,7:0:0:1,9:0:7:1,11:0:3:1|m,p,s,a" || fp.Hash != "ada93706ea1b5cca53f2b62779d154cd" {
			t.Errorf("Akamai = %+v", fp)
		}
		r := c.Requests[0]
		if r.StreamID != 13 || r.Priority == nil || *r.Priority != (H2Priority{StreamID: 13, DependsOn: 11, Weight: 16}) {
			t.Errorf("request = %+v", r)
		}
		if got := r.HeaderOrder().Order; got != ":method,:path,:scheme,:authority,accept,accept-encoding,user-agent" {
			t.Errorf("order = %s", got)
		}
		if c.GoAway == nil || c.GoAway.ErrCode != 0 {
			t.Errorf("GOAWAY %+v", c.GoAway)
		}
	})
	t.Run("nghttp trailers", func(t *testing.T) {
		res := feedH2AllWays(t, readHTTPCapture(t, "nghttp-h2c-trailers.bin"), H2Config{})
		c := res.Conn
		if c.Err != nil || len(c.Requests) != 2 {
			t.Fatalf("err %v requests %d", c.Err, len(c.Requests))
		}
		for i, path := range []string{"/post", "/second"} {
			r := c.Requests[i]
			if r.Get(":path") != path || r.Get("trailer") != "x-trailer" || !reflect.DeepEqual(r.Trailers, []Header{{"x-trailer", "tval"}}) {
				t.Errorf("request %d = %+v", i, r)
			}
		}
		if c.Counters.TrailerBlocks != 2 || c.Counters.DataBytes != 52 || len(res.Trailers) != 2 {
			t.Errorf("counters %+v trailer calls %q", c.Counters, res.Trailers)
		}
	})
	t.Run("nghttp padded", func(t *testing.T) {
		c := feedH2AllWays(t, readHTTPCapture(t, "nghttp-h2c-padded.bin"), H2Config{}).Conn
		r := c.Requests[0]
		if c.Err != nil || !r.Padded || r.PadLength == 0 || r.Get(":path") != "/padded" || r.Get("user-agent") != "nghttp2/1.52.0" {
			t.Fatalf("err %v request %+v", c.Err, r)
		}
	})
	t.Run("nghttp CONTINUATION", func(t *testing.T) {
		raw := readHTTPCapture(t, "nghttp-h2c-continuation.bin")
		c := feedH2AllWays(t, raw, H2Config{}).Conn
		r := c.Requests[0]
		if c.Err != nil || r.Continuations != 1 || r.Get("x-big") != strings.Repeat("a", 40000) || c.Consumed != int64(len(raw)) {
			t.Fatalf("err %v continuations %d len %d", c.Err, r.Continuations, len(r.Get("x-big")))
		}
		// With a 32 KiB limit the 40000-byte value is refused. Its
		// Huffman-coded length (25000 bytes) is under the limit, so the
		// decoder only finds out when the whole string has arrived: in the
		// CONTINUATION frame after the 16384-byte HEADERS frame, which
		// starts at 24 + (9+12) + 5*(9+5) = 115.
		c = feedH2AllWays(t, raw, H2Config{MaxHeaderListSize: 32 << 10}).Conn
		wantCode(t, c.Err, CodeTooLarge, 115+9+16384)
		if c.Consumed != 115+9+16384 || len(c.Requests) != 0 {
			t.Errorf("consumed %d, %d requests", c.Consumed, len(c.Requests))
		}
	})
}

// h2Frame encodes one frame by hand, for inputs the Framer refuses to write.
func h2Frame(typ, flags uint8, stream uint32, payload []byte) []byte {
	b := make([]byte, 9, 9+len(payload))
	b[0], b[1], b[2] = byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload))
	b[3], b[4] = typ, flags
	binary.BigEndian.PutUint32(b[5:], stream)
	return append(b, payload...)
}

// h2FrameHeader encodes a frame header alone, for frames whose payload the
// parser must refuse before reading it.
func h2FrameHeader(length int, typ, flags uint8, stream uint32) []byte {
	b := h2Frame(typ, flags, stream, nil)
	b[0], b[1], b[2] = byte(length>>16), byte(length>>8), byte(length)
	return b
}

func TestH2StreamErrors(t *testing.T) {
	settings := h2Frame(H2FrameSettings, 0, 0, []byte{0, 3, 0, 0, 0, 100})
	start := H2ClientPreface + string(settings)
	at := len(start) // offset of the frame after SETTINGS
	hpackBlock := func(kv ...string) []byte {
		var buf bytes.Buffer
		enc := hpack.NewEncoder(&buf)
		for i := 0; i < len(kv); i += 2 {
			enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
		}
		return buf.Bytes()
	}
	get := hpackBlock(":method", "GET", ":path", "/", ":scheme", "https", ":authority", "a")
	tests := []struct {
		name string
		in   string
		cfg  H2Config
		code ErrorCode
		off  int
	}{
		{"bad preface", "PRI * HTTP/1.1\r\n\r\nSM\r\n\r\n", H2Config{}, CodeBadPreface, 11},
		{"HTTP/1 request", "GET / HTTP/1.1\r\n\r\n", H2Config{}, CodeBadPreface, 0},
		{"first frame not SETTINGS", H2ClientPreface + string(h2Frame(H2FramePing, 0, 0, make([]byte, 8))), H2Config{}, CodeProtocol, 24},
		{"frame larger than max", start + string(h2FrameHeader(16385, H2FrameData, 0, 1)), H2Config{}, CodeTooLarge, at},
		{"frame larger than configured max", start + string(h2FrameHeader(1<<20+1, H2FrameData, 0, 1)), H2Config{MaxFrameSize: 1 << 20}, CodeTooLarge, at},
		{"header field longer than the list limit", start + string(h2Frame(H2FrameHeaders, H2FlagEndHeaders, 1,
			hpackBlock("x", strings.Repeat("y", 300)))), H2Config{MaxHeaderListSize: 200}, CodeTooLarge, at},
		{"HPACK garbage", start + string(h2Frame(H2FrameHeaders, H2FlagEndHeaders, 1, []byte{0xff, 0xff, 0xff, 0x0f})), H2Config{}, CodeHPACK, at},
		{"HPACK block cut short", start + string(h2Frame(H2FrameHeaders, H2FlagEndHeaders, 1, append(bytes.Clone(get), 0x40, 0x05, 'a'))), H2Config{}, CodeHPACK, at},
		{"HPACK table size above the server's", start + string(h2Frame(H2FrameHeaders, H2FlagEndHeaders, 1, []byte{0x3f, 0xe2, 0x1f})), H2Config{}, CodeHPACK, at},
		{"CONTINUATION on wrong stream", start + string(h2Frame(H2FrameHeaders, 0, 1, get[:3])) + string(h2Frame(H2FrameContinuation, H2FlagEndHeaders, 3, get[3:])),
			H2Config{}, CodeProtocol, at + 9 + 3},
		{"other frame inside a header block", start + string(h2Frame(H2FrameHeaders, 0, 1, get[:3])) + string(h2Frame(H2FramePing, 0, 0, make([]byte, 8))),
			H2Config{}, CodeProtocol, at + 9 + 3},
		{"CONTINUATION without HEADERS", start + string(h2Frame(H2FrameContinuation, H2FlagEndHeaders, 1, get)), H2Config{}, CodeProtocol, at},
		{"too many CONTINUATIONs", start + string(h2Frame(H2FrameHeaders, 0, 1, get[:1])) + string(h2Frame(H2FrameContinuation, 0, 1, get[1:2])) +
			string(h2Frame(H2FrameContinuation, 0, 1, get[2:3])) + string(h2Frame(H2FrameContinuation, H2FlagEndHeaders, 1, get[3:])),
			H2Config{MaxContinuations: 2}, CodeTooLarge, at + 3*9 + 3},
		{"HEADERS on stream 0", start + string(h2Frame(H2FrameHeaders, H2FlagEndHeaders, 0, get)), H2Config{}, CodeProtocol, at},
		{"HEADERS on an even stream", start + string(h2Frame(H2FrameHeaders, H2FlagEndHeaders, 2, get)), H2Config{}, CodeProtocol, at},
		{"HEADERS padding too large", start + string(h2Frame(H2FrameHeaders, H2FlagEndHeaders|H2FlagPadded, 1, append([]byte{byte(len(get) + 1)}, get...))),
			H2Config{}, CodeProtocol, at + 9},
		{"HEADERS too short for priority", start + string(h2Frame(H2FrameHeaders, H2FlagEndHeaders|H2FlagPriority, 1, []byte{0, 0, 0})), H2Config{}, CodeMalformed, at},
		{"DATA padding too large", start + string(h2Frame(H2FrameData, H2FlagPadded, 1, []byte{4, 1, 2, 3})), H2Config{}, CodeProtocol, at + 9},
		{"DATA on stream 0", start + string(h2Frame(H2FrameData, 0, 0, []byte{1})), H2Config{}, CodeProtocol, at},
		{"ENABLE_PUSH 2", H2ClientPreface + string(h2Frame(H2FrameSettings, 0, 0, []byte{0, 3, 0, 0, 0, 100, 0, 2, 0, 0, 0, 2})), H2Config{}, CodeProtocol, 24 + 9 + 6},
		{"INITIAL_WINDOW_SIZE too large", H2ClientPreface + string(h2Frame(H2FrameSettings, 0, 0, []byte{0, 4, 0x80, 0, 0, 0})), H2Config{}, CodeProtocol, 24 + 9},
		{"MAX_FRAME_SIZE too small", H2ClientPreface + string(h2Frame(H2FrameSettings, 0, 0, []byte{0, 5, 0, 0, 0x10, 0})), H2Config{}, CodeProtocol, 24 + 9},
		{"SETTINGS length", H2ClientPreface + string(h2Frame(H2FrameSettings, 0, 0, []byte{0, 3, 0, 0, 0})), H2Config{}, CodeMalformed, 24},
		{"SETTINGS ACK with payload", start + string(h2Frame(H2FrameSettings, H2FlagAck, 0, []byte{0, 3, 0, 0, 0, 1})), H2Config{}, CodeMalformed, at},
		{"SETTINGS on a stream", start + string(h2Frame(H2FrameSettings, 0, 1, nil)), H2Config{}, CodeProtocol, at},
		{"PUSH_PROMISE", start + string(h2Frame(H2FramePushPromise, H2FlagEndHeaders, 1, []byte{0, 0, 0, 2})), H2Config{}, CodeProtocol, at},
		{"PING length", start + string(h2Frame(H2FramePing, 0, 0, make([]byte, 7))), H2Config{}, CodeMalformed, at},
		{"PRIORITY length", start + string(h2Frame(H2FramePriority, 0, 1, make([]byte, 4))), H2Config{}, CodeMalformed, at},
		{"RST_STREAM on stream 0", start + string(h2Frame(H2FrameRSTStream, 0, 0, make([]byte, 4))), H2Config{}, CodeProtocol, at},
		{"GOAWAY too short", start + string(h2Frame(H2FrameGoAway, 0, 0, make([]byte, 7))), H2Config{}, CodeMalformed, at},
		{"connection WINDOW_UPDATE of 0", start + string(h2Frame(H2FrameWindowUpdate, 0, 0, make([]byte, 4))), H2Config{}, CodeProtocol, at},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in + "trailing bytes")
			c := feedH2AllWays(t, in, tc.cfg).Conn
			wantCode(t, c.Err, tc.code, tc.off)
			if c.Consumed+c.Ignored != int64(len(in)) || c.Ignored == 0 {
				t.Errorf("consumed %d + ignored %d != %d", c.Consumed, c.Ignored, len(in))
			}
		})
	}
}

// TestH2StreamOversizedBlockSkipped: a header block over MaxHeaderListSize
// is refused by the server for that stream only (431), so the capture drops
// it, keeps HPACK in sync, and goes on with the next request.
func TestH2StreamOversizedBlockSkipped(t *testing.T) {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	field := func(k, v string) {
		if err := enc.WriteField(hpack.HeaderField{Name: k, Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	// The big block adds "x-big" to the dynamic table; the next block
	// refers to it by index, so a decoder that skipped the big block's
	// table updates would decode the second block wrongly.
	field(":method", "GET")
	field(":path", "/big")
	field("x-big", strings.Repeat("y", 100))
	big := bytes.Clone(buf.Bytes())
	buf.Reset()
	field(":method", "GET")
	field(":path", "/next")
	field("x-big", strings.Repeat("y", 100))
	next := bytes.Clone(buf.Bytes())
	if len(next) >= len(big) {
		t.Fatalf("second block (%d bytes) should reuse the table (first %d bytes)", len(next), len(big))
	}
	in := H2ClientPreface + string(h2Frame(H2FrameSettings, 0, 0, nil)) +
		string(h2Frame(H2FrameHeaders, H2FlagEndHeaders|H2FlagEndStream, 1, big)) +
		string(h2Frame(H2FrameHeaders, H2FlagEndHeaders|H2FlagEndStream, 3, next))
	c := feedH2AllWays(t, []byte(in), H2Config{MaxHeaderListSize: 200}).Conn
	if c.Err != nil {
		t.Fatalf("capture stopped: %v", c.Err)
	}
	if c.Counters.OversizedBlocks != 2 || c.RequestsSeen != 2 || len(c.Requests) != 0 {
		t.Errorf("oversized %d, seen %d, kept %d; want 2, 2, 0 (both blocks are over the limit)",
			c.Counters.OversizedBlocks, c.RequestsSeen, len(c.Requests))
	}
	c = feedH2AllWays(t, []byte(in), H2Config{MaxHeaderListSize: 300}).Conn
	if c.Err != nil || len(c.Requests) != 2 || c.Requests[1].Get("x-big") != strings.Repeat("y", 100) {
		t.Errorf("within the limit: err %v, requests %+v", c.Err, c.Requests)
	}
	small := H2ClientPreface + string(h2Frame(H2FrameSettings, 0, 0, nil)) +
		string(h2Frame(H2FrameHeaders, H2FlagEndHeaders|H2FlagEndStream, 1, big)) +
		string(h2Frame(H2FrameHeaders, H2FlagEndHeaders|H2FlagEndStream, 3, hpackOf(t, ":method", "GET", ":path", "/small")))
	c = feedH2AllWays(t, []byte(small), H2Config{MaxHeaderListSize: 150}).Conn
	if c.Err != nil || c.Counters.OversizedBlocks != 1 || len(c.Requests) != 1 || c.Requests[0].StreamID != 3 {
		t.Errorf("after an oversized block: err %v, oversized %d, requests %+v", c.Err, c.Counters.OversizedBlocks, c.Requests)
	}
}

// hpackOf encodes fields with a fresh encoder (no dynamic-table references).
func hpackOf(t *testing.T, kv ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	for i := 0; i < len(kv); i += 2 {
		if err := enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]}); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestH2StreamSettingsKeptUpToError(t *testing.T) {
	in := H2ClientPreface + string(h2Frame(H2FrameSettings, 0, 0, []byte{0, 3, 0, 0, 0, 100, 0, 2, 0, 0, 0, 2, 0, 4, 0, 0, 0, 1}))
	c := feedH2AllWays(t, []byte(in), H2Config{}).Conn
	if want := []H2Setting{{3, 100}, {2, 2}}; !reflect.DeepEqual(c.Settings, want) {
		t.Errorf("settings = %v, want %v", c.Settings, want)
	}
}

func TestH2StreamUnknownFramesAndSettings(t *testing.T) {
	b := newH2Builder(t)
	b.raw(H2FrameSettings, 0, 0, []byte{0, 1, 0, 1, 0, 0, 0xda, 0xda, 0, 0, 0, 7, 0, 9, 0, 0, 0, 1})
	b.raw(0xfa, 0xff, 5, []byte("grease frame"))
	b.check(b.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b.block(":method", "GET", ":protocol", "websocket", ":scheme", "https", ":path", "/", ":authority", "a"), EndHeaders: true}))
	c := feedH2AllWays(t, b.bytes(), H2Config{}).Conn
	if c.Err != nil {
		t.Fatal(c.Err)
	}
	if got := c.Akamai().Text; got != "1:65536;56026:7;9:1|00|0|m,p,s,p,a" {
		t.Errorf("Akamai = %s", got)
	}
	if c.Counters.UnknownFrames != 1 {
		t.Errorf("counters %+v", c.Counters)
	}
}

func TestH2StreamBounds(t *testing.T) {
	b := newH2Builder(t)
	b.check(b.fr.WriteSettings())
	for i := uint32(0); i < 4; i++ {
		b.check(b.fr.WritePriority(101+2*i, http2.PriorityParam{Weight: uint8(i)}))
	}
	for i := uint32(0); i < 5; i++ {
		b.check(b.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1 + 2*i, BlockFragment: b.block(":method", "GET", ":path", "/"+string(rune('a'+i))), EndStream: true, EndHeaders: true}))
	}
	res := feedH2AllWays(t, b.bytes(), H2Config{MaxRequests: 3, MaxKept: 2})
	c := res.Conn
	if c.Err != nil {
		t.Fatal(c.Err)
	}
	if len(c.Requests) != 3 || c.RequestsSeen != 5 || len(res.Requests) != 5 {
		t.Errorf("kept %d seen %d emitted %d", len(c.Requests), c.RequestsSeen, len(res.Requests))
	}
	if len(c.Priorities) != 2 || c.Counters.PriorityFrames != 4 || c.Counters.Dropped != 2+2 {
		t.Errorf("priorities %v counters %+v", c.Priorities, c.Counters)
	}
	if c.Settings == nil || len(c.Settings) != 0 {
		t.Errorf("empty SETTINGS frame gave %#v", c.Settings)
	}
	if got := c.Akamai().Text; got != "|00|101:0:0:1,103:0:0:2|m,p" {
		t.Errorf("Akamai = %s", got)
	}
}

func TestH2StreamRequestLookupAndSnapshotCopy(t *testing.T) {
	s := NewH2Stream(H2Config{})
	s.Write(chromeLikeStart(t))
	if _, ok := s.Request(3); ok {
		t.Error("Request(3) found a request that was never sent")
	}
	r, ok := s.Request(1)
	if !ok || r.Get(":path") != "/" {
		t.Fatalf("Request(1) = %+v, %v", r, ok)
	}
	r.Pseudo[0].Name = "changed"
	r.Priority.Weight = 1
	snap := s.Snapshot()
	snap.Settings[0].Value = 1
	snap.Requests[0].Headers[0].Value = "changed"
	again := s.Snapshot()
	if again.Requests[0].Pseudo[0].Name != ":method" || again.Requests[0].Priority.Weight != 256 ||
		again.Settings[0].Value != 65536 || again.Requests[0].Headers[0].Value == "changed" {
		t.Errorf("snapshot shares memory with the stream: %+v", again)
	}
	if s.Akamai() != again.Akamai() || s.Err() != nil {
		t.Errorf("Akamai %+v vs %+v, Err %v", s.Akamai(), again.Akamai(), s.Err())
	}
}

// TestH2StreamConcurrentReaders reads snapshots while the stream is written;
// run with -race to check the locking.
func TestH2StreamConcurrentReaders(t *testing.T) {
	in := readHTTPCapture(t, "nghttp-h2c-trailers.bin")
	var calls int
	s := NewH2Stream(H2Config{OnRequest: func(H2Request) { calls++ }})
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			snap := s.Snapshot()
			_ = snap.Akamai()
			_, _ = s.Request(13)
			_ = s.Err()
		}
	}()
	for i := range in {
		s.Write(in[i : i+1])
	}
	close(done)
	wg.Wait()
	if c := s.Snapshot(); c.Err != nil || len(c.Requests) != 2 || calls != 2 {
		t.Fatalf("err %v requests %d calls %d", c.Err, len(c.Requests), calls)
	}
}

func TestH2SettingJSON(t *testing.T) {
	in := []H2Setting{{1, 65536}, {0xdada, 7}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `[[1,65536],[56026,7]]` {
		t.Errorf("json = %s", b)
	}
	var back []H2Setting
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, in) {
		t.Errorf("round trip = %v, %v", back, err)
	}
	for _, bad := range []string{`[[1]]`, `[[65536,1]]`, `[[1,2,3]]`, `[{"id":1,"value":2}]`, `[[-1,2]]`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("Unmarshal(%s) succeeded", bad)
		}
	}
	if H2SettingName(4) != "INITIAL_WINDOW_SIZE" || H2SettingName(0xdada) != "UNKNOWN_SETTING_56026" {
		t.Errorf("names %q %q", H2SettingName(4), H2SettingName(0xdada))
	}
}

func TestH2ConfigClampsMaxFrameSize(t *testing.T) {
	settings := string(h2Frame(H2FrameSettings, 0, 0, nil))
	ok := H2ClientPreface + settings + string(h2Frame(H2FrameData, 0, 1, make([]byte, 16384)))
	if c := feedH2(t, []byte(ok), 0, H2Config{MaxFrameSize: 100}).Conn; c.Err != nil || c.Counters.DataBytes != 16384 {
		t.Errorf("16384-byte frame with MaxFrameSize 100 (raised to 16384): err %v counters %+v", c.Err, c.Counters)
	}
	s := NewH2Stream(H2Config{MaxFrameSize: 1 << 30})
	s.Write([]byte(H2ClientPreface + settings))
	s.Write(h2FrameHeader(MaxH2FrameSize, H2FrameData, 0, 1))
	zeros := make([]byte, 1<<16)
	for left := MaxH2FrameSize; left > 0; left -= len(zeros) {
		s.Write(zeros[:min(left, len(zeros))])
	}
	if c := s.Snapshot(); c.Err != nil || c.Counters.DataBytes != MaxH2FrameSize {
		t.Errorf("largest legal frame: err %v counters %+v", c.Err, c.Counters)
	}
}

// TestH2StreamPerStreamFrames: a Firefox-like stream (HEADERS, then a
// WINDOW_UPDATE on the stream) and a POST body in two DATA frames, the last
// with END_STREAM, plus an empty END_STREAM frame on a third stream are
// recorded on their requests, in order; frames on streams without a kept
// request and beyond H2MaxStreamFrames are not.
func TestH2StreamPerStreamFrames(t *testing.T) {
	b := newH2Builder(t)
	b.check(b.fr.WriteSettings(http2.Setting{ID: 4, Val: 131072}))
	b.check(b.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: b.block(":method", "GET", ":path", "/", ":authority", "a", ":scheme", "https"), EndStream: true, EndHeaders: true}))
	b.check(b.fr.WriteWindowUpdate(3, 12451840))
	b.check(b.fr.WriteWindowUpdate(9, 5)) // no such request
	b.check(b.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, BlockFragment: b.block(":method", "POST", ":path", "/p", ":authority", "a", ":scheme", "https"), EndHeaders: true}))
	b.check(b.fr.WriteData(5, false, []byte("hello")))
	b.check(b.fr.WriteDataPadded(5, true, []byte("ab"), []byte{0, 0, 0}))
	b.check(b.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 7, BlockFragment: b.block(":method", "POST", ":path", "/q", ":authority", "a", ":scheme", "https"), EndHeaders: true}))
	for range H2MaxStreamFrames + 3 {
		b.check(b.fr.WriteData(7, false, []byte("x")))
		b.check(b.fr.WriteWindowUpdate(7, 1))
	}
	b.check(b.fr.WriteData(7, true, nil))
	res := feedH2AllWays(t, b.bytes(), H2Config{})
	reqs := res.Conn.Requests
	if len(reqs) != 3 {
		t.Fatalf("%d requests", len(reqs))
	}
	if !reflect.DeepEqual(reqs[0].WindowUpdates, []uint32{12451840}) || reqs[0].Data != nil {
		t.Errorf("stream 3: window updates %v, data %v", reqs[0].WindowUpdates, reqs[0].Data)
	}
	if want := []H2DataFrame{{Length: 5}, {Length: 2, EndStream: true}}; !reflect.DeepEqual(reqs[1].Data, want) || reqs[1].WindowUpdates != nil {
		t.Errorf("stream 5: data %v, want %v", reqs[1].Data, want)
	}
	if len(reqs[2].Data) != H2MaxStreamFrames || len(reqs[2].WindowUpdates) != H2MaxStreamFrames {
		t.Errorf("stream 7 kept %d DATA and %d WINDOW_UPDATE frames, want %d each", len(reqs[2].Data), len(reqs[2].WindowUpdates), H2MaxStreamFrames)
	}
	s := NewH2Stream(H2Config{})
	s.Write(b.bytes())
	if r, _ := s.Request(5); len(r.Data) != 2 {
		t.Errorf("Request(5) lacks the DATA frames: %+v", r.Data)
	}
}

// TestH2StreamFieldListReuse: a stream reuses its field list from one
// header block to the next; every request (and the copy OnRequest got)
// keeps exactly its own fields, whatever the sizes of the blocks around it.
func TestH2StreamFieldListReuse(t *testing.T) {
	b := newH2Builder(t)
	blocks := [][]string{
		{":method", "GET", ":authority", "a.example", ":scheme", "https", ":path", "/1", "accept", "*/*"},
		append(append([]string{":method", "POST", ":scheme", "https", ":path", "/2", ":authority", "b.example"}, chromeHeaders...), "x-n", "2"),
		{":method", "GET", ":path", "/3", ":scheme", "https", ":authority", "c.example"},
		{":method", "HEAD", ":authority", "d.example", ":scheme", "https", ":path", "/4", "x-z", "4", "x-y", "44"},
	}
	b.check(b.fr.WriteSettings(http2.Setting{ID: 1, Val: 65536}))
	for i, kv := range blocks {
		b.check(b.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: b.block(kv...), EndStream: true, EndHeaders: true}))
	}
	res := feedH2AllWays(t, b.bytes(), H2Config{})
	if res.Conn.Err != nil || len(res.Conn.Requests) != len(blocks) || len(res.Requests) != len(blocks) {
		t.Fatalf("err %v, %d requests, %d emitted", res.Conn.Err, len(res.Conn.Requests), len(res.Requests))
	}
	for i, kv := range blocks {
		var pseudo, headers []Header
		for j := 0; j < len(kv); j += 2 {
			h := Header{Name: kv[j], Value: kv[j+1]}
			if strings.HasPrefix(h.Name, ":") {
				pseudo = append(pseudo, h)
			} else {
				headers = append(headers, h)
			}
		}
		if headers == nil {
			headers = []Header{}
		}
		for _, r := range []H2Request{res.Conn.Requests[i], res.Requests[i]} {
			if !reflect.DeepEqual(r.Pseudo, pseudo) || !reflect.DeepEqual(r.Headers, headers) {
				t.Errorf("request %d: pseudo %q headers %q, want %q %q", i, r.Pseudo, r.Headers, pseudo, headers)
			}
		}
	}
}
