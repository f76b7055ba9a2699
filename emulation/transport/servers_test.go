package transport

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/emulation"
)

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return portOf(ln.Addr().String())
}

// TestNghttpd talks to Debian's nghttpd: file download with flow control
// (1 MiB, above every initial window) and uploads echoed back.
func TestNghttpd(t *testing.T) {
	bin, err := exec.LookPath("nghttpd")
	if err != nil {
		t.Fatalf("nghttpd (Debian package nghttp2-server) is required: %v", err)
	}
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile := writePEM(t, dir, ca.leaf(t))
	docs := filepath.Join(dir, "docs")
	if err := os.Mkdir(docs, 0o755); err != nil {
		t.Fatal(err)
	}
	blob := make([]byte, 1<<20)
	_, _ = rand.Read(blob)
	if err := os.WriteFile(filepath.Join(docs, "blob"), blob, 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-a", "127.0.0.1", "-d", docs, "--echo-upload", port, keyFile, certFile)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			c.Close()
			break
		}
		if i > 100 {
			t.Fatal("nghttpd did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, p := range testProfiles(t) {
		tr := New(Options{Profile: p, RootCAs: ca.pool})
		base := "https://localhost:" + port
		rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
		resp, err := get(t, tr, rctx, base+"/blob")
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, blob) || resp.ProtoMajor != 2 {
			t.Errorf("%s: download: %d bytes (want %d), err %v, proto %s", p.Name, len(got), len(blob), err, resp.Proto)
		}
		for _, size := range []int{0, 10, 200 << 10} {
			up := blob[:size]
			req, _ := http.NewRequestWithContext(rctx, http.MethodPost, base+"/echo", bytes.NewReader(up))
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Errorf("%s: upload %d: %v", p.Name, size, err)
				continue
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || !bytes.Equal(got, up) {
				t.Errorf("%s: upload %d echoed %d bytes, status %d, err %v", p.Name, size, len(got), resp.StatusCode, err)
			}
		}
		rcancel()
		tr.CloseIdleConnections()
	}
}

// startGoServer runs net/http's TLS server with HTTP/2 (when h2) and
// counts connections.
func startGoServer(t testing.TB, ca *testCA, h2 bool, h http.Handler, configure ...func(*http.Server)) (*httptest.Server, *atomic.Int32) {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	var conns atomic.Int32
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	protos := []string{"http/1.1"}
	if h2 {
		protos = []string{"h2", "http/1.1"}
		srv.EnableHTTP2 = true
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.leaf(t)}, NextProtos: protos}
	for _, fn := range configure {
		fn(srv.Config)
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, &conns
}

