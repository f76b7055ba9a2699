package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	utls "github.com/refraction-networking/utls"

	"github.com/guanaco-fp/guanaco/emulation"
)

// TestIsWebSocketUpgrade checks the token matching.
func TestIsWebSocketUpgrade(t *testing.T) {
	for _, tc := range []struct {
		upgrade, connection string
		want                bool
	}{
		{"websocket", "Upgrade", true},
		{"WebSocket", "keep-alive, upgrade", true},
		{"websocket/13", "Upgrade", true},
		{"websocket", "keep-alive", false},
		{"h2c", "Upgrade", false},
		{"", "Upgrade", false},
		{"websockets", "Upgrade", false},
	} {
		req, _ := http.NewRequest("GET", "https://example.com/", nil)
		if tc.upgrade != "" {
			req.Header.Set("Upgrade", tc.upgrade)
		}
		req.Header.Set("Connection", tc.connection)
		if got := IsWebSocketUpgrade(req); got != tc.want {
			t.Errorf("Upgrade %q Connection %q: %v, want %v", tc.upgrade, tc.connection, got, tc.want)
		}
	}
}

// TestRestrictALPN: the upgrade hello keeps the profile's extensions but
// offers only http/1.1 and no ALPS.
func TestRestrictALPN(t *testing.T) {
	spec, err := helloSpec(testProfile(t), false)
	if err != nil {
		t.Fatal(err)
	}
	before := map[string]int{}
	for _, e := range spec.Extensions {
		before[typeName(e)]++
	}
	restrictALPNToHTTP1(spec)
	after := map[string]int{}
	alpn := 0
	for _, e := range spec.Extensions {
		after[typeName(e)]++
		switch x := e.(type) {
		case *utls.ALPNExtension:
			alpn++
			if !slices.Equal(x.AlpnProtocols, []string{"http/1.1"}) {
				t.Errorf("ALPN %q", x.AlpnProtocols)
			}
		case *utls.ApplicationSettingsExtension, *utls.ApplicationSettingsExtensionNew:
			t.Errorf("ALPS kept: %T", e)
		}
	}
	if alpn != 1 {
		t.Errorf("%d ALPN extensions", alpn)
	}
	for name, n := range before {
		if strings.Contains(name, "ApplicationSettings") {
			continue
		}
		if after[name] != n {
			t.Errorf("extension %s: %d before, %d after", name, n, after[name])
		}
	}
}

// upgradeOrigin is a TLS origin speaking HTTP/1.1 only that records the
// ALPN list each ClientHello offered and the request heads. /ws answers a
// handshake with 101 and a greeting in the same write, then echoes;
// /plain answers 200 "ok" and keeps the connection; /sneaky101 answers
// 101 to anything.
type upgradeOrigin struct {
	addr     string
	accepted atomic.Int32
	mu       sync.Mutex
	offered  [][]string
	heads    []string
}

func startUpgradeOrigin(t *testing.T, ca *testCA) *upgradeOrigin {
	t.Helper()
	o := &upgradeOrigin{}
	leaf := ca.leaf(t)
	conf := &tls.Config{
		GetConfigForClient: func(hi *tls.ClientHelloInfo) (*tls.Config, error) {
			o.mu.Lock()
			o.offered = append(o.offered, slices.Clone(hi.SupportedProtos))
			o.mu.Unlock()
			return nil, nil
		},
		Certificates: []tls.Certificate{leaf},
		NextProtos:   []string{"http/1.1"},
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", conf)
	if err != nil {
		t.Fatal(err)
	}
	o.addr = ln.Addr().String()
	var wg sync.WaitGroup
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			o.accepted.Add(1)
			wg.Go(func() { o.serve(nc) })
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return o
}

func (o *upgradeOrigin) serve(nc net.Conn) {
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(nc)
	for {
		var head strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			head.WriteString(line)
			if line == "\r\n" {
				break
			}
		}
		o.mu.Lock()
		o.heads = append(o.heads, head.String())
		o.mu.Unlock()
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head.String())))
		if err != nil {
			return
		}
		switch req.URL.Path {
		case "/ws", "/sneaky101":
			fmt.Fprintf(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhello;")
			_, _ = io.Copy(nc, br)
			return
		default:
			fmt.Fprintf(nc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	}
}

func wsRequest(t *testing.T, ctx context.Context, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Sec-WebSocket-Version", "13")
	return req
}

// TestWebSocketUpgrade: a handshake goes on its own connection offering
// only http/1.1; the 101's Body is the connection (the bytes behind the
// head first), outlives the request's context and is never pooled; a
// non-101 answer closes its connection; a 101 to a request that asked
// for no upgrade is an error; ordinary requests still offer h2.
func TestWebSocketUpgrade(t *testing.T) {
	ca := newTestCA(t)
	o := startUpgradeOrigin(t, ca)
	tr := New(Options{Profile: testProfile(t), RootCAs: ca.pool})
	defer tr.CloseIdleConnections()

	ctx, cancel := context.WithCancel(context.Background())
	resp, err := tr.RoundTrip(wsRequest(t, ctx, "https://"+o.addr+"/ws"))
	if err != nil {
		t.Fatal(err)
	}
	cancel() // the upgraded connection no longer depends on it
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	rwc, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		t.Fatalf("101 body %T is not an io.ReadWriteCloser", resp.Body)
	}
	got := make([]byte, len("hello;"))
	if _, err := io.ReadFull(rwc, got); err != nil || string(got) != "hello;" {
		t.Fatalf("bytes behind the 101 head: %q, %v", got, err)
	}
	time.Sleep(50 * time.Millisecond) // a context watcher would close the conn by now
	if _, err := io.WriteString(rwc, "echo-me"); err != nil {
		t.Fatal(err)
	}
	got = make([]byte, len("echo-me"))
	if _, err := io.ReadFull(rwc, got); err != nil || string(got) != "echo-me" {
		t.Fatalf("echo %q, %v", got, err)
	}
	if err := rwc.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := rwc.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	// Non-101 answers: relayed, and each handshake dials anew.
	for range 2 {
		resp, err = tr.RoundTrip(wsRequest(t, context.Background(), "https://"+o.addr+"/plain"))
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || string(b) != "ok" {
			t.Errorf("non-101: %d %q", resp.StatusCode, b)
		}
		resp.Body.Close()
	}
	if n := o.accepted.Load(); n != 3 {
		t.Errorf("%d connections for 3 handshakes", n)
	}

	// An ordinary request offers the profile's full ALPN; a 101 to it is
	// an error.
	req, _ := http.NewRequest("GET", "https://"+o.addr+"/sneaky101", nil)
	if resp, err := tr.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "101") {
		if resp != nil {
			resp.Body.Close()
		}
		t.Errorf("101 without an upgrade: %v", err)
	}

	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.offered) != 4 {
		t.Fatalf("%d hellos", len(o.offered))
	}
	for i, protos := range o.offered[:3] {
		if !slices.Equal(protos, []string{"http/1.1"}) {
			t.Errorf("handshake %d offered ALPN %q, want only http/1.1", i, protos)
		}
	}
	if !slices.Contains(o.offered[3], "h2") {
		t.Errorf("ordinary request offered %q, want h2 among them", o.offered[3])
	}
	for i, head := range o.heads[:3] {
		lower := strings.ToLower(head)
		if !strings.Contains(lower, "\r\nupgrade: websocket\r\n") || !strings.Contains(lower, "\r\nconnection: upgrade\r\n") ||
			!strings.Contains(lower, "\r\nsec-websocket-key: dghlihnhbxbszsbub25jzq==\r\n") {
			t.Errorf("handshake %d head lacks the upgrade headers:\n%s", i, head)
		}
	}
}

