package capture_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/qpack"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/quic-go/quicvarint"

	"github.com/guanaco-fp/guanaco/capture"
	"github.com/guanaco-fp/guanaco/fingerprint"
)

// startH3 serves HTTP/3 on a loopback UDP port; every request's capture is
// sent on the returned channel.
func startH3(t *testing.T) (*capture.H3Server, string, <-chan *capture.Request) {
	t.Helper()
	got := make(chan *capture.Request, 16)
	h := capture.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc, _ := capture.FromRequest(r)
		got <- rc
		_, _ = io.WriteString(w, "ok")
	}))
	srv := capture.NewH3Server(capture.H3Config{TLS: &tls.Config{Certificates: []tls.Certificate{testCert(t)}}, Handler: h})
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(udp) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != http.ErrServerClosed {
			t.Errorf("Serve: %v", err)
		}
		udp.Close()
	})
	return srv, udp.LocalAddr().String(), got
}

func h3ClientTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", NextProtos: []string{"h3"}} //nolint:gosec // test server
}

// TestH3QuicGoClient: quic-go's own HTTP/3 client; the capture has the
// QUIC ClientHello (JA4 with q), transport parameters, the client's
// SETTINGS and the header section as sent.
func TestH3QuicGoClient(t *testing.T) {
	_, addr, got := startH3(t)
	tr := &http3.Transport{TLSClientConfig: h3ClientTLS()}
	defer tr.Close()
	cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for i := 0; i < 2; i++ {
		req, _ := http.NewRequest("GET", "https://"+addr+"/x?y=1", nil)
		req.Header.Set("X-First", "1")
		req.Header.Set("User-Agent", "h3test")
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "ok" || resp.ProtoMajor != 3 {
			t.Fatalf("response %q proto %s", b, resp.Proto)
		}
		rc := <-got
		if rc == nil || !rc.Matched || rc.Protocol != capture.ProtoH3 {
			t.Fatalf("capture %+v", rc)
		}
		if rc.TLS == nil || !strings.HasPrefix(rc.TLS.Fingerprints.JA4, "q13d") || rc.TLS.Hello.Transport != fingerprint.TransportQUIC {
			t.Fatalf("TLS capture %+v", rc.TLS)
		}
		if rc.QUIC == nil || rc.QUIC.Version != 1 || len(rc.QUIC.Params) < 5 || rc.QUIC.TP.Hash == "" {
			t.Fatalf("QUIC capture %+v", rc.QUIC)
		}
		if !rc.H3.SettingsSeen || len(rc.H3.Settings) == 0 || rc.H3.Settings[0].ID != 0x06 {
			t.Errorf("settings %+v", rc.H3)
		}
		if got := strings.Join(rc.H3.PseudoOrder, ","); got != ":authority,:method,:path,:scheme" {
			t.Errorf("pseudo order %s", got)
		}
		if rc.H3.StreamID != uint64(4*i) {
			t.Errorf("stream %d", rc.H3.StreamID)
		}
	}
}

// rawH3 is a hand-driven HTTP/3 client connection: the test writes the
// control stream and the HEADERS frames itself, so it decides the order
// of everything on the wire.
type rawH3 struct {
	t  *testing.T
	qc *quic.Conn
}

func dialRawH3(t *testing.T, addr string, settings []byte) *rawH3 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	qc, err := quic.DialAddr(ctx, addr, h3ClientTLS(), &quic.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { qc.CloseWithError(0, "") })
	if settings == nil {
		return &rawH3{t: t, qc: qc} // no control stream
	}
	ctl, err := qc.OpenUniStream()
	if err != nil {
		t.Fatal(err)
	}
	b := quicvarint.Append(nil, 0) // control stream
	b = quicvarint.Append(b, 4)
	b = quicvarint.Append(b, uint64(len(settings)))
	b = append(b, settings...)
	if _, err := ctl.Write(b); err != nil {
		t.Fatal(err)
	}
	return &rawH3{t: t, qc: qc}
}

func (c *rawH3) request(fields ...string) string {
	c.t.Helper()
	var hb bytes.Buffer
	enc := qpack.NewEncoder(&hb)
	for i := 0; i < len(fields); i += 2 {
		if err := enc.WriteField(qpack.HeaderField{Name: fields[i], Value: fields[i+1]}); err != nil {
			c.t.Fatal(err)
		}
	}
	str, err := c.qc.OpenStreamSync(context.Background())
	if err != nil {
		c.t.Fatal(err)
	}
	f := quicvarint.Append(nil, 1)
	f = quicvarint.Append(f, uint64(hb.Len()))
	f = append(f, hb.Bytes()...)
	if _, err := str.Write(f); err != nil {
		c.t.Fatal(err)
	}
	str.Close()
	_ = str.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := io.ReadAll(str)
	if err != nil {
		c.t.Fatalf("reading the response: %v", err)
	}
	return string(resp)
}

func settingsPayload(kv ...uint64) []byte {
	var b []byte
	for _, v := range kv {
		b = quicvarint.Append(b, v)
	}
	return b
}