// TestGoServerConcurrent sends many concurrent requests (bodies, large
// responses, trailers, a header block larger than the 16 KiB frame size so
// CONTINUATION is needed) to net/http's HTTP/2 server. Run with -race.
func TestGoServerConcurrent(t *testing.T) {
	ca := newTestCA(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	srv, conns := startGoServer(t, ca, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Write(big)
		case "/trailer":
			w.Header().Set("Trailer", "X-Sum")
			body, _ := io.ReadAll(r.Body)
			w.Write(body)
			w.Header().Set("X-Sum", fmt.Sprintf("%x", sha256.Sum256(body)))
		case "/header":
			fmt.Fprint(w, len(r.Header.Get("X-Big")))
		default:
			body, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %d", r.Proto, len(body))
		}
	}))
	tr := New(Options{Profile: testProfile(t), RootCAs: ca.pool})
	defer tr.CloseIdleConnections()
	base := "https://localhost:" + portOf(srv.Listener.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 120 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var req *http.Request
			want := ""
			switch i % 4 {
			case 0:
				req, _ = http.NewRequestWithContext(ctx, http.MethodGet, base+"/big", nil)
			case 1:
				body := bytes.Repeat([]byte{'x'}, i*1000)
				req, _ = http.NewRequestWithContext(ctx, http.MethodPost, base+"/echo", bytes.NewReader(body))
				want = fmt.Sprintf("HTTP/2.0 %d", len(body))
			case 2:
				body := bytes.Repeat([]byte{'y'}, 70000+i)
				req, _ = http.NewRequestWithContext(ctx, http.MethodPut, base+"/trailer", bytes.NewReader(body))
				want = string(body)
			case 3:
				req, _ = http.NewRequestWithContext(ctx, http.MethodGet, base+"/header", nil)
				v := make([]byte, 30000)
				_, _ = rand.Read(v)
				req.Header.Set("X-Big", fmt.Sprintf("%x", v))
				want = "60000"
			}
			resp, err := tr.RoundTrip(req)
			if err != nil {
				errs <- fmt.Errorf("request %d: %w", i, err)
				return
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				errs <- fmt.Errorf("request %d body: %w", i, err)
				return
			}
			switch i % 4 {
			case 0:
				if !bytes.Equal(got, big) {
					errs <- fmt.Errorf("request %d: big body %d bytes", i, len(got))
				}
			case 2:
				sum := fmt.Sprintf("%x", sha256.Sum256([]byte(want)))
				if string(got) != want || resp.Trailer.Get("X-Sum") != sum {
					errs <- fmt.Errorf("request %d: trailer %q (want %s), body %d bytes", i, resp.Trailer.Get("X-Sum"), sum, len(got))
				}
			default:
				if string(got) != want {
					errs <- fmt.Errorf("request %d: got %q want %q", i, got, want)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := conns.Load(); n < 1 || n > 3 {
		t.Errorf("%d connections for 120 concurrent requests; want them multiplexed", n)
	}
}

// TestHTTP1Server checks the exact request head an HTTP/1.1-only server
// receives (order and casing), keep-alive reuse, Connection: close, and
// chunked request bodies.
func TestHTTP1Server(t *testing.T) {
	ca := newTestCA(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{ca.leaf(t)}, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	heads := make(chan string, 10)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() {
				defer nc.Close()
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
					req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head.String())))
					if err != nil {
						return
					}
					var body []byte
					if len(req.TransferEncoding) > 0 && req.TransferEncoding[0] == "chunked" {
						body, _ = io.ReadAll(httpChunked(br))
					} else if n, _ := strconv.Atoi(req.Header.Get("Content-Length")); n > 0 {
						body = make([]byte, n)
						_, _ = io.ReadFull(br, body)
					}
					heads <- head.String()
					closeIt := req.URL.Path == "/close"
					extra := ""
					if closeIt {
						extra = "Connection: close\r\n"
					}
					fmt.Fprintf(nc, "HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\n\r\n%s", extra, len(body)+2, "ok"+string(body))
					if closeIt {
						return
					}
				}
			}()
		}
	}()
	p := testProfile(t)
	tr := New(Options{Profile: p, RootCAs: ca.pool})
	defer tr.CloseIdleConnections()
	base := "https://localhost:" + portOf(ln.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	do := func(method, path string, body io.Reader, hdr ...string) string {
		req, _ := http.NewRequestWithContext(ctx, method, base+path, body)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Proto != "HTTP/1.1" || resp.TLS == nil || resp.TLS.NegotiatedProtocol != "http/1.1" {
			t.Errorf("proto %s", resp.Proto)
		}
		return string(b)
	}
	do(http.MethodGet, "/a?b=c", nil, "Cookie", "k=v")
	head := <-heads
	var want strings.Builder
	want.WriteString("GET /a?b=c HTTP/1.1\r\n")
	for _, h := range p.H1.Headers[emulation.Navigate] {
		switch strings.ToLower(h.Name) {
		case "host":
			h.Value = "localhost:" + portOf(ln.Addr().String())
		case "cookie":
			h.Value = "k=v"
		}
		fmt.Fprintf(&want, "%s: %s\r\n", h.Name, h.Value)
	}
	want.WriteString("\r\n")
	if head != want.String() {
		t.Errorf("request head:\n%s\nwant:\n%s", head, want.String())
	}
	if got := do(http.MethodPost, "/chunked", io.MultiReader(strings.NewReader("abc"), strings.NewReader("def"))); got != "okabcdef" {
		t.Errorf("chunked upload echoed %q", got)
	}
	if h := <-heads; !strings.Contains(h, "Transfer-Encoding: chunked\r\n") {
		t.Errorf("chunked head: %q", h)
	}
	if n := accepted.Load(); n != 1 {
		t.Errorf("keep-alive: %d connections after two requests", n)
	}
	do(http.MethodGet, "/close", nil)
	<-heads
	do(http.MethodGet, "/after-close", nil)
	<-heads
	if n := accepted.Load(); n != 2 {
		t.Errorf("after Connection: close: %d connections, want 2", n)
	}
}

