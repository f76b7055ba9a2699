// Package proxy is emuproxy's forward proxy: absolute-form http:// requests
// and CONNECT tunnels, each inner request re-originated through
// emulation/transport with the selected browser profile, so that the TLS
// ClientHello, HTTP/2 framing and header order upstream are the profile's.
//
// Inside a CONNECT tunnel the proxy reads the first byte: a TLS handshake
// is terminated with a leaf certificate issued by the local CA (ALPN h2 and
// http/1.1, each served by net/http) and the inner requests go upstream
// over https; anything else is served as plain HTTP/1.1 and re-originated
// over http ("relayed with HTTP emulation only").
//
// ServeSOCKS5 accepts SOCKS5 clients as well; their CONNECT becomes the
// same tunnel. Requests leave directly or through an upstream proxy
// (Options.Upstream, or the one a "+upstream=LABEL" user label names in
// Options.Upstreams; see chain.go). Every request ends in one info line
// of the access log and one Options.OnFlow call (see flow.go).
//
// Profile selection, first match wins (DESIGN §4.5): the X-Guanaco-Profile
// request header (stripped), the "USER+profile=NAME" label of the proxy
// user name, the profile closest to the request's User-Agent
// (emulation.Match), the default profile.
//
// Safety: optional Basic proxy credentials (407 with Proxy-Authenticate,
// constant-time comparison); the egress policy (egressTable) refuses
// everything but globally reachable unicast (loopback, private,
// link-local, CGNAT, metadata, special-purpose blocks, IPv6 forms that
// embed a refused IPv4 address) on the address actually dialled unless
// AllowPrivate; one port policy for CONNECT and absolute-form requests;
// Proxy-Authorization and other hop-by-hop headers never reach the
// origin; error bodies never carry resolved addresses or resolver
// details. Upstream certificates are always verified. A destination is
// checked before the upstream transport sees it, so refused requests
// leave no connection pool behind; pools are dropped when empty and
// capped (transport.Options.MaxPools). Decoding a response the client did
// not ask to be encoded is bounded (emulation.DecodeLimits).
//
// WebSocket handshakes from HTTP/1.1 clients (absolute-form ws-over-http
// requests and requests inside a CONNECT tunnel) and from HTTP/2 clients
// inside a tunnel (RFC 8441 extended CONNECT; the tunnel's HTTP/2 server
// offers it when GODEBUG has http2xconnect=1, see internal/h2xconnect,
// which emuproxy imports) are re-originated like any request; the
// transport sends them as the profile's browser would (extended CONNECT
// on the origin's HTTP/2 connection when the browser and the origin
// support it, else an HTTP/1.1 Upgrade on a connection of its own), and
// once the origin accepted, the client's side is answered in its own
// protocol (101 or 200) and bytes are relayed both ways (see
// serveWebSocket). Other Upgrade requests are forwarded without their
// Upgrade header.
package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/emulation/transport"
	"github.com/guanaco-fp/guanaco/emulation/upstream"
)

// DefaultPorts are the destination ports the proxy reaches, by CONNECT
// or by an absolute-form request, when Options.Ports is empty: the web's
// two. One list serves both methods because a CONNECT tunnel may carry
// plain HTTP (the proxy serves it), so a port open to CONNECT is open to
// plain HTTP anyway.
var DefaultPorts = []int{443, 80}

// DefaultConnectPorts is the former name of DefaultPorts.
//
// Deprecated: use DefaultPorts.
var DefaultConnectPorts = DefaultPorts

