package proxy

import (
	"bufio"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/capture"
	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/fingerprint"
)

// wsGUID is RFC 6455's key suffix.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func wsAccept(key string) string {
	sum := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// wsGreeting is sent by wsOrigin right behind its 101 head, in the same
// write, so that it arrives buffered with the head.
const wsGreeting = "greeting-from-origin;"

// wsHandshake is what wsOrigin saw of one connection.
type wsHandshake struct {
	hello   *fingerprint.ClientHello // nil over plain TCP
	alpn    string                   // negotiated
	target  string
	headers []emulation.Header // in wire order, as cased on the wire
}

func (h wsHandshake) get(name string) string {
	for _, x := range h.headers {
		if strings.EqualFold(x.Name, name) {
			return x.Value
		}
	}
	return ""
}

// wsOrigin is a raw WebSocket origin: it records the ClientHello (TLS)
// and the request head in wire order, answers /reject with 403 and any
// other path whose handshake is valid with 101 and the right
// Sec-WebSocket-Accept, then echoes every byte.
type wsOrigin struct {
	ln   net.Listener
	conf *tls.Config // nil = plain TCP

	mu   sync.Mutex
	seen []wsHandshake
}

func startWSOrigin(t *testing.T, leaf *tls.Certificate) *wsOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &wsOrigin{ln: ln}
	if leaf != nil {
		// h2 is offered so that a client offering it would get it.
		o.conf = &tls.Config{Certificates: []tls.Certificate{*leaf}, NextProtos: []string{"h2", "http/1.1"}}
	}
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { o.serve(c) })
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return o
}

func (o *wsOrigin) handshakes() []wsHandshake {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.seen)
}

