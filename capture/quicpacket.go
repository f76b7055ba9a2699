package capture

import (
	"net"
	"syscall"

	"golang.org/x/net/ipv4"

	"github.com/guanaco-fp/guanaco/quicinitial"
)

// PacketConn wraps the UDP socket quic-go reads: every datagram read that
// may hold a client Initial (a long header, at least 1200 bytes) is shown
// to a HelloTable before quic-go sees it; the others cost a length test or
// one byte test. It keeps quic-go's fast
// paths: it is an OOB-capable conn with ReadBatch (recvmmsg), so quic-go
// still uses batch reads, GSO, ECN and packet info; writes pass through
// untouched (the capture never sends, so quic-go's anti-amplification
// limit is its own).
type PacketConn struct {
	*net.UDPConn
	batch *ipv4.PacketConn
	table *quicinitial.Table
}

// NewPacketConn wraps c, feeding table.
func NewPacketConn(c *net.UDPConn, table *quicinitial.Table) *PacketConn {
	return &PacketConn{UDPConn: c, batch: ipv4.NewPacketConn(c), table: table}
}

// Table is the table the conn feeds.
func (c *PacketConn) Table() *quicinitial.Table { return c.table }

// ReadBatch reads datagrams as ipv4.PacketConn.ReadBatch (quic-go's batch
// read path) and inspects each.
func (c *PacketConn) ReadBatch(ms []ipv4.Message, flags int) (int, error) {
	n, err := c.batch.ReadBatch(ms, flags)
	for i := 0; i < n; i++ {
		m := &ms[i]
		if len(m.Buffers) == 0 || m.N > len(m.Buffers[0]) || !mayBeInitial(m.Buffers[0][:m.N]) {
			continue // the common case, short-header packets of open connections
		}
		if ua, ok := m.Addr.(*net.UDPAddr); ok {
			c.table.Datagram(m.Buffers[0][:m.N], ua.AddrPort())
		}
	}
	return n, err
}

// mayBeInitial is the cheap test before Table.Datagram: a long header in a
// datagram large enough for a client Initial.
func mayBeInitial(b []byte) bool {
	return len(b) >= quicinitial.MinInitialDatagram && b[0]&0x80 != 0
}

// ReadMsgUDP reads one datagram and inspects it.
func (c *PacketConn) ReadMsgUDP(b, oob []byte) (n, oobn, flags int, addr *net.UDPAddr, err error) {
	n, oobn, flags, addr, err = c.UDPConn.ReadMsgUDP(b, oob)
	if addr != nil && mayBeInitial(b[:n]) {
		c.table.Datagram(b[:n], addr.AddrPort())
	}
	return
}

// ReadFrom reads one datagram and inspects it.
func (c *PacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.UDPConn.ReadFrom(b)
	if ua, ok := addr.(*net.UDPAddr); ok && mayBeInitial(b[:n]) {
		c.table.Datagram(b[:n], ua.AddrPort())
	}
	return n, addr, err
}

// SyscallConn is the socket's, for quic-go's socket options.
func (c *PacketConn) SyscallConn() (syscall.RawConn, error) { return c.UDPConn.SyscallConn() }
