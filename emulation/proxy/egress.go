package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// ErrEgressDenied is wrapped by every error of the egress policy: a
// destination address or port the proxy refuses to connect to. The proxy
// answers such requests with 403 Forbidden and the body "destination not
// allowed"; the detail (which address, which block) goes to the debug log
// only.
var ErrEgressDenied = errors.New("proxy: destination not allowed")

// Decision is what the egress policy does with the addresses of a block.
type Decision uint8

const (
	// Allow: globally reachable unicast; dialled.
	Allow Decision = iota
	// Refuse: never dialled.
	Refuse
	// CheckEmbedded: the address reaches the IPv4 address(es) it embeds
	// (a translator, a tunnel or the kernel unwraps it); dialled only when
	// every embedded IPv4 address is itself allowed.
	CheckEmbedded
)

func (d Decision) String() string {
	switch d {
	case Allow:
		return "allow"
	case Refuse:
		return "refuse"
	case CheckEmbedded:
		return "embedded IPv4"
	}
	return "unknown"
}

// Block is one row of the egress table.
type Block struct {
	Prefix   netip.Prefix
	Name     string
	RFC      string
	Decision Decision
	Reason   string
	// embedded returns the IPv4 addresses an address of the block
	// reaches (CheckEmbedded only).
	embedded func(netip.Addr) []netip.Addr
}

// Embedded IPv4 extractors (RFC 4291 §2.5.5.2, RFC 6052 §2.2, RFC 3056
// §2, RFC 4380 §4).
func embeddedMapped(a netip.Addr) []netip.Addr { return []netip.Addr{a.Unmap()} }

func embeddedLow32(a netip.Addr) []netip.Addr {
	b := a.As16()
	return []netip.Addr{netip.AddrFrom4([4]byte(b[12:16]))}
}

func embedded6to4(a netip.Addr) []netip.Addr {
	b := a.As16()
	return []netip.Addr{netip.AddrFrom4([4]byte(b[2:6]))}
}

func embeddedTeredo(a netip.Addr) []netip.Addr {
	b := a.As16()
	server := netip.AddrFrom4([4]byte(b[4:8]))
	client := netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}) // obfuscated: every bit inverted
	return []netip.Addr{server, client}
}

func blk(prefix, name, rfc string, d Decision, reason string) Block {
	return Block{Prefix: netip.MustParsePrefix(prefix), Name: name, RFC: rfc, Decision: d, Reason: reason}
}

func embeds(prefix, name, rfc, reason string, f func(netip.Addr) []netip.Addr) Block {
	b := blk(prefix, name, rfc, CheckEmbedded, reason)
	b.embedded = f
	return b
}

// Reasons shared by several rows.
const (
	notGlobal   = "not globally reachable (IANA special-purpose registry)"
	anycastSvc  = "anycast address of a network service (the nearest instance is usually operated by the proxy's own network), not a web destination; refused although the registry marks it globally reachable"
	identifiers = "identifiers, not routable locators; refused although the registry marks them globally reachable"
	docs        = "documentation only, never a real destination"
	metadata    = "cloud instance metadata: credentials of the host the proxy runs on"
)