// TestH3WireOrder: a client that sends its SETTINGS in an unusual order
// (a GREASE id first) and its headers in an order no map would keep
// (:path before :method, lower-case names, a repeated header); the
// capture reports both exactly as sent, plus a PRIORITY_UPDATE.
func TestH3WireOrder(t *testing.T) {
	_, addr, got := startH3(t)
	c := dialRawH3(t, addr, settingsPayload(0x1f*3+0x21, 7, 0x07, 100, 0x01, 65536, 0x06, 262144))
	resp := c.request(":path", "/a", ":method", "GET", ":scheme", "https", ":authority", "localhost",
		"zeta", "1", "accept", "*/*", "zeta", "2", "priority", "u=1, i", "user-agent", "raw")
	if !strings.Contains(resp, "ok") {
		t.Fatalf("response %q", resp)
	}
	rc := <-got
	if !rc.Matched {
		t.Fatal("not matched")
	}
	var names []string
	for _, h := range rc.Headers {
		names = append(names, h.Name+"="+h.Value)
	}
	want := ":path=/a,:method=GET,:scheme=https,:authority=localhost,zeta=1,accept=*/*,zeta=2,priority=u=1, i,user-agent=raw"
	if strings.Join(names, ",") != want {
		t.Errorf("headers\n got %s\nwant %s", strings.Join(names, ","), want)
	}
	var ids []uint64
	for _, s := range rc.H3.Settings {
		ids = append(ids, s.ID)
	}
	if len(ids) != 4 || ids[0] != 0x1f*3+0x21 || ids[1] != 7 || ids[2] != 1 || ids[3] != 6 || !rc.H3.Settings[0].GREASE || rc.H3.Settings[3].Value != 262144 {
		t.Errorf("settings %+v", rc.H3.Settings)
	}
	if rc.H3.Priority != "u=1, i" || rc.HeaderOrder.Order != ":path,:method,:scheme,:authority,zeta,accept,zeta,priority,user-agent" {
		t.Errorf("priority %q order %q", rc.H3.Priority, rc.HeaderOrder.Order)
	}
	if len(rc.H3.UniStreams) != 1 || rc.H3.UniStreams[0] != 0 {
		t.Errorf("uni streams %v", rc.H3.UniStreams)
	}
}

// TestH3NoControlStream: a client that never opens its control stream is
// served; its captures say no SETTINGS were seen.
func TestH3NoControlStream(t *testing.T) {
	_, addr, got := startH3(t)
	c := dialRawH3(t, addr, nil)
	for i := 0; i < 2; i++ {
		if resp := c.request(":method", "GET", ":scheme", "https", ":authority", "localhost", ":path", "/n"); !strings.Contains(resp, "ok") {
			t.Fatalf("response %q", resp)
		}
		rc := <-got
		if !rc.Matched || rc.H3.SettingsSeen || len(rc.H3.Settings) != 0 {
			t.Errorf("request %d: matched %v settings %+v", i, rc.Matched, rc.H3)
		}
	}
}

// TestH3ControlStreamErrors: a control stream that does not start with
// SETTINGS, or that carries a second SETTINGS, closes the connection with
// the RFC 9114 error code.
func TestH3ControlStreamErrors(t *testing.T) {
	_, addr, _ := startH3(t)
	for name, tc := range map[string]struct {
		frames []byte
		code   quic.ApplicationErrorCode
	}{
		"missing settings": {[]byte{0x07, 0x01, 0x00}, 0x10a},
		"second settings":  {[]byte{0x04, 0x00, 0x04, 0x00}, 0x105},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		qc, err := quic.DialAddr(ctx, addr, h3ClientTLS(), &quic.Config{})
		if err != nil {
			t.Fatal(err)
		}
		ctl, err := qc.OpenUniStream()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ctl.Write(append([]byte{0x00}, tc.frames...)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-qc.Context().Done():
		case <-ctx.Done():
			t.Fatalf("%s: connection not closed", name)
		}
		var ae *quic.ApplicationError
		if err := context.Cause(qc.Context()); !errors.As(err, &ae) || ae.ErrorCode != tc.code {
			t.Errorf("%s: closed with %v, want code 0x%x", name, err, tc.code)
		}
		cancel()
	}
}

// TestH3Shutdown: Shutdown lets a request being served finish, then closes.
func TestH3Shutdown(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	h := capture.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "done")
	}))
	srv := capture.NewH3Server(capture.H3Config{TLS: &tls.Config{Certificates: []tls.Certificate{testCert(t)}}, Handler: h})
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	go func() { _ = srv.Serve(udp) }()
	tr := &http3.Transport{TLSClientConfig: h3ClientTLS()}
	defer tr.Close()
	body := make(chan string, 1)
	go func() {
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + udp.LocalAddr().String() + "/")
		if err != nil {
			body <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body <- string(b)
	}()
	<-started
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- srv.Shutdown(ctx)
	}()
	time.Sleep(50 * time.Millisecond) // Shutdown is waiting for the request
	close(release)
	if b := <-body; b != "done" {
		t.Errorf("response %q", b)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// TestH3ShutdownNoError: an idle connection is closed by Shutdown with
// H3_NO_ERROR from the server (there is no GOAWAY, see Shutdown).
func TestH3ShutdownNoError(t *testing.T) {
	srv, addr, _ := startH3(t)
	c := dialRawH3(t, addr, settingsPayload(1, 0))
	if got := c.request(":method", "GET", ":scheme", "https", ":authority", "localhost", ":path", "/"); !strings.HasSuffix(got, "ok") {
		t.Fatalf("response %q", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case <-c.qc.Context().Done():
	case <-ctx.Done():
		t.Fatal("connection still open after Shutdown")
	}
	var ae *quic.ApplicationError
	if err := context.Cause(c.qc.Context()); !errors.As(err, &ae) || !ae.Remote || ae.ErrorCode != 0x100 {
		t.Errorf("closed with %v, want H3_NO_ERROR (0x100) from the server", err)
	}
}