func (o *wsOrigin) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	var hs wsHandshake
	conn := c
	if o.conf != nil {
		hc, err := capture.ReadClientHello(c, time.Now().Add(10*time.Second), 0)
		if err != nil {
			return
		}
		hs.hello = hc.Hello()
		tc := tls.Server(hc, o.conf)
		if err := tc.Handshake(); err != nil {
			return
		}
		hs.alpn = tc.ConnectionState().NegotiatedProtocol
		conn = tc
	}
	br := bufio.NewReader(conn)
	tp := textproto.NewReader(br)
	line, err := tp.ReadLine()
	if err != nil {
		return
	}
	parts := strings.Fields(line)
	if len(parts) == 3 {
		hs.target = parts[1]
	}
	for {
		l, err := tp.ReadLine()
		if err != nil {
			return
		}
		if l == "" {
			break
		}
		name, value, _ := strings.Cut(l, ":")
		hs.headers = append(hs.headers, emulation.Header{Name: name, Value: strings.TrimSpace(value)})
	}
	o.mu.Lock()
	o.seen = append(o.seen, hs)
	o.mu.Unlock()
	key := hs.get("Sec-WebSocket-Key")
	switch {
	case strings.HasSuffix(hs.target, "/reject"):
		fmt.Fprintf(conn, "HTTP/1.1 403 Forbidden\r\nContent-Length: 7\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nno, go.")
		return
	case key == "" || !strings.EqualFold(hs.get("Upgrade"), "websocket") || !strings.Contains(strings.ToLower(hs.get("Connection")), "upgrade"):
		fmt.Fprintf(conn, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		return
	}
	fmt.Fprintf(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\nX-Origin: ws\r\nKeep-Alive: timeout=5\r\n\r\n%s", wsAccept(key), wsGreeting)
	_ = conn.SetDeadline(time.Time{})
	_, _ = io.Copy(conn, br)
}

// wsUpgrade writes a WebSocket handshake for target (request-target
// form as given) on c and reads the response.
func wsUpgrade(t *testing.T, c net.Conn, br *bufio.Reader, target, host, key, extra string) *http.Response {
	t.Helper()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: curl/8.0\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nOrigin: http://%s\r\n%s\r\n", target, host, key, host, extra)
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// wsExchange reads the origin's greeting, then sends messages and reads
// their echoes.
func wsExchange(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	got := make([]byte, len(wsGreeting))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != wsGreeting {
		t.Fatalf("greeting %q, %v", got, err)
	}
	for i, msg := range []string{"ping-1", strings.Repeat("x", 100<<10), "\x00\xffbinary"} {
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatal(err)
		}
		echo := make([]byte, len(msg))
		if _, err := io.ReadFull(br, echo); err != nil || string(echo) != msg {
			t.Fatalf("message %d: echo of %d bytes differs (%v)", i, len(msg), err)
		}
	}
	_ = c.SetDeadline(time.Time{})
}

// checkProfileOrder asserts that the names of hs that the profile's
// HTTP/1.1 websocket list (navigate when it has none) has appear with the
// profile's casing and in its order, and that the profile's user agent
// was sent.
func checkProfileOrder(t *testing.T, prof *emulation.Profile, hs wsHandshake) {
	t.Helper()
	t.Logf("origin saw, in wire order: %v", hs.headers)
	list := prof.H1.Headers[emulation.WebSocket]
	if len(list) == 0 {
		list = prof.H1.Headers[emulation.Navigate]
	}
	index := map[string]int{}
	casing := map[string]string{}
	for i, h := range list {
		index[strings.ToLower(h.Name)] = i
		casing[strings.ToLower(h.Name)] = h.Name
	}
	last, matched := -1, 0
	for _, h := range hs.headers {
		i, ok := index[strings.ToLower(h.Name)]
		if !ok {
			continue
		}
		matched++
		if h.Name != casing[strings.ToLower(h.Name)] {
			t.Errorf("header %q sent, profile casing is %q", h.Name, casing[strings.ToLower(h.Name)])
		}
		if i < last {
			t.Errorf("header %q out of the profile's order: %v", h.Name, hs.headers)
		}
		last = i
	}
	if matched < 4 {
		t.Errorf("only %d of the profile's headers reached the origin: %v", matched, hs.headers)
	}
	if ua := hs.get("User-Agent"); ua != prof.UserAgent {
		t.Errorf("origin saw User-Agent %q, want the profile's %q", ua, prof.UserAgent)
	}
}

// checkWSHeaders asserts the handshake headers an origin needs arrived
// and that proxy-only ones did not.
func checkWSHeaders(t *testing.T, hs wsHandshake, key string) {
	t.Helper()
	if hs.get("Sec-WebSocket-Key") != key || hs.get("Sec-WebSocket-Version") != "13" || !strings.EqualFold(hs.get("Upgrade"), "websocket") {
		t.Errorf("websocket headers lost: %v", hs.headers)
	}
	for _, h := range hs.headers {
		if strings.HasPrefix(strings.ToLower(h.Name), "sec-websocket-") && !strings.HasPrefix(h.Name, "Sec-WebSocket-") {
			t.Errorf("header %q not cased as browsers send it (Sec-WebSocket-*)", h.Name)
		}
	}
	if hs.get("Connection") != "Upgrade" {
		t.Errorf("Connection %q, want Upgrade", hs.get("Connection"))
	}
	for _, name := range []string{"Proxy-Authorization", "Proxy-Connection", "X-Guanaco-Profile"} {
		if v := hs.get(name); v != "" {
			t.Errorf("origin received %s: %q", name, v)
		}
	}
}

// TestWebSocketMITM: a WebSocket opened inside a CONNECT tunnel with MITM
// TLS reaches the origin on its own TLS connection whose ClientHello is
// the profile's with ALPN http/1.1 only, with the profile's headers; the
// 101 comes back with the upstream's Sec-WebSocket-Accept, bytes flow
// both ways (including those sent right behind the 101 head), and a
// rejected handshake is relayed as it is.
func TestWebSocketMITM(t *testing.T) {
	env := startProxy(t, Options{AllowPrivate: true})
	leaf, err := env.originCA.Issue("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	origin := startWSOrigin(t, leaf)
	target := origin.ln.Addr().String()
	env.p.ports = append(env.p.ports, portOf(t, target))
	prof, _ := emulation.Lookup("chromium-156-linux")

	pool := x509.NewCertPool()
	pool.AddCert(env.ca.Cert)
	c, br, resp := connect(t, env.addr, target, "")
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	tc := tls.Client(&bufferedConn{Conn: c, r: br}, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	tbr := bufio.NewReader(tc)
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	resp = wsUpgrade(t, tc, tbr, "/chat", target, key, "")
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != wsAccept(key) || got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("Sec-WebSocket-Accept %q", got)
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") || !strings.EqualFold(resp.Header.Get("Connection"), "upgrade") {
		t.Errorf("101 head lacks Upgrade/Connection: %v", resp.Header)
	}
	if resp.Header.Get("Keep-Alive") != "" || resp.Header.Get("X-Origin") != "ws" {
		t.Errorf("101 head hop-by-hop handling: %v", resp.Header)
	}
	wsExchange(t, tc, tbr)

	hss := origin.handshakes()
	if len(hss) != 1 {
		t.Fatalf("origin saw %d handshakes", len(hss))
	}
	hs := hss[0]
	if hs.hello == nil {
		t.Fatal("no ClientHello captured")
	}
	if alpn := hs.hello.ALPN(); !slices.Equal(alpn, []string{"http/1.1"}) {
		t.Errorf("upstream hello offered ALPN %q, want only http/1.1", alpn)
	}
	if hs.alpn != "http/1.1" {
		t.Errorf("negotiated %q", hs.alpn)
	}
	for _, ext := range []uint16{17513, 17613} { // ALPS: only offered with h2
		if hs.hello.HasExtension(ext) {
			t.Errorf("upstream hello offers ALPS (%d) without h2", ext)
		}
	}
	want, err := fingerprint.ParseClientHello(prof.TLS.ClientHello)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(nonGREASE(hs.hello.CipherSuites), nonGREASE(want.CipherSuites)) {
		t.Errorf("cipher suites %v, want the profile's %v", hs.hello.CipherSuites, want.CipherSuites)
	}
	if !hs.hello.HasExtension(fingerprint.ExtALPN) || !want.HasExtension(fingerprint.ExtALPN) {
		t.Error("ALPN extension missing")
	}
	checkProfileOrder(t, prof, hs)
	checkWSHeaders(t, hs, key)
	// Fetch metadata exactly when the profile's WebSocket list has it
	// (Chromium sends none on a WebSocket handshake, Firefox does).
	wantMeta := slices.ContainsFunc(prof.H1.Headers[emulation.WebSocket], func(h emulation.Header) bool { return strings.EqualFold(h.Name, "Sec-Fetch-Site") })
	if got := hs.get("Sec-Fetch-Site") != ""; got != wantMeta {
		t.Errorf("Sec-Fetch-Site sent %v, the profile's websocket list has it %v: %v", got, wantMeta, hs.headers)
	}
	if n := env.p.OpenTunnels(); n != 1 {
		t.Errorf("%d tunnels open, want the CONNECT's one", n)
	}
	tc.Close()
	waitTunnels(t, env.p, 0)

	// A rejected handshake is an ordinary response.
	c, br, resp = connect(t, env.addr, target, "")
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	tc = tls.Client(&bufferedConn{Conn: c, r: br}, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}})
	defer tc.Close()
	tbr = bufio.NewReader(tc)
	resp = wsUpgrade(t, tc, tbr, "/reject", target, key, "")
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != 403 || string(body) != "no, go." {
		t.Errorf("rejected handshake: %d %q", resp.StatusCode, body)
	}
}

