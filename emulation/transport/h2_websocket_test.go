package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/guanaco-fp/guanaco/emulation"
	// Go's HTTP/2 server accepts extended CONNECT only with this.
	_ "github.com/guanaco-fp/guanaco/internal/h2xconnect"
)

// wsSeen is what the frame-level server saw of the extended CONNECT.
type wsSeen struct {
	stream   uint32
	fields   [][2]string
	prio     http2.PriorityParam
	echoed   int
	overrun  bool // the client sent beyond the window granted
	clientES bool // the client ended its direction
	rst      http2.ErrCode
	gotRST   bool
}

// serveExtendedConnect answers every request on c: an ordinary one with
// 200 "ok", the first CONNECT with 200 and then an echo of its DATA. The
// echo grants the client no stream or connection credit beyond the
// initial 65535 bytes until that much has arrived (then another 65535),
// so a client that ignores flow control shows as overrun. mode "reset" resets the stream
// after the first DATA; otherwise the server ends its direction after the
// client's END_STREAM. The result goes to out once the stream is over.
func serveExtendedConnect(c *rawConn, mode string, out chan<- wsSeen) {
	var s wsSeen
	var pending []byte
	window := int64(65535) // what the client may still send (stream and connection alike)
	defer func() { out <- s }()
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = c.write(func(fr *http2.Framer) error { return fr.WriteSettingsAck() })
			}
		case *http2.MetaHeadersFrame:
			if f.PseudoValue("method") != http.MethodConnect {
				_ = c.respond(f.StreamID, 200, []byte("ok"), nil)
				continue
			}
			s.stream = f.StreamID
			s.prio = f.Priority
			for _, hf := range f.Fields {
				s.fields = append(s.fields, [2]string{hf.Name, hf.Value})
			}
			_ = respondOpen(c, f.StreamID, 200)
		case *http2.DataFrame:
			if f.StreamID != s.stream {
				continue
			}
			window -= int64(f.Length)
			if window < 0 {
				s.overrun = true
			}
			pending = append(pending, f.Data()...)
			if mode == "reset" {
				_ = c.write(func(fr *http2.Framer) error { return fr.WriteRSTStream(s.stream, http2.ErrCodeInternal) })
				return
			}
			for len(pending) > 0 {
				chunk := pending[:min(len(pending), 16384)]
				pending = pending[len(chunk):]
				s.echoed += len(chunk)
				_ = c.write(func(fr *http2.Framer) error { return fr.WriteData(s.stream, false, chunk) })
			}
			if window == 0 {
				// Credit only once the whole window is used up.
				_ = c.write(func(fr *http2.Framer) error {
					_ = fr.WriteWindowUpdate(0, 65535)
					return fr.WriteWindowUpdate(s.stream, 65535)
				})
				window = 65535
			}
			if f.StreamEnded() {
				s.clientES = true
				_ = c.write(func(fr *http2.Framer) error { return fr.WriteData(s.stream, true, nil) })
				return
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == s.stream {
				s.gotRST, s.rst = true, f.ErrCode
				return
			}
		}
	}
}

// respondOpen writes a response head that leaves the stream open.
func respondOpen(c *rawConn, id uint32, status int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hbuf.Reset()
	_ = c.henc.WriteField(hpack.HeaderField{Name: ":status", Value: fmt.Sprint(status)})
	return c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.hbuf.Bytes(), EndHeaders: true})
}