// Options configure a Proxy. Profiles, DefaultProfile and CA are required.
type Options struct {
	// Profiles returns the current profile set; it is called for every
	// request, so a source that reloads can swap its result.
	Profiles func() []*emulation.Profile
	// DefaultProfile names the profile used when nothing else selects
	// one. It must be in Profiles() when New is called.
	DefaultProfile string
	// NoUserAgentMatch skips selection step 3 (the profile closest to the
	// client's User-Agent), so that a real browser behind the proxy gets
	// DefaultProfile unless it names another one.
	NoUserAgentMatch bool
	// CA issues the leaf certificates shown to clients in CONNECT tunnels.
	CA *CA
	// RootCAs verifies upstream servers; nil = system roots.
	RootCAs *x509.CertPool
	// Credentials, when not empty, are required from every client (Basic
	// proxy authentication).
	Credentials []Credential
	// AllowPrivate turns the egress address check off: loopback,
	// private, link-local, CGNAT, metadata and the other special-purpose
	// destinations of the egress table are allowed. The port policy
	// still applies.
	AllowPrivate bool
	// NoResumption makes every upstream TLS handshake a full one (see
	// transport.Options.NoResumption); by default later connections of a
	// profile resume its sessions, as browsers do.
	NoResumption bool
	// Resolver resolves upstream host names; nil = net.DefaultResolver.
	Resolver Resolver
	// Ports are the destination ports the proxy reaches, for CONNECT and
	// absolute-form requests alike; empty = DefaultPorts. Other ports get
	// 403.
	Ports []int
	// ConnectPorts is the former name of Ports, used when Ports is empty.
	//
	// Deprecated: use Ports.
	ConnectPorts []int
	// HandshakeTimeout bounds, in a CONNECT tunnel, the wait for the
	// client's first byte and its TLS handshake; default 10 s.
	HandshakeTimeout time.Duration
	// ReadHeaderTimeout bounds reading a request head; default 10 s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes keep-alive connections (and tunnels) idle this
	// long, and WebSockets on which no byte moved either way this long;
	// default 120 s.
	IdleTimeout time.Duration
	// UpstreamTimeout bounds the upstream dial and TLS handshake; default
	// 10 s.
	UpstreamTimeout time.Duration
	// LeafCacheSize caps the cached leaf certificates; default 1024.
	LeafCacheSize int
	// MaxUpstreamPools caps the upstream connection pools, one per
	// (profile, scheme, host:port); default transport.DefaultMaxPools.
	MaxUpstreamPools int
	// DecodeLimits bound the decoding of responses in a coding the
	// client did not accept (see emulation.DecodeBodyLimits); zero fields
	// take the defaults.
	DecodeLimits emulation.DecodeLimits
	// Registerer receives the proxy's metrics; nil = not registered.
	Registerer prometheus.Registerer
	// Upstream, when set, is the upstream proxy every request goes
	// through unless its client's "+upstream=LABEL" label names another
	// (or "direct"). The proxy's own address is resolved and checked by
	// the egress policy when dialled; the destination's name is resolved
	// by the upstream proxy, so only IP-literal destinations are checked
	// against the egress policy here.
	Upstream *upstream.Proxy
	// Upstreams are the named upstream proxies clients pick with the
	// "+upstream=LABEL" user-name label.
	Upstreams map[string]*upstream.Proxy
	// OnFlow, when set, is called once for every request after it ended
	// (not for CONNECT requests that opened a tunnel: the requests inside
	// get their own flows). It must not block for long.
	OnFlow func(Flow)
	// Logger receives the access log (one info line per request: client,
	// profile, method, host, status, bytes, duration, upstream protocol)
	// and debug events; nil = discard.
	Logger *slog.Logger
}

// Proxy is the forward proxy. It is an http.Handler for the proxy
// listener; Serve runs it with the right server settings. Shutdown stops
// it, closing CONNECT tunnels once its context ends.
type Proxy struct {
	o      Options
	tr     *transport.Transport
	egress *Egress
	auth   *authenticator
	leaves *LeafCache
	m      *metrics
	log    *slog.Logger
	ports  []int

	outer   *http.Server
	inner   *http.Server
	innerLn *chanListener

	defaultRoute route
	routes       map[string]route

	mu       sync.Mutex
	tunnels  map[*tunnelConn]struct{}
	socksLns []net.Listener
	shutdown bool
}

var _ http.Handler = (*Proxy)(nil)