// wsProfile is the catalogue's chromium profile with h1 and h2 websocket
// lists shaped like Chromium 156's handshakes (as fpserver captures them),
// under another name.
func wsProfile(t *testing.T) *emulation.Profile {
	t.Helper()
	base, err := emulation.Lookup("chromium-156-linux")
	if err != nil {
		t.Fatal(err)
	}
	p := *base
	p.Name = "chromium-ws"
	h1, h2 := *base.H1, *base.H2
	h1.Headers, h2.Headers = maps.Clone(base.H1.Headers), maps.Clone(base.H2.Headers)
	hdr := func(pairs ...string) []emulation.Header {
		var out []emulation.Header
		for i := 0; i+1 < len(pairs); i += 2 {
			out = append(out, emulation.Header{Name: pairs[i], Value: pairs[i+1]})
		}
		return out
	}
	h1.Headers[emulation.WebSocket] = hdr("Host", "", "Connection", "Upgrade", "Pragma", "no-cache", "Cache-Control", "no-cache",
		"User-Agent", base.UserAgent, "Upgrade", "websocket", "Origin", "", "Sec-WebSocket-Version", "13",
		"Accept-Encoding", "gzip, deflate, br, zstd", "Accept-Language", "en-US,en;q=0.9", "Cookie", "",
		"Sec-WebSocket-Key", "", "Sec-WebSocket-Extensions", "")
	h2.Headers[emulation.WebSocket] = hdr("pragma", "no-cache", "cache-control", "no-cache", "user-agent", base.UserAgent,
		"origin", "", "sec-websocket-version", "13", "accept-encoding", "gzip, deflate, br, zstd",
		"accept-language", "en-US,en;q=0.9", "cookie", "", "sec-websocket-extensions", "")
	p.H1, p.H2 = &h1, &h2
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	return &p
}

