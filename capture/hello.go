package capture

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/guanaco-fp/guanaco/fingerprint"
)

// DefaultMaxHelloBytes bounds the TLS records read while looking for a
// ClientHello. Real hellos are under 2 KiB (post-quantum ones about 1.8 KiB);
// the fingerprint parser caps the handshake message at 64 KiB.
const DefaultMaxHelloBytes = 64<<10 + 4*(5+256)

// HelloConn is a net.Conn whose first bytes, the TLS record(s) carrying the
// ClientHello, have already been read from the network. Read replays those
// bytes before reading further from the underlying connection, so the
// connection can be handed unchanged to crypto/tls.
type HelloConn struct {
	net.Conn

	mu      sync.Mutex
	pending []byte // bytes read ahead and not yet returned by Read

	raw   []byte                   // the ClientHello record(s) exactly as received
	hello *fingerprint.ClientHello // nil when err != nil
	err   error
}

// ReadClientHello reads from c until it holds the complete TLS record(s) of a
// ClientHello, at most maxBytes (DefaultMaxHelloBytes when <= 0), and no
// later than deadline (a zero deadline means none). A client that sends one
// byte at a time is read correctly; a client that sends nothing fails at the
// deadline.
//
// The returned HelloConn always replays every byte read, even when the hello
// could not be parsed, so the TLS stack can answer with its own alert (or an
// HTTP 400 for a plain HTTP request). HelloErr reports why parsing failed;
// the error returned here is non-nil only when the network read itself
// failed before a complete hello arrived, in which case HelloErr is the same
// error. The deadline on c is cleared before returning.
func ReadClientHello(c net.Conn, deadline time.Time, maxBytes int) (*HelloConn, error) {
	if err := c.SetReadDeadline(deadline); err != nil {
		hc := &HelloConn{Conn: c}
		hc.err = fmt.Errorf("capture: setting hello deadline: %w", err)
		return hc, hc.err
	}
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	return readClientHello(c, maxBytes, nil)
}

// helloReadSize is the first read's size: a client sends its first flight
// (the hello, at most an early-data record after it) and waits, so one
// read usually holds the whole hello; whatever is read beyond it is
// replayed.
const helloReadSize = 4096

// readClientHello is ReadClientHello without the deadline: the caller sets
// and clears the deadline of c. scratch, when not nil, is a buffer of
// helloReadSize bytes to read into; the HelloConn keeps a copy of what was
// read, of its exact size, so scratch is free again on return.
func readClientHello(c net.Conn, maxBytes int, scratch *[helloReadSize]byte) (*HelloConn, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxHelloBytes
	}
	hc := &HelloConn{Conn: c}
	buf, onScratch := []byte(nil), scratch != nil
	if onScratch {
		buf = scratch[:0]
	} else {
		buf = make([]byte, 0, helloReadSize)
	}
	// own returns buf in memory of its own (a copy while it is scratch).
	own := func() []byte {
		if onScratch {
			return append(make([]byte, 0, len(buf)), buf...)
		}
		return buf
	}
	need := 5 // a record header
	for {
		if len(buf) >= need {
			n, err := fingerprint.ClientHelloLength(buf)
			if err != nil {
				hc.pending = own()
				hc.err = err
				return hc, nil
			}
			if n <= len(buf) {
				hc.pending = own()
				hc.raw = hc.pending[:n:n]
				hc.hello, hc.err = fingerprint.ParseClientHello(hc.raw)
				return hc, nil
			}
			if n > maxBytes {
				hc.pending = own()
				hc.err = fmt.Errorf("capture: ClientHello needs %d bytes, over the %d byte cap", n, maxBytes)
				return hc, nil
			}
			need = n
		}
		if cap(buf) < need {
			nb := make([]byte, len(buf), need)
			copy(nb, buf)
			buf, onScratch = nb, false
		}
		m, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil {
			if errors.Is(err, io.EOF) && len(buf) == 0 {
				err = io.EOF
			}
			hc.pending = own()
			hc.err = fmt.Errorf("capture: reading ClientHello (%d bytes read): %w", len(buf), err)
			return hc, hc.err
		}
	}
}

// Read returns the bytes read ahead by ReadClientHello first, then reads
// from the underlying connection.
func (hc *HelloConn) Read(p []byte) (int, error) {
	hc.mu.Lock()
	if len(hc.pending) > 0 {
		n := copy(p, hc.pending)
		hc.pending = hc.pending[n:]
		hc.mu.Unlock()
		return n, nil
	}
	hc.mu.Unlock()
	return hc.Conn.Read(p)
}

// Raw returns the ClientHello record bytes exactly as received, or nil when
// no complete hello was read. The caller must not modify them.
func (hc *HelloConn) Raw() []byte { return hc.raw }

// Hello returns the parsed ClientHello, or nil when HelloErr is non-nil.
func (hc *HelloConn) Hello() *fingerprint.ClientHello { return hc.hello }

// HelloErr reports why no ClientHello could be captured: a network error, a
// timeout, or a *fingerprint.ParseError for bytes that are not a valid hello.
func (hc *HelloConn) HelloErr() error { return hc.err }
