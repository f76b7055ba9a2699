package proxy

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// SOCKS5 (RFC 1928) constants.
const (
	socksVersion     = 5
	socksNoAuth      = 0
	socksUserPass    = 2
	socksNoMethod    = 0xff
	socksCmdConnect  = 1
	socksAddrIPv4    = 1
	socksAddrDomain  = 3
	socksAddrIPv6    = 4
	socksOK          = 0
	socksFailure     = 1
	socksNotAllowed  = 2
	socksHostUnreach = 4
	socksCmdNotSupp  = 7
	socksAddrNotSupp = 8
)

// ServeSOCKS5 accepts SOCKS5 clients on ln until Shutdown or Close. A
// client's CONNECT opens the same tunnel an HTTP CONNECT does: the port
// policy and the egress policy apply, a TLS handshake inside is
// terminated with a leaf from the local CA and every request is
// re-originated with the selected profile. Only CONNECT is supported
// (BIND and UDP ASSOCIATE are refused). With Options.Credentials the
// user/password method (RFC 1929) is required; its user name carries the
// same labels as the HTTP proxy's ("alice+profile=NAME+upstream=LABEL").
// Without credentials "no authentication" is accepted, and so is
// user/password, for its labels. Addresses are passed as given: a domain
// name is resolved by the proxy (socks5h), not the client.
func (p *Proxy) ServeSOCKS5(ln net.Listener) error {
	p.mu.Lock()
	if p.shutdown {
		p.mu.Unlock()
		_ = ln.Close()
		return http.ErrServerClosed
	}
	p.socksLns = append(p.socksLns, ln)
	p.mu.Unlock()
	for {
		c, err := ln.Accept()
		if err != nil {
			p.mu.Lock()
			down := p.shutdown
			p.mu.Unlock()
			if down {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return fmt.Errorf("proxy: socks5 accept: %w", err)
		}
		go p.serveSOCKS(c)
	}
}

// closeSOCKS closes the SOCKS5 listeners.
func (p *Proxy) closeSOCKS() {
	p.mu.Lock()
	lns := p.socksLns
	p.socksLns = nil
	p.mu.Unlock()
	for _, ln := range lns {
		_ = ln.Close()
	}
}

// socksReply writes a reply with an unspecified bound address.
func socksReply(w io.Writer, code byte) error {
	_, err := w.Write([]byte{socksVersion, code, 0, socksAddrIPv4, 0, 0, 0, 0, 0, 0})
	return err
}

// serveSOCKS runs one SOCKS5 client: negotiation, CONNECT, then the
// tunnel.
func (p *Proxy) serveSOCKS(c net.Conn) {
	start := time.Now()
	_ = c.SetDeadline(start.Add(p.o.HandshakeTimeout))
	br := bufio.NewReader(c)
	user, err := p.socksAuth(br, c)
	if err != nil {
		p.log.Debug("proxy: socks5 negotiation failed", "client", c.RemoteAddr().String(), "err", err)
		_ = c.Close()
		return
	}
	host, port, err := readSOCKSRequest(br, c)
	if err != nil {
		p.log.Debug("proxy: socks5 request refused", "client", c.RemoteAddr().String(), "err", err)
		_ = c.Close()
		return
	}
	f := &Flow{Start: start, Client: c.RemoteAddr().String(), Proto: "SOCKS5", Method: "CONNECT",
		Host: net.JoinHostPort(host, strconv.Itoa(port)), RequestBodySize: -1}
	f.URL = f.Host
	refuse := func(code byte, status int, reason string, err error) {
		p.m.refused.WithLabelValues(reason).Inc()
		_ = socksReply(c, code)
		_ = c.Close()
		f.Status, f.Duration, f.Err = status, time.Since(start), err.Error()
		p.log.Debug("proxy: socks5 connect refused", "client", f.Client, "target", f.Host, "err", err)
		p.endFlow(context.Background(), f, false)
	}
	rt, err := p.routeFor(user)
	if err != nil {
		refuse(socksNotAllowed, http.StatusBadRequest, "bad_request", err)
		return
	}
	if !p.portAllowed(port) {
		refuse(socksNotAllowed, http.StatusForbidden, "port", fmt.Errorf("port %d not in -ports", port))
		return
	}
	if rt.px != nil {
		err = p.admitVia(host)
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), p.o.UpstreamTimeout)
		_, err = p.egress.Resolve(ctx, host)
		cancel()
	}
	if err != nil {
		code, reason, _ := upstreamError(err)
		if code == http.StatusForbidden {
			refuse(socksNotAllowed, code, reason, err)
		} else {
			refuse(socksHostUnreach, code, reason, err)
		}
		return
	}
	tc := &tunnelConn{Conn: c, br: br, p: p, start: start,
		meta: &tunnelMeta{authority: f.Host, host: host, user: user, route: rt}}
	if !p.track(tc) {
		_ = socksReply(c, socksFailure)
		_ = c.Close()
		return
	}
	if err := socksReply(c, socksOK); err != nil {
		_ = tc.Close()
		return
	}
	f.Status, f.Duration = http.StatusOK, time.Since(start)
	p.endFlow(context.Background(), f, true)
	p.serveTunnel(tc)
}