// TestH2ExtendedConnectFrames opens a WebSocket through each real-browser
// profile against a frame-level HTTP/2 server that enabled extended
// CONNECT, after a navigation opened the connection: the handshake goes on
// that connection (one TLS connection in all) as a CONNECT stream whose
// pseudo headers are the profile's order followed by :protocol websocket,
// whose regular headers are the profile's websocket list (no key, no
// Upgrade), with the profile's websocket HEADERS priority. 200 KiB sent
// through the stream come back intact while the client never sends beyond
// the window granted; CloseWrite ends the client's direction and Read
// then ends with io.EOF.
func TestH2ExtendedConnectFrames(t *testing.T) {
	for _, name := range []string{"chromium-156-linux", "firefox-153-linux"} {
		t.Run(name, func(t *testing.T) {
			p, err := emulation.Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			if !UsesExtendedConnect(p) {
				t.Fatalf("%s has no h2 websocket list", name)
			}
			ca := newTestCA(t)
			seen := make(chan wsSeen, 1)
			srv := startRawH2(t, ca, []http2.Setting{{ID: http2.SettingEnableConnectProtocol, Val: 1}}, func(c *rawConn) {
				serveExtendedConnect(c, "echo", seen)
			})
			tr := New(Options{Profile: p, RootCAs: ca.pool, NoResumption: true})
			defer tr.CloseIdleConnections()
			url := "https://localhost:" + portOf(srv.addr)
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			resp, err := get(t, tr, ctx, url+"/")
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()

			req := wsRequest(t, ctx, url+"/probe/ws?x=1")
			req.Header.Set("Origin", url)
			req.Header.Set("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")
			resp, err = tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
				t.Fatalf("status %d proto %s", resp.StatusCode, resp.Proto)
			}
			ws, ok := resp.Body.(*h2WebSocket)
			if !ok {
				t.Fatalf("body %T, want the websocket stream", resp.Body)
			}
			msg := make([]byte, 200<<10)
			_, _ = rand.Read(msg)
			werr := make(chan error, 1)
			go func() {
				_, err := ws.Write(msg)
				werr <- err
			}()
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(ws, got); err != nil {
				t.Fatalf("reading the echo: %v", err)
			}
			if err := <-werr; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, msg) {
				t.Error("echo differs from what was sent")
			}
			if err := ws.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if n, err := ws.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				t.Errorf("after the server's END_STREAM: %d, %v; want io.EOF", n, err)
			}
			if err := ws.Close(); err != nil {
				t.Fatal(err)
			}
			s := <-seen
			if s.overrun {
				t.Error("the client sent beyond its flow-control window")
			}
			if !s.clientES || s.echoed != len(msg) {
				t.Errorf("client END_STREAM %v, echoed %d of %d", s.clientES, s.echoed, len(msg))
			}
			if srv.accepted.Load() != 1 {
				t.Errorf("%d connections, want the navigation's only", srv.accepted.Load())
			}

			var pseudo, regular []string
			for _, f := range s.fields {
				if strings.HasPrefix(f[0], ":") {
					pseudo = append(pseudo, f[0])
					continue
				}
				regular = append(regular, f[0])
			}
			wantPseudo := append(slices.Clone(p.H2.PseudoOrder), ":protocol")
			if !slices.Equal(pseudo, wantPseudo) {
				t.Errorf("pseudo order %q, want %q", pseudo, wantPseudo)
			}
			vals := map[string]string{}
			for _, f := range s.fields {
				vals[f[0]] = f[1]
			}
			if vals[":method"] != "CONNECT" || vals[":protocol"] != "websocket" || vals[":path"] != "/probe/ws?x=1" || vals[":scheme"] != "https" || vals[":authority"] != "localhost:"+portOf(srv.addr) {
				t.Errorf("pseudo headers %v", s.fields)
			}
			var want []string
			for _, h := range p.H2.Headers[emulation.WebSocket] {
				if h.Name == "cookie" {
					continue // no cookie sent
				}
				want = append(want, h.Name)
			}
			if !slices.Equal(regular, want) {
				t.Errorf("header list\n got %q\nwant %q", regular, want)
			}
			if vals["origin"] != url || vals["sec-websocket-version"] != "13" || vals["sec-websocket-extensions"] == "" {
				t.Errorf("handshake values %v", s.fields)
			}
			wp := p.H2.HeadersPriority[emulation.WebSocket]
			if int(s.prio.Weight)+1 != int(wp.Weight) || s.prio.Exclusive != wp.Exclusive {
				t.Errorf("HEADERS priority %+v, want %+v", s.prio, wp)
			}
			wantStream := uint32(3)
			if p.H2.FirstStreamID == 3 {
				wantStream = 5
			}
			if s.stream != wantStream {
				t.Errorf("CONNECT on stream %d, want %d (after the navigation's)", s.stream, wantStream)
			}
		})
	}
}

