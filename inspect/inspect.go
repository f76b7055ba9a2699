package inspect

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/guanaco-fp/guanaco/fingerprint"
	"github.com/guanaco-fp/guanaco/quicinitial"
)

// Defaults for the zero fields of Options.
const (
	// DefaultMaxStreamBytes bounds the bytes buffered for one TCP direction,
	// one QUIC CRYPTO stream or one raw item while waiting for a ClientHello
	// to complete. Real hellos are under 4 KiB; post-quantum Chrome hellos
	// are about 1.8 KiB.
	DefaultMaxStreamBytes = 128 << 10
	// DefaultMaxFlows bounds the TCP directions and QUIC flows tracked at
	// once, finished ones included.
	DefaultMaxFlows = 1 << 16
	// DefaultMaxBufferedBytes bounds the bytes buffered across all flows of
	// one capture.
	DefaultMaxBufferedBytes = 64 << 20
	// DefaultMaxFragmentedDatagrams bounds the IP datagrams being
	// reassembled from fragments at once (each holds at most 128 KiB).
	DefaultMaxFragmentedDatagrams = 64
	// DefaultMaxPacketBytes is the largest captured packet read from a
	// capture (libpcap's maximum snapshot length).
	DefaultMaxPacketBytes = 256 << 10
)

// Options bound the memory of an Inspector. A zero field takes the
// matching Default constant. One Inspect call holds at most about
// MaxBufferedBytes + 2×MaxStreamBytes of stream data (one flow may overrun
// the shared budget by its own buffer), 128 KiB per fragmented datagram,
// a few hundred bytes per tracked flow, one packet of MaxPacketBytes and
// fixed read buffers, whatever the input; its work is linear in the input.
// MaxBufferedBytes is raised to MaxStreamBytes when lower.
type Options struct {
	MaxStreamBytes         int
	MaxFlows               int
	MaxBufferedBytes       int
	MaxFragmentedDatagrams int
	MaxPacketBytes         int
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxStreamBytes, DefaultMaxStreamBytes)
	def(&o.MaxFlows, DefaultMaxFlows)
	def(&o.MaxBufferedBytes, DefaultMaxBufferedBytes)
	def(&o.MaxFragmentedDatagrams, DefaultMaxFragmentedDatagrams)
	def(&o.MaxPacketBytes, DefaultMaxPacketBytes)
	if o.MaxBufferedBytes < o.MaxStreamBytes {
		o.MaxBufferedBytes = o.MaxStreamBytes
	}
	return o
}

// Handler receives what Inspect finds in one input.
type Handler interface {
	// Hello is called once per ClientHello, as soon as it is complete. A
	// non-nil error stops the input; Inspect returns it wrapped.
	Hello(Record) error
	// Problem is called for each problem that does not stop the input: an
	// unparseable hello (reading resumes after it where the format allows),
	// a stream that ended before its hello was complete, a corrupt packet
	// block. Problems stop nothing else.
	Problem(*Error)
}

// HandlerFuncs adapts two functions to a Handler. A nil field ignores its
// events.
type HandlerFuncs struct {
	HelloFunc   func(Record) error
	ProblemFunc func(*Error)
}

var _ Handler = HandlerFuncs{}

// Hello calls HelloFunc.
func (f HandlerFuncs) Hello(r Record) error {
	if f.HelloFunc == nil {
		return nil
	}
	return f.HelloFunc(r)
}

// Problem calls ProblemFunc.
func (f HandlerFuncs) Problem(e *Error) {
	if f.ProblemFunc != nil {
		f.ProblemFunc(e)
	}
}

// Stats counts what Inspect saw in one input.
type Stats struct {
	// Format is the detected format (after gzip decompression; Gzip tells
	// whether the input was compressed).
	Format Format
	Gzip   bool
	// Hellos is the number of Records passed to Handler.Hello.
	Hellos int
	// Problems is the number of errors passed to Handler.Problem.
	Problems int
	// Packets read from a capture; Undecodable of them were not Ethernet,
	// cooked, loopback or raw IP carrying IPv4/IPv6 (or were malformed).
	Packets     int64
	Undecodable int64
	// TCPStreams is the number of TCP streams (one direction of one
	// connection) that carried data, less the server directions recognised
	// by their SYN-ACK; NotTLS of them did not start with a ClientHello and
	// were skipped.
	TCPStreams int
	NotTLS     int
	// QUICFlows is the number of QUIC connections seen through a
	// decryptable v1/v2 client Initial packet; Undecryptable counts Initial
	// packets that did not decrypt with client keys (server Initials,
	// corrupted packets).
	QUICFlows     int
	Undecryptable int
	// Evicted counts flows dropped unfinished because of MaxFlows or
	// MaxBufferedBytes.
	Evicted int
}

