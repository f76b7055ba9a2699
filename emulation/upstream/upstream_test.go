package upstream_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/emulation/upstream"
	"github.com/guanaco-fp/guanaco/internal/proxytest"
	"github.com/guanaco-fp/guanaco/internal/testenv"
)

// echoServer answers each line with the line upper-cased.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, err := bufio.NewReader(c).ReadString('\n')
				if err != nil {
					return
				}
				_, _ = io.WriteString(c, strings.ToUpper(line))
			}()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(t *testing.T, dial upstream.DialFunc, addr string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := dial(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := io.WriteString(c, "hello\n"); err != nil {
		t.Fatal(err)
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || got != "HELLO\n" {
		t.Fatalf("through the tunnel: %q, %v", got, err)
	}
	return nil
}

func TestParse(t *testing.T) {
	for in, want := range map[string]string{
		"http://u:p@127.0.0.1:3128": "127.0.0.1:3128",
		"127.0.0.1:3128":            "127.0.0.1:3128",
		"socks5://proxy.example":    "proxy.example:1080",
		"https://proxy.example":     "proxy.example:443",
		"SOCKS5H://[::1]:9":         "[::1]:9",
	} {
		p, err := upstream.Parse(in)
		if err != nil || p.Addr() != want {
			t.Errorf("Parse(%q) = %v, %v; want addr %s", in, p, err, want)
		}
		if strings.Contains(p.Name, ":p@") {
			t.Errorf("Parse(%q).Name %q shows the password", in, p.Name)
		}
	}
	for _, in := range []string{"ftp://x:1", "http://", "http://h:1/path", "socks4://h:1"} {
		if _, err := upstream.Parse(in); err == nil {
			t.Errorf("Parse(%q): no error", in)
		}
	}
}

func TestDialThroughProxies(t *testing.T) {
	dest := echoServer(t)
	for _, tc := range []struct {
		name  string
		start func(testing.TB, string, string) *proxytest.Server
		url   func(addr string) string
	}{
		{"connect", proxytest.StartConnect, func(a string) string { return "http://alice:s3cret@" + a }},
		{"socks5", proxytest.StartSOCKS5, func(a string) string { return "socks5://alice:s3cret@" + a }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.start(t, "alice", "s3cret")
			p, err := upstream.Parse(tc.url(srv.Addr))
			if err != nil {
				t.Fatal(err)
			}
			var dialled []string
			base := func(ctx context.Context, network, addr string) (net.Conn, error) {
				dialled = append(dialled, addr)
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			}
			if err := roundTrip(t, p.Dialer(base), dest); err != nil {
				t.Fatal(err)
			}
			if got := srv.Targets(); len(got) != 1 || got[0] != dest {
				t.Errorf("proxy saw targets %v, want [%s]", got, dest)
			}
			if len(dialled) != 1 || dialled[0] != srv.Addr {
				t.Errorf("base dialled %v, want only the proxy %s", dialled, srv.Addr)
			}

			// Wrong credentials: the proxy's refusal is ErrProxy.
			bad, _ := upstream.Parse(strings.Replace(tc.url(srv.Addr), "s3cret", "wrong", 1))
			err = roundTrip(t, bad.Dialer(nil), dest)
			if !errors.Is(err, upstream.ErrProxy) {
				t.Errorf("wrong credentials: err %v, want ErrProxy", err)
			}
			if err != nil && strings.Contains(err.Error(), "wrong") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

// TestDialThroughHTTPSProxy: an https:// proxy is reached over TLS,
// verified against RootCAs.
func TestDialThroughHTTPSProxy(t *testing.T) {
	dest := echoServer(t)
	caFile, certFile, keyFile := testenv.WritePKI(t, t.TempDir())
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := proxytest.StartConnectTLS(t, "a", "b", cert)
	_, port, _ := net.SplitHostPort(srv.Addr)
	p, err := upstream.Parse("https://a:b@localhost:" + port)
	if err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(t, p.Dialer(nil), dest); err == nil {
		t.Fatal("an https proxy with an unknown CA was accepted")
	}
	pem, _ := os.ReadFile(caFile)
	p.RootCAs = x509.NewCertPool()
	p.RootCAs.AppendCertsFromPEM(pem)
	if err := roundTrip(t, p.Dialer(nil), dest); err != nil {
		t.Fatal(err)
	}
	if got := srv.Targets(); len(got) != 1 || got[0] != dest {
		t.Errorf("targets %v", got)
	}
}

func TestProxyUnreachable(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	_ = ln.Close()
	p, _ := upstream.Parse("http://" + addr)
	err := roundTrip(t, p.Dialer(nil), "example.com:443")
	if err == nil || errors.Is(err, upstream.ErrProxy) {
		t.Fatalf("unreachable proxy: err %v, want a dial error that is not ErrProxy", err)
	}
	var op *net.OpError
	var re *upstream.ReachError
	if !errors.As(err, &op) || !errors.As(err, &re) {
		t.Errorf("err %v is not a ReachError keeping the dial error", err)
	}
	p, _ = upstream.Parse("socks5://" + addr)
	if err := roundTrip(t, p.Dialer(nil), "example.com:443"); !errors.As(err, &re) || errors.Is(err, upstream.ErrProxy) {
		t.Errorf("unreachable socks5 proxy: err %v, want a ReachError", err)
	}
}
