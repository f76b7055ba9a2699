package transport

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/fingerprint"
)

func TestRequestInitiator(t *testing.T) {
	mk := func(method, ct, xrw string) *http.Request {
		r, _ := http.NewRequest(method, "https://example.com/", nil)
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		if xrw != "" {
			r.Header.Set("X-Requested-With", xrw)
		}
		return r
	}
	cases := []struct {
		r    *http.Request
		want emulation.Initiator
	}{
		{mk("GET", "", ""), emulation.Navigate},
		{mk("GET", "", "XMLHttpRequest"), emulation.XHR},
		{mk("POST", "application/x-www-form-urlencoded", ""), emulation.Form},
		{mk("POST", "multipart/form-data; boundary=x", ""), emulation.Form},
		{mk("POST", "application/json", ""), emulation.Fetch},
		{mk("DELETE", "", ""), emulation.Fetch},
		{mk("GET", "", "").WithContext(WithInitiator(context.Background(), emulation.Fetch)), emulation.Fetch},
	}
	for i, c := range cases {
		if got := RequestInitiator(c.r); got != c.want {
			t.Errorf("case %d (%s): %s, want %s", i, c.r.Method, got, c.want)
		}
	}
}

// splitRecords re-frames one handshake record into records of at most n
// fragment bytes, as a client may send a large hello.
func splitRecords(rec []byte, n int) []byte {
	frag := rec[5:]
	var out []byte
	for len(frag) > 0 {
		k := min(n, len(frag))
		out = append(out, 0x16, rec[1], rec[2], byte(k>>8), byte(k))
		out = append(out, frag[:k]...)
		frag = frag[k:]
	}
	return out
}

func TestHelloRecord(t *testing.T) {
	rec := golden(t, "firefox_esr")
	for _, in := range [][]byte{rec, rec[5:], splitRecords(rec, 100), splitRecords(rec, 1)} {
		got, err := helloRecord(in)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, rec) {
			t.Errorf("helloRecord of a %d-byte input differs from the single record", len(in))
		}
	}
	for _, bad := range [][]byte{nil, {0x17, 3, 1, 0, 0}, rec[:len(rec)-1], append(append([]byte{}, rec...), 0x16, 3)} {
		if _, err := helloRecord(bad); err == nil {
			t.Errorf("accepted malformed input % x...", bad[:min(len(bad), 8)])
		}
	}
}

// TestHelloSpecFresh: every connection gets a freshly parsed spec; for a
// shuffling profile the extension order varies, for Firefox it does not,
// and a pre_shared_key in the captured hello is dropped.
func TestHelloSpecFresh(t *testing.T) {
	chrome := testProfile(t)
	orders := map[string]bool{}
	for range 20 {
		spec, err := helloSpec(chrome, false)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, e := range spec.Extensions {
			b.WriteString(typeName(e))
			b.WriteByte(',')
		}
		orders[b.String()] = true
	}
	if len(orders) < 2 {
		t.Errorf("chromium extension order never changed over 20 specs")
	}
	ff := buildProfile(t, firefoxShape())
	a, _ := helloSpec(ff, false)
	b, _ := helloSpec(ff, false)
	if len(a.Extensions) != len(b.Extensions) {
		t.Fatal("firefox specs differ in length")
	}
	for i := range a.Extensions {
		if typeName(a.Extensions[i]) != typeName(b.Extensions[i]) {
			t.Errorf("firefox extension %d moved", i)
		}
	}
}

func typeName(v any) string { return fmt.Sprintf("%T", v) }

func TestALPSPayload(t *testing.T) {
	p := testProfile(t)
	b := alpsSettings(p)
	fr := http2.NewFramer(nil, bytes.NewReader(b))
	f, err := fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		t.Fatalf("ALPS payload is %T, want a SETTINGS frame", f)
	}
	var got []fingerprint.H2Setting
	_ = sf.ForeachSetting(func(s http2.Setting) error {
		got = append(got, fingerprint.H2Setting{ID: uint16(s.ID), Value: s.Val})
		return nil
	})
	if len(got) != len(p.H2.Settings) {
		t.Fatalf("settings %v, want %v", got, p.H2.Settings)
	}
	for i := range got {
		if got[i] != p.H2.Settings[i] {
			t.Errorf("setting %d: %v, want %v", i, got[i], p.H2.Settings[i])
		}
	}
}