// Error is an input problem, located as precisely as the input allows.
type Error struct {
	// Source is the input name, followed for captures by "#" and the
	// stream (client->server address pair) when the problem is in one.
	Source string
	// Packet is the 1-based packet number in a capture, 0 when not known.
	Packet int64
	// Offset is a byte offset: from the start of the reassembled stream
	// when InStream is set, otherwise from the start of the file (of the
	// decompressed bytes for gzip inputs). -1 when not known.
	Offset   int64
	InStream bool
	// Line is the 1-based line number in hex text, 0 otherwise.
	Line int
	// Err is the cause; a *fingerprint.ParseError for unparseable hellos.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Source)
	if e.Packet > 0 {
		fmt.Fprintf(&b, ": packet %d", e.Packet)
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, ": line %d", e.Line)
	}
	if e.Offset >= 0 {
		if e.InStream {
			fmt.Fprintf(&b, ": stream offset %d", e.Offset)
		} else {
			fmt.Fprintf(&b, ": offset %d", e.Offset)
		}
	}
	b.WriteString(": ")
	var pe *fingerprint.ParseError
	if errors.As(e.Err, &pe) {
		fmt.Fprintf(&b, "invalid ClientHello (%s): %s", pe.Code, pe.Msg)
		if pe.Err != nil {
			b.WriteString(": " + pe.Err.Error())
		}
	} else if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Format is an input format.
type Format int

// Input formats recognised by Detect.
const (
	FormatUnknown Format = iota
	FormatRaw            // binary TLS records, handshake messages or QUIC packets
	FormatHex            // hex text
	FormatPcap           // libpcap capture
	FormatPcapNG         // pcapng capture
	FormatGzip           // gzip-compressed; the content is detected again
)

func (f Format) String() string {
	switch f {
	case FormatRaw:
		return "raw"
	case FormatHex:
		return "hex"
	case FormatPcap:
		return "pcap"
	case FormatPcapNG:
		return "pcapng"
	case FormatGzip:
		return "gzip"
	}
	return "unknown"
}

// DetectBytes is how many leading bytes Detect looks at, at most.
const DetectBytes = 512

// Detect reports the format of an input from its first bytes (up to
// DetectBytes; fewer only when the input is shorter).
func Detect(prefix []byte) Format {
	if len(prefix) == 0 {
		return FormatUnknown
	}
	if len(prefix) >= 4 {
		switch be32(prefix) {
		case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1:
			return FormatPcap
		case 0x0a0d0d0a:
			if len(prefix) >= 12 {
				bom := be32(prefix[8:])
				if bom == 0x1a2b3c4d || bom == 0x4d3c2b1a {
					return FormatPcapNG
				}
			}
		}
	}
	if len(prefix) >= 2 && prefix[0] == 0x1f && prefix[1] == 0x8b {
		return FormatGzip
	}
	if startsItem(prefix) {
		return FormatRaw
	}
	if looksHex(prefix) {
		return FormatHex
	}
	return FormatUnknown
}

// startsItem reports whether b starts like a raw item: a TLS record, a
// ClientHello handshake message or a QUIC long-header packet.
func startsItem(b []byte) bool {
	switch {
	case b[0] == 0x16 || b[0] == 0x01:
		return true
	case b[0] >= 0x14 && b[0] <= 0x18 && len(b) > 1 && b[1] == 0x03:
		return true
	case b[0]&0x80 != 0 && len(b) >= 5:
		return quicinitial.VersionSupported(be32(b[1:]))
	}
	return false
}

// looksHex reports whether the text prefix b, after leading blank and '#'
// comment lines, starts with a hex digit.
// A text of nothing but comments and blank lines counts as hex (with no
// hellos in it); blank space alone does not.
func looksHex(b []byte) bool {
	comments := false
	for len(b) > 0 {
		switch c := b[0]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			b = b[1:]
		case c == '#':
			comments = true
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				return true // a comment filling the whole prefix: let the hex reader decide
			}
			b = b[i+1:]
		default:
			return isHexDigit(c)
		}
	}
	return comments
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// Inspector finds ClientHellos in inputs. It holds only its options; one
// Inspector may serve concurrent Inspect calls.
type Inspector struct {
	opts Options
}

