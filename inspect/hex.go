package inspect

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sort"
)

// hexRun maps a run of decoded bytes whose hex digits are adjacent in the
// text: decoded byte dec+i starts at text offset text+2i on line line.
type hexRun struct {
	dec  int64
	text int64
	line int
}

// hexDecoder turns hex text into bytes for an itemScanner, one character at
// a time, remembering where every decoded byte came from.
//
// Accepted: hex digit pairs; separators ' ', '\t', '\r', '\n', ':', ',', ';'
// between pairs; a "0x"/"0X" prefix on a token; lines whose first non-blank
// character is '#' (comments). A token with an odd number of digits or any
// other character is an error at that character.
type hexDecoder struct {
	sc   *itemScanner
	runs []hexRun
	err  error // a handler error: stops the input

	off  int64 // text offset of the next character
	line int   // current line, 1-based
	dec  int64 // decoded bytes so far

	lineBlank   bool  // only blanks seen on this line so far
	comment     bool  // inside a comment line
	skipLine    bool  // ignoring the rest of this line after a problem
	resync      bool  // after a problem: waiting for a line that starts an item
	lineDecoded bool  // a byte was decoded on this line
	hi          int   // pending high nibble, -1 when none
	hiAt        int64 // text offset of the pending nibble
	tokLen      int   // characters in the current token
	tokZero     bool  // the current token so far is exactly "0"
	tokAt       int64 // text offset of the current token
	prevAt      int64 // text offset of the last decoded byte
}

// locate maps a decoded offset to its text offset and line.
func (d *hexDecoder) locate(dec int64) (int64, int) {
	i := sort.Search(len(d.runs), func(i int) bool { return d.runs[i].dec > dec }) - 1
	if i < 0 {
		return -1, 0
	}
	r := d.runs[i]
	return r.text + 2*(dec-r.dec), r.line
}

// prune forgets runs wholly before the scanner's first buffered byte.
func (d *hexDecoder) prune() {
	base := d.sc.base
	i := sort.Search(len(d.runs), func(i int) bool { return d.runs[i].dec > base }) - 1
	if i > 0 {
		n := copy(d.runs, d.runs[i:])
		d.runs = d.runs[:n]
	}
}

// fail reports a problem in the text at offset at and starts
// resynchronising. Items completed by the bytes decoded before the problem
// are delivered first.
func (d *hexDecoder) fail(at int64, err error) {
	if _, herr := d.sc.scan(false); herr != nil {
		d.err = herr
		return
	}
	d.sc.s.problem(&Error{Source: d.sc.s.name, Offset: at, Line: d.line, Err: err})
	d.abandon()
}

// abandon drops the buffered bytes and skips to the next line that starts
// an item.
func (d *hexDecoder) abandon() {
	d.sc.drop()
	d.runs = d.runs[:0]
	d.skipLine, d.resync = true, true
	d.hi, d.tokLen, d.tokZero = -1, 0, false
}

// emit adds one decoded byte whose first digit is at text offset at. While
// resynchronising, a line is taken only when its first byte can start an
// item: a handshake record, a ClientHello message or a QUIC long header.
func (d *hexDecoder) emit(b byte, at int64) {
	if d.resync {
		if d.lineDecoded || !(b == 0x16 || b == 0x01 || b&0xc0 == 0xc0) {
			d.skipLine = true
			return
		}
		d.resync = false
	}
	if len(d.runs) == 0 || d.prevAt+2 != at || d.runs[len(d.runs)-1].line != d.line {
		d.runs = append(d.runs, hexRun{dec: d.dec, text: at, line: d.line})
	}
	d.prevAt = at
	d.lineDecoded = true
	d.sc.buf = append(d.sc.buf, b)
	d.dec++
}

// endToken closes the current token at a separator.
func (d *hexDecoder) endToken() bool {
	if d.hi >= 0 {
		d.fail(d.hiAt, errors.New("odd number of hex digits in a token"))
		return false
	}
	if d.tokZero {
		// A lone "0" can only be half a byte.
		d.fail(d.tokAt, errors.New("odd number of hex digits in a token"))
		return false
	}
	d.tokLen = 0
	return true
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// char consumes one character of text.
func (d *hexDecoder) char(c byte) {
	at := d.off
	d.off++
	if c == '\n' {
		if !d.skipLine && !d.comment {
			d.endToken()
		}
		d.line++
		d.lineBlank, d.comment, d.skipLine, d.lineDecoded = true, false, false, false
		d.hi, d.tokLen, d.tokZero = -1, 0, false
		return
	}
	if d.comment || d.skipLine {
		return
	}
	switch c {
	case ' ', '\t', '\r', ':', ',', ';':
		d.endToken()
		return
	case '#':
		if d.lineBlank {
			d.comment = true
			return
		}
	}
	d.lineBlank = false
	if d.tokLen == 0 {
		d.tokAt = at
	}
	d.tokLen++
	if (c == 'x' || c == 'X') && d.tokZero && d.tokLen == 2 {
		d.tokZero = false
		d.hi = -1
		return
	}
	v := hexVal(c)
	if v < 0 {
		d.fail(at, fmt.Errorf("invalid character %q in hex text", rune(c)))
		return
	}
	if d.hi < 0 {
		d.hi, d.hiAt = v, at
		d.tokZero = d.tokLen == 1 && c == '0'
		return
	}
	d.tokZero = false
	b := byte(d.hi<<4 | v)
	d.hi = -1
	d.emit(b, d.hiAt)
}

// hex reads hex text. Problems resynchronise at the next line that starts
// an item; the input is read to its end.
func (s *session) hex(br *bufio.Reader) error {
	d := &hexDecoder{line: 1, lineBlank: true, hi: -1}
	d.sc = newItemScanner(s, d.locate)
	for {
		if err := s.ctx.Err(); err != nil {
			return fmt.Errorf("inspect: %s: %w", s.name, err)
		}
		chunk, rerr := br.ReadSlice('\n')
		final := errors.Is(rerr, io.EOF)
		if rerr != nil && !final && !errors.Is(rerr, bufio.ErrBufferFull) {
			return &Error{Source: s.name, Offset: d.off, Line: d.line, Err: fmt.Errorf("reading: %w", rerr)}
		}
		for _, c := range chunk {
			d.char(c)
			if d.err != nil {
				return d.err
			}
		}
		if final && !d.skipLine && !d.comment {
			d.endToken()
		}
		if d.err != nil {
			return d.err
		}
		bad, err := d.sc.scan(final)
		if err != nil {
			return err
		}
		if bad {
			d.abandon()
		}
		d.prune()
		if final {
			d.sc.finish()
			return nil
		}
	}
}
