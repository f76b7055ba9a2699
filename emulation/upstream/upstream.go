// Package upstream opens TCP connections through an upstream proxy: an
// HTTP proxy (http:// or https://, tunnelled with CONNECT) or a SOCKS5
// proxy (socks5:// or socks5h://), with optional user:password
// credentials in the URL. Only the proxy's own address is resolved and
// dialled locally, through the caller's dial function (so that the
// caller's resolver and egress policy apply to it); the destination host
// name is handed to the proxy unresolved, as socks5h and CONNECT do.
//
// The TLS ClientHello and HTTP framing of what goes through the tunnel
// are untouched: the proxy sees only the bytes the emulating transport
// writes.
package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	xproxy "golang.org/x/net/proxy"
)

// DialFunc opens a connection; it has net.Dialer.DialContext's signature.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// ErrProxy is wrapped by every failure the upstream proxy reports (it
// refused the tunnel, asked for credentials, spoke garbage), as opposed
// to failures reaching the proxy, which keep the dial error.
var ErrProxy = errors.New("upstream proxy")

// ReachError is a failure to reach the upstream proxy itself (its name
// did not resolve, the egress policy refused it, it did not answer). It
// wraps the dial's error.
type ReachError struct {
	Proxy string // the proxy's Name
	Err   error
}

func (e *ReachError) Error() string { return "reaching proxy " + e.Proxy + ": " + e.Err.Error() }
func (e *ReachError) Unwrap() error { return e.Err }

// Proxy is one parsed upstream proxy.
type Proxy struct {
	// Name labels the proxy in logs and connection pools: the label of a
	// named upstream, else the URL without its password.
	Name string
	// URL is the proxy's URL; its scheme is http, https, socks5 or
	// socks5h.
	URL *url.URL
	// RootCAs verifies an https:// proxy's certificate; nil = system
	// roots.
	RootCAs *x509.CertPool
}

// Parse reads an upstream proxy URL: scheme://[user:password@]host[:port].
// The default ports are 80 (http), 443 (https) and 1080 (socks5,
// socks5h). A bare host:port is taken as http://.
func Parse(raw string) (*Proxy, error) {
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	switch u.Scheme {
	case "http", "https", "socks5", "socks5h":
	default:
		return nil, fmt.Errorf("upstream: %s: unsupported scheme %q (want http, https, socks5 or socks5h)", u.Redacted(), u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("upstream: %s: no host", u.Redacted())
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		return nil, fmt.Errorf("upstream: %s: a proxy URL has no path or query", u.Redacted())
	}
	if u.Port() == "" {
		port := map[string]string{"http": "80", "https": "443", "socks5": "1080", "socks5h": "1080"}[u.Scheme]
		u.Host = net.JoinHostPort(u.Hostname(), port)
	}
	u.Path = ""
	return &Proxy{Name: u.Redacted(), URL: u}, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.URL.Host }

// Dialer returns a DialFunc that connects to addr through the proxy,
// reaching the proxy itself with base (nil = a net.Dialer). network must
// be tcp, tcp4 or tcp6; the tunnel is opened with the proxy's network
// "tcp".
func (p *Proxy) Dialer(base DialFunc) DialFunc {
	if base == nil {
		d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
		base = d.DialContext
	}
	inner := base
	base = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := inner(ctx, network, addr)
		if err != nil {
			return nil, &ReachError{Proxy: p.Name, Err: err}
		}
		return c, nil
	}
	if p.URL.Scheme == "socks5" || p.URL.Scheme == "socks5h" {
		return p.socksDialer(base)
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return p.dialConnect(ctx, base, addr)
	}
}

// contextDialer adapts a DialFunc to x/net/proxy's dialer interfaces.
type contextDialer DialFunc

func (d contextDialer) Dial(network, addr string) (net.Conn, error) {
	return d(context.Background(), network, addr)
}

func (d contextDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return d(ctx, network, addr)
}

func (p *Proxy) socksDialer(base DialFunc) DialFunc {
	var auth *xproxy.Auth
	if u := p.URL.User; u != nil {
		pass, _ := u.Password()
		auth = &xproxy.Auth{User: u.Username(), Password: pass}
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		d, err := xproxy.SOCKS5("tcp", p.Addr(), auth, contextDialer(base))
		if err != nil {
			return nil, fmt.Errorf("upstream: %w", err)
		}
		c, err := d.(xproxy.ContextDialer).DialContext(ctx, "tcp", addr)
		if err != nil {
			var opErr *net.OpError
			// x/net reports the proxy's refusals as an OpError whose
			// Err is a plain error; a failure to reach the proxy keeps
			// the dial's own error inside.
			if errors.As(err, &opErr) && isPlainError(opErr.Err) {
				return nil, fmt.Errorf("upstream: %s via socks5 proxy %s: %w: %v", addr, p.Name, ErrProxy, opErr.Err)
			}
			return nil, fmt.Errorf("upstream: %s via socks5 proxy %s: %w", addr, p.Name, err)
		}
		return c, nil
	}
}

// isPlainError reports whether err is an errors.New-style message (the
// SOCKS protocol's refusals) rather than a network error.
func isPlainError(err error) bool {
	var ne net.Error
	var se *net.OpError
	var dns *net.DNSError
	return err != nil && !errors.As(err, &ne) && !errors.As(err, &se) && !errors.As(err, &dns) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// dialConnect opens a CONNECT tunnel to addr through an HTTP(S) proxy.
func (p *Proxy) dialConnect(ctx context.Context, base DialFunc, addr string) (net.Conn, error) {
	nc, err := base(ctx, "tcp", p.Addr())
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	if p.URL.Scheme == "https" {
		tc := tls.Client(nc, &tls.Config{ServerName: p.URL.Hostname(), RootCAs: p.RootCAs, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}})
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			return nil, fmt.Errorf("upstream: TLS handshake with proxy %s: %w", p.Name, err)
		}
		nc = tc
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	req := &http.Request{
		Method: http.MethodConnect,
		URL:    &url.URL{Opaque: addr},
		Host:   addr,
		Header: http.Header{},
	}
	if u := p.URL.User; u != nil {
		pass, _ := u.Password()
		req.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pass)))
	}
	fail := func(err error) (net.Conn, error) {
		_ = nc.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("upstream: CONNECT %s via proxy %s: %w", addr, p.Name, ctx.Err())
		}
		return nil, err
	}
	if err := req.Write(nc); err != nil {
		return fail(fmt.Errorf("upstream: CONNECT %s via proxy %s: %w", addr, p.Name, err))
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return fail(fmt.Errorf("upstream: CONNECT %s via proxy %s: %w: reading its answer: %v", addr, p.Name, ErrProxy, err))
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fail(fmt.Errorf("upstream: CONNECT %s via proxy %s: %w answered %s", addr, p.Name, ErrProxy, resp.Status))
	}
	if !stop() {
		return fail(ctx.Err())
	}
	_ = nc.SetDeadline(time.Time{})
	if br.Buffered() > 0 {
		return &bufferedConn{Conn: nc, r: br}, nil
	}
	return nc, nil
}

// bufferedConn is a connection whose first bytes were read ahead.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }
