package inspect

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/gopacket/pcapgo"
)

// Link-layer header types (LINKTYPE_* of the tcpdump.org registry) that
// packets are decoded from. They are kept as uint32 because gopacket's
// layers.LinkType is a uint8 and cannot hold LINUX_SLL2 (276).
const (
	linkNull     uint32 = 0   // BSD loopback, host byte order family
	linkEthernet uint32 = 1   // Ethernet II
	linkRawBSD   uint32 = 12  // DLT_RAW on most BSDs, written as is by some tools
	linkRawOBSD  uint32 = 14  // DLT_RAW on OpenBSD
	linkRaw      uint32 = 101 // raw IPv4 or IPv6
	linkLoop     uint32 = 108 // OpenBSD loopback, network byte order family
	linkLinuxSLL uint32 = 113 // Linux cooked capture v1
	linkIPv4     uint32 = 228
	linkIPv6     uint32 = 229
	linkSLL2     uint32 = 276 // Linux cooked capture v2
)

// errCaptureTruncated is the cause when a capture file ends inside a
// record, as files of a capture that was killed do. What came before is
// still inspected.
var errCaptureTruncated = errors.New("capture file ends inside a record (truncated file)")

// capPacket is one packet read from a capture file. data is only valid
// until the next packet is read.
type capPacket struct {
	data []byte
	ts   time.Time // zero when the file has none
	link uint32
}

// packetSource yields the packets of a capture file.
type packetSource interface {
	// next returns the next packet. A non-nil problem reports a damaged
	// record that was skipped: reading may continue. A non-nil err ends
	// the capture: io.EOF at its normal end, an *Error otherwise.
	next() (p capPacket, problem *Error, err error)
}

// pcapSource reads libpcap files with gopacket's pcapgo.Reader. The link
// type is read from the file header here, because pcapgo truncates it to
// eight bits.
type pcapSource struct {
	s    *session
	r    *pcapgo.Reader
	link uint32
	off  int64 // file offset of the next record
}

func (s *session) pcap(br *bufio.Reader) error {
	hdr, err := br.Peek(24)
	if err != nil {
		return &Error{Source: s.name, Offset: 0, Err: fmt.Errorf("reading pcap file header: %w", err)}
	}
	var order binary.ByteOrder = binary.LittleEndian
	if m := be32(hdr); m == 0xa1b2c3d4 || m == 0xa1b23c4d {
		order = binary.BigEndian
	}
	link := order.Uint32(hdr[20:]) & 0xffff // the upper bits carry FCS information
	r, err := pcapgo.NewReader(br)
	if err != nil {
		return &Error{Source: s.name, Offset: 0, Err: fmt.Errorf("reading pcap file header: %w", err)}
	}
	// Trust no snapshot length from the file: bound packets by ours.
	r.SetSnaplen(uint32(s.in.opts.MaxPacketBytes))
	return s.capture(&pcapSource{s: s, r: r, link: link, off: 24})
}

func (p *pcapSource) next() (capPacket, *Error, error) {
	at := p.off
	// The packet buffer is reused: everything downstream copies what it
	// keeps.
	data, ci, err := p.r.ZeroCopyReadPacketData()
	switch {
	case err == nil:
		p.off += 16 + int64(len(data))
		return capPacket{data: data, ts: ci.Timestamp, link: p.link}, nil, nil
	case errors.Is(err, io.EOF):
		return capPacket{}, nil, io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		return capPacket{}, nil, &Error{Source: p.s.name, Offset: at, Err: errCaptureTruncated}
	}
	return capPacket{}, nil, &Error{Source: p.s.name, Offset: at, Err: fmt.Errorf("damaged packet record: %w", err)}
}
