// Package transport turns an emulation.Profile into an http.RoundTripper
// whose connections look like the profile's browser on the wire: the TLS
// ClientHello is replayed from the profile's captured record with utls
// (fresh GREASE, key shares and, for Chromium, a fresh extension order per
// connection), HTTP/2 is spoken by an own client on x/net/http2's Framer
// (SETTINGS order and values, connection WINDOW_UPDATE, PRIORITY frames,
// HEADERS priority, pseudo-header and header order) and HTTP/1.1 by an own
// writer (header order and casing exactly as listed).
//
// This package is the only importer of utls in the module.
package transport

import (
	"container/list"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	utls "github.com/refraction-networking/utls"

	"github.com/guanaco-fp/guanaco/emulation"
)

// Options configure a Transport. The zero value of every field but Profile
// has a documented default.
type Options struct {
	// Profile used when the request's context has none (see WithProfile).
	Profile *emulation.Profile
	// RootCAs verifies servers; nil = system roots (Go honours SSL_CERT_FILE).
	// Certificates are verified unless InsecureSkipVerify.
	RootCAs *x509.CertPool
	// InsecureSkipVerify accepts any server certificate. Only for an
	// explicit user request (emuproxy get -k); it changes nothing on the
	// wire.
	InsecureSkipVerify bool
	// HTTP1Only offers only "http/1.1" in the ClientHello's ALPN (the
	// rest of the hello is the profile's), so every https connection
	// speaks HTTP/1.1. Browsers do this only for WebSockets: the hello's
	// ALPN extension then differs from the profile's.
	HTTP1Only bool
	// Headers builds the regular (non-pseudo) header list, in wire order,
	// for a request. The request's context carries the initiator the
	// transport decided on (see InitiatorFromContext). h2 tells whether
	// the list is for HTTP/2 (names are lower-cased by the transport) or
	// HTTP/1.1 (names are written as returned). nil = DefaultHeaders.
	Headers func(p *emulation.Profile, req *http.Request, h2 bool) []emulation.Header
	// DialContext opens TCP connections; nil = a net.Dialer with a 30 s
	// timeout and keep-alives.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// IdleConnTimeout closes connections idle this long; default 90 s.
	IdleConnTimeout time.Duration
	// MaxConnsPerHost caps HTTP/1.1 connections per (profile, host:port),
	// busy and idle together; default 6 (as browsers do).
	MaxConnsPerHost int
	// TLSHandshakeTimeout bounds TCP dial plus TLS handshake; default 10 s.
	TLSHandshakeTimeout time.Duration
	// MaxPools caps the connection pools kept, one per (profile, scheme,
	// host:port); default 1024. A pool is dropped as soon as it holds no
	// connection and no request is using it (its last connection closed,
	// idle for IdleConnTimeout or failed, or its only dial failed). When
	// a new pool would pass the cap, the least recently used pools whose
	// connections are all idle are closed and dropped to make room; pools
	// with requests in flight are never dropped, so the cap is exceeded
	// only by as many pools as have busy connections.
	MaxPools int
	// Logger receives debug events about connections; nil = discard.
	Logger *slog.Logger
	// NoResumption turns TLS session resumption off: every handshake is a
	// full one, as in a browser's private window opened afresh. By default
	// each profile keeps its own session cache (per server name, as
	// browsers do per origin) and later connections offer the saved ticket
	// (pre_shared_key), as Chromium and Firefox do.
	NoResumption bool
	// SessionCacheSize bounds each profile's session cache (server names);
	// default 256.
	SessionCacheSize int
}

// Transport is an http.RoundTripper that emulates browser profiles. It is
// safe for concurrent use. Connections are pooled per (profile name,
// scheme, host:port): one shared HTTP/2 connection (a second one when the
// first is shutting down or has no free stream), or up to MaxConnsPerHost
// HTTP/1.1 connections. Pools without connections are dropped and their
// number is capped (Options.MaxPools).
type Transport struct {
	o Options

	mu    sync.Mutex
	pools map[poolKey]*hostPool
	lru   *list.List // of *hostPool, most recently used at the front

	// sessions holds one TLS session cache per profile name (guarded by
	// sessMu): a browser's tickets are its own.
	sessMu   sync.Mutex
	sessions map[string]utls.ClientSessionCache

	// hints is the per-profile, per-origin client hint state (Accept-CH).
	hints hintStore
}