// New returns a Proxy with o's defaults filled in. It starts the internal
// server for tunnel connections; call Shutdown (or Close) to stop it.
func New(o Options) (*Proxy, error) {
	if o.Profiles == nil {
		return nil, errors.New("proxy: no profile source")
	}
	if o.CA == nil {
		return nil, errors.New("proxy: no CA")
	}
	if lookupProfile(o.Profiles(), o.DefaultProfile) == nil {
		return nil, fmt.Errorf("proxy: default profile: %w %q", emulation.ErrUnknownProfile, o.DefaultProfile)
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = 10 * time.Second
	}
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = 10 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 120 * time.Second
	}
	if o.UpstreamTimeout <= 0 {
		o.UpstreamTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	ports := slices.Clone(o.Ports)
	if len(ports) == 0 {
		ports = slices.Clone(o.ConnectPorts)
	}
	if len(ports) == 0 {
		ports = slices.Clone(DefaultPorts)
	}
	for _, pt := range ports {
		if pt < 1 || pt > 65535 {
			return nil, fmt.Errorf("proxy: port %d out of range", pt)
		}
	}
	p := &Proxy{
		o:       o,
		egress:  &Egress{AllowPrivate: o.AllowPrivate, Resolver: o.Resolver, Dialer: &net.Dialer{Timeout: o.UpstreamTimeout, KeepAlive: 30 * time.Second}},
		auth:    newAuthenticator(o.Credentials),
		m:       m,
		log:     o.Logger,
		ports:   ports,
		tunnels: map[*tunnelConn]struct{}{},
		innerLn: newChanListener(),
	}
	if err := p.newRoutes(); err != nil {
		return nil, err
	}
	p.leaves = NewLeafCache(o.CA, o.LeafCacheSize, func(hit bool) {
		if hit {
			m.leafCache.WithLabelValues("hit").Inc()
		} else {
			m.leafCache.WithLabelValues("miss").Inc()
		}
	})
	p.tr = transport.New(transport.Options{
		Profile:             lookupProfile(o.Profiles(), o.DefaultProfile),
		RootCAs:             o.RootCAs,
		DialContext:         p.egress.DialContext,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: o.UpstreamTimeout,
		MaxPools:            o.MaxUpstreamPools,
		Logger:              o.Logger,
		NoResumption:        o.NoResumption,
	})
	if err := m.registerPools(o.Registerer, p.tr.Pools); err != nil {
		return nil, err
	}
	errLog := slog.NewLogLogger(o.Logger.Handler(), slog.LevelDebug)
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	p.inner = &http.Server{
		Handler:           p.logged(p.serveInner),
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    1 << 20,
		Protocols:         &protos,
		ConnContext:       tunnelContext,
		ErrorLog:          errLog,
	}
	p.outer = &http.Server{
		Handler:           p.logged(p.ServeHTTP),
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          errLog,
	}
	go func() { _ = p.inner.Serve(p.innerLn) }()
	return p, nil
}

// CACertPEM returns the PEM of the CA that issues the tunnels' leaves.
func (p *Proxy) CACertPEM() []byte { return p.o.CA.CertPEM }

// Serve accepts proxy clients on ln until Shutdown or Close. It returns
// http.ErrServerClosed after Shutdown.
func (p *Proxy) Serve(ln net.Listener) error {
	return p.outer.Serve(ln)
}

// Shutdown stops accepting clients, waits for requests in flight and
// open CONNECT tunnels to finish until ctx ends, then closes what is
// left (tunnels included) and returns ctx's error.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.shutdown = true
	p.mu.Unlock()
	p.closeSOCKS()
	var wg sync.WaitGroup
	var outerErr, innerErr error
	wg.Go(func() { outerErr = p.outer.Shutdown(ctx) })
	wg.Go(func() { innerErr = p.inner.Shutdown(ctx) })
	wg.Go(func() { p.waitTunnels(ctx) })
	wg.Wait()
	err := errors.Join(outerErr, innerErr)
	if ctx.Err() != nil {
		p.Close()
		err = ctx.Err()
	}
	p.innerLn.Close()
	p.tr.CloseIdleConnections()
	return err
}

// Close closes the listeners, every client connection and every tunnel
// at once.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.shutdown = true
	open := make([]*tunnelConn, 0, len(p.tunnels))
	for tc := range p.tunnels {
		open = append(open, tc)
	}
	p.mu.Unlock()
	for _, tc := range open {
		_ = tc.Close()
	}
	p.closeSOCKS()
	err := errors.Join(p.outer.Close(), p.inner.Close())
	p.innerLn.Close()
	p.tr.CloseIdleConnections()
	return err
}

// OpenTunnels returns the number of CONNECT tunnels open now.
func (p *Proxy) OpenTunnels() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.tunnels)
}

