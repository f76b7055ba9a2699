package inspect

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// capture runs the packets of a capture file through link, IP and
// transport decoding into the TCP and QUIC flow trackers, then reports the
// flows whose ClientHello never completed.
func (s *session) capture(src packetSource) error {
	d := newDecoder(s)
	for idx := int64(1); ; idx++ {
		if idx&1023 == 0 {
			if err := s.ctx.Err(); err != nil {
				return fmt.Errorf("inspect: %s: %w", s.name, err)
			}
		}
		p, problem, err := src.next()
		if problem != nil {
			problem.Packet = idx
			s.problem(problem)
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			var ie *Error
			if errors.As(err, &ie) && errors.Is(ie.Err, errCaptureTruncated) {
				s.problem(ie)
				break
			}
			d.flows.finish()
			return err
		}
		s.st.Packets++
		if err := d.packet(idx, p); err != nil {
			return err
		}
	}
	d.flows.finish()
	return nil
}

// pktMeta identifies the packet being decoded.
type pktMeta struct {
	index int64
	ts    time.Time
}

// decoder decodes packets down to TCP segments and UDP datagrams. The
// gopacket layer values are reused for every packet.
type decoder struct {
	s     *session
	eth   layers.Ethernet
	dot1q layers.Dot1Q
	loop  layers.Loopback
	ip4   layers.IPv4
	ip6   layers.IPv6
	tcp   layers.TCP
	udp   layers.UDP
	frags *defragmenter
	flows *flowTable
}

func newDecoder(s *session) *decoder {
	return &decoder{
		s:     s,
		frags: newDefragmenter(s.in.opts.MaxFragmentedDatagrams),
		flows: newFlowTable(s),
	}
}

const (
	etherIPv4  = 0x0800
	etherIPv6  = 0x86dd
	etherDot1Q = 0x8100
	etherQinQ  = 0x88a8
	ether9100  = 0x9100 // pre-standard QinQ
)

// packet decodes one captured packet; an error comes only from the
// handler.
func (d *decoder) packet(idx int64, p capPacket) error {
	m := pktMeta{index: idx, ts: p.ts}
	payload, etype, ok := d.link(p.link, p.data)
	if !ok {
		d.s.st.Undecodable++
		return nil
	}
	switch etype {
	case etherIPv4:
		return d.ipv4(m, payload)
	case etherIPv6:
		return d.ipv6(m, payload)
	}
	d.s.st.Undecodable++
	return nil
}

// link strips the link-layer header and returns the network payload and
// its EtherType.
func (d *decoder) link(link uint32, b []byte) ([]byte, uint16, bool) {
	nf := gopacket.NilDecodeFeedback
	switch link {
	case linkEthernet:
		if d.eth.DecodeFromBytes(b, nf) != nil {
			return nil, 0, false
		}
		payload, etype := d.eth.Payload, uint16(d.eth.EthernetType)
		for tags := 0; (etype == etherDot1Q || etype == etherQinQ || etype == ether9100) && tags < 4; tags++ {
			if d.dot1q.DecodeFromBytes(payload, nf) != nil {
				return nil, 0, false
			}
			payload, etype = d.dot1q.Payload, uint16(d.dot1q.Type)
		}
		return payload, etype, true
	case linkLinuxSLL:
		// Decoded by hand: gopacket's LinuxSLL slices by the address length
		// field without checking it and panics on a crafted packet.
		if len(b) < 16 {
			return nil, 0, false
		}
		return b[16:], binary.BigEndian.Uint16(b[14:16]), true
	case linkSLL2:
		if len(b) < 20 {
			return nil, 0, false
		}
		return b[20:], binary.BigEndian.Uint16(b[0:2]), true
	case linkNull, linkLoop:
		if d.loop.DecodeFromBytes(b, nf) != nil {
			return nil, 0, false
		}
		switch d.loop.Family {
		case layers.ProtocolFamilyIPv4:
			return d.loop.Payload, etherIPv4, true
		case layers.ProtocolFamilyIPv6BSD, layers.ProtocolFamilyIPv6FreeBSD,
			layers.ProtocolFamilyIPv6Darwin, layers.ProtocolFamilyIPv6Linux:
			return d.loop.Payload, etherIPv6, true
		}
		return nil, 0, false
	case linkRaw, linkRawBSD, linkRawOBSD:
		if len(b) == 0 {
			return nil, 0, false
		}
		switch b[0] >> 4 {
		case 4:
			return b, etherIPv4, true
		case 6:
			return b, etherIPv6, true
		}
		return nil, 0, false
	case linkIPv4:
		return b, etherIPv4, true
	case linkIPv6:
		return b, etherIPv6, true
	}
	return nil, 0, false
}