var _ http.RoundTripper = (*Transport)(nil)

// poolKey identifies a connection pool.
type poolKey struct {
	profile string
	scheme  string
	addr    string // host:port
	via     string // WithDialer's name; "" = Options.DialContext
}

// hostPool holds the connections of one poolKey. Guarded by Transport.mu.
type hostPool struct {
	key  poolKey
	elem *list.Element // in Transport.lru
	// users counts the getConn calls holding the pool: it is not dropped
	// while one may still add a connection to it.
	users   int
	h2      []*h2Conn
	h1Idle  []*h1Conn
	h1Slots chan struct{} // one token per open HTTP/1.1 connection (or dial in progress)
	h1Ready chan *h1Conn  // hands an idle connection straight to a waiter
	// dialing is closed when the current speculative dial (protocol not
	// yet known) finishes; nil when none is running.
	dialing chan struct{}
	// onlyH1 is set once a dial negotiated HTTP/1.1: later requests dial
	// without waiting for a shared HTTP/2 connection.
	onlyH1 bool
	// evictH1 are the idle connections of an evicted pool, to close.
	evictH1 []*h1Conn
}

// New returns a Transport with o's defaults filled in.
func New(o Options) *Transport {
	if o.Headers == nil {
		o.Headers = DefaultHeaders
	}
	if o.DialContext == nil {
		d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
		o.DialContext = d.DialContext
	}
	if o.IdleConnTimeout <= 0 {
		o.IdleConnTimeout = 90 * time.Second
	}
	if o.MaxConnsPerHost <= 0 {
		o.MaxConnsPerHost = 6
	}
	if o.TLSHandshakeTimeout <= 0 {
		o.TLSHandshakeTimeout = 10 * time.Second
	}
	if o.MaxPools <= 0 {
		o.MaxPools = DefaultMaxPools
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SessionCacheSize <= 0 {
		o.SessionCacheSize = 256
	}
	return &Transport{o: o, pools: map[poolKey]*hostPool{}, lru: list.New(), sessions: map[string]utls.ClientSessionCache{}}
}

// DefaultMaxPools is Options.MaxPools's default.
const DefaultMaxPools = 1024

// Pools returns the number of connection pools the transport holds now.
func (t *Transport) Pools() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pools)
}

type ctxKey int

const (
	profileKey ctxKey = iota
	initiatorKey
	dialerKey
)