// New returns an Inspector with opts (zero fields take the defaults).
func New(opts Options) *Inspector {
	return &Inspector{opts: opts.withDefaults()}
}

// Inspect reads one input named name from r, detects its format, and calls
// h for every ClientHello and every problem it finds, streaming. The
// returned error is nil when the input was read to its end (even if
// problems were reported); otherwise it stops the input: an *Error for an
// unrecognised, unreadable or structurally broken input, or the wrapped
// error of Handler.Hello or ctx.
func (in *Inspector) Inspect(ctx context.Context, name string, r io.Reader, h Handler) (Stats, error) {
	var st Stats
	counting := HandlerFuncs{
		HelloFunc: func(rec Record) error {
			st.Hellos++
			return h.Hello(rec)
		},
		ProblemFunc: func(e *Error) {
			st.Problems++
			h.Problem(e)
		},
	}
	br := bufio.NewReaderSize(r, 64<<10)
	f, err := detectReader(br)
	if errors.Is(err, errEmpty) {
		return st, &Error{Source: name, Offset: -1, Err: err}
	}
	if err != nil {
		return st, &Error{Source: name, Offset: 0, Err: err}
	}
	if f == FormatGzip {
		st.Gzip = true
		zr, err := gzip.NewReader(br)
		if err != nil {
			return st, &Error{Source: name, Offset: 0, Err: fmt.Errorf("reading gzip header: %w", err)}
		}
		defer zr.Close()
		zr.Multistream(true)
		// From here on, offsets count decompressed bytes.
		br = bufio.NewReaderSize(zr, 64<<10)
		if f, err = detectReader(br); err != nil {
			return st, &Error{Source: name, Offset: 0, Err: fmt.Errorf("in gzip content: %w", err)}
		}
		if f == FormatGzip {
			return st, &Error{Source: name, Offset: 0, Err: errors.New("gzip inside gzip is not supported")}
		}
	}
	st.Format = f
	s := &session{in: in, ctx: ctx, name: name, h: counting, st: &st}
	if f == FormatHex || f == FormatUnknown {
		// A client stream dumped as is (tcpflow, a proxy log): a hello
		// after a plaintext preamble in the first bytes the reader holds.
		// Hex text never holds the record's 0x16 byte.
		window, _ := br.Peek(min(PreambleWindow, br.Size()))
		if at, c := scanHello(window, 0); c == candYes {
			st.Format = FormatRaw
			preamble := DetectPreamble(window[:at])
			if _, err := br.Discard(at); err != nil {
				return st, &Error{Source: name, Offset: int64(at), Err: fmt.Errorf("reading: %w", err)}
			}
			return st, s.rawFrom(br, int64(at), preamble)
		}
	}
	switch f {
	case FormatRaw:
		err = s.raw(br)
	case FormatHex:
		err = s.hex(br)
	case FormatPcap:
		err = s.pcap(br)
	case FormatPcapNG:
		err = s.pcapng(br)
	default:
		prefix, _ := br.Peek(8)
		err = &Error{Source: name, Offset: 0, Err: fmt.Errorf(
			"unrecognised input: not TLS records, a ClientHello, a QUIC Initial packet, hex text, pcap or pcapng (starts % x)", prefix)}
	}
	return st, err
}

// errEmpty is the error for an input without a single byte.
var errEmpty = errors.New("empty input")

// detectReader peeks at the start of br and detects its format.
func detectReader(br *bufio.Reader) (Format, error) {
	prefix, err := br.Peek(DetectBytes)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return FormatUnknown, fmt.Errorf("reading input: %w", err)
	}
	if len(prefix) == 0 {
		return FormatUnknown, errEmpty
	}
	return Detect(prefix), nil
}

// session is the state of one Inspect call.
type session struct {
	in   *Inspector
	ctx  context.Context
	name string
	h    Handler
	st   *Stats
}

// emit passes a hello to the handler, wrapping its error.
func (s *session) emit(rec Record) error {
	if err := s.h.Hello(rec); err != nil {
		return fmt.Errorf("inspect: handling ClientHello from %s: %w", rec.Source, err)
	}
	return nil
}

func (s *session) problem(e *Error) { s.h.Problem(e) }
