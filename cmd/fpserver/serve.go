package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/guanaco-fp/guanaco/capture"
	"github.com/guanaco-fp/guanaco/curate"
	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/internal/cliflag"
	"github.com/guanaco-fp/guanaco/internal/warmstack"
	"github.com/guanaco-fp/guanaco/quicinitial"
	"github.com/guanaco-fp/guanaco/store"
	"github.com/guanaco-fp/guanaco/store/split"
	"github.com/guanaco-fp/guanaco/store/writer"
	"github.com/guanaco-fp/guanaco/web"
)

const envPrefix = "FPSERVER_"

// defaultGCPercent is fpserver's garbage collector target (-gc-percent).
// Serving allocates ~7 KB a request and keeps little (a live heap of tens
// of megabytes), so at Go's default of 100 the collector runs every few
// thousand requests; at 400 it runs a quarter as often, which took ~15 % off
// the process CPU of a kept-alive request (docs/measurements.md) for a heap
// that peaks at five times the live one instead of twice.
const defaultGCPercent = 400

// servedKey keys a connection's "a request was served" flag in the
// connection's context (see firstOrHTTP2).
type servedKey struct{}

// firstOrHTTP2 reports whether r is an HTTP/2 (or later) request or the
// first request of its HTTP/1 connection: the requests worth handing to a
// warm worker. A WebSocket (an HTTP/1 Upgrade or an HTTP/2 extended
// CONNECT) is not: its handler lives as long as the socket and would hold
// the worker.
func firstOrHTTP2(r *http.Request) bool {
	if r.Method == http.MethodConnect || r.Header["Upgrade"] != nil {
		return false
	}
	if r.ProtoMajor >= 2 {
		return true
	}
	served, ok := r.Context().Value(servedKey{}).(*atomic.Bool)
	return ok && !served.Swap(true)
}

// sharedHeaderValue hands out a response header value as a one-element
// slice shared by every response while the value stays the same, so setting
// a header whose value rarely changes (Alt-Svc) allocates nothing. The slice
// must not be written into: net/http only reads it and copies the header
// map when it writes the header, and an Add appends past its capacity (1),
// copying it. Safe for concurrent use.
type sharedHeaderValue struct {
	last atomic.Pointer[[]string]
}

// of returns []string{v}, the same slice as the last call's when v is the
// same.
func (s *sharedHeaderValue) of(v string) []string {
	if p := s.last.Load(); p != nil && (*p)[0] == v {
		return *p
	}
	vs := []string{v}
	s.last.Store(&vs)
	return vs
}

// h2MaxReadFrameSize is the SETTINGS_MAX_FRAME_SIZE fpserver advertises;
// the capture parser must accept the same.
const h2MaxReadFrameSize = 1 << 20

// warmWorkers is how many HTTP/2 requests are served at once on warm worker
// goroutines; more concurrent ones run on their own (new) goroutines.
const warmWorkers = 64

const serveUsage = `usage: fpserver [serve] [flags]

Serve the fingerprinting pages and API. With no flags fpserver listens on
:8443 (HTTPS, h2 and http/1.1), :8444 (HTTPS, http/1.1 only) and :8080
(plain HTTP), keeps an SQLite database and a certificate issued by its own
local CA in ./data (trust data/tls/ca.pem: curl --cacert, emuproxy get -cacert,
SSL_CERT_FILE), and serves /metrics and pprof on 127.0.0.1:9090.

Every flag can also be set through the environment variable shown.

Flags:
`

