package inspect

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/guanaco-fp/guanaco/fingerprint"
	"github.com/guanaco-fp/guanaco/quicinitial"
)

// maxRawQUICConns bounds the QUIC connections (distinct destination
// connection IDs) followed at once in one raw or hex input.
const maxRawQUICConns = 16

// itemScanner finds items in a byte sequence that arrives in pieces: TLS
// records holding ClientHellos, bare ClientHello messages, QUIC long-header
// packets (Initial ones are decrypted and their CRYPTO frames reassembled
// per connection), and skips other TLS records. It serves raw and hex inputs;
// locate maps an offset in the decoded bytes to the file offset and line.
type itemScanner struct {
	s      *session
	buf    []byte
	base   int64 // decoded offset of buf[0]
	locate func(int64) (int64, int)

	quic      map[string]*quicConn
	quicOrder []string // connection IDs, oldest first
	// afterQUIC is set after a QUIC packet: zero bytes that follow are
	// datagram padding.
	afterQUIC bool
	// preamble is given to the next record (a hello found after one).
	preamble string
}

func newItemScanner(s *session, locate func(int64) (int64, int)) *itemScanner {
	return &itemScanner{s: s, locate: locate, quic: make(map[string]*quicConn)}
}

// problemAt reports err at decoded offset off.
func (sc *itemScanner) problemAt(off int64, err error) {
	fo, line := sc.locate(off)
	sc.s.problem(&Error{Source: sc.s.name, Offset: fo, Line: line, Err: err})
}

// consume drops n bytes from the front of buf.
func (sc *itemScanner) consume(n int) {
	sc.buf = sc.buf[n:]
	sc.base += int64(n)
}

// drop discards everything buffered (after a problem that leaves no way to
// find the next item in it).
func (sc *itemScanner) drop() {
	sc.base += int64(len(sc.buf))
	sc.buf = sc.buf[:0]
}

// scan consumes every complete item in buf; final says the input has ended.
// It returns bad after reporting a problem that leaves no way to find the
// next item (the caller stops or resynchronises), and a non-nil error only
// when the handler failed.
func (sc *itemScanner) scan(final bool) (bad bool, err error) {
	limit := sc.s.in.opts.MaxStreamBytes
	for len(sc.buf) > 0 {
		b := sc.buf
		switch {
		case b[0] == 0x16 || b[0] == 0x01:
			hello := recordHello
			if b[0] == 0x01 {
				hello = bareHello
			}
			st, need, perr := hello(b, limit)
			sc.afterQUIC = false
			switch st {
			case helloBad:
				sc.problemAt(sc.base+parseOffset(perr), perr)
				return true, nil
			case helloNeedMore:
				if final {
					sc.problemAt(sc.base, truncatedError(len(b), need))
					return true, nil
				}
				return false, nil
			}
			if err := sc.hello(b[:need], sc.base, false); err != nil {
				return false, err
			}
			sc.consume(need)
		case b[0] >= 0x14 && b[0] <= 0x18 && len(b) > 1 && b[1] == 0x03:
			// A TLS record of another content type: skip it.
			sc.afterQUIC = false
			if len(b) < 5 {
				if final {
					sc.problemAt(sc.base, errors.New("input ended inside a TLS record header"))
					return true, nil
				}
				return false, nil
			}
			need := 5 + (int(b[3])<<8 | int(b[4]))
			if need > len(b) {
				if final {
					sc.problemAt(sc.base, fmt.Errorf("input ended inside a TLS record: have %d of %d bytes", len(b), need))
					return true, nil
				}
				return false, nil
			}
			sc.consume(need)
		case b[0]&0x80 != 0 && (len(b) < 5 && !final || len(b) >= 5 && quicinitial.VersionSupported(be32(b[1:]))):
			done, bad, err := sc.quicPacket(final)
			if err != nil || bad || !done {
				return bad, err
			}
		case b[0] == 0 && sc.afterQUIC:
			n := 0
			for n < len(b) && b[n] == 0 {
				n++
			}
			sc.consume(n)
		case isSpace(b[0]) && allSpace(b):
			// Trailing whitespace (a newline after binary data) is fine
			// at the end of the input.
			if final {
				sc.consume(len(b))
			}
			return false, nil
		default:
			sc.problemAt(sc.base, fmt.Errorf(
				"unexpected byte 0x%02x: not a TLS record, a ClientHello message or a QUIC v1/v2 long-header packet", b[0]))
			return true, nil
		}
	}
	return false, nil
}

