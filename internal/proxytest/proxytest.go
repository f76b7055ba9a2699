// Package proxytest runs small upstream proxies for tests: an HTTP
// CONNECT proxy and a SOCKS5 server (RFC 1928, with the user/password
// method of RFC 1929), both on 127.0.0.1. They relay bytes to whatever
// destination a client names and record the targets and credentials
// they saw, so tests can prove that traffic went through them.
package proxytest

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Server is a running test proxy.
type Server struct {
	// Addr is the listener's host:port.
	Addr string
	// User and Password, when User is set, are required from clients.
	User, Password string

	ln      net.Listener
	mu      sync.Mutex
	targets []string
	wg      sync.WaitGroup
}

// Targets returns the destinations clients asked for, in order.
func (s *Server) Targets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.targets...)
}

func (s *Server) record(t string) {
	s.mu.Lock()
	s.targets = append(s.targets, t)
	s.mu.Unlock()
}

func start(t testing.TB, user, pass string, serve func(*Server, net.Conn)) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startOn(t, ln, user, pass, serve)
}

func startOn(t testing.TB, ln net.Listener, user, pass string, serve func(*Server, net.Conn)) *Server {
	s := &Server{Addr: ln.Addr().String(), User: user, Password: pass, ln: ln}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() { serve(s, c) })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
	})
	return s
}

// relay copies both ways until either side ends, then closes both.
func relay(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = io.Copy(a, b); _ = a.Close() })
	wg.Go(func() { _, _ = io.Copy(b, a); _ = b.Close() })
	wg.Wait()
}

// StartConnect runs an HTTP proxy that accepts only CONNECT. With user
// set it answers 407 to requests without those Basic credentials.
func StartConnect(t testing.TB, user, pass string) *Server {
	return start(t, user, pass, serveConnect)
}

func serveConnect(s *Server, c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	if req.Method != http.MethodConnect {
		_, _ = io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
		return
	}
	if s.User != "" {
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte(s.User+":"+s.Password))
		if req.Header.Get("Proxy-Authorization") != want {
			_, _ = io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n")
			return
		}
	}
	s.record(req.Host)
	up, err := net.Dial("tcp", req.Host)
	if err != nil {
		_, _ = io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return
	}
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		_ = up.Close()
		return
	}
	relay(&readerConn{Conn: c, r: br}, up)
}

type readerConn struct {
	net.Conn
	r io.Reader
}

func (c *readerConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// StartConnectTLS is StartConnect behind TLS with cert (an https://
// proxy).
func StartConnectTLS(t testing.TB, user, pass string, cert tls.Certificate) *Server {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	return startOn(t, ln, user, pass, serveConnect)
}

// StartSOCKS5 runs a SOCKS5 server that supports CONNECT to IPv4, IPv6
// and domain-name destinations. With user set it requires the
// user/password method with those credentials; else "no authentication".
func StartSOCKS5(t testing.TB, user, pass string) *Server {
	return start(t, user, pass, serveSOCKS5)
}

func serveSOCKS5(s *Server, c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	target, err := s.socksHandshake(br, c)
	if err != nil {
		return
	}
	s.record(target)
	up, err := net.Dial("tcp", target)
	if err != nil {
		_, _ = c.Write([]byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0}) // connection refused
		return
	}
	if _, err := c.Write([]byte{5, 0, 0, 1, 127, 0, 0, 1, 0, 0}); err != nil {
		_ = up.Close()
		return
	}
	relay(&readerConn{Conn: c, r: br}, up)
}

var errSOCKS = errors.New("proxytest: bad SOCKS5 request")

func (s *Server) socksHandshake(br *bufio.Reader, w io.Writer) (string, error) {
	head := make([]byte, 2)
	if _, err := io.ReadFull(br, head); err != nil || head[0] != 5 {
		return "", errSOCKS
	}
	methods := make([]byte, head[1])
	if _, err := io.ReadFull(br, methods); err != nil {
		return "", errSOCKS
	}
	want := byte(0)
	if s.User != "" {
		want = 2
	}
	if !strings.Contains(string(methods), string([]byte{want})) {
		_, _ = w.Write([]byte{5, 0xff})
		return "", errSOCKS
	}
	if _, err := w.Write([]byte{5, want}); err != nil {
		return "", err
	}
	if want == 2 {
		ver, err := br.ReadByte()
		if err != nil || ver != 1 {
			return "", errSOCKS
		}
		u, err1 := readShort(br)
		p, err2 := readShort(br)
		if err1 != nil || err2 != nil {
			return "", errSOCKS
		}
		if u != s.User || p != s.Password {
			_, _ = w.Write([]byte{1, 1})
			return "", errSOCKS
		}
		if _, err := w.Write([]byte{1, 0}); err != nil {
			return "", err
		}
	}
	req := make([]byte, 4)
	if _, err := io.ReadFull(br, req); err != nil || req[0] != 5 || req[1] != 1 {
		return "", errSOCKS
	}
	var host string
	switch req[3] {
	case 1, 4:
		n := 4
		if req[3] == 4 {
			n = 16
		}
		ip := make([]byte, n)
		if _, err := io.ReadFull(br, ip); err != nil {
			return "", errSOCKS
		}
		host = net.IP(ip).String()
	case 3:
		h, err := readShort(br)
		if err != nil {
			return "", errSOCKS
		}
		host = h
	default:
		return "", errSOCKS
	}
	pb := make([]byte, 2)
	if _, err := io.ReadFull(br, pb); err != nil {
		return "", errSOCKS
	}
	return net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(pb)))), nil
}

// readShort reads a length-prefixed string of at most 255 bytes.
func readShort(br *bufio.Reader) (string, error) {
	n, err := br.ReadByte()
	if err != nil {
		return "", err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(br, b); err != nil {
		return "", err
	}
	return string(b), nil
}
