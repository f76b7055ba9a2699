package capture

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/guanaco-fp/guanaco/fingerprint"
)

// Protocol is the application protocol of a captured connection.
type Protocol string

// Protocols.
const (
	ProtoHTTP1 Protocol = "http/1.1"
	ProtoH2    Protocol = "h2"
)

// StreamLimits bounds the per-connection HTTP parsers.
type StreamLimits struct {
	// MaxHeadBytes caps one HTTP/1 request head (default 64 KiB).
	MaxHeadBytes int
	// MaxHeaders caps header fields per request (default 256).
	MaxHeaders int
	// MaxPending caps parsed requests kept per connection until a handler
	// claims them (default 64); older unclaimed ones are dropped first.
	MaxPending int
	// H2MaxFrameSize and H2HeaderTableSize must equal what the HTTP/2
	// server advertises (SETTINGS_MAX_FRAME_SIZE, SETTINGS_HEADER_TABLE_SIZE);
	// defaults 1 MiB and 4096, x/net/http2's server defaults.
	H2MaxFrameSize    uint32
	H2HeaderTableSize uint32
}

func (s StreamLimits) withDefaults() StreamLimits {
	if s.MaxHeadBytes <= 0 {
		s.MaxHeadBytes = 64 << 10
	}
	if s.MaxHeaders <= 0 {
		s.MaxHeaders = 256
	}
	if s.MaxPending <= 0 {
		s.MaxPending = 64
	}
	if s.H2MaxFrameSize == 0 {
		s.H2MaxFrameSize = 1 << 20
	}
	if s.H2HeaderTableSize == 0 {
		s.H2HeaderTableSize = 4096
	}
	return s
}

// TLSInfo is what the client sent and negotiated in its TLS handshake.
type TLSInfo struct {
	// Raw is the ClientHello record(s) exactly as received.
	Raw []byte
	// Hello is the parsed ClientHello.
	Hello *fingerprint.ClientHello
	// Fingerprints are computed once per connection.
	Fingerprints fingerprint.TLSFingerprints
	// State is the negotiated connection state.
	State tls.ConnectionState

	memoMu sync.Mutex
	memo   map[any]any
}

// Memo returns the value cached under key for this connection, calling
// compute once to create it. Every request of a keep-alive connection
// shares one handshake, so work derived only from it (rendering the decoded
// ClientHello, say) can be done once per connection. Keys should be values
// of an unexported type of the caller's package, as with context keys.
func (t *TLSInfo) Memo(key any, compute func() any) any {
	t.memoMu.Lock()
	defer t.memoMu.Unlock()
	if v, ok := t.memo[key]; ok {
		return v
	}
	v := compute()
	if t.memo == nil {
		t.memo = make(map[any]any, 2)
	}
	t.memo[key] = v
	return v
}

// Conn is an accepted connection whose client bytes are being captured. It
// is a net.Conn for net/http: Read returns the decrypted
// (or, without TLS, plain) client bytes after feeding them to the HTTP/1 or
// HTTP/2 parser of the connection. A parser error stops the capture, never
// the connection: the real HTTP stack decides what is a protocol error.
//
// Conn deliberately has no ConnectionState method: net/http would then treat
// it as TLS and skip its unencrypted-HTTP/2 path, which is how connections
// that negotiated h2 are served. The TLS state is in TLS().
type Conn struct {
	net.Conn // *tls.Conn for TLS connections, the raw connection otherwise

	id       string
	accepted time.Time
	proto    Protocol
	tlsInfo  *TLSInfo
	remote   netip.AddrPort

	mu      sync.Mutex
	h1      *fingerprint.HTTP1Stream // set for HTTP/1 connections
	h2      *fingerprint.H2Stream    // set for HTTP/2 connections
	pending []*parsedRequest         // parsed, not yet claimed by a handler, in arrival order
	limits  StreamLimits
	dropped int
	h2conn  *fingerprint.H2Conn // connection preface snapshot, see claim
	// prefaceOK: the h2 client preface arrived intact; prefaceN counts the
	// bytes read until then.
	prefaceOK bool
	prefaceN  int
	akamai    fingerprint.AkamaiFP
	// order is the header-order fingerprint of the last claimed request
	// (orderSet once there is one); pseudo is the last HTTP/3 request's
	// pseudo-header order. See headerOrder and pseudoOrder.
	order    fingerprint.HeaderOrderFP
	orderSet bool
	pseudo   []string
	// attached is set once Middleware has attached a capture to one of the
	// connection's requests; until then Claim need not look for one.
	attached atomic.Bool

	// ahead holds bytes read from an HTTP/2 connection (and parsed) but
	// not yet returned by Read; aheadErr is the error that came with them.
	// Only the reading goroutine uses them.
	ahead    []byte
	aheadBuf []byte
	aheadErr error
	// HTTP/3 connections (see h3.go).
	quic         *QUICInfo
	h3mu         sync.Mutex // guards h3
	h3           *h3State
	settingsWait time.Duration
}