// TestDefaultHeaders: without Options.Headers the transport applies the
// emulation package's rewriting rules for the decided initiator.
func TestDefaultHeaders(t *testing.T) {
	p := testProfile(t)
	req, _ := http.NewRequest(http.MethodPost, "https://example.com/x", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "caller-agent")
	req.Header.Set("X-Extra", "1")
	req.Header.Add("Cookie", "a=1")
	req.Header.Add("Cookie", "b=2")
	req = req.WithContext(WithInitiator(req.Context(), emulation.Fetch))
	h2 := DefaultHeaders(p, req, true)
	var names []string
	vals := map[string]string{}
	for _, h := range h2 {
		names = append(names, h.Name)
		vals[strings.ToLower(h.Name)] = h.Value
	}
	joined := strings.Join(names, ",")
	if !strings.HasPrefix(joined, "content-length,sec-ch-ua-platform,user-agent,sec-ch-ua,content-type") {
		t.Errorf("h2 fetch order %s", joined)
	}
	if strings.Contains(joined, "origin") || strings.Contains(joined, "referer") {
		t.Errorf("caller-only headers the caller did not send were added: %s", joined)
	}
	// Identity headers come from the profile (a caller's User-Agent would
	// give the emulation away); the caller's cookie, content-* and extra
	// headers are kept, extras after the profile's list.
	if vals["user-agent"] != p.UserAgent || vals["content-length"] != "2" || vals["cookie"] != "a=1; b=2" || vals["x-extra"] != "1" {
		t.Errorf("values %v", vals)
	}
	if !strings.EqualFold(names[len(names)-1], "X-Extra") {
		t.Errorf("extra caller header not last: %s", joined)
	}
	h1 := DefaultHeaders(p, req, false)
	if h1[0].Name != "Host" || h1[0].Value != "example.com" || h1[1].Name != "Connection" {
		t.Errorf("h1 head %v", h1[:2])
	}
}

// h2TestConn builds an h2Conn over an in-memory pipe; the peer side is
// returned for the test to play the server.
func h2TestConn(t testing.TB) (*h2Conn, net.Conn) {
	c1, c2 := net.Pipe()
	tr := New(Options{Profile: testProfile(t.(*testing.T))})
	done := make(chan *h2Conn, 1)
	go func() {
		cc, err := newH2Conn(tr, poolKey{profile: "t", scheme: "https", addr: "x:443"}, c1, &tls.ConnectionState{NegotiatedProtocol: "h2"}, testProfile(t.(*testing.T)))
		if err != nil {
			t.Error(err)
		}
		done <- cc
	}()
	br := bufio.NewReader(c2)
	pre := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(br, pre); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(io.Discard, br)
	for range 2 { // SETTINGS, WINDOW_UPDATE
		if _, err := fr.ReadFrame(); err != nil {
			t.Fatal(err)
		}
	}
	cc := <-done
	return cc, c2
}

// TestH2FlowControlCredit: a response larger than the stream window is
// only delivered because reading returns credit; WINDOW_UPDATEs follow the
// half-window rule.
func TestH2FlowControlCredit(t *testing.T) {
	cc, peer := h2TestConn(t)
	defer cc.closeWithError(io.EOF)
	defer peer.Close()
	sfr := http2.NewFramer(peer, peer)
	sfr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	var hbuf bytes.Buffer
	enc := hpack.NewEncoder(&hbuf)
	_ = enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
	// Peer: reads HEADERS, answers with 3 stream windows of data, in
	// frames of 16 KiB, waiting for credit as needed.
	window := int(cc.params.recvWindow)
	total := 3 * window
	srvErr := make(chan error, 1)
	updates := make(chan uint32, 1000)
	go func() {
		var id uint32
		connWin, streamWin := int(cc.connRecvTotal), window
		sent := 0
		for id == 0 {
			f, err := sfr.ReadFrame()
			if err != nil {
				srvErr <- err
				return
			}
			if hf, ok := f.(*http2.MetaHeadersFrame); ok {
				id = hf.StreamID
			}
		}
		if err := sfr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hbuf.Bytes(), EndHeaders: true}); err != nil {
			srvErr <- err
			return
		}
		chunk := make([]byte, 16384)
		for sent < total {
			for min(connWin, streamWin) < len(chunk) {
				f, err := sfr.ReadFrame()
				if err != nil {
					srvErr <- err
					return
				}
				if wu, ok := f.(*http2.WindowUpdateFrame); ok {
					if wu.StreamID == 0 {
						connWin += int(wu.Increment)
					} else {
						streamWin += int(wu.Increment)
						updates <- wu.Increment
					}
				}
			}
			n := min(len(chunk), total-sent)
			if err := sfr.WriteData(id, sent+n == total, chunk[:n]); err != nil {
				srvErr <- err
				return
			}
			sent += n
			connWin -= n
			streamWin -= n
		}
		srvErr <- nil
		io.Copy(io.Discard, peer)
	}()
	req, _ := http.NewRequest(http.MethodGet, "https://x/", nil)
	req = req.WithContext(WithInitiator(context.Background(), emulation.Navigate))
	resp, err := cc.roundTrip(req, testProfile(t))
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || n != int64(total) {
		t.Fatalf("read %d of %d: %v", n, total, err)
	}
	select {
	case err := <-srvErr:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server stuck")
	}
	close(updates)
	for inc := range updates {
		if int(inc) < window/2 {
			t.Errorf("stream WINDOW_UPDATE of %d, below half the window (%d)", inc, window/2)
		}
	}
}