// TestWebSocketProfileList: with a profile that has a websocket list, the
// upstream handshake is exactly that list's order and casing, with the
// client's key, origin, cookie and extensions at their slots (the
// client's other headers after it), inside a MITM tunnel and in absolute
// form; the profile's navigate-only headers (client hints, fetch
// metadata) are not sent.
func TestWebSocketProfileList(t *testing.T) {
	prof := wsProfile(t)
	ps := append(catalogue(t), prof)
	env := startProxy(t, Options{AllowPrivate: true, Profiles: func() []*emulation.Profile { return ps }})
	leaf, err := env.originCA.Issue("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	tlsOrigin := startWSOrigin(t, leaf)
	plainOrigin := startWSOrigin(t, nil)
	env.p.ports = append(env.p.ports, portOf(t, tlsOrigin.ln.Addr().String()))
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	extra := "X-Guanaco-Profile: chromium-ws\r\nCookie: a=1\r\nSec-WebSocket-Extensions: permessage-deflate\r\nX-Client: 1\r\n"
	want := []string{"Host", "Connection", "Pragma", "Cache-Control", "User-Agent", "Upgrade", "Origin", "Sec-WebSocket-Version",
		"Accept-Encoding", "Accept-Language", "Cookie", "Sec-WebSocket-Key", "Sec-WebSocket-Extensions", "X-Client"}

	// Inside a MITM tunnel.
	target := tlsOrigin.ln.Addr().String()
	pool := x509.NewCertPool()
	pool.AddCert(env.ca.Cert)
	c, br, resp := connect(t, env.addr, target, "")
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	tc := tls.Client(&bufferedConn{Conn: c, r: br}, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}})
	defer tc.Close()
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	tbr := bufio.NewReader(tc)
	if resp := wsUpgrade(t, tc, tbr, "/chat", target, key, extra); resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("MITM: status %d, want 101", resp.StatusCode)
	}
	wsExchange(t, tc, tbr)

	// Absolute form to a plain origin.
	ptarget := plainOrigin.ln.Addr().String()
	env.p.ports = append(env.p.ports, portOf(t, ptarget))
	pc, err := net.Dial("tcp", env.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	pbr := bufio.NewReader(pc)
	if resp := wsUpgrade(t, pc, pbr, "http://"+ptarget+"/ws", ptarget, key, extra); resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("absolute form: status %d, want 101", resp.StatusCode)
	}

	for _, o := range []*wsOrigin{tlsOrigin, plainOrigin} {
		hss := o.handshakes()
		if len(hss) != 1 {
			t.Fatalf("origin saw %d handshakes", len(hss))
		}
		hs := hss[0]
		var got []string
		for _, h := range hs.headers {
			got = append(got, h.Name)
		}
		if !slices.Equal(got, want) {
			t.Errorf("upstream handshake order\n got %q\nwant %q (the profile's websocket list)", got, want)
		}
		checkProfileOrder(t, prof, hs)
		checkWSHeaders(t, hs, key)
		for name, v := range map[string]string{"Cookie": "a=1", "Sec-WebSocket-Extensions": "permessage-deflate",
			"Origin": "http://" + hs.get("Host"), "Pragma": "no-cache", "X-Client": "1"} {
			if got := hs.get(name); got != v {
				t.Errorf("%s %q, want %q", name, got, v)
			}
		}
	}
}

func nonGREASE(cs []uint16) []uint16 {
	var out []uint16
	for _, c := range cs {
		if c&0x0f0f != 0x0a0a {
			out = append(out, c)
		}
	}
	return out
}

