package proxy

import (
	"context"
	"errors"
	"net/netip"
	"testing"
)

// egressCase is one address and the decision the policy must take.
type egressCase struct {
	addr  string
	allow bool
	block string // the prefix of the deciding row of egressTable
}

// egressCases has at least one case per row of egressTable (checked by
// TestEgressTableComplete); embedding forms have a case with a public
// and one with a refused embedded IPv4 address.
var egressCases = []egressCase{
	// IPv4.
	{"93.184.216.34", true, "0.0.0.0/0"},
	{"1.1.1.1", true, "0.0.0.0/0"},
	{"100.128.0.1", true, "0.0.0.0/0"}, // just above 100.64.0.0/10
	{"172.32.0.1", true, "0.0.0.0/0"},  // just above 172.16.0.0/12
	{"198.20.0.1", true, "0.0.0.0/0"},  // just above 198.18.0.0/15
	{"223.255.255.255", true, "0.0.0.0/0"},
	{"0.1.2.3", false, "0.0.0.0/8"},
	{"0.0.0.0", false, "0.0.0.0/32"},
	{"10.1.2.3", false, "10.0.0.0/8"},
	{"100.64.0.1", false, "100.64.0.0/10"},
	{"100.127.255.254", false, "100.64.0.0/10"},
	{"100.100.100.200", false, "100.100.100.200/32"},
	{"127.0.0.1", false, "127.0.0.0/8"},
	{"127.255.255.254", false, "127.0.0.0/8"},
	{"169.254.1.1", false, "169.254.0.0/16"},
	{"169.254.169.254", false, "169.254.169.254/32"},
	{"172.16.5.4", false, "172.16.0.0/12"},
	{"172.31.255.255", false, "172.16.0.0/12"},
	{"192.0.0.192", false, "192.0.0.0/24"}, // Oracle Cloud Classic metadata
	{"192.0.0.1", false, "192.0.0.0/29"},
	{"192.0.0.8", false, "192.0.0.8/32"},
	{"192.0.0.9", false, "192.0.0.9/32"},
	{"192.0.0.10", false, "192.0.0.10/32"},
	{"192.0.0.170", false, "192.0.0.170/32"},
	{"192.0.0.171", false, "192.0.0.171/32"},
	{"192.0.2.1", false, "192.0.2.0/24"},
	{"192.31.196.1", false, "192.31.196.0/24"},
	{"192.52.193.1", false, "192.52.193.0/24"},
	{"192.88.99.1", false, "192.88.99.0/24"},
	{"192.88.99.2", false, "192.88.99.2/32"},
	{"192.168.1.1", false, "192.168.0.0/16"},
	{"192.175.48.1", false, "192.175.48.0/24"},
	{"198.18.0.1", false, "198.18.0.0/15"},
	{"198.19.255.255", false, "198.18.0.0/15"},
	{"198.51.100.1", false, "198.51.100.0/24"},
	{"203.0.113.1", false, "203.0.113.0/24"},
	{"168.63.129.16", false, "168.63.129.16/32"},
	{"224.0.0.1", false, "224.0.0.0/4"},
	{"239.255.255.250", false, "224.0.0.0/4"},
	{"240.0.0.1", false, "240.0.0.0/4"},
	{"255.255.255.255", false, "255.255.255.255/32"},

	// IPv6.
	{"2606:4700::1111", true, "2000::/3"},
	{"2a00:1450:4001::200e", true, "2000::/3"},
	{"2001:200::1", true, "2000::/3"}, // just above 2001::/23
	{"4000::1", false, "::/0"},        // outside global unicast
	{"::10.0.0.1", false, "::/96"},
	{"::8.8.8.8", false, "::/96"}, // IPv4-compatible: refused whatever it embeds
	{"::", false, "::/128"},
	{"::1", false, "::1/128"},
	{"::ffff:8.8.8.8", true, "::ffff:0:0/96"},
	{"::ffff:10.0.0.1", false, "::ffff:0:0/96"},
	{"::ffff:127.0.0.1", false, "::ffff:0:0/96"},
	{"::ffff:169.254.169.254", false, "::ffff:0:0/96"},
	{"64:ff9b::8.8.8.8", true, "64:ff9b::/96"},
	{"64:ff9b::10.0.0.1", false, "64:ff9b::/96"},
	{"64:ff9b::127.0.0.1", false, "64:ff9b::/96"},
	{"64:ff9b::169.254.169.254", false, "64:ff9b::/96"},
	{"64:ff9b::100.64.0.1", false, "64:ff9b::/96"},
	{"64:ff9b:1::808:808", false, "64:ff9b:1::/48"}, // local-use: refused even with a public IPv4
	{"64:ff9b:1:a00:1::", false, "64:ff9b:1::/48"},  // /48 embedding of 10.0.0.1
	{"64:ff9b:1::a00:1", false, "64:ff9b:1::/48"},   // /96 embedding of 10.0.0.1
	{"100::1", false, "100::/64"},
	{"100:0:0:1::1", false, "100:0:0:1::/64"},
	{"2001:100::1", false, "2001::/23"},
	{"2001:0:808:808::fefe:fefe", true, "2001::/32"},             // Teredo: server 8.8.8.8, client 1.1.1.1
	{"2001:0:808:808::f5ff:fffe", false, "2001::/32"},            // client 10.0.0.1
	{"2001:0:808:808::80ff:fffe", false, "2001::/32"},            // client 127.0.0.1
	{"2001:0:a00:1::fefe:fefe", false, "2001::/32"},              // server 10.0.0.1
	{"2001:0:4136:e378:8000:63bf:3fff:fdd2", false, "2001::/32"}, // RFC 4380's example: client 192.0.2.45 (documentation)
	{"2001:1::1", false, "2001:1::1/128"},
	{"2001:1::2", false, "2001:1::2/128"},
	{"2001:1::3", false, "2001:1::3/128"},
	{"2001:2::1", false, "2001:2::/48"},
	{"2001:3::1", false, "2001:3::/32"},
	{"2001:4:112::1", false, "2001:4:112::/48"},
	{"2001:10::1", false, "2001:10::/28"},
	{"2001:20::1", false, "2001:20::/28"},
	{"2001:30::1", false, "2001:30::/28"},
	{"2001:db8::1", false, "2001:db8::/32"},
	{"2002:808:808::1", true, "2002::/16"},    // 6to4 of 8.8.8.8
	{"2002:a00:1::1", false, "2002::/16"},     // 6to4 of 10.0.0.1
	{"2002:7f00:1::1", false, "2002::/16"},    // 6to4 of 127.0.0.1
	{"2002:a9fe:a9fe::1", false, "2002::/16"}, // 6to4 of 169.254.169.254
	{"2002:c058:6301::1", false, "2002::/16"}, // 6to4 of 192.88.99.1
	{"2620:4f:8000::1", false, "2620:4f:8000::/48"},
	{"3fff::1", false, "3fff::/20"},
	{"5f00::1", false, "5f00::/16"},
	{"fc00::1", false, "fc00::/7"},
	{"fd12:3456::1", false, "fc00::/7"},
	{"fd00:ec2::254", false, "fd00:ec2::254/128"},
	{"fe80::1", false, "fe80::/10"},
	{"fe80::1%eth0", false, "fe80::/10"},
	{"fec0::1", false, "fec0::/10"},
	{"ff02::1", false, "ff00::/8"},
}