// waitTunnels returns when no tunnel is open or ctx ends.
func (p *Proxy) waitTunnels(ctx context.Context) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for p.OpenTunnels() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ServeHTTP handles one request on the proxy listener: CONNECT, an
// absolute-form request to forward, or GET /healthz.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect && !r.URL.IsAbs() {
		if r.URL.Path == "/healthz" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = io.WriteString(w, "ok\n")
			return
		}
		p.refuse(w, http.StatusBadRequest, "bad_request", "this is a forward proxy: send absolute-form requests (http://host/path) or CONNECT")
		return
	}
	user := ParseProxyUser(r)
	if p.auth.enabled() && !p.auth.check(user) {
		w.Header().Set("Proxy-Authenticate", `Basic realm="emuproxy", charset="UTF-8"`)
		reason := "proxy authentication required"
		if user.Present {
			reason = "proxy credentials rejected"
		}
		p.refuse(w, http.StatusProxyAuthRequired, "auth", reason)
		return
	}
	rt, err := p.routeFor(user)
	if err != nil {
		p.refuse(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if r.Method == http.MethodConnect {
		p.handleConnect(w, r, user, rt)
		return
	}
	scheme := strings.ToLower(r.URL.Scheme)
	if scheme != "http" && scheme != "https" {
		p.refuse(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("unsupported scheme %q", r.URL.Scheme))
		return
	}
	host := r.URL.Hostname()
	if host == "" {
		p.refuse(w, http.StatusBadRequest, "bad_request", "request without a host")
		return
	}
	port := 80
	if scheme == "https" {
		port = 443
	}
	if s := r.URL.Port(); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			p.refuse(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("bad port %q", s))
			return
		}
		port = n
	}
	if !p.portAllowed(port) {
		p.refusePort(w, port)
		return
	}
	ctx, ok := p.admit(w, r, host, rt)
	if !ok {
		return
	}
	p.forward(w, r.WithContext(ctx), scheme, r.URL.Host, user, rt)
}

// refusePort answers a request for a port outside Options.Ports, naming
// the flag that allows it.
func (p *Proxy) refusePort(w http.ResponseWriter, port int) {
	p.refuse(w, http.StatusForbidden, "port", fmt.Sprintf("destination not allowed: port %d (emuproxy serve -ports, alias -connect-ports, allows it)", port))
}

// portAllowed applies the port policy (Options.Ports).
func (p *Proxy) portAllowed(port int) bool { return slices.Contains(p.ports, port) }

// admit applies the egress policy to host before anything is set up for
// the destination: a refused one costs no upstream pool. It answers r
// and returns false when host is refused or does not resolve; else it
// returns r's context carrying the allowed addresses, which the dial
// uses (and checks again) instead of resolving host a second time.
// Through an upstream proxy the destination is not resolved here (see
// admitVia).
func (p *Proxy) admit(w http.ResponseWriter, r *http.Request, host string, rt route) (context.Context, bool) {
	var addrs []netip.Addr
	var err error
	if rt.px != nil {
		err = p.admitVia(host)
	} else {
		rctx, cancel := context.WithTimeout(r.Context(), p.o.UpstreamTimeout)
		addrs, err = p.egress.Resolve(rctx, host)
		cancel()
	}
	if err != nil {
		code, reason, msg := upstreamError(err)
		logMsg := "proxy: destination refused"
		if code != http.StatusForbidden {
			logMsg = "proxy: resolving the destination failed"
		}
		p.logUpstreamError(r.Context(), code, logMsg, err, "method", r.Method, "host", host)
		p.refuse(w, code, reason, msg)
		return nil, false
	}
	if rt.px != nil {
		return r.Context(), true
	}
	return withResolved(r.Context(), host, addrs), true
}

// logUpstreamError records a failure to reach a destination: the full
// error goes into the request's access log line (Flow.Err, info level)
// and a debug line with the context.
func (p *Proxy) logUpstreamError(ctx context.Context, code int, msg string, err error, args ...any) {
	flowOf(ctx).Err = err.Error()
	p.log.Log(ctx, slog.LevelDebug, msg, append(args, "status", code, "err", err)...)
}

// refuse writes a short plain-text proxy error.
func (p *Proxy) refuse(w http.ResponseWriter, code int, reason, msg string) {
	p.m.refused.WithLabelValues(reason).Inc()
	writeError(w, code, msg)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, "emuproxy: "+msg+"\n")
}