// egressTable is the egress policy in one table: every block of the IANA
// IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and its
// successors), the multicast and reserved ranges, the non-global-unicast
// IPv6 space, and the cloud metadata addresses. An address takes the
// decision of the most specific block that contains it; an address in no
// block other than 0.0.0.0/0 or 2000::/3 is global unicast and allowed.
// docs/architecture.md summarises it; TestEgressTable has one case per
// row.
var egressTable = []Block{
	// IPv4 (IANA IPv4 Special-Purpose Address Registry, IPv4 Multicast).
	blk("0.0.0.0/0", "IPv4 unicast", "RFC 791", Allow, "globally reachable unless a more specific block says otherwise"),
	blk("0.0.0.0/8", "This network", "RFC 791 §3.2", Refuse, "source-only; 0.0.0.0 connects to the local host on Linux"),
	blk("0.0.0.0/32", "This host on this network", "RFC 1122 §3.2.1.3", Refuse, "connects to the local host"),
	blk("10.0.0.0/8", "Private-Use", "RFC 1918", Refuse, "private network"),
	blk("100.64.0.0/10", "Shared Address Space", "RFC 6598", Refuse, "carrier-grade NAT space, internal to a provider"),
	blk("100.100.100.200/32", "Alibaba Cloud metadata", "-", Refuse, metadata),
	blk("127.0.0.0/8", "Loopback", "RFC 1122 §3.2.1.3", Refuse, "the local host"),
	blk("169.254.0.0/16", "Link Local", "RFC 3927", Refuse, "link-local; holds the cloud metadata services"),
	blk("169.254.169.254/32", "Cloud instance metadata (AWS, GCP, Azure, OpenStack, ...)", "-", Refuse, metadata),
	blk("172.16.0.0/12", "Private-Use", "RFC 1918", Refuse, "private network"),
	blk("192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890 §2.1", Refuse, notGlobal),
	blk("192.0.0.0/29", "IPv4 Service Continuity Prefix", "RFC 7335", Refuse, "DS-Lite B4/AFTR addresses, internal to the access network"),
	blk("192.0.0.8/32", "IPv4 dummy address", "RFC 7600", Refuse, notGlobal),
	blk("192.0.0.9/32", "Port Control Protocol Anycast", "RFC 7723", Refuse, anycastSvc),
	blk("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", "RFC 8155", Refuse, anycastSvc),
	blk("192.0.0.170/32", "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050 §2.2", Refuse, notGlobal),
	blk("192.0.0.171/32", "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050 §2.2", Refuse, notGlobal),
	blk("192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737", Refuse, docs),
	blk("192.31.196.0/24", "AS112-v4", "RFC 7535", Refuse, anycastSvc),
	blk("192.52.193.0/24", "AMT", "RFC 7450", Refuse, anycastSvc),
	blk("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526", Refuse, "deprecated relay anycast; reaches a 6to4 relay, not a web destination"),
	blk("192.88.99.2/32", "6a44-relay anycast address", "RFC 6751", Refuse, anycastSvc),
	blk("192.168.0.0/16", "Private-Use", "RFC 1918", Refuse, "private network"),
	blk("192.175.48.0/24", "Direct Delegation AS112 Service", "RFC 7534", Refuse, anycastSvc),
	blk("198.18.0.0/15", "Benchmarking", "RFC 2544", Refuse, "benchmarking networks, not globally reachable"),
	blk("198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737", Refuse, docs),
	blk("203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737", Refuse, docs),
	blk("168.63.129.16/32", "Azure WireServer (platform host address)", "-", Refuse, "reachable only from inside Azure, where it serves the platform's host agent; public space but never a web destination"),
	blk("224.0.0.0/4", "Multicast", "RFC 5771", Refuse, "not unicast"),
	blk("240.0.0.0/4", "Reserved", "RFC 1112 §4", Refuse, "reserved, not routed"),
	blk("255.255.255.255/32", "Limited Broadcast", "RFC 8190, RFC 919 §7", Refuse, "broadcast"),

	// IPv6 (IANA IPv6 Special-Purpose Address Registry, IPv6 Address Space).
	blk("::/0", "IPv6 outside global unicast", "RFC 4291 §2.4", Refuse, "only 2000::/3 is allocated for global unicast; the rest is reserved by the IETF"),
	blk("::/96", "IPv4-compatible (deprecated)", "RFC 4291 §2.5.5.1", Refuse, "deprecated; an automatic tunnel would reach the embedded IPv4 address, so refused whatever it embeds"),
	blk("::/128", "Unspecified Address", "RFC 4291", Refuse, "connects to the local host"),
	blk("::1/128", "Loopback Address", "RFC 4291", Refuse, "the local host"),
	embeds("::ffff:0:0/96", "IPv4-mapped Address", "RFC 4291 §2.5.5.2", "the kernel dials the embedded IPv4 address (which is what the proxy dials)", embeddedMapped),
	embeds("64:ff9b::/96", "IPv4-IPv6 Translat. (NAT64 well-known prefix)", "RFC 6052", "a NAT64 translator forwards to the embedded IPv4 address; allowed when that address is, as DNS64 networks reach every IPv4 site this way", embeddedLow32),
	blk("64:ff9b:1::/48", "IPv4-IPv6 Translat. (local-use)", "RFC 8215", Refuse, "not globally reachable, and where the IPv4 address sits depends on the operator's prefix length: refused outright"),
	blk("100::/64", "Discard-Only Address Block", "RFC 6666", Refuse, notGlobal),
	blk("100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780", Refuse, notGlobal),
	blk("2000::/3", "Global Unicast", "RFC 4291, RFC 3587", Allow, "globally reachable unless a more specific block says otherwise"),
	blk("2001::/23", "IETF Protocol Assignments", "RFC 2928", Refuse, notGlobal),
	embeds("2001::/32", "TEREDO", "RFC 4380, RFC 8190", "reaches the Teredo client through its server's and its own IPv4 address; allowed when both embedded IPv4 addresses are", embeddedTeredo),
	blk("2001:1::1/128", "Port Control Protocol Anycast", "RFC 7723", Refuse, anycastSvc),
	blk("2001:1::2/128", "Traversal Using Relays around NAT Anycast", "RFC 8155", Refuse, anycastSvc),
	blk("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", "RFC 9665", Refuse, anycastSvc),
	blk("2001:2::/48", "Benchmarking", "RFC 5180", Refuse, notGlobal),
	blk("2001:3::/32", "AMT", "RFC 7450", Refuse, anycastSvc),
	blk("2001:4:112::/48", "AS112-v6", "RFC 7535", Refuse, anycastSvc),
	blk("2001:10::/28", "Deprecated (previously ORCHID)", "RFC 4843", Refuse, identifiers),
	blk("2001:20::/28", "ORCHIDv2", "RFC 7343", Refuse, identifiers),
	blk("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs)", "RFC 9374", Refuse, identifiers),
	blk("2001:db8::/32", "Documentation", "RFC 3849", Refuse, docs),
	embeds("2002::/16", "6to4", "RFC 3056", "a 6to4 relay or tunnel delivers to the embedded IPv4 address; allowed when that address is", embedded6to4),
	blk("2620:4f:8000::/48", "Direct Delegation AS112 Service", "RFC 7534", Refuse, anycastSvc),
	blk("3fff::/20", "Documentation", "RFC 9637", Refuse, docs),
	blk("5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602", Refuse, notGlobal),
	blk("fc00::/7", "Unique-Local", "RFC 4193, RFC 8190", Refuse, "private network"),
	blk("fd00:ec2::254/128", "AWS instance metadata (IPv6)", "-", Refuse, metadata),
	blk("fe80::/10", "Link-Local Unicast", "RFC 4291", Refuse, "link-local"),
	blk("fec0::/10", "Site-Local (deprecated)", "RFC 3879", Refuse, "deprecated site-local, private"),
	blk("ff00::/8", "Multicast", "RFC 4291", Refuse, "not unicast"),
}

