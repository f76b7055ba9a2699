package capture

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/guanaco-fp/guanaco/fingerprint"
	"github.com/guanaco-fp/guanaco/internal/warmstack"
)

// Handshake failure reasons reported to Config.OnHandshakeError. They are
// stable strings suitable as metric label values.
const (
	ReasonTimeout    = "timeout"     // no complete hello (or handshake) before the deadline
	ReasonEOF        = "eof"         // the client closed before a complete hello
	ReasonNotTLS     = "not_tls"     // the first bytes are not a TLS handshake record
	ReasonHTTPOnTLS  = "http_on_tls" // a plain HTTP request on the TLS port (answered with 400)
	ReasonBadHello   = "bad_hello"   // TLS records that do not hold a valid ClientHello
	ReasonTooLarge   = "too_large"   // the hello exceeds the size cap
	ReasonProxyProto = "proxy_protocol"
	ReasonHandshake  = "handshake" // crypto/tls rejected the handshake
	ReasonNetwork    = "network"
	ReasonClientCap  = "client_limit" // the client address (IPv6: its /64) has too many handshakes pending
)

// Config configures a Listener.
type Config struct {
	// TLS is the server configuration. NextProtos decides what is offered
	// (e.g. "h2", "http/1.1"). Nil makes a plain-text listener: no hello is
	// read and every connection is HTTP/1.
	TLS *tls.Config
	// HandshakeTimeout bounds reading the PROXY header, the ClientHello and
	// the whole TLS handshake. Default 10s.
	HandshakeTimeout time.Duration
	// MaxHelloBytes caps the ClientHello records (DefaultMaxHelloBytes).
	MaxHelloBytes int
	// MaxPendingHandshakes bounds connections between accept and the end of
	// their handshake; further connections wait in the kernel backlog.
	// Default 1024.
	MaxPendingHandshakes int
	// MaxPendingPerClient bounds the pending handshakes of one client
	// address (IPv6: one /64); a connection beyond it is closed at once
	// (ReasonClientCap). Default MaxPendingHandshakes/16 (at least 1).
	// With ProxyProtocol the address is the one the PROXY header carries.
	MaxPendingPerClient int
	// ReservedForNew is how many of the MaxPendingHandshakes slots only a
	// client with no pending handshake may take: once fewer are free, a
	// client that already has one is refused (ReasonClientCap). Default
	// MaxPendingHandshakes/8.
	ReservedForNew int
	// PressureTimeout replaces HandshakeTimeout for connections accepted
	// while at least half of the slots are taken. Default
	// HandshakeTimeout/4 (at least one second, at most HandshakeTimeout).
	PressureTimeout time.Duration
	// ProxyProtocol enables PROXY protocol v1/v2 headers, honoured only from
	// peers inside TrustedProxies; a header from any other peer is refused.
	ProxyProtocol bool
	// TrustedProxies lists the peers allowed to send PROXY headers.
	TrustedProxies []netip.Prefix
	// Streams bounds the per-connection HTTP parsers.
	Streams StreamLimits
	// OnHandshakeError is called (from the connection's goroutine) once for
	// every connection that did not reach HTTP, with a Reason* constant.
	OnHandshakeError func(reason string, err error)
	// OnHandshake is called for every connection that completed its
	// handshake (or, without TLS, was accepted).
	OnHandshake func(*Conn)
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
}

// Listener is a net.Listener that captures what each client sends. For TLS
// it reads the ClientHello itself, completes the handshake with crypto/tls,
// and returns a *Conn whose decrypted client bytes are parsed as HTTP/1 or
// HTTP/2 as they are read. Handshakes run in their own goroutines so a slow
// client never blocks Accept.
//
// A *Conn is not a *tls.Conn, so net/http treats it as a plain connection:
// serve the listener with an http.Server whose Protocols include
// UnencryptedHTTP2 so that connections that negotiated h2 (Conn.Protocol)
// are served by net/http's HTTP/2 server after their preface. Handlers find
// the TLS state in the capture (FromRequest), not in Request.TLS.
type Listener struct {
	inner net.Listener
	cfg   Config
	sem   chan struct{}
	conns chan *Conn

	pendMu  sync.Mutex
	pending map[netip.Prefix]int // pending handshakes per client key
	total   int                  // sum of pending

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// handshakers run the handshakes on warm goroutines (see
	// handshakeWorkers).
	handshakers *warmstack.Runner
	// fps computes the connections' TLS fingerprints once per distinct
	// hello shape.
	fps *fingerprint.FingerprintCache
	// helloBufs recycles the buffers hellos are first read into (each
	// connection keeps an exact-size copy).
	helloBufs sync.Pool

	closeOnce sync.Once
	errMu     sync.Mutex
	err       error // the error that stopped the accept loop
}