// TestEgressTable: every special-purpose block gets its decision, the
// IPv6 forms that embed an IPv4 address follow that address, and
// Resolve (the check on the address dialled) agrees.
func TestEgressTable(t *testing.T) {
	e := &Egress{}
	for _, c := range egressCases {
		a := netip.MustParseAddr(c.addr)
		if got := !PrivateAddr(a); got != c.allow {
			t.Errorf("%s (%s): allowed = %v, want %v", c.addr, c.block, got, c.allow)
		}
		addrs, err := e.Resolve(context.Background(), c.addr)
		if c.allow {
			if err != nil || len(addrs) != 1 {
				t.Errorf("Resolve(%s) = %v, %v", c.addr, addrs, err)
			}
		} else if !errors.Is(err, ErrEgressDenied) {
			t.Errorf("Resolve(%s): err = %v, want ErrEgressDenied", c.addr, err)
		}
	}
	// An allowed IPv4-mapped address is dialled as the IPv4 address;
	// NAT64, 6to4 and Teredo addresses are dialled as they are.
	for in, want := range map[string]string{"::ffff:8.8.8.8": "8.8.8.8", "64:ff9b::808:808": "64:ff9b::808:808", "2002:808:808::1": "2002:808:808::1"} {
		addrs, err := e.Resolve(context.Background(), in)
		if err != nil || len(addrs) != 1 || addrs[0].String() != want {
			t.Errorf("Resolve(%s) = %v, %v; want [%s]", in, addrs, err, want)
		}
	}
}

// TestEgressTableComplete: each row of the table decides at least one
// case of egressCases, and each case is decided by the row it names.
func TestEgressTableComplete(t *testing.T) {
	decided := map[netip.Prefix]bool{}
	for _, c := range egressCases {
		b := blockOf(netip.MustParseAddr(c.addr).WithZone(""))
		if b == nil || b.Prefix != netip.MustParsePrefix(c.block) {
			t.Errorf("%s is decided by %v, want %s", c.addr, b, c.block)
			continue
		}
		decided[b.Prefix] = true
	}
	seen := map[netip.Prefix]bool{}
	for _, b := range egressTable {
		if seen[b.Prefix] {
			t.Errorf("%s is in the table twice", b.Prefix)
		}
		seen[b.Prefix] = true
		if !decided[b.Prefix] {
			t.Errorf("no test case for %s (%s)", b.Prefix, b.Name)
		}
		if b.Name == "" || b.RFC == "" || b.Reason == "" {
			t.Errorf("%s: row without name, RFC or reason", b.Prefix)
		}
		if (b.Decision == CheckEmbedded) != (b.embedded != nil) {
			t.Errorf("%s: decision %v with extractor %v", b.Prefix, b.Decision, b.embedded != nil)
		}
		if b.Prefix != b.Prefix.Masked() {
			t.Errorf("%s is not a masked prefix", b.Prefix)
		}
	}
}