// namedDialer is a dial function set with WithDialer.
type namedDialer struct {
	name string
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// WithDialer returns a context whose requests open their TCP connections
// with dial instead of Options.DialContext (an upstream proxy, say).
// Connections are pooled apart per name: requests with different names
// never share a connection, requests with the same name do, so one name
// must always stand for the same dial function.
func WithDialer(ctx context.Context, name string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) context.Context {
	return context.WithValue(ctx, dialerKey, namedDialer{name: name, dial: dial})
}

// dialerFor returns the dial function for ctx and the name pooling it.
func (t *Transport) dialerFor(ctx context.Context) (string, func(ctx context.Context, network, addr string) (net.Conn, error)) {
	if d, ok := ctx.Value(dialerKey).(namedDialer); ok && d.dial != nil {
		return d.name, d.dial
	}
	return "", t.o.DialContext
}

// WithProfile returns a context whose requests use p instead of
// Options.Profile.
func WithProfile(ctx context.Context, p *emulation.Profile) context.Context {
	return context.WithValue(ctx, profileKey, p)
}

// WithInitiator returns a context whose requests are sent as initiator in.
// Without it, RequestInitiator's heuristics decide.
func WithInitiator(ctx context.Context, in emulation.Initiator) context.Context {
	return context.WithValue(ctx, initiatorKey, in)
}

// InitiatorFromContext returns the initiator set with WithInitiator. Inside
// Options.Headers it is always set: the transport stores its decision in
// the request's context before calling Headers.
func InitiatorFromContext(ctx context.Context) (emulation.Initiator, bool) {
	in, ok := ctx.Value(initiatorKey).(emulation.Initiator)
	return in, ok && in.Valid()
}

// RequestInitiator returns the initiator of req: the context's (see
// WithInitiator) when set, else emulation.InitiatorOf (the
// X-Guanaco-Initiator header, then what emulation.ClassifyRequest infers
// from the client's fetch metadata, Accept, method and path).
func RequestInitiator(req *http.Request) emulation.Initiator {
	if in, ok := InitiatorFromContext(req.Context()); ok {
		return in
	}
	return emulation.InitiatorOf(req)
}

// ProfileFromContext returns the profile set with WithProfile.
func ProfileFromContext(ctx context.Context) (*emulation.Profile, bool) {
	p, ok := ctx.Value(profileKey).(*emulation.Profile)
	return p, ok && p != nil
}

// retryableError marks a request that never reached the server's application
// (GOAWAY before it started, REFUSED_STREAM, a connection that died before
// the stream was sent): it may be sent again on a new connection.
type retryableError struct{ err error }

func (e *retryableError) Error() string { return e.err.Error() }
func (e *retryableError) Unwrap() error { return e.err }

func retryable(err error) error { return &retryableError{err: err} }

// maxRetries bounds how often one request is re-sent after retryable errors.
const maxRetries = 3

// RoundTrip sends req as the profile's browser would and returns the
// response. https URLs negotiate h2 or http/1.1 through the profile's
// ALPN and branch on the result; http URLs use HTTP/1.1 over plain TCP.
// resp.Proto is "HTTP/2.0" or "HTTP/1.1" and resp.TLS is set for https.
// Requests that did not reach the server (GOAWAY, REFUSED_STREAM) are
// retried on another connection when their body can be replayed (no
// body or req.GetBody set). The request body is always closed.
//
// A WebSocket opening handshake (IsWebSocketUpgrade, an RFC 6455 GET) is
// sent as the profile's browser would. When the profile's browser uses
// RFC 8441 (UsesExtendedConnect) and the pool holds an HTTP/2 connection
// to the origin whose server sent SETTINGS_ENABLE_CONNECT_PROTOCOL = 1, it
// becomes an extended CONNECT stream on that connection (:method CONNECT,
// :protocol websocket after the profile's pseudo headers, the profile's
// HTTP/2 websocket list without Sec-WebSocket-Key, Upgrade and
// Connection, the websocket HEADERS priority); a 2xx answer (200, with
// resp.ProtoMajor 2) has a Body that is an io.ReadWriteCloser over the
// stream (see h2WebSocket; it also has CloseWrite). Otherwise the
// handshake goes, as browsers send it, over a fresh HTTP/1.1 connection
// that is never pooled: for https the profile's ClientHello with ALPN
// restricted to "http/1.1" (see dialUpgrade). On 101 Switching Protocols
// resp.Body is an io.ReadWriteCloser over that connection, starting with
// any bytes the server sent after the response head. Either way the
// request's context no longer governs an accepted WebSocket and the
// caller must Close its Body; the caller checks Sec-WebSocket-Accept of a
// 101 (the extended CONNECT has none). Any other response is returned as
// usual and its connection (stream) closed once the body is done.
// Retries do not apply to upgrades. Options.Headers must keep the
// request's Upgrade and Connection: Upgrade (DefaultHeaders does).
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.roundTrip(req)
	if err != nil && req.Body != nil {
		_ = req.Body.Close()
	}
	return resp, err
}