// httpChunked decodes a chunked body from br (test server side).
func httpChunked(br *bufio.Reader) io.Reader {
	var out bytes.Buffer
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			break
		}
		n, err := strconv.ParseInt(strings.TrimSpace(line), 16, 64)
		if err != nil {
			break
		}
		if n == 0 {
			_, _ = br.ReadString('\n')
			break
		}
		chunk := make([]byte, n+2)
		if _, err := io.ReadFull(br, chunk); err != nil {
			break
		}
		out.Write(chunk[:n])
	}
	return &out
}

// TestInvalidCertificate: a server whose certificate chains to another CA
// fails the handshake with a verification error.
func TestInvalidCertificate(t *testing.T) {
	good, other := newTestCA(t), newTestCA(t)
	srv, _ := startGoServer(t, good, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	tr := New(Options{Profile: testProfile(t), RootCAs: other.pool})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := get(t, tr, ctx, "https://localhost:"+portOf(srv.Listener.Addr().String())+"/")
	var ua x509.UnknownAuthorityError
	if !errors.As(err, &ua) {
		t.Fatalf("err = %v, want an unknown-authority verification error", err)
	}
	// The right CA but the wrong name fails as well.
	tr = New(Options{Profile: testProfile(t), RootCAs: good.pool, DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
	}})
	_, err = get(t, tr, ctx, "https://wrong.example:443/")
	var hn x509.HostnameError
	if !errors.As(err, &hn) {
		t.Fatalf("err = %v, want a hostname verification error", err)
	}
}

// TestKeyShareRetry: a server that prefers P-256 picks the Firefox hello's
// second classical key share (utls#402); the transport must still connect.
func TestKeyShareRetry(t *testing.T) {
	ca := newTestCA(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.TLS.CurveID)
	}))
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.leaf(t)}, NextProtos: []string{"h2"}, CurvePreferences: []tls.CurveID{tls.CurveP256}}
	srv.StartTLS()
	defer srv.Close()
	p := buildProfile(t, firefoxShape())
	tr := New(Options{Profile: p, RootCAs: ca.pool})
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := get(t, tr, ctx, "https://localhost:"+portOf(srv.Listener.Addr().String())+"/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != tls.CurveP256.String() {
		t.Errorf("negotiated %s", b)
	}
}

// TestHTTP2FallbackToH1OnlyProfile: an h2-capable server answering a
// profile without H2 still works (empty SETTINGS, default pseudo order).
func TestProfileWithoutH2(t *testing.T) {
	ca := newTestCA(t)
	srv, _ := startGoServer(t, ca, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Proto, " ", r.Header.Get("User-Agent"))
	}))
	p := testProfile(t)
	p.H2 = nil
	tr := New(Options{Profile: p, RootCAs: ca.pool})
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := get(t, tr, ctx, "https://localhost:"+portOf(srv.Listener.Addr().String())+"/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "HTTP/2.0 "+chromeUA {
		t.Errorf("got %q", b)
	}
}

// TestMaxConcurrentStreams: with the server allowing 2 streams per
// connection, 6 concurrent requests never exceed 2 streams on any one
// connection; the transport opens further connections instead.
func TestMaxConcurrentStreams(t *testing.T) {
	ca := newTestCA(t)
	var mu sync.Mutex
	active := map[string]int{}
	maxSeen := 0
	release := make(chan struct{})
	srv, conns := startGoServer(t, ca, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		active[r.RemoteAddr]++
		maxSeen = max(maxSeen, active[r.RemoteAddr])
		mu.Unlock()
		select {
		case <-release:
		case <-time.After(300 * time.Millisecond):
		}
		mu.Lock()
		active[r.RemoteAddr]--
		mu.Unlock()
	}), func(s *http.Server) { s.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: 2} })
	tr := New(Options{Profile: testProfile(t), RootCAs: ca.pool})
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "https://localhost:" + portOf(srv.Listener.Addr().String()) + "/"
	// The first request learns the server's SETTINGS.
	if resp, err := get(t, tr, ctx, url); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := get(t, tr, ctx, url)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		}()
	}
	wg.Wait()
	close(release)
	if maxSeen > 2 {
		t.Errorf("%d concurrent streams on one connection, server allows 2", maxSeen)
	}
	if n := conns.Load(); n < 3 {
		t.Errorf("%d connections for 6 concurrent requests at 2 streams each", n)
	}
}