// serveConfig is the parsed command line of `fpserver serve`.
type serveConfig struct {
	httpsAddr, httpsH1Addr, httpAddr, debugAddr string
	http3Addr                                   string
	dataDir, dsn, readDSN                       string
	redactKeyFile                               string
	certFile, keyFile, acmeEmail                string
	acmeDomains, hosts, trustedProxies          cliflag.List
	noClientHintsHosts                          cliflag.List
	proxyProtocol, storeFullIP, publicCaptures  bool
	retention                                   time.Duration
	handshakeTimeout, readHeaderTimeout         time.Duration
	idleTimeout, shutdownTimeout                time.Duration
	bodyTimeout, bodyRateGrace                  time.Duration
	minBodyRate                                 float64
	maxPendingHandshakes, maxPendingPerClient   int
	expensiveRate                               float64
	expensiveBurst                              int
	maxCapturesPerConn, maxCapturesPerMinute    int
	maxHeaderBytes                              int
	gcPercent                                   int
	spoolMaxBytes                               int64
	minFreeDisk                                 float64
	logLevel, logFormat                         string
	curate                                      curateConfig
}

func (m *Main) serveFlags(cfg *serveConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.StringVar(&cfg.httpsAddr, "https", ":8443", "HTTPS `address` offering h2 and http/1.1; empty disables")
	fs.StringVar(&cfg.httpsH1Addr, "https-h1", ":8444", "HTTPS `address` offering only http/1.1, to capture browsers' HTTP/1 header order; empty disables")
	fs.StringVar(&cfg.httpAddr, "http", ":8080", "plain HTTP/1.1 `address`; empty disables")
	fs.StringVar(&cfg.http3Addr, "http3", "auto", "UDP `address` for HTTP/3 (QUIC), advertised with Alt-Svc on the TCP listeners' responses; auto: the -https listener's address and port (not with -proxy-protocol); empty disables")
	fs.StringVar(&cfg.debugAddr, "debug", "127.0.0.1:9090", "`address` for /metrics and /debug/pprof; empty disables")
	fs.StringVar(&cfg.dataDir, "data", "data", "data `directory`: SQLite database, certificate, spool")
	fs.StringVar(&cfg.dsn, "db", "", "database `DSN`: postgres://... or an SQLite file path (default DATA/fpserver.db)")
	fs.StringVar(&cfg.readDSN, "db-read", "", "database `DSN` for the pages' and API's read queries: a replica of -db (a hot standby will do: it is opened read-only and only checked to have the current schema; docs/deployment.md); empty: -db serves them too")
	fs.StringVar(&cfg.certFile, "cert", "", "TLS certificate `file` (PEM); with -key")
	fs.StringVar(&cfg.keyFile, "key", "", "TLS private key `file` (PEM); with -cert")
	fs.Var(&cfg.acmeDomains, "acme-domain", "obtain certificates with ACME (Let's Encrypt) for these `domains` (comma-separated or repeated); needs -http on :80 for HTTP-01 or -https on :443 for TLS-ALPN-01")
	fs.StringVar(&cfg.acmeEmail, "acme-email", "", "contact `email` for the ACME account")
	cfg.hosts = cliflag.List{"localhost", "127.0.0.1", "::1"}
	fs.Var(&cfg.hosts, "hosts", "`names` and IPs in the certificate fpserver issues from its local CA (data/tls/ca.pem) when there is no -cert or -acme-domain")
	fs.Var(&cfg.noClientHintsHosts, "no-client-hints-host", "host `names` (comma-separated or repeated) on which the fingerprint page does not send Accept-CH/Critical-CH: a second name for the same listeners, where a visit shows what a browser sends to origins that never ask for client hints")
	fs.BoolVar(&cfg.proxyProtocol, "proxy-protocol", false, "accept PROXY protocol v1/v2 headers from -trusted-proxies")
	fs.Var(&cfg.trustedProxies, "trusted-proxies", "`CIDRs` allowed to send PROXY headers; a header from any other peer is refused")
	fs.StringVar(&cfg.redactKeyFile, "redact-key-file", "", "`file` whose bytes key the hashes standing in for stored Cookie/Authorization/Proxy-Authorization values (default: a random key per run, so stand-ins compare only within one run); replicas share one file")
	fs.BoolVar(&cfg.publicCaptures, "public-captures", false, "list recent capture ids (links to other visitors' captures) on the /fingerprints/{hash} pages and API")
	fs.BoolVar(&cfg.storeFullIP, "store-full-ip", false, "store client IPs whole instead of truncated to /24 (IPv4) and /48 (IPv6)")
	fs.DurationVar(&cfg.retention, "retention", 30*24*time.Hour, "delete captures older than this `duration`; 0 keeps everything")
	fs.DurationVar(&cfg.handshakeTimeout, "handshake-timeout", 10*time.Second, "time allowed for the PROXY header, ClientHello and TLS handshake")
	fs.IntVar(&cfg.maxPendingHandshakes, "max-pending-handshakes", 1024, "connections per listener between accept and the end of the TLS handshake; an eighth is kept for addresses with none pending, and at half the handshake deadline drops to a quarter of -handshake-timeout")
	fs.IntVar(&cfg.maxPendingPerClient, "max-pending-handshakes-per-client", 64, "pending handshakes of one client address (IPv6: one /64); further connections are closed at once")
	fs.Float64Var(&cfg.expensiveRate, "expensive-rate", 2, "requests per second one client (IPv4 address, IPv6 /64) may make to /stats, /api/stats, /fingerprints/{hash}, /api/fingerprints/{hash} and /api/profiles/visit/{key}; beyond it 429 with Retry-After; 0 disables")
	fs.IntVar(&cfg.expensiveBurst, "expensive-burst", 30, "burst of -expensive-rate")
	fs.IntVar(&cfg.maxCapturesPerConn, "max-captures-per-conn", web.DefaultMaxCapturesPerConn, "captures stored per TLS connection; later requests are served but not stored (-1: no cap)")
	fs.IntVar(&cfg.maxCapturesPerMinute, "max-captures-per-minute", web.DefaultMaxCapturesPerMinute, "captures stored per client address (IPv6: /64) and minute (-1: no cap)")
	fs.DurationVar(&cfg.readHeaderTimeout, "read-header-timeout", 10*time.Second, "time allowed to read a request's headers")
	fs.DurationVar(&cfg.bodyTimeout, "body-timeout", 60*time.Second, "time allowed to read a request body in total; 0 disables")
	fs.Float64Var(&cfg.minBodyRate, "min-body-rate", 1024, "slowest request body accepted, in `bytes` per second after -body-rate-grace; slower bodies are cut off; 0 disables")
	fs.DurationVar(&cfg.bodyRateGrace, "body-rate-grace", 10*time.Second, "time a request body gets before -min-body-rate applies")
	fs.DurationVar(&cfg.idleTimeout, "idle-timeout", 120*time.Second, "keep-alive idle timeout")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 15*time.Second, "on SIGTERM, time allowed for in-flight requests and the store flush")
	fs.IntVar(&cfg.maxHeaderBytes, "max-header-bytes", 64<<10, "largest request header section in `bytes`")
	fs.IntVar(&cfg.gcPercent, "gc-percent", defaultGCPercent, "Go garbage collector target: the heap grows this `percent` over the live heap between collections (Go's default is 100); ignored when the GOGC environment variable is set; 0 leaves the runtime's setting. GOMEMLIMIT caps the heap as usual")
	fs.Int64Var(&cfg.spoolMaxBytes, "spool-max-bytes", 1<<30, "cap of the on-disk spool used while the database is unreachable")
	fs.Float64Var(&cfg.minFreeDisk, "min-free-disk", 5, "stop storing captures (serving on; /readyz fails) while the data directory's file system has less than this `percent` free; 0 disables")
	addCurateFlags(fs, &cfg.curate, true)
	fs.StringVar(&cfg.logLevel, "log-level", "info", "log `level`: debug, info, warn, error")
	fs.StringVar(&cfg.logFormat, "log-format", "text", "log `format`: text or json")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), serveUsage)
		cliflag.PrintFlags(fs.Output(), fs, envPrefix)
	}
	return fs
}