// IP protocol numbers.
const (
	protoHopByHop = 0
	protoTCP      = 6
	protoUDP      = 17
	protoRouting  = 43
	protoFragment = 44
	protoAH       = 51
	protoNone     = 59
	protoDestOpts = 60
)

func (d *decoder) ipv4(m pktMeta, b []byte) error {
	if d.ip4.DecodeFromBytes(b, gopacket.NilDecodeFeedback) != nil || d.ip4.Version != 4 {
		d.s.st.Undecodable++
		return nil
	}
	src, _ := netip.AddrFromSlice(d.ip4.SrcIP)
	dst, _ := netip.AddrFromSlice(d.ip4.DstIP)
	proto := uint8(d.ip4.Protocol)
	payload := d.ip4.Payload
	if d.ip4.Flags&layers.IPv4MoreFragments != 0 || d.ip4.FragOffset != 0 {
		key := fragKey{src: src, dst: dst, id: uint32(d.ip4.Id), proto: proto}
		payload = d.frags.add(key, int(d.ip4.FragOffset)*8, d.ip4.Flags&layers.IPv4MoreFragments != 0, payload)
		if payload == nil {
			return nil
		}
	}
	return d.transport(m, src, dst, proto, payload)
}

func (d *decoder) ipv6(m pktMeta, b []byte) error {
	if d.ip6.DecodeFromBytes(b, gopacket.NilDecodeFeedback) != nil || d.ip6.Version != 6 {
		d.s.st.Undecodable++
		return nil
	}
	src, _ := netip.AddrFromSlice(d.ip6.SrcIP)
	dst, _ := netip.AddrFromSlice(d.ip6.DstIP)
	nh := uint8(d.ip6.NextHeader)
	if d.ip6.HopByHop != nil {
		nh = uint8(d.ip6.HopByHop.NextHeader) // gopacket has already skipped it
	}
	payload := d.ip6.Payload
	for hops := 0; hops < 8; hops++ {
		switch nh {
		case protoTCP, protoUDP:
			return d.transport(m, src, dst, nh, payload)
		case protoRouting, protoDestOpts:
			if len(payload) < 8 {
				return nil
			}
			l := (int(payload[1]) + 1) * 8
			if l > len(payload) {
				return nil
			}
			nh, payload = payload[0], payload[l:]
		case protoAH:
			if len(payload) < 8 {
				return nil
			}
			l := (int(payload[1]) + 2) * 4
			if l > len(payload) {
				return nil
			}
			nh, payload = payload[0], payload[l:]
		case protoFragment:
			if len(payload) < 8 {
				return nil
			}
			next := payload[0]
			fo := binary.BigEndian.Uint16(payload[2:4])
			more := fo&1 != 0
			off := int(fo &^ 7)
			id := binary.BigEndian.Uint32(payload[4:8])
			payload = payload[8:]
			if off != 0 || more {
				key := fragKey{src: src, dst: dst, id: id, proto: next, v6: true}
				if payload = d.frags.add(key, off, more, payload); payload == nil {
					return nil
				}
			}
			nh = next
		default: // protoNone, ESP, ICMPv6, anything else
			return nil
		}
	}
	return nil
}

// transport decodes a TCP segment or UDP datagram and hands it to the flow
// table.
func (d *decoder) transport(m pktMeta, src, dst netip.Addr, proto uint8, b []byte) error {
	nf := gopacket.NilDecodeFeedback
	switch proto {
	case protoTCP:
		if d.tcp.DecodeFromBytes(b, nf) != nil {
			d.s.st.Undecodable++
			return nil
		}
		t := &d.tcp
		key := flowKey{
			src:   netip.AddrPortFrom(src, uint16(t.SrcPort)),
			dst:   netip.AddrPortFrom(dst, uint16(t.DstPort)),
			proto: protoTCP,
		}
		return d.flows.tcpSegment(m, key, t.Seq, t.SYN, t.ACK, t.Payload)
	case protoUDP:
		if d.udp.DecodeFromBytes(b, nf) != nil {
			d.s.st.Undecodable++
			return nil
		}
		key := flowKey{
			src:   netip.AddrPortFrom(src, uint16(d.udp.SrcPort)),
			dst:   netip.AddrPortFrom(dst, uint16(d.udp.DstPort)),
			proto: protoUDP,
		}
		return d.flows.udpDatagram(m, key, d.udp.Payload)
	}
	return nil
}