func (t *Transport) roundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil {
		return nil, errors.New("transport: request has no URL")
	}
	scheme := strings.ToLower(req.URL.Scheme)
	if scheme != "https" && scheme != "http" {
		return nil, fmt.Errorf("transport: unsupported scheme %q", req.URL.Scheme)
	}
	if req.URL.Host == "" {
		return nil, errors.New("transport: request URL has no host")
	}
	p, ok := ProfileFromContext(req.Context())
	if !ok {
		p = t.o.Profile
	}
	if p == nil {
		return nil, errors.New("transport: no profile: set Options.Profile or use WithProfile")
	}
	if _, ok := InitiatorFromContext(req.Context()); !ok {
		req = req.WithContext(WithInitiator(req.Context(), RequestInitiator(req)))
	}
	host := req.URL.Hostname()
	port := req.URL.Port()
	if port == "" {
		port = "443"
		if scheme == "http" {
			port = "80"
		}
	}
	via, _ := t.dialerFor(req.Context())
	key := poolKey{profile: p.Name, scheme: scheme, addr: net.JoinHostPort(host, port), via: via}
	if IsWebSocketUpgrade(req) {
		if origin := hintOrigin(req, p, key); origin != "" {
			if sent := t.hints.get(p, origin); len(sent) > 0 {
				req = req.WithContext(emulation.WithClientHints(req.Context(), sent))
			}
		}
		if in, _ := InitiatorFromContext(req.Context()); in != emulation.WebSocket {
			req = req.WithContext(WithInitiator(req.Context(), emulation.WebSocket))
		}
		if resp, err, ok := t.roundTripExtendedConnect(req, p, key); ok {
			return resp, err
		}
		return t.roundTripUpgrade(req, p, key, host)
	}

	return t.roundTripHints(req, p, key, host)
}

// roundTripRetrying sends req, on a new connection again (at most
// maxRetries times) when the first failed in a way that is safe to retry.
func (t *Transport) roundTripRetrying(req *http.Request, p *emulation.Profile, key poolKey, host string) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		resp, err := t.roundTripOnce(req, p, key, host)
		var re *retryableError
		if err == nil || !errors.As(err, &re) || attempt >= maxRetries || req.Context().Err() != nil {
			return resp, err
		}
		if req.Body != nil && req.Body != http.NoBody {
			if req.GetBody == nil {
				return nil, err
			}
			body, gerr := req.GetBody()
			if gerr != nil {
				return nil, fmt.Errorf("transport: rewinding request body for a retry: %w", gerr)
			}
			r2 := *req
			r2.Body = body
			req = &r2
		}
		t.o.Logger.Debug("transport: retrying request", "url", req.URL.Redacted(), "attempt", attempt+1, "err", err)
	}
}

func (t *Transport) roundTripOnce(req *http.Request, p *emulation.Profile, key poolKey, host string) (*http.Response, error) {
	ctx := req.Context()
	for {
		cc, h1, err := t.getConn(ctx, p, key, host)
		if err != nil {
			return nil, err
		}
		if h1 != nil {
			return h1.roundTrip(req, p)
		}
		resp, err := cc.roundTrip(req, p)
		if errors.Is(err, errConnUnusable) {
			continue // lost a race for the last stream or the conn started closing
		}
		return resp, err
	}
}

var errConnUnusable = errors.New("transport: connection cannot take new streams")

// acquirePool returns key's pool, creating it, marked as used by one
// more getConn call until releasePool. Creating a pool at the cap first
// drops least recently used idle pools.
func (t *Transport) acquirePool(key poolKey) *hostPool {
	t.mu.Lock()
	hp := t.pools[key]
	var evicted []*hostPool
	if hp == nil {
		if len(t.pools) >= t.o.MaxPools {
			evicted = t.evictLocked(len(t.pools) - t.o.MaxPools + 1)
		}
		hp = &hostPool{key: key, h1Slots: make(chan struct{}, t.o.MaxConnsPerHost), h1Ready: make(chan *h1Conn)}
		hp.elem = t.lru.PushFront(hp)
		t.pools[key] = hp
	} else {
		t.lru.MoveToFront(hp.elem)
	}
	hp.users++
	t.mu.Unlock()
	closePools(evicted)
	return hp
}

// releasePool ends a getConn call's use of hp and drops hp when it holds
// nothing.
func (t *Transport) releasePool(hp *hostPool) {
	t.mu.Lock()
	hp.users--
	t.dropIfEmptyLocked(hp)
	t.mu.Unlock()
}

// poolChanged drops hp when a connection leaving it left it empty.
func (t *Transport) poolChanged(hp *hostPool) {
	t.mu.Lock()
	t.dropIfEmptyLocked(hp)
	t.mu.Unlock()
}

// dropIfEmptyLocked removes hp from the transport when no request uses it
// and it holds no connection, dial or HTTP/1.1 slot. t.mu held.
func (t *Transport) dropIfEmptyLocked(hp *hostPool) {
	if hp.users > 0 || hp.dialing != nil || len(hp.h2) > 0 || len(hp.h1Idle) > 0 || len(hp.h1Slots) > 0 {
		return
	}
	if t.pools[hp.key] == hp {
		delete(t.pools, hp.key)
	}
	t.lru.Remove(hp.elem)
}