// quicPacket handles the QUIC long-header packet at the start of buf. done
// reports whether it was consumed.
func (sc *itemScanner) quicPacket(final bool) (done, bad bool, err error) {
	b := sc.buf
	h, need, perr := quicinitial.ParseLongHeader(b)
	switch {
	case perr != nil:
		sc.problemAt(sc.base, fmt.Errorf("QUIC packet: %w", perr))
		return false, true, nil
	case need > len(b):
		if final {
			sc.problemAt(sc.base, fmt.Errorf("input ended inside a QUIC packet: have %d of %d bytes", len(b), need))
			return false, true, nil
		}
		return false, false, nil
	}
	at := sc.base
	sc.afterQUIC = true
	if h.Type != quicInitial {
		sc.consume(h.End)
		return true, false, nil
	}
	c := sc.quicConnFor(h.DCID)
	if c.done {
		sc.consume(h.End)
		return true, false, nil
	}
	if ierr := c.initial(b[:h.End], h); ierr != nil {
		if errors.Is(ierr, quicinitial.ErrUndecryptable) {
			sc.s.st.Undecryptable++
		}
		sc.problemAt(at, fmt.Errorf("QUIC Initial packet: %w", ierr))
	}
	sc.consume(h.End)
	if !c.decrypted {
		return true, false, nil
	}
	st, need, herr := bareHello(c.crypto.data, sc.s.in.opts.MaxStreamBytes)
	switch st {
	case helloBad:
		c.done = true
		c.crypto.reset()
		sc.problemAt(at, fmt.Errorf("QUIC CRYPTO stream: %w", herr))
	case helloReady:
		c.done = true
		err = sc.hello(c.crypto.data[:need], at, true)
		c.crypto.reset()
	}
	return true, false, err
}

// quicConnFor returns the connection state of a destination connection ID,
// creating it (and forgetting the oldest beyond maxRawQUICConns).
func (sc *itemScanner) quicConnFor(dcid []byte) *quicConn {
	if c, ok := sc.quic[string(dcid)]; ok {
		return c
	}
	if len(sc.quicOrder) >= maxRawQUICConns {
		delete(sc.quic, sc.quicOrder[0])
		sc.quicOrder = sc.quicOrder[1:]
	}
	c := &quicConn{crypto: streamBuf{max: sc.s.in.opts.MaxStreamBytes}}
	sc.quic[string(dcid)] = c
	sc.quicOrder = append(sc.quicOrder, string(dcid))
	return c
}

// finish reports QUIC connections whose ClientHello never completed.
func (sc *itemScanner) finish() {
	for _, id := range sc.quicOrder {
		c := sc.quic[id]
		if c.done || len(c.crypto.data)+c.crypto.held == 0 {
			continue
		}
		st, need, _ := bareHello(c.crypto.data, sc.s.in.opts.MaxStreamBytes)
		if st != helloNeedMore {
			continue
		}
		err := truncatedError(len(c.crypto.data), need)
		if g := c.crypto.gapAt(); g >= 0 {
			err = fmt.Errorf("%w (CRYPTO data missing at stream offset %d)", err, g)
		}
		sc.s.problem(&Error{Source: sc.s.name, Offset: -1,
			Err: fmt.Errorf("QUIC connection %x: %w", id, err)})
	}
}

// hello parses one complete ClientHello that starts at decoded offset at
// (for QUIC: the reassembled CRYPTO stream of the packet at offset at) and
// emits it; a parse error is reported as a problem.
func (sc *itemScanner) hello(b []byte, at int64, quic bool) error {
	parse := fingerprint.ParseClientHello
	if quic {
		parse = fingerprint.ParseClientHelloQUIC
	}
	ch, err := parse(b)
	if err != nil {
		off := at + parseOffset(err)
		if quic {
			off = at // the offset is inside decrypted data: point at the packet
		}
		sc.problemAt(off, err)
		return nil
	}
	rec := NewRecord(sc.s.name, ch)
	fo, _ := sc.locate(at)
	rec.Offset = &fo
	rec.Preamble, sc.preamble = sc.preamble, ""
	return sc.s.emit(rec)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func allSpace(b []byte) bool {
	for _, c := range b {
		if !isSpace(c) {
			return false
		}
	}
	return true
}

// raw reads a binary input of back-to-back items. A problem that leaves no
// way to find the next item ends the input.
func (s *session) raw(br *bufio.Reader) error { return s.rawFrom(br, 0, "") }

// rawFrom is raw for an input whose first base bytes, a plaintext preamble
// of protocol preamble (see DetectPreamble), were already read: offsets
// count from the start of the input, and the first hello carries the
// preamble.
func (s *session) rawFrom(br *bufio.Reader, base int64, preamble string) error {
	sc := newItemScanner(s, func(off int64) (int64, int) { return off, 0 })
	sc.base, sc.preamble = base, preamble
	chunk := make([]byte, 32<<10)
	for {
		if err := s.ctx.Err(); err != nil {
			return fmt.Errorf("inspect: %s: %w", s.name, err)
		}
		n, rerr := br.Read(chunk)
		// Consumed bytes are sliced off the front of buf; when append
		// reallocates it copies only the unconsumed tail, so buf stays
		// within about twice one pending item plus one chunk.
		sc.buf = append(sc.buf, chunk[:n]...)
		final := errors.Is(rerr, io.EOF)
		if rerr != nil && !final {
			return &Error{Source: s.name, Offset: sc.base + int64(len(sc.buf)), Err: fmt.Errorf("reading: %w", rerr)}
		}
		bad, err := sc.scan(final)
		if err != nil {
			return err
		}
		if bad || final {
			sc.finish()
			return nil
		}
	}
}