// headNames returns the header names of a request head, in order.
func headNames(head string) []string {
	var out []string
	for _, line := range strings.Split(head, "\r\n")[1:] {
		if name, _, ok := strings.Cut(line, ":"); ok {
			out = append(out, name)
		}
	}
	return out
}

// TestWebSocketUpgradeUsesWebSocketList: a handshake is sent in the order
// of the profile's h1 websocket list, even when the context names another
// initiator, with the caller's key; a profile without the list falls back
// to its navigate list.
func TestWebSocketUpgradeUsesWebSocketList(t *testing.T) {
	ca := newTestCA(t)
	o := startUpgradeOrigin(t, ca)
	base := testProfile(t)
	p := *base
	h1 := *base.H1
	h1.Headers = maps.Clone(base.H1.Headers)
	h1.Headers[emulation.WebSocket] = []emulation.Header{
		{Name: "Host"}, {Name: "Connection", Value: "Upgrade"}, {Name: "Pragma", Value: "no-cache"},
		{Name: "Cache-Control", Value: "no-cache"}, {Name: "User-Agent", Value: base.UserAgent},
		{Name: "Upgrade", Value: "websocket"}, {Name: "Origin"}, {Name: "Sec-WebSocket-Version", Value: "13"},
		{Name: "Accept-Encoding", Value: "gzip, deflate, br, zstd"}, {Name: "Accept-Language", Value: "en-US,en;q=0.9"},
		{Name: "Cookie"}, {Name: "Sec-WebSocket-Key"}, {Name: "Sec-WebSocket-Extensions"},
	}
	p.H1 = &h1

	for _, tc := range []struct {
		name string
		prof *emulation.Profile
		ctx  context.Context
		want []string
	}{
		{"websocket list", &p, context.Background(),
			[]string{"Host", "Connection", "Pragma", "Cache-Control", "User-Agent", "Upgrade", "Origin", "Sec-WebSocket-Version",
				"Accept-Encoding", "Accept-Language", "Sec-WebSocket-Key"}},
		{"websocket list whatever the context's initiator", &p, WithInitiator(context.Background(), emulation.Navigate),
			[]string{"Host", "Connection", "Pragma", "Cache-Control", "User-Agent", "Upgrade", "Origin", "Sec-WebSocket-Version",
				"Accept-Encoding", "Accept-Language", "Sec-WebSocket-Key"}},
		{"navigate list without a websocket list", base, context.Background(), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := New(Options{Profile: tc.prof, RootCAs: ca.pool})
			defer tr.CloseIdleConnections()
			o.mu.Lock()
			n := len(o.heads)
			o.mu.Unlock()
			req := wsRequest(t, tc.ctx, "https://"+o.addr+"/ws")
			req.Header.Set("Origin", "https://"+o.addr)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			o.mu.Lock()
			head := o.heads[n]
			o.mu.Unlock()
			got := headNames(head)
			want := tc.want
			if want == nil {
				// The navigate list's names that a handshake keeps, then the
				// handshake's own headers after it.
				for _, h := range emulation.RequestHeadersFor(base, req, emulation.Navigate, false) {
					want = append(want, h.Name)
				}
				if slices.Contains(got, "Pragma") {
					t.Errorf("navigate fallback sent the websocket list's Pragma: %q", got)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("handshake header order\n got %q\nwant %q\n%s", got, want, head)
			}
			if !strings.Contains(strings.ToLower(head), "\r\nsec-websocket-key: dghlihnhbxbszsbub25jzq==\r\n") {
				t.Errorf("the caller's key is missing:\n%s", head)
			}
		})
	}
}
