package capture_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/guanaco-fp/guanaco/capture"
	"github.com/guanaco-fp/guanaco/fingerprint"
)

// echoed is what the test handler reports about its own request capture.
type echoed struct {
	Matched     bool
	Protocol    string
	Headers     []fingerprint.Header
	HeaderOrder string
	JA4         string
	Akamai      string
	Priority    *fingerprint.H2Priority
	Remote      string
	RawHelloJA4 string
}

func testCert(t testing.TB) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Logf("server: %s", bytes.TrimSpace(p))
	return len(p), nil
}

type testServer struct {
	addr    string
	mu      sync.Mutex
	reasons []string
	ln      *capture.Listener
}

func (s *testServer) failures() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.reasons...)
}

// startServer runs a capture.Listener with net/http serving HTTP/1 and
// (unencrypted, after the capture's TLS) HTTP/2, the way fpserver wires them.
func startServer(t *testing.T, withTLS bool, mutate func(*capture.Config)) *testServer {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{addr: inner.Addr().String()}
	handler := capture.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		rc, ok := capture.FromRequest(r)
		if !ok {
			http.Error(w, "no capture", 500)
			return
		}
		e := echoed{Matched: rc.Matched, Protocol: string(rc.Protocol), Headers: rc.Headers, HeaderOrder: rc.HeaderOrder.Order}
		if c, ok := capture.ConnFromContext(r.Context()); ok {
			e.Remote = c.RemoteAddrPort().String()
		}
		if rc.TLS != nil {
			e.JA4 = rc.TLS.Fingerprints.JA4
			if ch, err := fingerprint.ParseClientHello(rc.TLS.Raw); err == nil {
				e.RawHelloJA4 = ch.Fingerprints().JA4
			}
		}
		if rc.H2 != nil {
			e.Akamai = rc.H2.Akamai.Text
			e.Priority = rc.H2.Request.Priority
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(e)
	}))
	hs := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          log.New(testLogWriter{t}, "", 0),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return capture.ContextWithConn(ctx, c.(*capture.Conn))
		},
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	hs.Protocols = &protos
	cfg := capture.Config{
		HandshakeTimeout: 2 * time.Second,
		OnHandshakeError: func(reason string, err error) {
			ts.mu.Lock()
			ts.reasons = append(ts.reasons, reason)
			ts.mu.Unlock()
		},
	}
	if withTLS {
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{testCert(t)}, NextProtos: []string{"h2", "http/1.1"}}
	}
	if mutate != nil {
		mutate(&cfg)
	}
	ts.ln = capture.NewListener(inner, cfg)
	go func() { _ = hs.Serve(ts.ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		ts.ln.Close()
		ts.ln.Wait()
	})
	return ts
}

func clientTLS(protos ...string) *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", NextProtos: protos} //nolint:gosec // test server, self-signed
}

// rawH1 writes raw request bytes on one connection and reads len(want) responses.
func rawH1(t *testing.T, conn net.Conn, reqs ...string) []echoed {
	t.Helper()
	br := bufio.NewReader(conn)
	var out []echoed
	for _, rq := range reqs {
		if _, err := io.WriteString(conn, rq); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		var e echoed
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
			t.Fatalf("decoding response (%s): %v", resp.Status, err)
		}
		resp.Body.Close()
		out = append(out, e)
	}
	return out
}