func waitTunnels(t *testing.T, p *Proxy, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for p.OpenTunnels() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%d tunnels open, want %d", p.OpenTunnels(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWebSocketAbsoluteForm: a ws origin on a plain port reached with an
// absolute-form request: proxy credentials and the profile label are
// consumed, the origin sees the selected profile's headers (no fetch
// metadata over http), bytes flow both ways, the connection counts as a
// tunnel, and Shutdown closes it after its grace period.
func TestWebSocketAbsoluteForm(t *testing.T) {
	env := startProxy(t, Options{AllowPrivate: true, Credentials: []Credential{{"alice", "pw"}}})
	origin := startWSOrigin(t, nil)
	target := origin.ln.Addr().String()
	env.p.ports = append(env.p.ports, portOf(t, target))
	prof, _ := emulation.Lookup("firefox-153-linux")

	c, err := net.Dial("tcp", env.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	const key = "x3JJHMbDL1EzLkh9GBhXDw=="
	auth := "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("alice+profile=firefox-153-linux:pw")) + "\r\n"
	resp := wsUpgrade(t, c, br, "http://"+target+"/ws?room=1", target, key, auth+"Proxy-Connection: keep-alive\r\n")
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != wsAccept(key) || got != "HSmrc0sMlYUkAGmm5OPpG2HaGWk=" {
		t.Errorf("Sec-WebSocket-Accept %q", got)
	}
	wsExchange(t, c, br)
	if n := env.p.OpenTunnels(); n != 1 {
		t.Errorf("%d tunnels open, want 1 (the websocket)", n)
	}
	hss := origin.handshakes()
	if len(hss) != 1 {
		t.Fatalf("origin saw %d handshakes", len(hss))
	}
	hs := hss[0]
	if hs.target != "/ws?room=1" {
		t.Errorf("origin request target %q", hs.target)
	}
	checkProfileOrder(t, prof, hs)
	checkWSHeaders(t, hs, key)
	if hs.get("Sec-Fetch-Mode") != "" || hs.get("Sec-Fetch-Site") != "" {
		t.Errorf("fetch metadata sent over plain http: %v", hs.headers)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := env.p.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Errorf("Shutdown: %v, want the deadline", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 5*time.Second {
		t.Errorf("Shutdown took %v, want the grace period", d)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err == nil {
		t.Error("websocket still open after Shutdown")
	}
	if n := env.p.OpenTunnels(); n != 0 {
		t.Errorf("%d tunnels tracked after Shutdown", n)
	}
}

// TestWebSocketIdle: a websocket on which nothing moves for IdleTimeout
// is closed on both sides.
func TestWebSocketIdle(t *testing.T) {
	env := startProxy(t, Options{AllowPrivate: true, IdleTimeout: 300 * time.Millisecond})
	origin := startWSOrigin(t, nil)
	target := origin.ln.Addr().String()
	env.p.ports = append(env.p.ports, portOf(t, target))
	c, err := net.Dial("tcp", env.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	resp := wsUpgrade(t, c, br, "http://"+target+"/ws", target, "AQIDBAUGBwgJCgsMDQ4PEA==", "")
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	start := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(br); err != nil {
		t.Fatalf("read: %v, want EOF from the idle close", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 5*time.Second {
		t.Errorf("closed after %v, want about the idle timeout", d)
	}
	waitTunnels(t, env.p, 0)
}

// TestWebSocketEgress: the WebSocket dial obeys the egress policy.
func TestWebSocketEgress(t *testing.T) {
	env := startProxy(t, Options{})
	origin := startWSOrigin(t, nil)
	target := origin.ln.Addr().String()
	env.p.ports = append(env.p.ports, portOf(t, target)) // the egress policy, not the port policy, refuses
	c, err := net.Dial("tcp", env.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	resp := wsUpgrade(t, c, br, "http://"+target+"/ws", target, "AQIDBAUGBwgJCgsMDQ4PEA==", "")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("websocket to loopback: %d, want 403", resp.StatusCode)
	}
	if n := len(origin.handshakes()); n != 0 {
		t.Errorf("origin reached %d times", n)
	}
}

// FuzzWriteSwitchingHead: whatever header an upstream 101 carried, the
// head written to the client parses as one 101 with Upgrade and
// Connection: Upgrade, no hop-by-hop header, and no header the upstream
// did not send (no injection through names or values).
func FuzzWriteSwitchingHead(f *testing.F) {
	f.Add("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "websocket")
	f.Add("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits=15", "WebSocket")
	f.Add("Keep-Alive", "timeout=5", "websocket")
	f.Add("X-A", "1\r\nX-Injected: 1", "websocket\r\nX-Injected: 2")
	f.Add("X-B\r\nX-Injected", "1", "websocket")
	f.Add("Connection", "X-Hop", "websocket")
	f.Fuzz(func(t *testing.T, name, value, upgrade string) {
		h := http.Header{}
		h[name] = []string{value}
		h["Upgrade"] = []string{upgrade}
		var b strings.Builder
		bw := bufio.NewWriter(&b)
		if err := writeSwitchingHead(bw, h); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(b.String())), nil)
		if err != nil {
			t.Fatalf("head does not parse: %v\n%q", err, b.String())
		}
		if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Connection") != "Upgrade" {
			t.Fatalf("status %d, Connection %q", resp.StatusCode, resp.Header.Get("Connection"))
		}
		for k := range resp.Header {
			switch {
			case k == "Upgrade", k == "Connection":
			case k == http.CanonicalHeaderKey(name) && !slices.Contains(hopByHop, k):
			default:
				t.Fatalf("head carries %q, which the upstream did not send as an end-to-end header:\n%q", k, b.String())
			}
		}
	})
}
