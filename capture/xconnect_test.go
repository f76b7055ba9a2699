package capture_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	// net/http serves extended CONNECT only with GODEBUG http2xconnect=1.
	_ "github.com/guanaco-fp/guanaco/internal/h2xconnect"
)

// TestHTTP2ExtendedConnect: an RFC 8441 extended CONNECT (a WebSocket over
// HTTP/2) is matched to its parsed stream like any request, although its
// method is CONNECT, and its capture keeps :protocol in the pseudo-header
// order as sent. A plain GET with the same path on the same connection
// stays apart.
func TestHTTP2ExtendedConnect(t *testing.T) {
	ts := startServer(t, true, nil)
	conn, err := tls.Dial("tcp", ts.addr, clientTLS("h2"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(fr.WriteSettings(http2.Setting{ID: 1, Val: 65536}, http2.Setting{ID: 4, Val: 6291456}))
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	block := func(fields ...string) []byte {
		hb.Reset()
		for i := 0; i < len(fields); i += 2 {
			must(enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]}))
		}
		return bytes.Clone(hb.Bytes())
	}
	// Firefox's pseudo order, :protocol last.
	must(fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndHeaders: true, BlockFragment: block(
		":method", "CONNECT", ":path", "/ws", ":authority", "localhost", ":scheme", "https", ":protocol", "websocket",
		"user-agent", "ua", "sec-websocket-version", "13", "origin", "https://localhost")}))
	must(fr.WriteData(1, true, nil))
	must(fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, EndHeaders: true, EndStream: true, BlockFragment: block(
		":method", "GET", ":path", "/ws", ":authority", "localhost", ":scheme", "https", "user-agent", "ua")}))

	results := map[uint32]echoed{}
	dec := hpack.NewDecoder(4096, nil)
	bodies := map[uint32]*bytes.Buffer{}
	for len(results) < 2 {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading frames: %v", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				must(fr.WriteSettingsAck())
			}
		case *http2.RSTStreamFrame:
			t.Fatalf("stream %d reset: %v", f.StreamID, f.ErrCode)
		case *http2.HeadersFrame:
			if _, err := dec.DecodeFull(f.HeaderBlockFragment()); err != nil {
				t.Fatal(err)
			}
			bodies[f.StreamID] = &bytes.Buffer{}
		case *http2.DataFrame:
			bodies[f.StreamID].Write(f.Data())
			if f.StreamEnded() {
				var e echoed
				if err := json.Unmarshal(bodies[f.StreamID].Bytes(), &e); err != nil {
					t.Fatalf("stream %d: %v: %s", f.StreamID, err, bodies[f.StreamID])
				}
				results[f.StreamID] = e
			}
		}
	}
	for id, want := range map[uint32]string{
		1: ":method,:path,:authority,:scheme,:protocol,user-agent,sec-websocket-version,origin",
		3: ":method,:path,:authority,:scheme,user-agent",
	} {
		if e := results[id]; !e.Matched || e.HeaderOrder != want {
			t.Errorf("stream %d: matched=%v order %q, want %q", id, e.Matched, e.HeaderOrder, want)
		}
	}
}
