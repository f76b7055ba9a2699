package capture

import (
	"net"
	"net/netip"
	"testing"
)

// TestClientKey: IPv4 clients are keyed by address, IPv6 clients by /64,
// IPv4-mapped IPv6 addresses as IPv4.
func TestClientKey(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"192.0.2.7:443", "192.0.2.7/32"},
		{"[::ffff:192.0.2.7]:443", "192.0.2.7/32"},
		{"[2001:db8:1:2:aaaa::1]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:bbbb::9]:1", "2001:db8:1:2::/64"},
	} {
		a, err := net.ResolveTCPAddr("tcp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := clientKey(a)
		if !ok || got.String() != tc.want {
			t.Errorf("clientKey(%s) = %v, %v; want %s", tc.addr, got, ok, tc.want)
		}
	}
}

// TestAddrPortMatchesParsing: the *net.TCPAddr fast path of addrPort gives
// what parsing the address's text gives, for every shape of TCP address.
func TestAddrPortMatchesParsing(t *testing.T) {
	parsed := func(a net.Addr) (netip.AddrPort, bool) {
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return netip.AddrPort{}, false
		}
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
	}
	for _, a := range []*net.TCPAddr{
		{IP: net.IPv4(192, 0, 2, 7), Port: 443},           // 16-byte IPv4-mapped form
		{IP: net.IP{192, 0, 2, 7}, Port: 1},               // 4-byte form
		{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 8443}, // mapped, parsed
		{IP: net.ParseIP("2001:db8::1"), Port: 65535},
		{IP: net.ParseIP("fe80::1"), Port: 80, Zone: "eth0"},
		{IP: net.ParseIP("::"), Port: 0},
		{IP: nil, Port: 80},
		{IP: net.IP{1, 2, 3}, Port: 80}, // invalid length
		{IP: net.IPv4(10, 0, 0, 1), Port: -1},
		{IP: net.IPv4(10, 0, 0, 1), Port: 70000},
	} {
		got, gotOK := addrPort(a)
		want, wantOK := parsed(a)
		if got != want || gotOK != wantOK {
			t.Errorf("addrPort(%#v) = %v, %v; parsing %q gives %v, %v", a, got, gotOK, a.String(), want, wantOK)
		}
	}
	if _, ok := addrPort(nil); ok {
		t.Error("addrPort(nil) ok")
	}
	if _, ok := addrPort((*net.TCPAddr)(nil)); ok {
		t.Error("addrPort of a nil *TCPAddr ok")
	}
	ua := &net.UnixAddr{Name: "/run/x.sock", Net: "unix"}
	if _, ok := addrPort(ua); ok {
		t.Error("addrPort of a Unix address ok")
	}
}