// EgressBlocks returns a copy of the egress table, in table order.
func EgressBlocks() []Block {
	out := make([]Block, len(egressTable))
	copy(out, egressTable)
	return out
}

// blockOf returns the most specific row of the table that contains a (a
// has no zone). Every valid address has one: 0.0.0.0/0 and ::/0 are rows.
func blockOf(a netip.Addr) *Block {
	var best *Block
	for i := range egressTable {
		b := &egressTable[i]
		if b.Prefix.Contains(a) && (best == nil || b.Prefix.Bits() > best.Prefix.Bits()) {
			best = b
		}
	}
	return best
}

// ClassifyAddr applies the egress table to a: whether the default policy
// allows dialling it, and the row that decided (for an address embedding
// a refused IPv4 address, the IPv4 address's row is named after the
// embedding row's).
func ClassifyAddr(a netip.Addr) (allowed bool, why string) {
	a = a.WithZone("")
	if !a.IsValid() {
		return false, "invalid address"
	}
	b := blockOf(a)
	if b == nil {
		return false, "no block"
	}
	switch b.Decision {
	case Allow:
		return true, b.Name
	case CheckEmbedded:
		for _, v4 := range b.embedded(a) {
			if eb := blockOf(v4); eb == nil || eb.Decision != Allow {
				name := "?"
				if eb != nil {
					name = eb.Name
				}
				return false, fmt.Sprintf("%s embedding %s (%s)", b.Name, v4, name)
			}
		}
		return true, b.Name
	}
	return false, b.Name + " " + b.Prefix.String()
}