// serverMetrics are fpserver's connection-level collectors.
type serverMetrics struct {
	connections       *prometheus.CounterVec
	handshakeFailures *prometheus.CounterVec
}

func newServerMetrics(reg prometheus.Registerer) (*serverMetrics, error) {
	m := &serverMetrics{
		connections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fpserver_connections_total",
			Help: "Connections that reached HTTP, by listener and application protocol.",
		}, []string{"listener", "protocol"}),
		handshakeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fpserver_handshake_failures_total",
			Help: "Connections dropped before HTTP, by listener and reason.",
		}, []string{"listener", "reason"}),
	}
	for _, c := range []prometheus.Collector{m.connections, m.handshakeFailures} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("fpserver: registering metrics: %w", err)
		}
	}
	return m, nil
}

// serve runs the service until ctx ends, then shuts down gracefully: stop
// accepting, finish in-flight requests, flush the capture writer.
func (m *Main) serve(ctx context.Context, args []string) int {
	var cfg serveConfig
	fs := m.serveFlags(&cfg)
	getenv := m.Getenv
	if getenv == nil {
		getenv = os.LookupEnv
	}
	if err := cliflag.ApplyEnv(fs, envPrefix, getenv); err != nil {
		fmt.Fprintf(m.Stderr, "fpserver: %v\n", err)
		return exitUsage
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(m.Stderr, "fpserver: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	logger, err := cliflag.NewLogger(m.Stderr, cfg.logLevel, cfg.logFormat)
	if err != nil {
		fmt.Fprintf(m.Stderr, "fpserver: %v\n", err)
		return exitUsage
	}
	if _, set := os.LookupEnv("GOGC"); !set && cfg.gcPercent > 0 {
		defer debug.SetGCPercent(debug.SetGCPercent(cfg.gcPercent))
	}
	if err := m.runServer(ctx, cfg, logger); err != nil {
		logger.Error("fpserver stopped", "err", err)
		return exitFail
	}
	return exitOK
}

// listener is one configured listening socket.
type listener struct {
	name string
	ln   *capture.Listener
}

func (m *Main) runServer(ctx context.Context, cfg serveConfig, logger *slog.Logger) (retErr error) {
	if err := os.MkdirAll(cfg.dataDir, 0o700); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	if cfg.dsn == "" {
		cfg.dsn = filepath.Join(cfg.dataDir, "fpserver.db")
	}
	var trusted []netip.Prefix
	for _, s := range cfg.trustedProxies {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			if a, aerr := netip.ParseAddr(s); aerr == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			} else {
				return fmt.Errorf("-trusted-proxies %q: %w", s, err)
			}
		}
		trusted = append(trusted, p)
	}
	if cfg.minFreeDisk < 0 || cfg.minFreeDisk >= 100 {
		return fmt.Errorf("-min-free-disk %v: want a percentage in [0, 100)", cfg.minFreeDisk)
	}
	if cfg.proxyProtocol && len(trusted) == 0 {
		return errors.New("-proxy-protocol needs -trusted-proxies")
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := newServerMetrics(reg)
	if err != nil {
		return err
	}

	st, err := store.Open(ctx, cfg.dsn)
	if err != nil {
		return fmt.Errorf("opening store: %w", err)
	}
	// pages is what the web handlers query: the primary, or the primary for
	// writes and -db-read for reads. Curation, retention and the capture
	// writer always use the primary.
	var pages store.Store = st
	closeStores := st.Close
	if cfg.readDSN != "" {
		rd, err := store.OpenWith(ctx, cfg.readDSN, store.Options{ReadOnly: true})
		if err != nil {
			st.Close()
			return fmt.Errorf("opening read store (-db-read): %w", err)
		}
		sp, err := split.New(st, rd)
		if err != nil {
			st.Close()
			rd.Close()
			return err
		}
		pages, closeStores = sp, sp.Close
	}
	defer func() {
		if err := closeStores(); err != nil && retErr == nil {
			retErr = fmt.Errorf("closing store: %w", err)
		}
	}()
	wr, err := writer.New(writer.Config{
		Store:         st,
		SpoolPath:     filepath.Join(cfg.dataDir, "spool"),
		SpoolMaxBytes: cfg.spoolMaxBytes,
		Registerer:    reg,
		Logger:        logger,
	})
	if err != nil {
		return fmt.Errorf("starting capture writer: %w", err)
	}
	defer func() {
		fctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
		defer cancel()
		if err := wr.Close(fctx); err != nil && retErr == nil {
			retErr = fmt.Errorf("flushing captures: %w", err)
		}
	}()

	if seeded, err := curate.SeedBuiltin(ctx, st); err != nil {
		logger.Warn("storing the built-in profiles failed", "err", err)
	} else if len(seeded) > 0 {
		logger.Info("stored the built-in profiles", "profiles", seeded)
	}
	known := curate.NewKnown(st, time.Minute)
	var redactKey []byte
	if cfg.redactKeyFile != "" {
		if redactKey, err = os.ReadFile(cfg.redactKeyFile); err != nil {
			return fmt.Errorf("reading -redact-key-file: %w", err)
		}
		if len(redactKey) < 16 {
			return fmt.Errorf("-redact-key-file %s: %d bytes, want at least 16", cfg.redactKeyFile, len(redactKey))
		}
	}

	guard := newDiskGuard(wr, cfg.dataDir, cfg.minFreeDisk/100, freeFraction, logger)
	if err := reg.Register(guard.gauge); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	if err := reg.Register(guard.drops); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	gctx, stopGuard := context.WithCancel(ctx)
	defer stopGuard()
	go guard.run(gctx, 10*time.Second)

	// The HTTP/1.1-only listener opens below; the pages link to its port.
	var h1Port atomic.Int32
	handler, err := web.New(web.Deps{
		HTTP1Port:          func() int { return int(h1Port.Load()) },
		NoClientHintsHosts: cfg.noClientHintsHosts,
		Store:              pages,
		KnownProfiles:      known.Profiles,
		Captures:           guard,
		BuildProfile: func(ctx context.Context, key string) (*emulation.Profile, error) {
			return curate.BuildVisitProfile(ctx, pages, key, time.Now())
		},
		Logger:               logger,
		Registry:             reg,
		StoreFullIP:          cfg.storeFullIP,
		RedactKey:            redactKey,
		PublicCaptures:       cfg.publicCaptures,
		ExpensiveRate:        cfg.expensiveRate,
		ExpensiveBurst:       cfg.expensiveBurst,
		MaxCapturesPerConn:   cfg.maxCapturesPerConn,
		MaxCapturesPerMinute: cfg.maxCapturesPerMinute,
		Ready:                readiness(pages.Ping, wr.Healthy, guard.Healthy),
	})
	if err != nil {
		return err
	}

	src := certSource{certFile: cfg.certFile, keyFile: cfg.keyFile, acmeDomains: cfg.acmeDomains,
		acmeEmail: cfg.acmeEmail, dataDir: cfg.dataDir, hosts: cfg.hosts}
	tlsMain, acme, err := src.tlsConfig([]string{"h2", "http/1.1"})
	if err != nil {
		return err
	}
	tlsH1, _, err := src.tlsConfig([]string{"http/1.1"})
	if err != nil {
		return err
	}
	if acme != nil {
		tlsH1.GetCertificate = acme.GetCertificate
		tlsH1.Certificates = nil
	}

	// The web handler claims each request's capture from its connection
	// itself (no capture.Middleware: one request copy and context less).
	appHandler := web.LimitBodies(handler,
		web.BodyLimits{Timeout: cfg.bodyTimeout, MinRate: cfg.minBodyRate, Grace: cfg.bodyRateGrace})
	var h3srv *capture.H3Server // set below when -http3 is on
	// HTTP/2 requests, and the first request of an HTTP/1 connection (whose
	// goroutine is new, its stack small), are served on warm worker
	// goroutines (see package warmstack); later HTTP/1 requests stay on
	// their connection's goroutine, grown by then. TCP answers advertise
	// HTTP/3 with Alt-Svc when it is on.
	var altSvc sharedHeaderValue
	warm := warmstack.HandlerFunc(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h3srv != nil && r.TLS == nil {
			if v := h3srv.AltSvc(); v != "" {
				w.Header()["Alt-Svc"] = altSvc.of(v)
			}
		}
		appHandler.ServeHTTP(w, r)
	}), warmWorkers, firstOrHTTP2)
	defer warm.Stop()
	hs := &http.Server{
		Handler:           warm,
		ReadHeaderTimeout: cfg.readHeaderTimeout,
		IdleTimeout:       cfg.idleTimeout,
		MaxHeaderBytes:    cfg.maxHeaderBytes,
		ErrorLog:          log.New(slogWriter{logger}, "", 0),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			ctx = context.WithValue(ctx, servedKey{}, new(atomic.Bool))
			if cc, ok := c.(*capture.Conn); ok {
				return capture.ContextWithConn(ctx, cc)
			}
			return ctx
		},
	}
	// Connections come from capture listeners as plain net.Conns (the TLS is
	// terminated there), so net/http serves h2 as "unencrypted HTTP/2" after
	// the preface: its own HTTP/2 server, flood and reset protections
	// included. The HTTP/1.1-only listener gets a server without HTTP/2.
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	hs.Protocols = &protos
	hs.HTTP2 = &http.HTTP2Config{MaxReadFrameSize: h2MaxReadFrameSize}
	hsH1 := &http.Server{Handler: hs.Handler, ReadHeaderTimeout: hs.ReadHeaderTimeout, IdleTimeout: hs.IdleTimeout,
		MaxHeaderBytes: hs.MaxHeaderBytes, ErrorLog: hs.ErrorLog, ConnContext: hs.ConnContext}
	var h1only http.Protocols
	h1only.SetHTTP1(true)
	hsH1.Protocols = &h1only
	limits := capture.StreamLimits{
		MaxHeadBytes:   cfg.maxHeaderBytes + 4096, // net/http reads up to 4 KiB past MaxHeaderBytes
		H2MaxFrameSize: h2MaxReadFrameSize,
	}

	var listeners []listener
	defer func() {
		for _, l := range listeners {
			l.ln.Close()
		}
	}()
	open := func(name, addr string, tlsCfg *tls.Config) error {
		if addr == "" {
			return nil
		}
		inner, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listening on %s (-%s): %w", addr, name, err)
		}
		ln := capture.NewListener(inner, capture.Config{
			TLS:                  tlsCfg,
			HandshakeTimeout:     cfg.handshakeTimeout,
			MaxPendingHandshakes: cfg.maxPendingHandshakes,
			MaxPendingPerClient:  cfg.maxPendingPerClient,
			ProxyProtocol:        cfg.proxyProtocol,
			TrustedProxies:       trusted,
			Streams:              limits,
			Logger:               logger,
			OnHandshakeError:     func(reason string, _ error) { metrics.handshakeFailures.WithLabelValues(name, reason).Inc() },
			OnHandshake:          func(c *capture.Conn) { metrics.connections.WithLabelValues(name, string(c.Protocol())).Inc() },
		})
		listeners = append(listeners, listener{name: name, ln: ln})
		if name == "https-h1" {
			if ta, ok := ln.Addr().(*net.TCPAddr); ok {
				h1Port.Store(int32(ta.Port))
			}
		}
		logger.Info("listening", "listener", name, "addr", ln.Addr().String(), "tls", tlsCfg != nil)
		if m.OnListening != nil {
			m.OnListening(name, ln.Addr())
		}
		return nil
	}
	if err := open("https", cfg.httpsAddr, tlsMain); err != nil {
		return err
	}
	if err := open("https-h1", cfg.httpsH1Addr, tlsH1); err != nil {
		return err
	}
	if err := open("http", cfg.httpAddr, nil); err != nil {
		return err
	}
	if len(listeners) == 0 {
		return errors.New("no listener: set at least one of -https, -https-h1, -http")
	}

	if addr := cfg.http3Addr; addr != "" {
		if addr == "auto" {
			addr = ""
			for _, l := range listeners {
				if l.name == "https" {
					addr = l.ln.Addr().String()
				}
			}
			if cfg.proxyProtocol {
				// Behind a TCP proxy the -https port is the proxy's
				// backend, not what clients reach, and UDP would bypass
				// the proxy's client addresses: HTTP/3 only when asked.
				addr = ""
				logger.Info("HTTP/3 not started: -proxy-protocol is on; set -http3 to the address clients reach over UDP")
			}
		}
		if addr != "" {
			ua, err := net.ResolveUDPAddr("udp", addr)
			if err != nil {
				return fmt.Errorf("resolving %s (-http3): %w", addr, err)
			}
			udp, err := net.ListenUDP("udp", ua)
			if err != nil {
				return fmt.Errorf("listening on %s (-http3): %w", addr, err)
			}
			defer udp.Close()
			h3tls := tlsMain.Clone()
			h3srv = capture.NewH3Server(capture.H3Config{
				TLS:            h3tls,
				Handler:        appHandler,
				Streams:        limits,
				IdleTimeout:    cfg.idleTimeout,
				MaxHeaderBytes: cfg.maxHeaderBytes,
				Logger:         logger,
				OnConn:         func(c *capture.Conn) { metrics.connections.WithLabelValues("http3", string(c.Protocol())).Inc() },
			})
			registerQUICMetrics(reg, h3srv.Table())
			go func() {
				if err := h3srv.Serve(udp); err != nil && !errors.Is(err, http.ErrServerClosed) {
					logger.Error("http3 serving failed", "err", err)
				}
			}()
			defer h3srv.Close()
			logger.Info("listening", "listener", "http3", "addr", udp.LocalAddr().String(), "tls", true)
			if m.OnListening != nil {
				m.OnListening("http3", udp.LocalAddr())
			}
		}
	}

	var debugSrv *http.Server
	if cfg.debugAddr != "" {
		dl, err := net.Listen("tcp", cfg.debugAddr)
		if err != nil {
			return fmt.Errorf("listening on %s (-debug): %w", cfg.debugAddr, err)
		}
		debugSrv = &http.Server{Handler: debugMux(reg), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = debugSrv.Serve(dl) }()
		logger.Info("listening", "listener", "debug", "addr", dl.Addr().String())
		if m.OnListening != nil {
			m.OnListening("debug", dl.Addr())
		}
	}

	// The plain listener also answers ACME HTTP-01 challenges.
	serveErr := make(chan error, len(listeners))
	servers := []*http.Server{hs, hsH1}
	for _, l := range listeners {
		srv := hs
		if l.name == "https-h1" {
			srv = hsH1
		}
		if l.name == "http" && acme != nil {
			srv = &http.Server{Handler: acme.HTTPHandler(hs.Handler), ReadHeaderTimeout: hs.ReadHeaderTimeout,
				IdleTimeout: hs.IdleTimeout, MaxHeaderBytes: hs.MaxHeaderBytes, ErrorLog: hs.ErrorLog, ConnContext: hs.ConnContext,
				Protocols: hs.Protocols, HTTP2: hs.HTTP2}
			servers = append(servers, srv)
		}
		go func(ln net.Listener) {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				serveErr <- err
			}
		}(l.ln)
	}

	var wg sync.WaitGroup
	bgCtx, stopBackground := context.WithCancel(ctx)
	defer stopBackground()
	if cfg.retention > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			retentionLoop(bgCtx, st, cfg.retention, logger)
		}()
	}

	if cfg.curate.enabled {
		cc := cfg.curate.curatorConfig(st)
		cc.Logger, cc.Registerer = logger, reg
		cu, err := curate.New(cc)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cu.Run(bgCtx, cfg.curate.interval)
		}()
	}

	var runErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case runErr = <-serveErr:
		logger.Error("serving failed; shutting down", "err", runErr)
	}
	stopBackground()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	for _, l := range listeners {
		l.ln.Close()
	}
	var swg sync.WaitGroup
	for _, srv := range servers {
		swg.Add(1)
		go func() {
			defer swg.Done()
			if err := srv.Shutdown(sctx); err != nil {
				logger.Warn("connections did not finish in time", "err", err)
			}
		}()
	}
	if h3srv != nil {
		swg.Add(1)
		go func() {
			defer swg.Done()
			if err := h3srv.Shutdown(sctx); err != nil {
				logger.Warn("HTTP/3 connections did not finish in time", "err", err)
			}
		}()
	}
	swg.Wait()
	for _, l := range listeners {
		l.ln.Wait() // handshakes in progress end at their deadline or now
	}
	if debugSrv != nil {
		_ = debugSrv.Shutdown(sctx)
	}
	wg.Wait()
	return runErr
}

