package capture

import (
	"net"
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
