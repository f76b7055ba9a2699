package proxy

//lint:file-ignore SA1019 x/net's http2.Transport.NewClientConn speaks HTTP/2 on a connection the test made (TLS inside the proxy's tunnel); net/http's NewClientConn dials by itself.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"

	// The tunnel's and the origin's HTTP/2 servers offer extended CONNECT
	// only with this (as emuproxy and fpserver import it).
	_ "github.com/guanaco-fp/guanaco/internal/h2xconnect"
)

// h2WSOrigin is a net/http HTTPS origin (h2 and http/1.1) that answers
// GET with "ok" and an extended CONNECT websocket with 200 and an echo of
// the stream; it records each CONNECT it served.
type h2WSOrigin struct {
	url  string
	mu   sync.Mutex
	seen []*http.Request
}

func startH2WSOrigin(t *testing.T, env *testEnv) *h2WSOrigin {
	t.Helper()
	o := &h2WSOrigin{}
	srv := startOrigin(t, env.originCA, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			_, _ = io.WriteString(w, "ok")
			return
		}
		o.mu.Lock()
		o.seen = append(o.seen, r)
		o.mu.Unlock()
		if r.Header.Get(":protocol") != "websocket" {
			http.Error(w, "not a websocket", http.StatusBadRequest)
			return
		}
		w.Header().Set("Sec-WebSocket-Extensions", "permessage-deflate")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		_ = rc.Flush()
		buf := make([]byte, 20000)
		for {
			n, err := r.Body.Read(buf)
			if n > 0 {
				if _, err := w.Write(buf[:n]); err != nil {
					return
				}
				_ = rc.Flush()
			}
			if err != nil {
				return
			}
		}
	}))
	o.url = srv.URL
	env.allowPort(t, srv.URL)
	return o
}

func (o *h2WSOrigin) connects() []*http.Request {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*http.Request(nil), o.seen...)
}

// tunnelTLS opens a CONNECT tunnel to target through the proxy and a TLS
// connection inside it offering alpn, trusting the proxy's CA.
func tunnelTLS(t *testing.T, env *testEnv, target string, alpn ...string) *tls.Conn {
	t.Helper()
	c, br, resp := connect(t, env.addr, target, "")
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	pool := x509.NewCertPool()
	pool.AddCert(env.ca.Cert)
	host, _, _ := net.SplitHostPort(target)
	tc := tls.Client(&bufferedConn{Conn: c, r: br}, &tls.Config{RootCAs: pool, ServerName: host, NextProtos: alpn})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	if got := tc.ConnectionState().NegotiatedProtocol; got != alpn[0] {
		t.Fatalf("negotiated %q with the proxy", got)
	}
	return tc
}