// handshakeWorkers is how many goroutines handshake connections and stay
// for the next one: a TLS handshake grows a new goroutine's stack several
// times, and the runtime copies the stack each time. More concurrent
// handshakes (up to MaxPendingHandshakes) run on goroutines of their own.
const handshakeWorkers = 16

// fingerprintCacheEntries bounds the listener's fingerprint cache: the
// distinct hello shapes of the clients seen recently (a few per browser
// version and platform).
const fingerprintCacheEntries = 512

var _ net.Listener = (*Listener)(nil)

// NewListener starts accepting on inner. Close stops it and closes inner.
func NewListener(inner net.Listener, cfg Config) *Listener {
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.MaxPendingHandshakes <= 0 {
		cfg.MaxPendingHandshakes = 1024
	}
	if cfg.MaxPendingPerClient <= 0 {
		cfg.MaxPendingPerClient = max(cfg.MaxPendingHandshakes/16, 1)
	}
	if cfg.ReservedForNew <= 0 {
		cfg.ReservedForNew = cfg.MaxPendingHandshakes / 8
	}
	if cfg.PressureTimeout <= 0 {
		cfg.PressureTimeout = min(max(cfg.HandshakeTimeout/4, time.Second), cfg.HandshakeTimeout)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Streams = cfg.Streams.withDefaults()
	if cfg.ProxyProtocol {
		trusted := cfg.TrustedProxies
		inner = &proxyproto.Listener{
			Listener:          inner,
			ReadHeaderTimeout: cfg.HandshakeTimeout,
			ConnPolicy: func(o proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
				if addrIn(o.Upstream, trusted) {
					return proxyproto.REQUIRE, nil
				}
				return proxyproto.REJECT, nil
			},
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Listener{
		inner:   inner,
		cfg:     cfg,
		sem:     make(chan struct{}, cfg.MaxPendingHandshakes),
		conns:   make(chan *Conn),
		pending: make(map[netip.Prefix]int),
		fps:     fingerprint.NewFingerprintCache(fingerprintCacheEntries),
		ctx:     ctx,
		cancel:  cancel,
	}
	l.helloBufs.New = func() any { return new([helloReadSize]byte) }
	l.handshakers = warmstack.NewRunner(handshakeWorkers, ctx.Done())
	l.wg.Add(1)
	go l.acceptLoop()
	return l
}

func addrIn(a net.Addr, prefixes []netip.Prefix) bool {
	ap, ok := addrPort(a)
	if !ok {
		return false
	}
	ip := ap.Addr()
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (l *Listener) acceptLoop() {
	defer l.wg.Done()
	var backoff time.Duration
	for {
		select {
		case l.sem <- struct{}{}:
		case <-l.ctx.Done():
			return
		}
		c, err := l.inner.Accept()
		if err != nil {
			<-l.sem
			if l.ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				backoff = min(max(backoff*2, 5*time.Millisecond), time.Second)
				l.cfg.Logger.Warn("capture: accept error; retrying", "err", err, "delay", backoff)
				select {
				case <-time.After(backoff):
				case <-l.ctx.Done():
					return
				}
				continue
			}
			l.errMu.Lock()
			l.err = fmt.Errorf("capture: accept: %w", err)
			l.errMu.Unlock()
			l.cancel()
			return
		}
		backoff = 0
		l.wg.Add(1)
		l.handshakers.Go(func() {
			defer l.wg.Done()
			conn := l.handshake(c)
			<-l.sem
			if conn == nil {
				return
			}
			if l.cfg.OnHandshake != nil {
				l.cfg.OnHandshake(conn)
			}
			select {
			case l.conns <- conn:
			case <-l.ctx.Done():
				conn.Close()
			}
		})
	}
}

// addrPort is the IP address (IPv4-mapped IPv6 unmapped) and port of a,
// as netip.ParseAddrPort reads a.String(); ok is false when that fails. A
// *net.TCPAddr without a zone is converted without formatting it.
func addrPort(a net.Addr) (netip.AddrPort, bool) {
	if ta, isTCP := a.(*net.TCPAddr); isTCP && ta != nil && ta.Zone == "" {
		ip, ok := netip.AddrFromSlice(ta.IP)
		if !ok || ta.Port < 0 || ta.Port > 0xffff {
			return netip.AddrPort{}, false
		}
		return netip.AddrPortFrom(ip.Unmap(), uint16(ta.Port)), true
	}
	if a == nil {
		return netip.AddrPort{}, false
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}

// isTemporary reports errors worth retrying Accept on (EMFILE and friends
// surface as temporary net errors in the standard library).
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// clientKey is the admission key of a client address: the address for
// IPv4, its /64 for IPv6. ok is false for addresses that are not IP.
func clientKey(a net.Addr) (netip.Prefix, bool) {
	ap, ok := addrPort(a)
	if !ok {
		return netip.Prefix{}, false
	}
	ip := ap.Addr()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, err := ip.Prefix(bits)
	return p, err == nil
}

// admit counts one pending handshake for key, or refuses it: when the key
// has MaxPendingPerClient pending, or when only the reserved slots are left
// and the key already has one. pressured reports that at least half of the
// slots were taken. A nil release means refused.
func (l *Listener) admit(key netip.Prefix) (release func(), pressured bool) {
	l.pendMu.Lock()
	defer l.pendMu.Unlock()
	n := l.pending[key]
	free := l.cfg.MaxPendingHandshakes - l.total
	if n >= l.cfg.MaxPendingPerClient || n > 0 && free <= l.cfg.ReservedForNew {
		return nil, false
	}
	pressured = 2*l.total >= l.cfg.MaxPendingHandshakes
	l.pending[key] = n + 1
	l.total++
	return func() {
		l.pendMu.Lock()
		defer l.pendMu.Unlock()
		l.total--
		if l.pending[key] <= 1 {
			delete(l.pending, key)
		} else {
			l.pending[key]--
		}
	}, pressured
}

// handshake turns a raw accepted connection into a *Conn, or closes it and
// returns nil.
func (l *Listener) handshake(raw net.Conn) *Conn {
	accepted := time.Now()
	deadline := accepted.Add(l.cfg.HandshakeTimeout)
	// Closing the listener aborts the handshake at once.
	stop := context.AfterFunc(l.ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	fail := func(reason string, err error) *Conn {
		if l.cfg.OnHandshakeError != nil {
			l.cfg.OnHandshakeError(reason, err)
		}
		l.cfg.Logger.Debug("capture: connection dropped before HTTP", "remote", raw.RemoteAddr().String(), "reason", reason, "err", err)
		raw.Close()
		return nil
	}
	// With PROXY protocol, RemoteAddr reads and validates the header.
	if pc, ok := raw.(*proxyproto.Conn); ok {
		_ = raw.SetReadDeadline(deadline)
		if pc.RemoteAddr() == nil {
			return fail(ReasonProxyProto, errors.New("capture: no remote address"))
		}
		if _, err := pc.Read(nil); err != nil {
			return fail(ReasonProxyProto, err)
		}
		_ = raw.SetReadDeadline(time.Time{})
	}
	if key, ok := clientKey(raw.RemoteAddr()); ok {
		release, pressured := l.admit(key)
		if release == nil {
			return fail(ReasonClientCap, fmt.Errorf("capture: too many pending handshakes from %s", key))
		}
		defer release()
		if pressured {
			if d := accepted.Add(l.cfg.PressureTimeout); d.Before(deadline) {
				deadline = d
			}
		}
	}
	if l.cfg.TLS == nil {
		c, proto, err := sniffPlain(raw, deadline)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return fail(ReasonTimeout, err)
			}
			return fail(ReasonNetwork, err)
		}
		if !stop() {
			return fail(ReasonNetwork, errors.New("capture: listener closed during the handshake"))
		}
		return newConn(c, nil, proto, accepted, l.cfg.Streams)
	}
	// One deadline on the raw connection bounds reading the hello and the
	// whole handshake (crypto/tls reads and writes through it): cheaper
	// than a context with a deadline, which starts a timer and makes
	// crypto/tls register a callback on it for every handshake. Setting it
	// could undo the past deadline of a Close that just happened, so the
	// listener's state is checked after it.
	if err := raw.SetDeadline(deadline); err != nil {
		return fail(ReasonNetwork, fmt.Errorf("capture: setting the handshake deadline: %w", err))
	}
	if l.ctx.Err() != nil {
		return fail(ReasonNetwork, errors.New("capture: listener closed during the handshake"))
	}
	scratch := l.helloBufs.Get().(*[helloReadSize]byte)
	hc, err := readClientHello(raw, l.cfg.MaxHelloBytes, scratch)
	l.helloBufs.Put(scratch)
	if err != nil {
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			return fail(ReasonTimeout, err)
		case len(hc.pending) == 0:
			return fail(ReasonEOF, err)
		default:
			return fail(ReasonNetwork, err)
		}
	}
	// Bytes that are not TLS at all are refused here. A hello our parser
	// rejects (framing it finds broken, a size over its caps) still goes to
	// crypto/tls, which has the last word: a client crypto/tls accepts is
	// served, without a TLS fingerprint.
	if herr := hc.HelloErr(); herr != nil && fingerprint.ErrCode(herr) == fingerprint.CodeNotTLS {
		if looksLikeHTTP(hc.pending) {
			_ = raw.SetWriteDeadline(deadline)
			_, _ = raw.Write([]byte("HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"))
			return fail(ReasonHTTPOnTLS, herr)
		}
		return fail(ReasonNotTLS, herr)
	}
	helloErr := hc.HelloErr()
	tc := tls.Server(hc, l.cfg.TLS)
	if err := tc.Handshake(); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			return fail(ReasonTimeout, err)
		}
		if helloErr != nil {
			// The parser's verdict names the cause better than the alert.
			reason := ReasonBadHello
			if c := fingerprint.ErrCode(helloErr); c == fingerprint.CodeTooLarge || c == "" {
				reason = ReasonTooLarge
			}
			return fail(reason, fmt.Errorf("%w (crypto/tls: %v)", helloErr, err))
		}
		return fail(ReasonHandshake, err)
	}
	if !stop() {
		return fail(ReasonNetwork, errors.New("capture: listener closed during the handshake"))
	}
	_ = raw.SetDeadline(time.Time{})
	if helloErr != nil {
		l.cfg.Logger.Debug("capture: serving a client whose ClientHello the parser rejected", "remote", raw.RemoteAddr().String(), "err", helloErr)
	}
	state := tc.ConnectionState()
	proto := ProtoHTTP1
	if state.NegotiatedProtocol == "h2" {
		proto = ProtoH2
	}
	var info *TLSInfo
	if ch := hc.Hello(); ch != nil {
		info = &TLSInfo{Raw: hc.Raw(), Hello: ch, Fingerprints: l.fps.Fingerprints(ch), State: state}
	}
	return newConn(tc, info, proto, accepted, l.cfg.Streams)
}