// serveInner handles a request read from inside a CONNECT tunnel.
func (p *Proxy) serveInner(w http.ResponseWriter, r *http.Request) {
	meta, ok := r.Context().Value(tunnelKey{}).(*tunnelMeta)
	if !ok {
		writeError(w, http.StatusInternalServerError, "request outside a tunnel")
		return
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	p.forward(w, r, scheme, meta.authority, meta.user, meta.route)
}

// lookupProfile returns the profile called name, or nil.
func lookupProfile(ps []*emulation.Profile, name string) *emulation.Profile {
	for _, p := range ps {
		if p != nil && p.Name == name {
			return p
		}
	}
	return nil
}

// SelectProfile picks the profile for r from ps (DESIGN §4.5): the
// X-Guanaco-Profile header, the user's profile label, the profile closest
// to r's User-Agent (only when matchUA), then the profile called def. A
// name that is not in ps is an error wrapping emulation.ErrUnknownProfile.
func SelectProfile(ps []*emulation.Profile, r *http.Request, user ProxyUser, def string, matchUA bool) (*emulation.Profile, error) {
	p, _, err := ChooseProfile(ps, r, user, def, matchUA)
	return p, err
}

// Selection says which rule of DESIGN §4.5 picked a profile.
type Selection string

// The selection rules, in the order they are tried.
const (
	ByHeader    Selection = "header"     // X-Guanaco-Profile
	ByLabel     Selection = "label"      // USER+profile=NAME
	ByUserAgent Selection = "user-agent" // emulation.Match
	ByDefault   Selection = "default"    // the default profile
)

// ChooseProfile is SelectProfile that also tells which rule chose. A
// profile asked for by name is returned whatever its freshness; the
// User-Agent match prefers fresh profiles (see emulation.Match).
func ChooseProfile(ps []*emulation.Profile, r *http.Request, user ProxyUser, def string, matchUA bool) (*emulation.Profile, Selection, error) {
	for _, c := range []struct {
		name string
		by   Selection
	}{{strings.TrimSpace(r.Header.Get(emulation.ProfileHeader)), ByHeader}, {user.Profile, ByLabel}} {
		if c.name == "" {
			continue
		}
		if p := lookupProfile(ps, c.name); p != nil {
			return p, c.by, nil
		}
		return nil, c.by, fmt.Errorf("%w %q", emulation.ErrUnknownProfile, c.name)
	}
	if ua := r.Header.Get("User-Agent"); ua != "" && matchUA {
		if p := emulation.Match(ps, ua); p != nil {
			return p, ByUserAgent, nil
		}
	}
	if p := lookupProfile(ps, def); p != nil {
		return p, ByDefault, nil
	}
	return nil, ByDefault, fmt.Errorf("%w %q", emulation.ErrUnknownProfile, def)
}

// hopByHop are the headers never forwarded in either direction, besides
// those the Connection header lists.
var hopByHop = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authorization", "Proxy-Authenticate",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// stripHopByHop removes hop-by-hop headers and those named in Connection
// from h.
func stripHopByHop(h http.Header) {
	for _, v := range h.Values("Connection") {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopByHop {
		h.Del(name)
	}
}

// forward re-originates r to scheme://authority through the emulating
// transport and copies the response back.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, scheme, authority string, user ProxyUser, rt route) {
	start := time.Now()
	flow := flowOf(r.Context())
	flow.Upstream = rt.name()
	flow.Host = authority
	// An HTTP/2 client's WebSocket (RFC 8441 extended CONNECT) goes
	// upstream as the RFC 6455 handshake it stands for; the transport
	// sends it as the profile's browser would (extended CONNECT or an
	// HTTP/1.1 Upgrade) and serveWebSocket bridges the two.
	var ws *clientWebSocket
	if isExtendedConnectWebSocket(r) {
		var err error
		if ws, r, err = fromExtendedConnect(r); err != nil {
			p.refuse(w, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
	} else if r.Method == http.MethodConnect {
		p.refuse(w, http.StatusNotImplemented, "bad_request", "CONNECT inside a tunnel is not supported")
		return
	}
	// A WebSocket handshake keeps its Upgrade and Connection: Upgrade;
	// any other Upgrade (h2c, say) is hop-by-hop and dropped, which
	// RFC 9110 §7.8 allows: the origin answers without switching.
	websocket := ws != nil || r.ProtoMajor == 1 && transport.IsWebSocketUpgrade(r)
	if websocket && ws == nil {
		ws = &clientWebSocket{key: r.Header.Get("Sec-WebSocket-Key")}
	}
	if websocket && p.log.Enabled(r.Context(), slog.LevelDebug) {
		names := make([]string, 0, len(r.Header))
		for k := range r.Header {
			names = append(names, k)
		}
		slices.Sort(names)
		p.log.Debug("proxy: websocket handshake from the client", "client_proto", r.Proto, "extended_connect", ws.h2, "headers", strings.Join(names, ","))
	}
	target := &url.URL{Scheme: scheme, Host: authority, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	if target.Path == "" {
		target.Path = "/"
	}
	flow.URL = target.Redacted()
	profiles := p.o.Profiles()
	prof, by, err := ChooseProfile(profiles, r, user, p.o.DefaultProfile, !p.o.NoUserAgentMatch)
	if err != nil {
		if errors.Is(err, emulation.ErrUnknownProfile) {
			names := make([]string, 0, len(profiles))
			for _, q := range profiles {
				names = append(names, q.Name)
			}
			err = fmt.Errorf("%w (valid: %s)", err, strings.Join(names, ", "))
		}
		p.refuse(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	flow.Profile = prof.Name
	if authority == "" {
		p.refuse(w, http.StatusBadRequest, "bad_request", "request without a host")
		return
	}
	in := emulation.InitiatorOf(r)
	if p.log.Enabled(r.Context(), slog.LevelDebug) {
		p.log.LogAttrs(r.Context(), slog.LevelDebug, "proxy: profile selected",
			slog.String("host", authority), slog.String("method", r.Method), slog.String("initiator", string(in)),
			slog.String("profile", prof.Name), slog.String("selected_by", string(by)), slog.Bool("stale", prof.Source.Stale))
	}
	hdr := r.Header.Clone()
	stripHopByHop(hdr)
	if websocket {
		hdr.Set("Connection", "Upgrade")
		hdr.Set("Upgrade", "websocket")
	}
	host := r.Host
	if host == "" {
		host = authority
	}
	ctx := transport.WithInitiator(transport.WithProfile(withRoute(r.Context(), rt), prof), in)
	if websocket {
		ctx = emulation.WithHeaderOrder(ctx, websocketHeaderOrder)
	}
	out := (&http.Request{
		Method:        r.Method,
		URL:           target,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        hdr,
		Body:          r.Body,
		ContentLength: r.ContentLength,
		Host:          host,
	}).WithContext(ctx)
	if r.ContentLength == 0 || websocket {
		out.Body = http.NoBody
	}
	resp, err := p.tr.RoundTrip(out)
	if err != nil {
		code, reason, msg := upstreamError(err)
		if code == http.StatusBadGateway && isHandshakeError(err) {
			p.m.handshakes.WithLabelValues("upstream").Inc()
		}
		p.m.requests.WithLabelValues(prof.Name, "none", "0").Inc()
		if reason == "egress" {
			p.m.refused.WithLabelValues(reason).Inc()
		}
		p.logUpstreamError(r.Context(), code, "proxy: upstream request failed", err, "method", r.Method, "url", target.Redacted(), "profile", prof.Name)
		if r.Context().Err() == nil {
			writeError(w, code, msg)
		}
		return
	}
	defer resp.Body.Close()
	resp.Request = out
	flow.UpstreamProto = protoLabel(resp)
	if websocket && isWebSocketAccepted(resp) {
		// The transport returns 101 only to an upgrade it sent, a 2xx
		// stream only to an extended CONNECT.
		p.serveWebSocket(w, r, ws, resp, prof, target, start)
		return
	}
	if err := emulation.DecodeBodyLimits(resp, p.o.DecodeLimits); err != nil {
		p.m.requests.WithLabelValues(prof.Name, protoLabel(resp), "0").Inc()
		flow.Err = err.Error()
		p.log.Debug("proxy: upstream response refused", "method", r.Method, "url", target.Redacted(), "profile", prof.Name, "err", err)
		writeError(w, http.StatusBadGateway, "upstream response: "+err.Error())
		return
	}
	dst := w.Header()
	for k, vs := range resp.Header {
		dst[k] = append(dst[k], vs...)
	}
	stripHopByHop(dst)
	bodyless := r.Method == http.MethodHead || resp.StatusCode < 200 || resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified
	if resp.ContentLength >= 0 && dst.Get("Content-Length") == "" && !bodyless {
		dst.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	w.WriteHeader(resp.StatusCode)
	p.m.requests.WithLabelValues(prof.Name, protoLabel(resp), strconv.Itoa(resp.StatusCode)).Inc()
	n, rerr, werr := copyBody(w, resp.Body, resp.ContentLength < 0)
	p.log.Debug("proxy: forwarded", "method", r.Method, "url", target.Redacted(), "profile", prof.Name, "initiator", in,
		"upstream_proto", protoLabel(resp), "status", resp.StatusCode, "bytes", n, "duration", time.Since(start), "err", errors.Join(rerr, werr))
	if rerr != nil && werr == nil && r.Context().Err() == nil {
		// The head is sent: abort the response (the connection for
		// HTTP/1.1, the stream for HTTP/2) so that the client sees a
		// failure, never a truncated body that looks complete. A body
		// beyond the decoding limits ends here too.
		flow.Err = rerr.Error()
		p.log.Debug("proxy: upstream body failed", "method", r.Method, "url", target.Redacted(), "profile", prof.Name, "bytes", n, "err", rerr)
		panic(http.ErrAbortHandler)
	}
}

func protoLabel(resp *http.Response) string {
	if resp.ProtoMajor == 2 {
		return "h2"
	}
	return "http/1.1"
}

// copyBody copies src to w, flushing after each read when stream is set
// (a body of unknown length may be a long poll or an event stream). It
// tells a failure to read src from a failure to write to the client.
func copyBody(w http.ResponseWriter, src io.Reader, stream bool) (n int64, readErr, writeErr error) {
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		k, rerr := src.Read(buf)
		if k > 0 {
			wk, werr := w.Write(buf[:k])
			n += int64(wk)
			if werr != nil {
				return n, nil, werr
			}
			if stream {
				_ = rc.Flush()
			}
		}
		if rerr == io.EOF {
			return n, nil, nil
		}
		if rerr != nil {
			return n, rerr, nil
		}
	}
}

// upstreamError maps an error reaching the destination to the status,
// the refusal metric's reason and the short text the client sees. The
// text never carries the error itself: that names resolved addresses,
// the resolver's address or the address dialled, which are for the
// operator's log only. Certificate errors keep the verifier's words,
// which speak of the certificate only.
func upstreamError(err error) (code int, reason, msg string) {
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalid          x509.CertificateInvalidError
		verify           *tls.CertificateVerificationError
		dnsErr           *net.DNSError
		netErr           net.Error
	)
	var reach *upstream.ReachError
	switch {
	case errors.As(err, &reach) && !errors.Is(err, ErrEgressDenied):
		return http.StatusBadGateway, "upstream", "upstream proxy unreachable"
	case errors.Is(err, upstream.ErrProxy):
		return http.StatusBadGateway, "upstream", "upstream proxy refused the tunnel"
	case errors.Is(err, ErrEgressDenied):
		return http.StatusForbidden, "egress", "destination not allowed: a loopback, private, link-local or other special-purpose address (emuproxy serve -allow-private allows it)"
	case errors.As(err, &unknownAuthority):
		return http.StatusBadGateway, "upstream", "upstream certificate invalid: " + unknownAuthority.Error()
	case errors.As(err, &hostname):
		return http.StatusBadGateway, "upstream", "upstream certificate invalid: " + hostname.Error()
	case errors.As(err, &invalid):
		return http.StatusBadGateway, "upstream", "upstream certificate invalid: " + invalid.Error()
	case errors.As(err, &verify):
		return http.StatusBadGateway, "upstream", "upstream certificate invalid"
	case errors.As(err, &dnsErr) && dnsErr.IsTimeout:
		return http.StatusGatewayTimeout, "upstream", "upstream name resolution timed out"
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return http.StatusBadGateway, "upstream", "upstream host not found"
	case errors.As(err, &dnsErr):
		return http.StatusBadGateway, "upstream", "upstream name resolution failed"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return http.StatusGatewayTimeout, "upstream", "upstream timed out"
	case errors.Is(err, syscall.ECONNREFUSED):
		return http.StatusBadGateway, "upstream", "upstream refused the connection"
	case isHandshakeError(err):
		return http.StatusBadGateway, "upstream", "upstream TLS handshake failed"
	}
	return http.StatusBadGateway, "upstream", "upstream request failed"
}

// isHandshakeError reports whether err came from the upstream TLS
// handshake.
func isHandshakeError(err error) bool {
	return strings.Contains(err.Error(), "TLS handshake")
}