// PrivateAddr reports whether a is a destination the default egress policy
// refuses: anything but globally reachable unicast (loopback, private,
// link-local with cloud metadata, CGNAT, unspecified, multicast, reserved,
// documentation, benchmarking, special anycast services), and IPv6 forms
// that embed a refused IPv4 address (IPv4-mapped, NAT64, 6to4, Teredo).
// See egressTable.
func PrivateAddr(a netip.Addr) bool {
	ok, _ := ClassifyAddr(a)
	return !ok
}

// Resolver looks host names up; *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

var _ Resolver = (*net.Resolver)(nil)

// EgressError is the error of a destination the policy refuses. It wraps
// ErrEgressDenied; its text names the address and the block, for the
// operator's log, never for the client.
type EgressError struct {
	Host  string
	Addr  netip.Addr
	Block string
}

func (e *EgressError) Error() string {
	if e.Host == e.Addr.String() {
		return fmt.Sprintf("%v: %s (%s)", ErrEgressDenied, e.Addr, e.Block)
	}
	return fmt.Sprintf("%v: %s resolves to %s (%s)", ErrEgressDenied, e.Host, e.Addr, e.Block)
}

func (e *EgressError) Unwrap() error { return ErrEgressDenied }

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
// resolver order. It fails with an error wrapping ErrEgressDenied (an
// *EgressError) when host resolves only to refused addresses.
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
			return nil, fmt.Errorf("proxy: resolving %s: %w", host, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true})
		}
	}
	return e.filter(host, addrs)
}

// filter returns the addresses of addrs the policy allows, unmapped.
func (e *Egress) filter(host string, addrs []netip.Addr) ([]netip.Addr, error) {
	if e.AllowPrivate {
		return addrs, nil
	}
	allowed := make([]netip.Addr, 0, len(addrs))
	var first *EgressError
	for _, a := range addrs {
		if ok, why := ClassifyAddr(a); ok {
			allowed = append(allowed, a.Unmap())
		} else if first == nil {
			first = &EgressError{Host: host, Addr: a, Block: why}
		}
	}
	if len(allowed) == 0 {
		if first == nil {
			first = &EgressError{Host: host, Block: "no address"}
		}
		return nil, first
	}
	return allowed, nil
}

// resolvedKey carries addresses Resolve returned for a host into a dial.
type resolvedKey struct{}

type resolved struct {
	host  string
	addrs []netip.Addr
}

// withResolved returns a context whose dials to host use addrs (the
// result of Resolve) instead of resolving host again.
func withResolved(ctx context.Context, host string, addrs []netip.Addr) context.Context {
	return context.WithValue(ctx, resolvedKey{}, resolved{host: host, addrs: addrs})
}

// DialContext resolves addr's host with Resolve and connects to the first
// allowed address that answers. It has the signature of
// net.Dialer.DialContext; network must be tcp, tcp4 or tcp6. Addresses
// the context carries for the host (withResolved) are used instead of a
// new lookup; they are checked again all the same.
func (e *Egress) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("proxy: dialing %s: %w", addr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("proxy: dialing %s: bad port", addr)
	}
	var addrs []netip.Addr
	if r, ok := ctx.Value(resolvedKey{}).(resolved); ok && strings.EqualFold(r.host, host) && len(r.addrs) > 0 {
		addrs, err = e.filter(host, r.addrs)
	} else {
		addrs, err = e.Resolve(ctx, host)
	}
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