// h2ReadAhead is the read-ahead of HTTP/2 connections. x/net's HTTP/2
// server reads each frame header and payload with exact-length reads and
// reads the next frame only after the last one was processed, so without
// it a stream's WINDOW_UPDATE sent right after its HEADERS (Firefox) would
// race with the handler that records the request; read ahead, the parser
// sees every frame of the TLS record (up to this size) before the handler
// starts.
const h2ReadAhead = 4 << 10

var _ net.Conn = (*Conn)(nil)

// newConn wraps c, whose handshake (if any) info describes.
func newConn(c net.Conn, info *TLSInfo, proto Protocol, accepted time.Time, lim StreamLimits) *Conn {
	var idb [8]byte
	_, _ = rand.Read(idb[:])
	conn := &Conn{
		Conn:     c,
		id:       hex.EncodeToString(idb[:]),
		accepted: accepted,
		proto:    proto,
		limits:   lim,
		tlsInfo:  info,
	}
	if ap, ok := addrPort(c.RemoteAddr()); ok {
		conn.remote = ap
	}
	switch proto {
	case ProtoH3:
		// No byte stream to parse: the HTTP/3 server reads the frames
		// (see H3Server.newQUICConn).
	case ProtoH2:
		conn.h2 = fingerprint.NewH2Stream(fingerprint.H2Config{
			MaxFrameSize:      lim.H2MaxFrameSize,
			HeaderTableSize:   lim.H2HeaderTableSize,
			MaxHeaderListSize: uint32(lim.MaxHeadBytes),
			OnRequest: func(req fingerprint.H2Request) {
				conn.enqueue(&parsedRequest{h2: &req})
			},
		})
	default:
		conn.h1 = fingerprint.NewHTTP1Stream(fingerprint.HTTP1StreamConfig{
			Limits: fingerprint.HTTP1Limits{MaxHeadBytes: lim.MaxHeadBytes, MaxHeaders: lim.MaxHeaders},
			OnRequest: func(_ int, _ int64, req *fingerprint.HTTP1Request) {
				conn.enqueue(&parsedRequest{h1: req})
			},
		})
	}
	return conn
}

// Read reads client bytes and feeds them to the connection's parser.
func (c *Conn) Read(p []byte) (int, error) {
	if c.h2 == nil || len(p) >= h2ReadAhead {
		if len(c.ahead) == 0 {
			return c.read(p)
		}
	} else if len(c.ahead) == 0 && c.aheadErr == nil {
		if c.aheadBuf == nil {
			c.aheadBuf = make([]byte, h2ReadAhead)
		}
		n, err := c.read(c.aheadBuf)
		c.ahead, c.aheadErr = c.aheadBuf[:n], err
	}
	n := copy(p, c.ahead)
	c.ahead = c.ahead[n:]
	if len(c.ahead) == 0 {
		err := c.aheadErr
		c.aheadErr = nil
		return n, err
	}
	return n, nil
}

// read reads into p from the connection and feeds the bytes to the parser.
func (c *Conn) read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		// The parsers never fail a Write: a protocol error stops the
		// capture, and the real HTTP stack answers the client.
		c.mu.Lock()
		badPreface := false
		if c.h2 != nil {
			_, _ = c.h2.Write(p[:n])
			if !c.prefaceOK {
				c.prefaceN += n
				if fingerprint.ErrCode(c.h2.Err()) == fingerprint.CodeBadPreface {
					badPreface = true
				} else if c.prefaceN >= len(fingerprint.H2ClientPreface) {
					c.prefaceOK = true
				}
			}
		} else if c.h1 != nil {
			_, _ = c.h1.Write(p[:n])
		}
		c.mu.Unlock()
		if badPreface {
			// A client that negotiated h2 must start with the connection
			// preface (RFC 9113 §3.4); net/http would otherwise fall back
			// to reading HTTP/1 from it. End the connection instead.
			_ = c.Conn.Close()
			return 0, errBadPreface
		}
	}
	return n, err
}

var errBadPreface = errors.New("capture: client negotiated h2 but did not send the HTTP/2 connection preface")

// ID is a random identifier of this connection, unique per process run.
func (c *Conn) ID() string { return c.id }

// Accepted is when the connection was accepted.
func (c *Conn) Accepted() time.Time { return c.accepted }

// Protocol is the negotiated application protocol.
func (c *Conn) Protocol() Protocol { return c.proto }

// TLS returns the captured handshake, or nil for a plain connection.
func (c *Conn) TLS() *TLSInfo { return c.tlsInfo }

// RemoteAddrPort is the client address: the PROXY protocol source when a
// trusted proxy sent one, else the TCP peer. IPv4-mapped IPv6 addresses are
// unmapped.
func (c *Conn) RemoteAddrPort() netip.AddrPort { return c.remote }

// enqueue records a parsed request for a handler to claim. Called with
// c.mu held (from the parser callbacks inside Read).
func (c *Conn) enqueue(pr *parsedRequest) {
	if len(c.pending) >= c.limits.MaxPending {
		c.pending = c.pending[1:]
		c.dropped++
	}
	c.pending = append(c.pending, pr)
}