func debugMux(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// retentionLoop deletes captures older than keep, now and then hourly.
func retentionLoop(ctx context.Context, st store.Store, keep time.Duration, logger *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		n, err := st.DeleteCapturesBefore(ctx, time.Now().Add(-keep))
		switch {
		case err != nil && ctx.Err() == nil:
			logger.Warn("retention: deleting old captures failed", "err", err)
		case n > 0:
			logger.Info("retention: deleted old captures", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// slogWriter adapts net/http's error log to slog.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Debug("http server", "msg", strings.TrimSpace(string(p)))
	return len(p), nil
}

// readiness is /readyz's check: the store answers and every healthy check
// passes: the capture writer makes progress (a writer stuck on its backlog
// stores nothing while the database answers pings) and free disk is over
// -min-free-disk.
func readiness(ping func(context.Context) error, healthy ...func() error) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := ping(ctx); err != nil {
			return err
		}
		for _, h := range healthy {
			if err := h(); err != nil {
				return err
			}
		}
		return nil
	}
}

// registerQUICMetrics exports the HTTP/3 listener's Initial reassembly
// counters: fpserver_quic_initials_total{result} and the entries held.
func registerQUICMetrics(reg prometheus.Registerer, t *quicinitial.Table) {
	for _, c := range []struct {
		result string
		value  func(quicinitial.TableStats) uint64
	}{
		{"seen", func(s quicinitial.TableStats) uint64 { return s.Initials }},
		{"undecryptable", func(s quicinitial.TableStats) uint64 { return s.Undecryptable }},
		{"malformed", func(s quicinitial.TableStats) uint64 { return s.Malformed }},
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fpserver_quic_initials_total",
			Help:        "Client Initial packets the HTTP/3 capture saw (seen), could not decrypt, or could not parse.",
			ConstLabels: prometheus.Labels{"result": c.result}}, func() float64 { return float64(c.value(t.Stats())) }))
	}
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fpserver_quic_hellos_total",
		Help: "QUIC ClientHellos reassembled from Initial packets."}, func() float64 { return float64(t.Stats().Hellos) }))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fpserver_quic_hellos_evicted_total",
		Help: "Pending QUIC hellos dropped for the table's bounds or age before their connection took them."},
		func() float64 { return float64(t.Stats().Evicted) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fpserver_quic_hellos_pending",
		Help: "QUIC hellos being reassembled or waiting for their connection."}, func() float64 { return float64(t.Len()) }))
}