func TestHTTP1KeepAliveEachRequestOwnOrder(t *testing.T) {
	for _, withTLS := range []bool{true, false} {
		t.Run(fmt.Sprintf("tls=%v", withTLS), func(t *testing.T) {
			ts := startServer(t, withTLS, nil)
			var conn net.Conn
			var err error
			if withTLS {
				conn, err = tls.Dial("tcp", ts.addr, clientTLS("http/1.1"))
			} else {
				conn, err = net.Dial("tcp", ts.addr)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			got := rawH1(t, conn,
				"GET /one HTTP/1.1\r\nHost: x\r\nX-Zeta: 1\r\naccept: */*\r\n\r\n",
				"POST /two?q=1 HTTP/1.1\r\nhost: x\r\nContent-Length: 5\r\nX-Alpha: 2\r\n\r\nhello",
				"GET /three HTTP/1.1\r\nHOST: x\r\nUser-Agent: t\r\nUser-Agent: dup\r\n\r\n",
				// The same names as the request before (the connection's
				// cached order), then names of the same count differing
				// only in case.
				"GET /four HTTP/1.1\r\nHOST: y\r\nUser-Agent: u\r\nUser-Agent: v\r\n\r\n",
				"GET /five HTTP/1.1\r\nHOST: y\r\nUser-Agent: u\r\nuser-agent: v\r\n\r\n",
			)
			want := []string{"Host,X-Zeta,accept", "host,Content-Length,X-Alpha", "HOST,User-Agent,User-Agent",
				"HOST,User-Agent,User-Agent", "HOST,User-Agent,user-agent"}
			if len(got) != len(want) {
				t.Fatalf("%d requests echoed, want %d", len(got), len(want))
			}
			for i, e := range got {
				if !e.Matched || e.HeaderOrder != want[i] {
					t.Errorf("request %d: matched=%v order %q, want %q", i, e.Matched, e.HeaderOrder, want[i])
				}
				if e.Protocol != "http/1.1" {
					t.Errorf("request %d: protocol %q", i, e.Protocol)
				}
				if withTLS && (e.JA4 == "" || e.JA4 != e.RawHelloJA4) {
					t.Errorf("request %d: JA4 %q, from raw hello %q", i, e.JA4, e.RawHelloJA4)
				}
				if !withTLS && e.JA4 != "" {
					t.Errorf("plain connection reported a JA4")
				}
			}
		})
	}
}

// TestHTTP2FramesAndStreams drives the server with a hand-written HTTP/2
// client (Framer + HPACK), so SETTINGS, WINDOW_UPDATE, PRIORITY and header
// order are known exactly.
//
// Over TLS the client negotiates h2 with ALPN; on the plain-text listener it
// sends the preface with prior knowledge (h2c, RFC 9113 §3.3), which must be
// captured the same way.
func TestHTTP2FramesAndStreams(t *testing.T) {
	for _, withTLS := range []bool{true, false} {
		t.Run(map[bool]string{true: "tls", false: "h2c"}[withTLS], func(t *testing.T) {
			testHTTP2FramesAndStreams(t, withTLS)
		})
	}
}

func testHTTP2FramesAndStreams(t *testing.T, withTLS bool) {
	ts := startServer(t, withTLS, nil)
	var conn net.Conn
	if withTLS {
		tc, err := tls.Dial("tcp", ts.addr, clientTLS("h2"))
		if err != nil {
			t.Fatal(err)
		}
		if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
			t.Fatalf("negotiated %q", p)
		}
		conn = tc
	} else {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		conn = c
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
	must(fr.WriteSettings(
		http2.Setting{ID: 1, Val: 65536}, http2.Setting{ID: 2, Val: 0},
		http2.Setting{ID: 4, Val: 6291456}, http2.Setting{ID: 6, Val: 262144}))
	must(fr.WriteWindowUpdate(0, 15663105))
	must(fr.WritePriority(3, http2.PriorityParam{StreamDep: 0, Exclusive: false, Weight: 200}))
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	block := func(path string, extra ...string) []byte {
		hb.Reset()
		fields := []string{":method", "GET", ":authority", "localhost", ":scheme", "https", ":path", path}
		fields = append(fields, extra...)
		for i := 0; i < len(fields); i += 2 {
			must(enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]}))
		}
		return append([]byte(nil), hb.Bytes()...)
	}
	must(fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block("/a", "x-first", "1", "accept", "a"),
		EndStream: true, EndHeaders: true, Priority: http2.PriorityParam{StreamDep: 0, Exclusive: true, Weight: 255}}))
	must(fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, BlockFragment: block("/a", "accept", "b", "x-second", "2"),
		EndStream: true, EndHeaders: true}))

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
	wantAkamai := "1:65536;2:0;4:6291456;6:262144|15663105|3:0:0:201|m,a,s,p"
	for id, wantOrder := range map[uint32]string{1: ":method,:authority,:scheme,:path,x-first,accept", 5: ":method,:authority,:scheme,:path,accept,x-second"} {
		e := results[id]
		if !e.Matched || e.HeaderOrder != wantOrder {
			t.Errorf("stream %d: matched=%v order %q, want %q", id, e.Matched, e.HeaderOrder, wantOrder)
		}
		if e.Akamai != wantAkamai {
			t.Errorf("stream %d: akamai %q, want %q", id, e.Akamai, wantAkamai)
		}
		if e.Protocol != "h2" {
			t.Errorf("stream %d: protocol %q", id, e.Protocol)
		}
	}
	if p := results[1].Priority; p == nil || !p.Exclusive || p.Weight != 256 || p.DependsOn != 0 {
		t.Errorf("stream 1 HEADERS priority = %+v, want exclusive dep 0 weight 256", p)
	}
	if p := results[5].Priority; p != nil {
		t.Errorf("stream 5 sent no priority, got %+v", p)
	}
}