// h2Preface is the HTTP/2 client connection preface (RFC 9113 §3.4).
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// sniffPlain reads from a plain-text connection until its first bytes either
// differ from the HTTP/2 preface (an HTTP/1 client: one read is usually
// enough) or are the whole preface (prior-knowledge h2c, RFC 9113 §3.3), and
// returns a connection that reads those bytes again, with the protocol to
// parse it as. Reads end at deadline.
func sniffPlain(raw net.Conn, deadline time.Time) (net.Conn, Protocol, error) {
	_ = raw.SetReadDeadline(deadline)
	defer raw.SetReadDeadline(time.Time{})
	buf := make([]byte, 0, len(h2Preface))
	for len(buf) < len(h2Preface) {
		n, err := raw.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if string(buf) != h2Preface[:len(buf)] {
			return &replayConn{Conn: raw, pending: buf}, ProtoHTTP1, nil
		}
		if err != nil {
			if len(buf) > 0 && errors.Is(err, io.EOF) {
				return &replayConn{Conn: raw, pending: buf}, ProtoHTTP1, nil
			}
			return nil, "", fmt.Errorf("capture: reading the first bytes: %w", err)
		}
	}
	return &replayConn{Conn: raw, pending: buf}, ProtoH2, nil
}

// replayConn reads pending before the rest of Conn.
type replayConn struct {
	net.Conn
	pending []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

func looksLikeHTTP(b []byte) bool {
	for _, m := range []string{"GET ", "POST ", "HEAD ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT ", "PRI * "} {
		if len(b) >= len(m) && string(b[:len(m)]) == m {
			return true
		}
	}
	return false
}

// Accept returns the next connection that completed its handshake.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.ctx.Done():
		l.errMu.Lock()
		err := l.err
		l.errMu.Unlock()
		if err == nil {
			err = net.ErrClosed
		}
		return nil, err
	}
}

// Close stops accepting, closes the inner listener and aborts handshakes in
// progress. Connections already returned by Accept are not closed.
func (l *Listener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		l.cancel()
		err = l.inner.Close()
	})
	return err
}

// Wait blocks until the accept loop and every handshake goroutine has
// returned.
func (l *Listener) Wait() {
	l.wg.Wait()
	l.handshakers.Wait()
}

// Addr returns the inner listener's address.
func (l *Listener) Addr() net.Addr { return l.inner.Addr() }