// socksAuth negotiates the method and returns the client's user (labels
// split off); it fails when credentials are required and wrong.
func (p *Proxy) socksAuth(br *bufio.Reader, w io.Writer) (ProxyUser, error) {
	var head [2]byte
	if _, err := io.ReadFull(br, head[:]); err != nil {
		return ProxyUser{}, err
	}
	if head[0] != socksVersion {
		return ProxyUser{}, fmt.Errorf("not SOCKS5 (version %d)", head[0])
	}
	methods := make([]byte, head[1])
	if _, err := io.ReadFull(br, methods); err != nil {
		return ProxyUser{}, err
	}
	offered := func(m byte) bool {
		for _, x := range methods {
			if x == m {
				return true
			}
		}
		return false
	}
	var method byte = socksNoMethod
	switch {
	case offered(socksUserPass):
		method = socksUserPass
	case offered(socksNoAuth) && !p.auth.enabled():
		method = socksNoAuth
	}
	if _, err := w.Write([]byte{socksVersion, method}); err != nil {
		return ProxyUser{}, err
	}
	switch method {
	case socksNoMethod:
		return ProxyUser{}, errors.New("no acceptable method (credentials required)")
	case socksNoAuth:
		return ProxyUser{}, nil
	}
	ver, err := br.ReadByte()
	if err != nil || ver != 1 {
		return ProxyUser{}, errors.New("bad user/password negotiation")
	}
	name, err1 := readSOCKSString(br)
	pass, err2 := readSOCKSString(br)
	if err := errors.Join(err1, err2); err != nil {
		return ProxyUser{}, err
	}
	u := ParseUserLabels(name, pass)
	if p.auth.enabled() && !p.auth.check(u) {
		p.m.refused.WithLabelValues("auth").Inc()
		_, _ = w.Write([]byte{1, 1})
		return ProxyUser{}, errors.New("credentials rejected")
	}
	if _, err := w.Write([]byte{1, 0}); err != nil {
		return ProxyUser{}, err
	}
	return u, nil
}

func readSOCKSString(br *bufio.Reader) (string, error) {
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

// readSOCKSRequest reads a request; anything but CONNECT is answered
// with "command not supported" and fails.
func readSOCKSRequest(br *bufio.Reader, w io.Writer) (string, int, error) {
	var req [4]byte
	if _, err := io.ReadFull(br, req[:]); err != nil {
		return "", 0, err
	}
	if req[0] != socksVersion {
		return "", 0, fmt.Errorf("request version %d", req[0])
	}
	var host string
	switch req[3] {
	case socksAddrIPv4, socksAddrIPv6:
		n := 4
		if req[3] == socksAddrIPv6 {
			n = 16
		}
		ip := make([]byte, n)
		if _, err := io.ReadFull(br, ip); err != nil {
			return "", 0, err
		}
		host = net.IP(ip).String()
	case socksAddrDomain:
		h, err := readSOCKSString(br)
		if err != nil {
			return "", 0, err
		}
		if h == "" {
			_ = socksReply(w, socksAddrNotSupp)
			return "", 0, errors.New("empty domain name")
		}
		host = h
	default:
		_ = socksReply(w, socksAddrNotSupp)
		return "", 0, fmt.Errorf("address type %d", req[3])
	}
	var pb [2]byte
	if _, err := io.ReadFull(br, pb[:]); err != nil {
		return "", 0, err
	}
	if req[1] != socksCmdConnect {
		_ = socksReply(w, socksCmdNotSupp)
		return "", 0, fmt.Errorf("command %d not supported", req[1])
	}
	return host, int(binary.BigEndian.Uint16(pb[:])), nil
}