// maxEvictScan bounds how many pools, from the least recently used end,
// one eviction looks at; busy pools are skipped.
const maxEvictScan = 64

// evictLocked removes up to n least recently used pools whose connections
// are all idle and returns them; the caller closes their connections with
// closePools after unlocking t.mu.
func (t *Transport) evictLocked(n int) []*hostPool {
	var out []*hostPool
	e := t.lru.Back()
	for scanned := 0; e != nil && len(out) < n && scanned < maxEvictScan; scanned++ {
		prev := e.Prev()
		hp := e.Value.(*hostPool)
		if hp.idleLocked() {
			if t.pools[hp.key] == hp {
				delete(t.pools, hp.key)
			}
			t.lru.Remove(e)
			for _, c := range hp.h1Idle {
				if !c.takeFromIdle() {
					continue
				}
				hp.evictH1 = append(hp.evictH1, c)
			}
			hp.h1Idle = nil
			out = append(out, hp)
		}
		e = prev
	}
	return out
}

// idleLocked reports whether no request uses hp and every connection it
// holds is idle. t.mu held.
func (hp *hostPool) idleLocked() bool {
	if hp.users > 0 || hp.dialing != nil || len(hp.h1Slots) != len(hp.h1Idle) {
		return false
	}
	for _, cc := range hp.h2 {
		if !cc.idle() {
			return false
		}
	}
	return true
}

// closePools closes the connections of evicted pools.
func closePools(pools []*hostPool) {
	for _, hp := range pools {
		for _, c := range hp.evictH1 {
			c.close()
		}
		for _, cc := range hp.h2 {
			cc.closeWhenIdle()
		}
	}
}

// getConn returns a connection for key: an HTTP/2 connection with a free
// stream, an idle HTTP/1.1 connection, or a new one.
func (t *Transport) getConn(ctx context.Context, p *emulation.Profile, key poolKey, host string) (*h2Conn, *h1Conn, error) {
	hp := t.acquirePool(key)
	defer t.releasePool(hp)
	for {
		t.mu.Lock()
		for _, cc := range hp.h2 {
			if cc.canTakeNewRequest() {
				t.mu.Unlock()
				return cc, nil, nil
			}
		}
		for len(hp.h1Idle) > 0 {
			c := hp.h1Idle[len(hp.h1Idle)-1]
			hp.h1Idle = hp.h1Idle[:len(hp.h1Idle)-1]
			if c.takeFromIdle() {
				t.mu.Unlock()
				return nil, c, nil
			}
		}
		if hp.dialing != nil && !hp.onlyH1 {
			// The protocol is not known yet; wait for the dial in flight so
			// concurrent first requests share one HTTP/2 connection.
			wait := hp.dialing
			t.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, nil, fmt.Errorf("transport: waiting for a connection to %s: %w", key.addr, ctx.Err())
			}
		}
		speculative := !hp.onlyH1 && key.scheme == "https"
		var done chan struct{}
		if speculative {
			done = make(chan struct{})
			hp.dialing = done
		}
		slots, ready := hp.h1Slots, hp.h1Ready
		t.mu.Unlock()

		took := false
		if !speculative {
			// HTTP/1.1 only: wait for a slot or an idle connection.
			select {
			case slots <- struct{}{}:
				took = true
			case c := <-ready:
				if c.takeFromIdle() {
					return nil, c, nil
				}
				continue
			case <-ctx.Done():
				return nil, nil, fmt.Errorf("transport: waiting for a connection to %s: %w", key.addr, ctx.Err())
			}
		} else {
			select {
			case slots <- struct{}{}:
				took = true
			default:
				// Every HTTP/1.1 slot is taken; an HTTP/2 connection needs
				// none. Should this dial end in HTTP/1.1 anyway, that one
				// connection is used once and closed, not pooled.
			}
		}
		cc, h1, err := t.dialConn(ctx, p, key, host)
		t.mu.Lock()
		if speculative && hp.dialing == done {
			hp.dialing = nil
			close(done)
		}
		if err == nil && h1 != nil {
			hp.onlyH1 = true
		}
		if err == nil && cc != nil {
			hp.h2 = append(hp.h2, cc)
		}
		t.mu.Unlock()
		if took && h1 == nil {
			<-slots
		}
		if err != nil {
			return nil, nil, err
		}
		if cc != nil {
			return cc, nil, nil
		}
		h1.pool = hp
		h1.ownsSlot = took
		return nil, h1, nil
	}
}