// TestH2ExtendedConnectGoServer runs the WebSocket stream against
// net/http's HTTP/2 server with extended CONNECT enabled (a real peer):
// the handler sees CONNECT with :protocol websocket and echoes; 300 KiB
// go through both ways in several writes (well beyond the 64 KiB
// windows); CloseWrite makes the handler's body read end, and its return
// ends the stream (io.EOF). A second WebSocket closed while the server
// still sends is reset (the handler's body read fails), and the
// connection carries ordinary requests afterwards. A refused handshake
// (403) is an ordinary response.
func TestH2ExtendedConnectGoServer(t *testing.T) {
	ca := newTestCA(t)
	p, err := emulation.Lookup("chromium-156-linux")
	if err != nil {
		t.Fatal(err)
	}
	handlerErr := make(chan error, 4)
	srv, conns := startGoServer(t, ca, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			_, _ = io.WriteString(w, "ok")
			return
		}
		if r.Header.Get(":protocol") != "websocket" || r.ProtoMajor != 2 {
			http.Error(w, "not an extended CONNECT", http.StatusBadRequest)
			return
		}
		if r.URL.Path == "/refused" {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		_ = rc.Flush()
		buf := make([]byte, 10000)
		for {
			n, err := r.Body.Read(buf)
			if n > 0 {
				if _, werr := w.Write(buf[:n]); werr != nil {
					handlerErr <- werr
					return
				}
				_ = rc.Flush()
			}
			if err != nil {
				handlerErr <- err
				return
			}
		}
	}))
	tr := New(Options{Profile: p, RootCAs: ca.pool, NoResumption: true})
	defer tr.CloseIdleConnections()
	url := "https://localhost:" + portOf(srv.Listener.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := get(t, tr, ctx, url+"/")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	open := func(path string) *http.Response {
		t.Helper()
		resp, err := tr.RoundTrip(wsRequest(t, ctx, url+path))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp = open("/ws")
	ws, ok := resp.Body.(*h2WebSocket)
	if resp.StatusCode != 200 || !ok {
		t.Fatalf("status %d body %T", resp.StatusCode, resp.Body)
	}
	msg := make([]byte, 300<<10)
	_, _ = rand.Read(msg)
	werr := make(chan error, 1)
	go func() {
		for i := 0; i < len(msg); i += 70000 {
			if _, err := ws.Write(msg[i:min(i+70000, len(msg))]); err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(ws, got); err != nil {
		t.Fatalf("reading the echo: %v", err)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Error("echo differs")
	}
	if err := ws.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := <-handlerErr; err != io.EOF {
		t.Errorf("handler's body read after CloseWrite: %v, want io.EOF", err)
	}
	if _, err := ws.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read after the handler returned: %v, want io.EOF", err)
	}
	ws.Close()

	// Closed while open: the stream is reset.
	resp = open("/ws")
	ws2 := resp.Body.(*h2WebSocket)
	if _, err := ws2.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(ws2, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	ws2.Close()
	if err := <-handlerErr; err == nil || err == io.EOF {
		t.Errorf("handler's body read after Close: %v, want a reset", err)
	}
	if _, err := ws2.Write([]byte("y")); err == nil {
		t.Error("write after Close succeeded")
	}

	resp = open("/refused")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("refused handshake: %d", resp.StatusCode)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	resp, err = get(t, tr, ctx, url+"/after")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "ok" || conns.Load() != 1 {
		t.Errorf("after the WebSockets: %q over %d connections, want ok over 1", b, conns.Load())
	}
}

// TestH2ExtendedConnectNotAdvertised: without the server's
// SETTINGS_ENABLE_CONNECT_PROTOCOL (or for a profile without an h2
// websocket list), the handshake is not sent on the HTTP/2 connection
// but, as browsers do, as an HTTP/1.1 Upgrade on a new connection that
// offers only http/1.1 (this server speaks only h2, so that one fails).
func TestH2ExtendedConnectNotAdvertised(t *testing.T) {
	p, err := emulation.Lookup("chromium-156-linux")
	if err != nil {
		t.Fatal(err)
	}
	noWS := *p
	h2 := *p.H2
	h2.Headers = maps.Clone(p.H2.Headers)
	delete(h2.Headers, emulation.WebSocket)
	noWS.H2 = &h2
	noWS.Name = "no-h2-websocket"
	for _, tc := range []struct {
		name     string
		p        *emulation.Profile
		settings []http2.Setting
	}{
		{"not advertised", p, nil},
		{"profile without h2 list", &noWS, []http2.Setting{{ID: http2.SettingEnableConnectProtocol, Val: 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca := newTestCA(t)
			seen := make(chan wsSeen, 1)
			srv := startRawH2(t, ca, tc.settings, func(c *rawConn) { serveExtendedConnect(c, "echo", seen) })
			tr := New(Options{Profile: tc.p, RootCAs: ca.pool, NoResumption: true})
			defer tr.CloseIdleConnections()
			url := "https://localhost:" + portOf(srv.addr)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp, err := get(t, tr, ctx, url+"/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			resp, err = tr.RoundTrip(wsRequest(t, ctx, url+"/ws"))
			if err == nil {
				resp.Body.Close()
				t.Fatalf("handshake answered %d; want a failed HTTP/1.1 dial", resp.StatusCode)
			}
			if srv.accepted.Load() != 2 {
				t.Errorf("%d connections, want the navigation's and the upgrade's", srv.accepted.Load())
			}
			tr.CloseIdleConnections()
			if s := <-seen; s.stream != 0 {
				t.Errorf("extended CONNECT sent on stream %d", s.stream)
			}
		})
	}
}

// TestH2ExtendedConnectReset: a server's RST_STREAM fails the stream's
// reads and writes.
func TestH2ExtendedConnectReset(t *testing.T) {
	p, err := emulation.Lookup("firefox-153-linux")
	if err != nil {
		t.Fatal(err)
	}
	ca := newTestCA(t)
	seen := make(chan wsSeen, 1)
	srv := startRawH2(t, ca, []http2.Setting{{ID: http2.SettingEnableConnectProtocol, Val: 1}}, func(c *rawConn) {
		serveExtendedConnect(c, "reset", seen)
		_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.Copy(io.Discard, c.nc)
	})
	tr := New(Options{Profile: p, RootCAs: ca.pool, NoResumption: true})
	defer tr.CloseIdleConnections()
	url := "https://localhost:" + portOf(srv.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := get(t, tr, ctx, url+"/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = tr.RoundTrip(wsRequest(t, ctx, url+"/ws"))
	if err != nil {
		t.Fatal(err)
	}
	ws := resp.Body.(*h2WebSocket)
	defer ws.Close()
	if _, err := ws.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	_, err = ws.Read(make([]byte, 10))
	var se http2.StreamError
	if !errors.As(err, &se) || se.Code != http2.ErrCodeInternal {
		t.Errorf("read after RST_STREAM: %v", err)
	}
	if _, err := ws.Write([]byte("more")); err == nil {
		t.Error("write after RST_STREAM succeeded")
	}
	<-seen
}