// h2WebSocket opens an extended CONNECT websocket on cc; the returned
// writer feeds the stream, resp.Body reads it.
func h2WebSocket(t *testing.T, cc *http2.ClientConn, url string) (*http.Response, *io.PipeWriter) {
	t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodConnect, url, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(":protocol", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Origin", strings.TrimSuffix(url, "/ws"))
	req.Header.Set("User-Agent", "h2-ws-test/1")
	req.Header.Add("Cookie", "a=1")
	req.Header.Add("Cookie", "b=2")
	resp, err := cc.RoundTrip(req)
	if err != nil {
		t.Fatalf("extended CONNECT through the proxy: %v", err)
	}
	t.Cleanup(func() { pw.Close(); resp.Body.Close() })
	return resp, pw
}

// echoBothWays sends msg in pieces on w while reading len(msg) bytes back
// from r (after skip, a greeting the origin sends first).
func echoBothWays(t *testing.T, w io.Writer, r io.Reader, skip string) {
	t.Helper()
	if skip != "" {
		got := make([]byte, len(skip))
		if _, err := io.ReadFull(r, got); err != nil || string(got) != skip {
			t.Fatalf("greeting %q, %v", got, err)
		}
	}
	msg := make([]byte, 300<<10)
	_, _ = rand.Read(msg)
	werr := make(chan error, 1)
	go func() {
		for i := 0; i < len(msg); i += 50000 {
			if _, err := w.Write(msg[i:min(i+50000, len(msg))]); err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatalf("reading the echo: %v", err)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("echo differs from what was sent")
	}
}

// TestWebSocketH2ClientH2Origin: a client speaking HTTP/2 in the tunnel
// opens its WebSocket as an extended CONNECT (the proxy's tunnel server
// must advertise SETTINGS_ENABLE_CONNECT_PROTOCOL, or the x/net client
// refuses); the origin, whose HTTP/2 connection the page's request opened
// and which enabled extended CONNECT, gets it as one (Chromium's profile
// uses it) on that same connection, and 300 KiB pass both ways.
func TestWebSocketH2ClientH2Origin(t *testing.T) {
	for _, prof := range []string{"chromium-156-linux", "firefox-153-linux"} {
		t.Run(prof, func(t *testing.T) { testWebSocketH2ClientH2Origin(t, prof) })
	}
}

func testWebSocketH2ClientH2Origin(t *testing.T, prof string) {
	env := startProxy(t, Options{AllowPrivate: true, DefaultProfile: prof})
	o := startH2WSOrigin(t, env)
	target := strings.TrimPrefix(o.url, "https://")
	tc := tunnelTLS(t, env, target, "h2")
	cc, err := (&http2.Transport{}).NewClientConn(tc)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	req, _ := http.NewRequest(http.MethodGet, o.url+"/", nil)
	resp, err := cc.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	resp, pw := h2WebSocket(t, cc, o.url+"/ws")
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if resp.Header.Get("Sec-WebSocket-Extensions") != "permessage-deflate" || resp.Header.Get("Sec-WebSocket-Accept") != "" {
		t.Errorf("200 head %v", resp.Header)
	}
	echoBothWays(t, pw, resp.Body, "")
	seen := o.connects()
	if len(seen) != 1 {
		t.Fatalf("origin saw %d extended CONNECTs", len(seen))
	}
	r := seen[0]
	if r.ProtoMajor != 2 || r.URL.Path != "/ws" || r.Header.Get("Sec-WebSocket-Key") != "" || r.Header.Get("Upgrade") != "" {
		t.Errorf("origin's request: %s %s %v", r.Proto, r.URL, r.Header)
	}
	if c := r.Header.Get("Cookie"); c != "a=1; b=2" {
		t.Errorf("origin saw Cookie %q", c)
	}
	if ua := r.Header.Get("User-Agent"); ua != profileNamed(t, catalogue(t), prof).UserAgent {
		t.Errorf("origin saw User-Agent %q, want the profile's", ua)
	}
	pw.Close()
	resp.Body.Close()
}

// TestWebSocketH2ClientH1Origin: an HTTP/2 client's extended CONNECT to an
// origin with no HTTP/2 connection goes upstream as an RFC 6455 Upgrade
// (with a key the proxy made, whose accept value the proxy checks) and
// the client gets 200 on its stream.
func TestWebSocketH2ClientH1Origin(t *testing.T) {
	env := startProxy(t, Options{AllowPrivate: true})
	leaf, err := env.originCA.Issue("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	origin := startWSOrigin(t, leaf)
	target := origin.ln.Addr().String()
	env.p.ports = append(env.p.ports, portOf(t, target))
	tc := tunnelTLS(t, env, target, "h2")
	cc, err := (&http2.Transport{}).NewClientConn(tc)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	resp, pw := h2WebSocket(t, cc, "https://"+target+"/ws")
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if resp.Header.Get("Sec-WebSocket-Accept") != "" || resp.Header.Get("X-Origin") != "ws" {
		t.Errorf("200 head %v", resp.Header)
	}
	echoBothWays(t, pw, resp.Body, wsGreeting)
	hss := origin.handshakes()
	if len(hss) != 1 {
		t.Fatalf("origin saw %d handshakes", len(hss))
	}
	hs := hss[0]
	if hs.alpn != "http/1.1" || hs.target != "/ws" || len(hs.get("Sec-WebSocket-Key")) != 24 || !strings.EqualFold(hs.get("Upgrade"), "websocket") {
		t.Errorf("origin's handshake: alpn %q target %q headers %v", hs.alpn, hs.target, hs.headers)
	}
}

// TestWebSocketH1ClientH2Origin: an HTTP/1.1 client's Upgrade goes to an
// origin with an extended-CONNECT HTTP/2 connection as an extended
// CONNECT; the client gets a 101 whose Sec-WebSocket-Accept matches its
// own key.
func TestWebSocketH1ClientH2Origin(t *testing.T) {
	env := startProxy(t, Options{AllowPrivate: true})
	o := startH2WSOrigin(t, env)
	target := strings.TrimPrefix(o.url, "https://")
	tc := tunnelTLS(t, env, target, "http/1.1")
	br := bufio.NewReader(tc)
	_ = tc.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(tc, "GET / HTTP/1.1\r\nHost: "+target+"\r\nUser-Agent: curl/8.0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	resp = wsUpgrade(t, tc, br, "/ws", target, key, "")
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if resp.Header.Get("Sec-WebSocket-Accept") != wsAccept(key) || !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") ||
		resp.Header.Get("Sec-WebSocket-Extensions") != "permessage-deflate" {
		t.Errorf("101 head %v", resp.Header)
	}
	echoBothWays(t, tc, br, "")
	if seen := o.connects(); len(seen) != 1 || seen[0].ProtoMajor != 2 {
		t.Fatalf("origin saw %d extended CONNECTs", len(seen))
	}
}

// TestWebSocketH2ClientIdle: the relay of an HTTP/2 client's stream ends
// after IdleTimeout without traffic, and the client's stream ends.
func TestWebSocketH2ClientIdle(t *testing.T) {
	env := startProxy(t, Options{AllowPrivate: true, IdleTimeout: 300 * time.Millisecond})
	o := startH2WSOrigin(t, env)
	target := strings.TrimPrefix(o.url, "https://")
	tc := tunnelTLS(t, env, target, "h2")
	cc, err := (&http2.Transport{}).NewClientConn(tc)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	resp, _ := h2WebSocket(t, cc, o.url+"/ws")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	done := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, resp.Body); done <- err }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the idle WebSocket stream was not ended")
	}
}
