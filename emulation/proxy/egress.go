package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// ErrEgressDenied is wrapped by every error of the egress policy: a
// destination address or port the proxy refuses to connect to. The proxy
// answers such requests with 403 Forbidden.
var ErrEgressDenied = errors.New("proxy: destination not allowed")

// deniedPrefixes are the destination networks refused unless private
// destinations are allowed: loopback, RFC 1918 and RFC 4193 private,
// link-local (which holds the 169.254.169.254 cloud metadata service),
// CGNAT, "this network", multicast, broadcast and reserved ranges, the
// IPv6 documentation and discard prefixes, and the Alibaba/Oracle/AWS
// IPv6 metadata addresses. IPv4-mapped IPv6 addresses are checked as IPv4.
var deniedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("100.100.100.200/32"), // Alibaba Cloud metadata (inside CGNAT, listed for clarity)
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("100::/64"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("fec0::/10"),
	netip.MustParsePrefix("ff00::/8"),
	netip.MustParsePrefix("fd00:ec2::254/128"), // AWS IMDS over IPv6 (inside fc00::/7, listed for clarity)
}

// PrivateAddr reports whether a is a destination the default egress policy
// refuses: loopback, private, link-local (cloud metadata included), CGNAT,
// unspecified, multicast or reserved.
func PrivateAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() {
		return true
	}
	for _, p := range deniedPrefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Resolver looks host names up; *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

var _ Resolver = (*net.Resolver)(nil)

// Egress is the egress policy and the dialler that enforces it on the
// address actually dialled: a host name is resolved once, refused
// addresses are dropped, and only the remaining ones are dialled, so a
// name cannot be re-resolved to a private address between check and
// connect.
type Egress struct {
	// AllowPrivate turns the address check off.
	AllowPrivate bool
	// Resolver resolves host names; nil = net.DefaultResolver.
	Resolver Resolver
	// Dialer opens the TCP connections; nil = 30 s timeout, 30 s
	// keep-alive.
	Dialer *net.Dialer
}

// Resolve returns the addresses of host the policy allows dialling, in
// resolver order. It fails with an error wrapping ErrEgressDenied when
// host resolves only to refused addresses.
func (e *Egress) Resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a.WithZone("")}
	} else {
		r := e.Resolver
		if r == nil {
			r = net.DefaultResolver
		}
		addrs, err = r.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("proxy: resolving %s: %w", host, err)
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("proxy: resolving %s: no addresses", host)
		}
	}
	if e.AllowPrivate {
		return addrs, nil
	}
	allowed := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if !PrivateAddr(a) {
			allowed = append(allowed, a.Unmap())
		}
	}
	if len(allowed) == 0 {
		return nil, fmt.Errorf("%w: %s resolves to %s, a private, loopback, link-local or reserved address", ErrEgressDenied, host, addrs[0])
	}
	return allowed, nil
}

// DialContext resolves addr's host with Resolve and connects to the first
// allowed address that answers. It has the signature of
// net.Dialer.DialContext; network must be tcp, tcp4 or tcp6.
func (e *Egress) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("proxy: dialing %s: %w", addr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("proxy: dialing %s: bad port", addr)
	}
	addrs, err := e.Resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	d := e.Dialer
	if d == nil {
		d = &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	}
	var firstErr error
	for _, a := range addrs {
		if network == "tcp4" && !a.Is4() || network == "tcp6" && !a.Is6() {
			continue
		}
		c, err := d.DialContext(ctx, network, netip.AddrPortFrom(a, uint16(port)).String())
		if err == nil {
			return c, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	if firstErr == nil {
		firstErr = fmt.Errorf("no %s address", network)
	}
	return nil, fmt.Errorf("proxy: dialing %s: %w", addr, firstErr)
}
