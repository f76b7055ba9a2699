package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/guanaco-fp/guanaco/emulation"
)

// rawH2 is a frame-level HTTP/2 test server: each accepted connection is
// handed to serve after the TLS handshake and the client preface, with
// the server's SETTINGS already sent.
type rawH2 struct {
	addr     string
	accepted atomic.Int32
}

type rawConn struct {
	fr   *http2.Framer
	mu   sync.Mutex // guards writes
	henc *hpack.Encoder
	hbuf bytes.Buffer
	nc   net.Conn
}

func (c *rawConn) write(fn func(fr *http2.Framer) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fn(c.fr)
}

// respond writes a response HEADERS (and optional body and trailers).
func (c *rawConn) respond(id uint32, status int, body []byte, trailer map[string]string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hbuf.Reset()
	_ = c.henc.WriteField(hpack.HeaderField{Name: ":status", Value: fmt.Sprint(status)})
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.hbuf.Bytes(), EndHeaders: true, EndStream: body == nil && trailer == nil}); err != nil {
		return err
	}
	if body != nil {
		if err := c.fr.WriteData(id, trailer == nil, body); err != nil {
			return err
		}
	}
	if trailer != nil {
		c.hbuf.Reset()
		for k, v := range trailer {
			_ = c.henc.WriteField(hpack.HeaderField{Name: k, Value: v})
		}
		return c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.hbuf.Bytes(), EndHeaders: true, EndStream: true})
	}
	return nil
}

func startRawH2(t *testing.T, ca *testCA, settings []http2.Setting, serve func(c *rawConn)) *rawH2 {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{ca.leaf(t)}, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	s := &rawH2{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
				pre := make([]byte, len(http2.ClientPreface))
				if _, err := io.ReadFull(nc, pre); err != nil || string(pre) != http2.ClientPreface {
					return
				}
				c := &rawConn{fr: http2.NewFramer(nc, nc), nc: nc}
				c.henc = hpack.NewEncoder(&c.hbuf)
				c.fr.ReadMetaHeaders = hpack.NewDecoder(65536, nil)
				c.fr.MaxHeaderListSize = 1 << 20
				if err := c.write(func(fr *http2.Framer) error { return fr.WriteSettings(settings...) }); err != nil {
					return
				}
				serve(c)
			}()
		}
	}()
	return s
}

func testProfile(t testing.TB) *emulation.Profile { return buildProfile(t, chromeShape()) }

func get(t *testing.T, tr *Transport, ctx context.Context, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tr.RoundTrip(req)
}

// TestH2Preface checks the frames a server sees, in order: SETTINGS as the
// profile lists them, the connection WINDOW_UPDATE, then HEADERS on stream
// 1 with the profile's priority and pseudo-header order; it also answers
// the server's PING and SETTINGS.
func TestH2Preface(t *testing.T) {
	ca := newTestCA(t)
	p := testProfile(t)
	type seen struct {
		frames   []string
		settings []http2.Setting
		prio     http2.PriorityParam
		fields   []string
		pingAck  bool
		setAck   bool
	}
	got := make(chan seen, 1)
	srv := startRawH2(t, ca, []http2.Setting{{ID: http2.SettingMaxConcurrentStreams, Val: 100}}, func(c *rawConn) {
		var s seen
		_ = c.write(func(fr *http2.Framer) error { return fr.WritePing(false, [8]byte{1, 2, 3}) })
		for len(s.frames) < 8 {
			f, err := c.fr.ReadFrame()
			if err != nil {
				break
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if f.IsAck() {
					s.setAck = true
					s.frames = append(s.frames, "SETTINGS-ACK")
					continue
				}
				s.frames = append(s.frames, "SETTINGS")
				_ = f.ForeachSetting(func(st http2.Setting) error { s.settings = append(s.settings, st); return nil })
			case *http2.WindowUpdateFrame:
				s.frames = append(s.frames, fmt.Sprintf("WINDOW_UPDATE(%d,%d)", f.StreamID, f.Increment))
			case *http2.PingFrame:
				s.pingAck = f.IsAck() && f.Data == [8]byte{1, 2, 3}
				s.frames = append(s.frames, "PING-ACK")
			case *http2.MetaHeadersFrame:
				s.frames = append(s.frames, fmt.Sprintf("HEADERS(%d)", f.StreamID))
				s.prio = f.Priority
				for _, hf := range f.Fields {
					s.fields = append(s.fields, hf.Name)
				}
				_ = c.respond(f.StreamID, 204, nil, nil)
			}
			if s.pingAck && s.setAck && len(s.fields) > 0 {
				break
			}
		}
		got <- s
		// Keep reading until the client closes: closing with unread client
		// bytes (its SETTINGS ACK, WINDOW_UPDATEs) would reset the
		// connection and could drop the response before the client reads it.
		_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.Copy(io.Discard, c.nc)
	})
	tr := New(Options{Profile: p, RootCAs: ca.pool})
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := get(t, tr, ctx, "https://localhost:"+portOf(srv.addr)+"/x?y=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Proto != "HTTP/2.0" {
		t.Fatalf("status %d proto %s", resp.StatusCode, resp.Proto)
	}
	s := <-got
	if s.frames[0] != "SETTINGS" || s.frames[1] != "WINDOW_UPDATE(0,15663105)" || !strings.HasPrefix(strings.Join(s.frames, " "), "SETTINGS WINDOW_UPDATE(0,15663105) ") {
		t.Errorf("frame order %v", s.frames)
	}
	var want []string
	for _, st := range p.H2.Settings {
		want = append(want, fmt.Sprintf("%d:%d", st.ID, st.Value))
	}
	var gotS []string
	for _, st := range s.settings {
		gotS = append(gotS, fmt.Sprintf("%d:%d", st.ID, st.Val))
	}
	if strings.Join(gotS, ";") != strings.Join(want, ";") {
		t.Errorf("settings %v, want %v", gotS, want)
	}
	if !s.prio.Exclusive || s.prio.Weight != 255 || s.prio.StreamDep != 0 {
		t.Errorf("HEADERS priority %+v, want exclusive dep 0 weight 256", s.prio)
	}
	if strings.Join(s.fields[:4], ",") != strings.Join(p.H2.PseudoOrder, ",") {
		t.Errorf("pseudo order %v", s.fields)
	}
	if !s.pingAck || !s.setAck {
		t.Errorf("PING ack %v, SETTINGS ack %v", s.pingAck, s.setAck)
	}
	if !strings.Contains(strings.Join(s.frames, " "), "HEADERS(1)") {
		t.Errorf("first stream is not 1: %v", s.frames)
	}
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// TestH2GoAwayRetry: the server answers stream 1, then sends GOAWAY with
// last stream 1 while stream 3 waits; stream 3 must be retried on a new
// connection.
func TestH2GoAwayRetry(t *testing.T) {
	ca := newTestCA(t)
	var conns atomic.Int32
	srv := startRawH2(t, ca, nil, func(c *rawConn) {
		connNo := conns.Add(1)
		var first uint32
		for {
			f, err := c.fr.ReadFrame()
			if err != nil {
				return
			}
			hf, ok := f.(*http2.MetaHeadersFrame)
			if !ok {
				continue
			}
			if connNo > 1 {
				_ = c.respond(hf.StreamID, 200, []byte("fresh"), nil)
				continue
			}
			if first == 0 {
				first = hf.StreamID
				continue
			}
			// Second stream on this connection: refuse it via GOAWAY.
			_ = c.write(func(fr *http2.Framer) error { return fr.WriteGoAway(first, http2.ErrCodeNo, nil) })
			_ = c.respond(first, 200, []byte("first"), nil)
		}
	})
	tr := New(Options{Profile: testProfile(t), RootCAs: ca.pool})
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	base := "https://localhost:" + portOf(srv.addr)
	firstDone := make(chan string, 1)
	go func() {
		resp, err := get(t, tr, ctx, base+"/one")
		if err != nil {
			firstDone <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		firstDone <- string(b)
	}()
	// Wait until the first stream is open on the connection.
	deadline := time.Now().Add(5 * time.Second)
	for {
		tr.mu.Lock()
		n := 0
		for _, hp := range tr.pools {
			for _, cc := range hp.h2 {
				cc.mu.Lock()
				n += len(cc.streams)
				cc.mu.Unlock()
			}
		}
		tr.mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	resp, err := get(t, tr, ctx, base+"/two")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "fresh" {
		t.Errorf("second request body %q", b)
	}
	if got := <-firstDone; got != "first" {
		t.Errorf("first request: %q", got)
	}
	if n := srv.accepted.Load(); n != 2 {
		t.Errorf("server accepted %d connections, want 2", n)
	}
}

// TestH2ResetAndCancel: a server RST_STREAM fails only that request; a
// canceled context sends RST_STREAM(CANCEL); the connection stays usable.
func TestH2ResetAndCancel(t *testing.T) {
	ca := newTestCA(t)
	cancels := make(chan uint32, 1)
	srv := startRawH2(t, ca, nil, func(c *rawConn) {
		for {
			f, err := c.fr.ReadFrame()
			if err != nil {
				return
			}
			switch f := f.(type) {
			case *http2.MetaHeadersFrame:
				switch path := f.PseudoValue("path"); {
				case path == "/rst":
					_ = c.write(func(fr *http2.Framer) error { return fr.WriteRSTStream(f.StreamID, http2.ErrCodeInternal) })
				case strings.HasSuffix(path, "?hang"):
					// never answered
				default:
					_ = c.respond(f.StreamID, 200, []byte("ok"), nil)
				}
			case *http2.RSTStreamFrame:
				if f.ErrCode == http2.ErrCodeCancel {
					cancels <- f.StreamID
				}
			}
		}
	})
	tr := New(Options{Profile: testProfile(t), RootCAs: ca.pool})
	defer tr.CloseIdleConnections()
	base := "https://localhost:" + portOf(srv.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := get(t, tr, ctx, base+"/rst")
	var se http2.StreamError
	if !errors.As(err, &se) || se.Code != http2.ErrCodeInternal {
		t.Errorf("RST_STREAM from server: err %v", err)
	}
	cctx, ccancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := get(t, tr, cctx, base+"/nothing-answers-this?hang")
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	ccancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("canceled request: %v", err)
	}
	select {
	case id := <-cancels:
		if id%2 != 1 {
			t.Errorf("canceled stream id %d", id)
		}
	case <-time.After(5 * time.Second):
		t.Error("no RST_STREAM(CANCEL) reached the server")
	}
	resp, err := get(t, tr, ctx, base+"/after")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "ok" || srv.accepted.Load() != 1 {
		t.Errorf("after reset: body %q, connections %d", b, srv.accepted.Load())
	}
}