// TestGoClients checks the standard clients over both protocols.
func TestGoClients(t *testing.T) {
	ts := startServer(t, true, nil)
	for _, proto := range []string{"h2", "http/1.1"} {
		tr := &http.Transport{TLSClientConfig: clientTLS(proto), ForceAttemptHTTP2: proto == "h2"}
		if proto == "http/1.1" {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		for i := 0; i < 3; i++ {
			resp, err := c.Get("https://" + ts.addr + fmt.Sprintf("/go/%d", i))
			if err != nil {
				t.Fatal(err)
			}
			var e echoed
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			wantProto := map[string]string{"h2": "h2", "http/1.1": "http/1.1"}[proto]
			if !e.Matched || e.Protocol != wantProto || e.JA4 == "" || e.JA4 != e.RawHelloJA4 {
				t.Errorf("%s request %d: %+v", proto, i, e)
			}
			if proto == "h2" && !strings.HasPrefix(e.HeaderOrder, ":method,:scheme,:authority,:path") && !strings.HasPrefix(e.HeaderOrder, ":authority,:method,:path,:scheme") {
				t.Logf("Go h2 order: %s", e.HeaderOrder)
			}
			if proto == "h2" && !strings.HasPrefix(e.HeaderOrder, ":") {
				t.Errorf("h2 header order should start with pseudo headers: %q", e.HeaderOrder)
			}
		}
		tr.CloseIdleConnections()
	}
}

// slowWriter sends every write one byte at a time.
type slowWriter struct{ net.Conn }

func (s slowWriter) Write(p []byte) (int, error) {
	for i := range p {
		if _, err := s.Conn.Write(p[i : i+1]); err != nil {
			return i, err
		}
	}
	return len(p), nil
}

func TestHostileInputAndServerKeepsServing(t *testing.T) {
	ts := startServer(t, true, func(c *capture.Config) { c.HandshakeTimeout = 500 * time.Millisecond })

	// Non-TLS bytes on the TLS port: closed, reason not_tls.
	c1, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(c1, "SSH-2.0-OpenSSH_9.2\r\n")
	_ = c1.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, err := c1.Read(make([]byte, 64)); err == nil {
		t.Errorf("SSH banner: server answered %d bytes instead of closing", n)
	}
	c1.Close()

	// Plain HTTP on the TLS port: a 400 naming the problem.
	c2, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(c2, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = c2.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c2), nil)
	if err != nil {
		t.Fatalf("HTTP on TLS port: %v", err)
	}
	if resp.StatusCode != 400 {
		t.Errorf("HTTP on TLS port: status %d", resp.StatusCode)
	}
	c2.Close()

	// A silent client is dropped at the handshake timeout.
	c3, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c3.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := c3.Read(make([]byte, 1)); err == nil {
		t.Errorf("silent client: got data")
	} else if el := time.Since(start); el > 4*time.Second {
		t.Errorf("silent client not dropped within the timeout: %v", el)
	}
	c3.Close()

	// A ClientHello sent one byte at a time still completes.
	raw, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(slowWriter{raw}, clientTLS("http/1.1"))
	got := rawH1(t, tc, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	if !got[0].Matched || got[0].JA4 == "" {
		t.Errorf("slow hello: %+v", got[0])
	}
	tc.Close()

	// Oversized headers: net/http answers 431, the connection's capture
	// stops, and others are served.
	c4, err := tls.Dial("tcp", ts.addr, clientTLS("http/1.1"))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(c4, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 2<<20)+"\r\n\r\n")
	_ = c4.SetReadDeadline(time.Now().Add(5 * time.Second))
	if resp, err := http.ReadResponse(bufio.NewReader(c4), nil); err == nil && resp.StatusCode != 431 {
		t.Errorf("oversized header: status %d, want 431", resp.StatusCode)
	}
	c4.Close()

	// A client that negotiated h2 but speaks HTTP/1 is disconnected, not
	// answered as HTTP/1 (RFC 9113 §3.4).
	c6, err := tls.Dial("tcp", ts.addr, clientTLS("h2"))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(c6, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = c6.SetReadDeadline(time.Now().Add(3 * time.Second))
	if b, err := io.ReadAll(c6); len(b) > 0 {
		t.Errorf("h2 connection without preface got an answer: %q (%v)", b, err)
	}
	c6.Close()

	reasons := strings.Join(ts.failures(), ",")
	for _, want := range []string{capture.ReasonNotTLS, capture.ReasonHTTPOnTLS, capture.ReasonTimeout} {
		if !strings.Contains(reasons, want) {
			t.Errorf("handshake failure reasons %q lack %q", reasons, want)
		}
	}

	// The server still serves a normal client.
	c5, err := tls.Dial("tcp", ts.addr, clientTLS("http/1.1"))
	if err != nil {
		t.Fatal(err)
	}
	if got := rawH1(t, c5, "GET /after HTTP/1.1\r\nHost: x\r\n\r\n"); !got[0].Matched {
		t.Errorf("after hostile input: %+v", got[0])
	}
	c5.Close()
}

func TestProxyProtocol(t *testing.T) {
	send := func(t *testing.T, addr string) (net.Conn, error) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return nil, err
		}
		hdr := &proxyproto.Header{
			Version: 2, Command: proxyproto.PROXY, TransportProtocol: proxyproto.TCPv4,
			SourceAddr:      &net.TCPAddr{IP: net.ParseIP("203.0.113.7"), Port: 40000},
			DestinationAddr: &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 443},
		}
		if _, err := hdr.WriteTo(c); err != nil {
			return nil, err
		}
		return tls.Client(c, clientTLS("http/1.1")), nil
	}
	t.Run("trusted", func(t *testing.T) {
		ts := startServer(t, true, func(c *capture.Config) {
			c.ProxyProtocol = true
			c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		})
		c, err := send(t, ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		got := rawH1(t, c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if got[0].Remote != "203.0.113.7:40000" {
			t.Errorf("remote %q, want the PROXY source", got[0].Remote)
		}
	})
	// A trusted peer must send the header: without it the connection is
	// refused, not recorded under the proxy's own address.
	t.Run("trusted without header", func(t *testing.T) {
		ts := startServer(t, true, func(c *capture.Config) {
			c.ProxyProtocol = true
			c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		})
		raw, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		c := tls.Client(raw, clientTLS("http/1.1"))
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		if err := c.Handshake(); err == nil {
			t.Fatal("handshake succeeded from a trusted peer that sent no PROXY header")
		}
		deadline := time.Now().Add(3 * time.Second)
		for !strings.Contains(strings.Join(ts.failures(), ","), capture.ReasonProxyProto) {
			if time.Now().After(deadline) {
				t.Fatalf("failure reasons %v lack %s", ts.failures(), capture.ReasonProxyProto)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	t.Run("untrusted", func(t *testing.T) {
		ts := startServer(t, true, func(c *capture.Config) {
			c.ProxyProtocol = true
			c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
		})
		c, err := send(t, ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		if err := c.(*tls.Conn).Handshake(); err == nil {
			t.Fatal("handshake succeeded after a PROXY header from an untrusted peer")
		}
		deadline := time.Now().Add(3 * time.Second)
		for !strings.Contains(strings.Join(ts.failures(), ","), capture.ReasonProxyProto) {
			if time.Now().After(deadline) {
				t.Fatalf("failure reasons %v lack %s", ts.failures(), capture.ReasonProxyProto)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// fragmentingWriter re-frames the first TLS record written (the
// ClientHello) into records of at most size bytes; later writes pass.
type fragmentingWriter struct {
	net.Conn
	size int
	done bool
}

func (f *fragmentingWriter) Write(p []byte) (int, error) {
	if f.done || len(p) < 5 || p[0] != 0x16 {
		return f.Conn.Write(p)
	}
	f.done = true
	n := int(p[3])<<8 | int(p[4])
	body, rest := p[5:5+n], p[5+n:]
	var out []byte
	for len(body) > 0 {
		k := min(f.size, len(body))
		out = append(out, 0x16, p[1], p[2], byte(k>>8), byte(k))
		out = append(out, body[:k]...)
		body = body[k:]
	}
	if _, err := f.Conn.Write(append(out, rest...)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// TestHelloOurParserRejectsIsServedWhenCryptoTLSAccepts sends a hello
// fragmented over more records than the parser's cap: the parser refuses
// it, crypto/tls reassembles it, and the client is served (without a TLS
// fingerprint) instead of being dropped.
func TestHelloOurParserRejectsIsServedWhenCryptoTLSAccepts(t *testing.T) {
	ts := startServer(t, true, nil)
	raw, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
	// Go's hello is over 250 bytes: 3-byte records make more than 64.
	tc := tls.Client(&fragmentingWriter{Conn: raw, size: 3}, clientTLS("http/1.1"))
	got := rawH1(t, tc, "GET /fragmented HTTP/1.1\r\nHost: x\r\n\r\n")
	if !got[0].Matched || got[0].JA4 != "" {
		t.Errorf("fragmented hello: %+v (want served, no JA4)", got[0])
	}
	if f := ts.failures(); len(f) != 0 {
		t.Errorf("handshake failures %v", f)
	}
	// The same hello in a few records is fingerprinted as usual.
	raw2, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw2.Close()
	tc2 := tls.Client(&fragmentingWriter{Conn: raw2, size: 100}, clientTLS("http/1.1"))
	if got := rawH1(t, tc2, "GET /few HTTP/1.1\r\nHost: x\r\n\r\n"); got[0].JA4 == "" {
		t.Errorf("hello in a few records: no JA4: %+v", got[0])
	}
}
