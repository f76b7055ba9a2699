package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// tunnelMeta is what the requests inside a tunnel need from its CONNECT.
type tunnelMeta struct {
	authority string // host:port of the CONNECT
	host      string
	user      ProxyUser
	route     route
}

type tunnelKey struct{}

// tunnelConn is the client connection of a CONNECT tunnel after the
// hijack: reads go through the server's buffered reader (it may already
// hold the client's first bytes), and Close untracks it once.
type tunnelConn struct {
	net.Conn
	br    *bufio.Reader
	meta  *tunnelMeta
	p     *Proxy
	once  sync.Once
	cerr  error
	start time.Time
}

func (c *tunnelConn) Read(b []byte) (int, error) { return c.br.Read(b) }

// Close closes the connection and removes it from the proxy's tunnels.
func (c *tunnelConn) Close() error {
	c.once.Do(func() {
		c.p.untrack(c)
		c.cerr = c.Conn.Close()
	})
	return c.cerr
}

// track registers a new tunnel; it fails when the proxy is shutting down.
func (p *Proxy) track(c *tunnelConn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shutdown {
		return false
	}
	p.tunnels[c] = struct{}{}
	p.m.tunnels.Inc()
	return true
}

func (p *Proxy) untrack(c *tunnelConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.tunnels[c]; ok {
		delete(p.tunnels, c)
		p.m.tunnels.Dec()
	}
}

// tunnelContext is the inner server's ConnContext: it puts the tunnel's
// metadata into the context of every request read from it.
func tunnelContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if tc, ok := c.(*tunnelConn); ok {
		return context.WithValue(ctx, tunnelKey{}, tc.meta)
	}
	return ctx
}

// handleConnect answers CONNECT host:port: it checks the port and the
// destination, confirms the tunnel and serves it.
func (p *Proxy) handleConnect(w http.ResponseWriter, r *http.Request, user ProxyUser, rt route) {
	host, portStr, err := net.SplitHostPort(r.Host)
	port, perr := strconv.Atoi(portStr)
	if err != nil || perr != nil || host == "" {
		p.refuse(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("CONNECT target %q: want host:port", r.Host))
		return
	}
	if !p.portAllowed(port) {
		p.refusePort(w, port)
		return
	}
	// Refuse early when every address is refused; the dial checks again
	// on the address it actually connects to.
	if _, ok := p.admit(w, r, host, rt); !ok {
		return
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		p.refuse(w, http.StatusInternalServerError, "bad_request", "cannot take over the connection: "+err.Error())
		return
	}
	tc := &tunnelConn{Conn: nc, br: brw.Reader, p: p, start: time.Now(),
		meta: &tunnelMeta{authority: net.JoinHostPort(host, portStr), host: host, user: user, route: rt}}
	if !p.track(tc) {
		_ = nc.Close()
		return
	}
	_ = nc.SetDeadline(time.Now().Add(p.o.HandshakeTimeout))
	if _, err := nc.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		_ = tc.Close()
		return
	}
	p.serveTunnel(tc)
}

// serveTunnel waits for the client's first byte, terminates TLS when it
// starts a handshake and hands the connection to the inner server.
func (p *Proxy) serveTunnel(tc *tunnelConn) {
	first, err := tc.br.Peek(1)
	if err != nil {
		p.log.Debug("proxy: tunnel closed before the first byte", "target", tc.meta.authority, "err", err)
		_ = tc.Close()
		return
	}
	if first[0] != 0x16 { // not a TLS handshake record: plain HTTP
		_ = tc.SetDeadline(time.Time{})
		if !p.innerLn.push(tc) {
			_ = tc.Close()
		}
		return
	}
	conf := &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			name := hello.ServerName
			if name == "" {
				name = tc.meta.host
			}
			return p.leaves.Get(name)
		},
	}
	tlsConn := tls.Server(tc, conf)
	ctx, cancel := context.WithTimeout(context.Background(), p.o.HandshakeTimeout)
	err = tlsConn.HandshakeContext(ctx)
	cancel()
	if err != nil {
		p.m.handshakes.WithLabelValues("client").Inc()
		p.log.Debug("proxy: client TLS handshake failed", "target", tc.meta.authority, "err", err)
		_ = tc.Close()
		return
	}
	_ = tc.SetDeadline(time.Time{})
	if !p.innerLn.push(tlsConn) {
		_ = tc.Close()
	}
}

// chanListener is a net.Listener whose connections are pushed to it.
type chanListener struct {
	conns  chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newChanListener() *chanListener {
	return &chanListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

var _ net.Listener = (*chanListener)(nil)

// push hands c to Accept; false when the listener is closed.
func (l *chanListener) push(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

// Accept returns the next pushed connection.
func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close makes Accept and push fail.
func (l *chanListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return nil
}

// Addr is a placeholder: the connections come from CONNECT tunnels.
func (l *chanListener) Addr() net.Addr { return tunnelAddr{} }

type tunnelAddr struct{}

func (tunnelAddr) Network() string { return "tunnel" }
func (tunnelAddr) String() string  { return "emuproxy-tunnels" }