// removeH2 drops cc from its pool (it is closing or saw GOAWAY), and the
// pool when that left it empty.
func (t *Transport) removeH2(key poolKey, cc *h2Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	hp := t.pools[key]
	if hp == nil {
		return
	}
	for i, c := range hp.h2 {
		if c == cc {
			hp.h2 = append(hp.h2[:i], hp.h2[i+1:]...)
			t.dropIfEmptyLocked(hp)
			return
		}
	}
}

// putIdleH1 hands c to a waiting request or keeps it idle.
func (t *Transport) putIdleH1(c *h1Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	select {
	case c.pool.h1Ready <- c:
		return
	default:
	}
	c.pool.h1Idle = append(c.pool.h1Idle, c)
}

// removeIdleH1 drops c from the idle list (its idle timer fired).
func (t *Transport) removeIdleH1(c *h1Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	idle := c.pool.h1Idle
	for i, x := range idle {
		if x == c {
			c.pool.h1Idle = append(idle[:i], idle[i+1:]...)
			return
		}
	}
}

// CloseIdleConnections closes idle HTTP/1.1 connections and HTTP/2
// connections without active streams; busy HTTP/2 connections are
// closed as soon as their last stream ends. Pools left empty are dropped.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	var idle []*h1Conn
	var h2s []*h2Conn
	for _, hp := range t.pools {
		idle = append(idle, hp.h1Idle...)
		hp.h1Idle = nil
		h2s = append(h2s, hp.h2...)
		hp.h2 = nil
		t.dropIfEmptyLocked(hp)
	}
	t.mu.Unlock()
	for _, c := range idle {
		if c.takeFromIdle() {
			c.close()
		}
	}
	for _, cc := range h2s {
		cc.closeWhenIdle()
	}
}

// dialConn opens a connection to key: TCP (DialContext), then for https
// the profile's TLS handshake. It returns an h2Conn when h2 was
// negotiated, else an h1Conn.
func (t *Transport) dialConn(ctx context.Context, p *emulation.Profile, key poolKey, host string) (*h2Conn, *h1Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, t.o.TLSHandshakeTimeout)
	defer cancel()
	if key.scheme == "http" {
		_, dial := t.dialerFor(ctx)
		nc, err := dial(dctx, "tcp", key.addr)
		if err != nil {
			return nil, nil, fmt.Errorf("transport: dialing %s: %w", key.addr, err)
		}
		return nil, newH1Conn(t, nc, nil), nil
	}
	tc, err := t.dialTLSALPN(dctx, p, key.addr, host, t.o.HTTP1Only)
	if err != nil {
		return nil, nil, err
	}
	state := convertState(tc.ConnectionState())
	t.o.Logger.Debug("transport: connected", "addr", key.addr, "profile", p.Name, "alpn", state.NegotiatedProtocol)
	if state.NegotiatedProtocol == "h2" {
		cc, err := newH2Conn(t, key, tc, &state, p)
		if err != nil {
			_ = tc.Close()
			return nil, nil, err
		}
		return cc, nil, nil
	}
	return nil, newH1Conn(t, tc, &state), nil
}

// Close-related helpers shared by both protocols.

// closeOnCancel closes c when ctx ends before stop is closed. When both
// have happened by the time the watcher runs, stop wins: an exchange that
// finished before its context was cancelled keeps its connection.
func closeOnCancel(ctx context.Context, c io.Closer, stop <-chan struct{}) {
	if ctx.Done() == nil {
		return
	}
	go func() {
		select {
		case <-ctx.Done():
			select {
			case <-stop:
			default:
				_ = c.Close()
			}
		case <-stop:
		}
	}()
}

// closerFunc adapts a func to io.Closer.
type closerFunc func()

func (f closerFunc) Close() error {
	f()
	return nil
}
