package main

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/emulation/har"
	"github.com/guanaco-fp/guanaco/emulation/proxy"
	"github.com/guanaco-fp/guanaco/emulation/upstream"
	"github.com/guanaco-fp/guanaco/internal/buildinfo"
	"github.com/guanaco-fp/guanaco/internal/cliflag"
	"github.com/guanaco-fp/guanaco/store"
)

// credFlag is the repeatable -auth user:pass flag. One environment value
// may hold several credentials, one per line.
type credFlag []proxy.Credential

func (c *credFlag) String() string {
	users := make([]string, 0, len(*c))
	for _, x := range *c {
		users = append(users, x.User+":***")
	}
	return strings.Join(users, "\n")
}

// Set adds the credential(s) in v.
func (c *credFlag) Set(v string) error {
	for _, line := range strings.Split(v, "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		cr, err := proxy.ParseCredential(line)
		if err != nil {
			return err
		}
		*c = append(*c, cr)
	}
	return nil
}

// defaultCADir is the user config dir's guanaco/ca, or "" when the
// platform has none.
func defaultCADir() string {
	d, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "guanaco", "ca")
}

const serveSynopsis = `serve [flags]

Runs the forward proxy. Point a client at it (curl -x http://127.0.0.1:8888,
--proxy-server=..., HTTPS_PROXY=...) and trust the local CA ('emuproxy ca'
prints it): every request leaves with the TLS ClientHello, HTTP/2 framing and
header order of the selected browser profile. The profile is chosen by,
first match wins: the X-Guanaco-Profile request header, the proxy user name
label USER+profile=NAME, the profile closest to the client's User-Agent
(unless -no-ua-match), the -profile flag. Destinations on loopback, private, link-local, CGNAT,
metadata and other special-purpose addresses are refused unless -allow-private;
CONNECT and absolute-form requests reach only the -ports. With -upstream (or a
USER+upstream=LABEL label naming an entry of -upstreams-file) requests leave
through an HTTP or SOCKS5 upstream proxy. -socks5 adds a SOCKS5 listener.
Every request is one info line of the log; -har records them as HAR 1.2.
SIGINT/SIGTERM stop it gracefully: requests in flight and CONNECT tunnels get
-shutdown-timeout.`

// serveConfig is the parsed `emuproxy serve` command line.
type serveConfig struct {
	listen          string
	auth            credFlag
	authFile        string
	allowPrivate    bool
	noResumption    bool
	ports           cliflag.List
	caDir           string
	cacert          string
	profile         string
	noUAMatch       bool
	profilesDir     string
	profilesDB      string
	profilesFile    string
	profilesURL     string
	profilesReload  time.Duration
	debug           string
	handshake       time.Duration
	idle            time.Duration
	upstreamTimeout time.Duration
	shutdownTimeout time.Duration
	logLevel        string
	logFormat       string
	upstream        string
	upstreamsFile   string
	socks5          string
	har             string
}

// serveFlags defines the flags of `emuproxy serve` on a new flag set.
func (m *Main) serveFlags(cfg *serveConfig) *flag.FlagSet {
	fs := m.newFlagSet("serve", serveSynopsis)
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:8888", "proxy listen `address`; any non-loopback address requires -auth or -auth-file")
	fs.Var(&cfg.auth, "auth", "proxy credential `user:password`; repeatable (the environment variable takes one per line)")
	fs.StringVar(&cfg.authFile, "auth-file", "", "`file` of proxy credentials, one user:password per line, # comments")
	fs.BoolVar(&cfg.allowPrivate, "allow-private", false, "allow loopback, private, link-local, CGNAT and metadata destinations")
	fs.BoolVar(&cfg.noResumption, "no-resumption", false, "never resume TLS sessions upstream (by default later connections of a profile offer its saved tickets, as browsers do)")
	fs.Var(&cfg.ports, "ports", "comma-separated destination `ports` the proxy reaches, by CONNECT and by absolute-form http:// requests alike; others get 403 (default 443,80)")
	fs.Var(&cfg.ports, "connect-ports", "former name of -ports (an alias: both add to the same list)")
	fs.StringVar(&cfg.caDir, "ca-dir", defaultCADir(), "`directory` of the local CA (created 0700 on first run, key 0600)")
	fs.StringVar(&cfg.cacert, "cacert", "", "PEM `file` of CA certificates to verify upstream servers (and -profiles-url) with instead of the system roots")
	fs.StringVar(&cfg.profile, "profile", defaultProfile, "default profile `name` (see 'emuproxy profiles list')")
	fs.BoolVar(&cfg.noUAMatch, "no-ua-match", false, "do not pick the profile closest to the client's User-Agent: clients get -profile unless a header or user label names another (use it with a real browser behind the proxy)")
	fs.StringVar(&cfg.profilesDir, "profiles-dir", defaultProfilesDir(), "`directory` of profiles imported with 'emuproxy profiles import'")
	fs.StringVar(&cfg.profilesDB, "profiles-db", "", "profile database `DSN` (the database fpserver writes), reloaded every -profiles-reload")
	fs.StringVar(&cfg.profilesFile, "profiles-file", "", "profile JSON `file`, or a directory of *.json, read at start")
	fs.StringVar(&cfg.profilesURL, "profiles-url", "", "`URL` of a running fpserver's /api/profiles, reloaded every -profiles-reload")
	fs.DurationVar(&cfg.profilesReload, "profiles-reload", time.Minute, "reload `interval` of -profiles-db and -profiles-url")
	fs.StringVar(&cfg.debug, "debug", "", "`address` serving /healthz, /readyz and /metrics (Prometheus); empty = off (the proxy listener also answers GET /healthz)")
	fs.DurationVar(&cfg.handshake, "handshake-timeout", 10*time.Second, "`time` a CONNECT client has to send its first byte and finish its TLS handshake")
	fs.DurationVar(&cfg.idle, "idle-timeout", 120*time.Second, "close client connections and tunnels idle this `long`")
	fs.DurationVar(&cfg.upstreamTimeout, "upstream-timeout", 10*time.Second, "`time` allowed for an upstream dial plus TLS handshake")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 10*time.Second, "grace `period` for requests and tunnels at shutdown")
	fs.StringVar(&cfg.logLevel, "log-level", "info", "log `level`: debug, info, warn, error")
	fs.StringVar(&cfg.logFormat, "log-format", "text", "log `format`: text or json (the access log is one info line per request: client, profile, method, host, status, bytes, duration, upstream protocol)")
	fs.StringVar(&cfg.upstream, "upstream", "", "send every request through this upstream proxy `URL`: http://[user:pass@]host:port (CONNECT), https://... or socks5://[user:pass@]host:port; destination names are resolved by the upstream, the egress policy applies to the upstream's own address")
	fs.StringVar(&cfg.upstreamsFile, "upstreams-file", "", "`file` of named upstream proxies, one 'LABEL URL' per line (# comments); a client picks one with the proxy user label USER+upstream=LABEL (USER+upstream=direct bypasses -upstream)")
	fs.StringVar(&cfg.socks5, "socks5", "", "also accept SOCKS5 clients on this `address` (CONNECT only; user/password with -auth, whose user name takes the same +profile= and +upstream= labels); any non-loopback address requires -auth or -auth-file")
	fs.StringVar(&cfg.har, "har", "", "write every request and response (headers and sizes, no bodies) to this `file` as an HTTP Archive (HAR 1.2), finished at shutdown")
	return fs
}

// serve runs `emuproxy serve`.
func (m *Main) serve(ctx context.Context, args []string) int {
	var cfg serveConfig
	fs := m.serveFlags(&cfg)
	rest, code := m.parse(fs, args)
	if code >= 0 {
		return code
	}
	if len(rest) != 0 {
		fmt.Fprintf(m.Stderr, "emuproxy serve: unexpected argument %q\n", rest[0])
		fs.Usage()
		return exitUsage
	}
	logger, err := cliflag.NewLogger(m.Stderr, cfg.logLevel, cfg.logFormat)
	if err != nil {
		fmt.Fprintf(m.Stderr, "emuproxy: %v\n", err)
		return exitUsage
	}
	ports, up, err := checkServeFlags(cfg)
	if err != nil {
		fmt.Fprintf(m.Stderr, "emuproxy serve: %v\n", err)
		fs.Usage()
		return exitUsage
	}
	if err := m.runProxy(ctx, cfg, logger, ports, up); err != nil {
		logger.Error("emuproxy stopped", "err", err)
		return exitFail
	}
	return exitOK
}

// loopbackAddr reports whether a listen address binds only loopback.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// readAuthFile reads user:password lines.
func readAuthFile(path string) ([]proxy.Credential, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("-auth-file: %w", err)
	}
	defer f.Close()
	var out []proxy.Credential
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		c, err := proxy.ParseCredential(line)
		if err != nil {
			return nil, fmt.Errorf("-auth-file %s line %d: %w", path, n, err)
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("-auth-file: %w", err)
	}
	return out, nil
}

// checkServeFlags validates the flag values that need no I/O: the
// ports and the -upstream URL. An error here is a usage error.
func checkServeFlags(cfg serveConfig) ([]int, *upstream.Proxy, error) {
	var ports []int
	for _, s := range cfg.ports {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 65535 {
			return nil, nil, fmt.Errorf("-ports: bad port %q", s)
		}
		ports = append(ports, n)
	}
	var up *upstream.Proxy
	if cfg.upstream != "" {
		var err error
		if up, err = upstream.Parse(cfg.upstream); err != nil {
			return nil, nil, fmt.Errorf("-upstream: %w", err)
		}
	}
	for _, a := range []struct{ flag, addr string }{{"-listen", cfg.listen}, {"-socks5", cfg.socks5}} {
		if a.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return nil, nil, fmt.Errorf("%s %q: want host:port", a.flag, a.addr)
		}
	}
	return ports, up, nil
}

// readUpstreamsFile reads 'LABEL URL' lines.
func readUpstreamsFile(path string) (map[string]*upstream.Proxy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("-upstreams-file: %w", err)
	}
	defer f.Close()
	out := map[string]*upstream.Proxy{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return nil, fmt.Errorf("-upstreams-file %s line %d: want 'LABEL URL'", path, n)
		}
		if _, dup := out[fields[0]]; dup {
			return nil, fmt.Errorf("-upstreams-file %s line %d: label %q given twice", path, n, fields[0])
		}
		px, err := upstream.Parse(fields[1])
		if err != nil {
			return nil, fmt.Errorf("-upstreams-file %s line %d: %w", path, n, err)
		}
		out[fields[0]] = px
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("-upstreams-file: %w", err)
	}
	return out, nil
}

func (m *Main) runProxy(ctx context.Context, cfg serveConfig, logger *slog.Logger, ports []int, up *upstream.Proxy) error {
	creds := slices.Clone([]proxy.Credential(cfg.auth))
	if cfg.authFile != "" {
		more, err := readAuthFile(cfg.authFile)
		if err != nil {
			return err
		}
		creds = append(creds, more...)
	}
	if len(creds) == 0 && !loopbackAddr(cfg.listen) {
		return fmt.Errorf("-listen %s is not a loopback address: set -auth or -auth-file", cfg.listen)
	}
	if len(creds) == 0 && cfg.socks5 != "" && !loopbackAddr(cfg.socks5) {
		return fmt.Errorf("-socks5 %s is not a loopback address: set -auth or -auth-file", cfg.socks5)
	}
	var ups map[string]*upstream.Proxy
	if cfg.upstreamsFile != "" {
		var err error
		if ups, err = readUpstreamsFile(cfg.upstreamsFile); err != nil {
			return err
		}
	}
	ca, err := proxy.LoadOrCreateCA(cfg.caDir)
	if err != nil {
		return err
	}
	roots, err := readRoots(cfg.cacert)
	if err != nil {
		return err
	}

	if up != nil {
		up.RootCAs = roots
	}
	for _, px := range ups {
		px.RootCAs = roots
	}
	src, err := newProfileSource(ctx, cfg, roots, logger, m.Stderr)
	if err != nil {
		return err
	}
	defer src.close()
	if !lookupName(src.profiles(), cfg.profile) {
		var names []string
		for _, p := range src.profiles() {
			names = append(names, p.Name)
		}
		return fmt.Errorf("-profile: %w %q (valid: %s)", emulation.ErrUnknownProfile, cfg.profile, strings.Join(names, ", "))
	}
	var harw *har.Writer
	if cfg.har != "" {
		f, err := os.OpenFile(cfg.har, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return fmt.Errorf("-har: %w", err)
		}
		if harw, err = har.NewWriter(f, "emuproxy", buildinfo.Read().Version); err != nil {
			_ = f.Close()
			return fmt.Errorf("-har: %w", err)
		}
		defer func() {
			if err := harw.Close(); err != nil {
				logger.Warn("emuproxy: finishing -har failed", "err", err)
			}
		}()
	}
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	var bg sync.WaitGroup
	defer bg.Wait()
	if src.reloads() {
		bg.Go(func() { src.reloadLoop(runCtx, cfg.profilesReload) })
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	p, err := proxy.New(proxy.Options{
		Profiles:          src.profiles,
		DefaultProfile:    cfg.profile,
		NoUserAgentMatch:  cfg.noUAMatch,
		CA:                ca,
		RootCAs:           roots,
		Credentials:       creds,
		AllowPrivate:      cfg.allowPrivate,
		NoResumption:      cfg.noResumption,
		Ports:             ports,
		HandshakeTimeout:  cfg.handshake,
		IdleTimeout:       cfg.idle,
		UpstreamTimeout:   cfg.upstreamTimeout,
		ReadHeaderTimeout: 10 * time.Second,
		Registerer:        reg,
		Logger:            logger,
		Upstream:          up,
		Upstreams:         ups,
		OnFlow:            harFlows(harw, logger),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		_ = p.Close()
		return fmt.Errorf("listening on %s: %w", cfg.listen, err)
	}
	errc := make(chan error, 3)
	go func() { errc <- p.Serve(ln) }()
	if cfg.socks5 != "" {
		sln, err := net.Listen("tcp", cfg.socks5)
		if err != nil {
			_ = p.Close()
			return fmt.Errorf("listening on -socks5 %s: %w", cfg.socks5, err)
		}
		go func() { errc <- p.ServeSOCKS5(sln) }()
		logger.Info("emuproxy SOCKS5 listener", "addr", sln.Addr().String())
	}
	var dbg *http.Server
	if cfg.debug != "" {
		dln, err := net.Listen("tcp", cfg.debug)
		if err != nil {
			_ = p.Close()
			return fmt.Errorf("listening on -debug %s: %w", cfg.debug, err)
		}
		mux := http.NewServeMux()
		ok := func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") }
		mux.HandleFunc("GET /healthz", ok)
		mux.HandleFunc("GET /readyz", ok)
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		dbg = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
		go func() { errc <- dbg.Serve(dln) }()
		logger.Info("emuproxy debug listener", "addr", dln.Addr().String())
	}
	logger.Info("emuproxy listening", "addr", ln.Addr().String(), "ca", ca.CertPath, "default_profile", cfg.profile,
		"auth", len(creds) > 0, "allow_private", cfg.allowPrivate, "profiles", len(src.profiles()),
		"upstream", upstreamName(up), "named_upstreams", len(ups))

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	logger.Info("emuproxy shutting down", "open_tunnels", p.OpenTunnels())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := p.Shutdown(sctx); err != nil {
		logger.Warn("emuproxy: shutdown grace period over, closed what was left", "err", err)
	}
	if dbg != nil {
		_ = dbg.Shutdown(sctx)
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", serveErr)
	}
	return nil
}

// upstreamName is the -upstream proxy for the log ("" when none).
func upstreamName(up *upstream.Proxy) string {
	if up == nil {
		return ""
	}
	return up.Name
}

// harFlows returns the proxy's OnFlow writing each flow to w (nil: no
// -har, no callback).
func harFlows(w *har.Writer, logger *slog.Logger) func(proxy.Flow) {
	if w == nil {
		return nil
	}
	var once sync.Once
	return func(f proxy.Flow) {
		comment := "profile=" + f.Profile
		if f.UpstreamProto != "" {
			comment += " upstream_proto=" + f.UpstreamProto
		}
		if f.Upstream != "" {
			comment += " upstream=" + f.Upstream
		}
		if f.Err != "" {
			comment += " error=" + f.Err
		}
		err := w.Add(har.Entry{Start: f.Start, Duration: f.Duration, Method: f.Method, URL: f.URL, HTTPVersion: f.Proto,
			RequestHeader: f.RequestHeader, RequestBodySize: f.RequestBodySize, Status: f.Status,
			ResponseHeader: f.ResponseHeader, BodySize: f.Bytes, Comment: comment})
		if err != nil {
			once.Do(func() { logger.Error("emuproxy: writing -har failed; no more flows are recorded", "err", err) })
		}
	}
}

// profileSource merges the profile sources: the built-in catalogue, the
// imported directory and -profiles-file at start, -profiles-db and
// -profiles-url reloaded. A name already taken by an earlier source is
// skipped. The current set is swapped atomically.
type profileSource struct {
	cfg    serveConfig
	client *http.Client
	db     store.Store
	log    *slog.Logger
	static []*emulation.Profile
	cur    atomic.Pointer[[]*emulation.Profile]

	// warned holds "source/name" of the name clashes already logged, so a
	// reload every few seconds does not repeat them.
	warnMu sync.Mutex
	warned map[string]bool
}

func newProfileSource(ctx context.Context, cfg serveConfig, roots *x509.CertPool, logger *slog.Logger, warn io.Writer) (*profileSource, error) {
	set, err := loadProfiles(cfg.profilesDir, warn)
	if err != nil {
		return nil, err
	}
	s := &profileSource{cfg: cfg, log: logger, static: set.all()}
	if cfg.profilesFile != "" {
		ps, err := readProfilesPath(cfg.profilesFile)
		if err != nil {
			return nil, err
		}
		s.static = s.merge(s.static, ps, "-profiles-file")
	}
	if cfg.profilesURL != "" {
		s.client = profilesClient(roots)
	}
	if cfg.profilesDB != "" {
		// emuproxy only reads profiles: a read-only open works on a hot
		// standby too.
		s.db, err = store.OpenWith(ctx, cfg.profilesDB, store.Options{ReadOnly: true})
		if err != nil {
			return nil, fmt.Errorf("opening -profiles-db: %w", err)
		}
	}
	if err := s.reload(ctx); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *profileSource) profiles() []*emulation.Profile { return *s.cur.Load() }

func (s *profileSource) reloads() bool { return s.db != nil || s.client != nil }

func (s *profileSource) close() {
	if s.db != nil {
		_ = s.db.Close()
	}
}

// merge appends the profiles of more whose names are not taken yet. A
// clash is logged once per source and name; a database copy of a built-in
// profile (fpserver stores the catalogue as source "builtin") is skipped
// silently.
func (s *profileSource) merge(have, more []*emulation.Profile, from string) []*emulation.Profile {
	out := slices.Clone(have)
	for _, p := range more {
		if lookupName(out, p.Name) {
			if p.Source.Kind == emulation.SourceBuiltin {
				continue
			}
			s.warnMu.Lock()
			if !s.warned[from+"/"+p.Name] {
				if s.warned == nil {
					s.warned = map[string]bool{}
				}
				s.warned[from+"/"+p.Name] = true
				s.log.Warn("emuproxy: skipping a profile whose name is taken", "profile", p.Name, "source", from)
			}
			s.warnMu.Unlock()
			continue
		}
		out = append(out, p)
	}
	return out
}

func lookupName(ps []*emulation.Profile, name string) bool {
	return slices.ContainsFunc(ps, func(p *emulation.Profile) bool { return p.Name == name })
}

// reload rebuilds the set from the static profiles and the reloadable
// sources.
func (s *profileSource) reload(ctx context.Context) error {
	ps := s.static
	if s.db != nil {
		got, err := readDBProfiles(ctx, s.db, s.log)
		if err != nil {
			return err
		}
		ps = s.merge(ps, got, "-profiles-db")
	}
	if s.client != nil {
		got, err := s.fetchURL(ctx)
		if err != nil {
			return err
		}
		ps = s.merge(ps, got, "-profiles-url")
	}
	s.cur.Store(&ps)
	return nil
}

// reloadLoop reloads every interval until ctx ends; a failed reload keeps
// the previous set.
func (s *profileSource) reloadLoop(ctx context.Context, every time.Duration) {
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.reload(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("emuproxy: reloading profiles failed; keeping the previous set", "err", err)
			}
		}
	}
}

// readRoots reads the -cacert file (nil for none: the system roots).
func readRoots(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading -cacert: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("-cacert %s holds no PEM certificate", file)
	}
	return roots, nil
}

// profilesClient is the HTTP client of -profiles-url: roots (nil: the
// system's) verify the server.
func profilesClient(roots *x509.CertPool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if roots != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// readDBProfiles reads every stored profile (see profileFromRecord);
// invalid ones are logged and skipped.
func readDBProfiles(ctx context.Context, db store.Store, log *slog.Logger) ([]*emulation.Profile, error) {
	recs, err := db.ListProfiles(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading -profiles-db: %w", err)
	}
	var got []*emulation.Profile
	for _, r := range recs {
		p, err := profileFromRecord(r)
		if err != nil {
			log.Warn("emuproxy: skipping an invalid stored profile", "profile", r.Name, "err", err)
			continue
		}
		got = append(got, p)
	}
	return got, nil
}

// profileFromRecord decodes a stored profile. The row carries the source
// kind and curation's bookkeeping as columns: the kind fills a document
// that names none; the row's freshness (first and last seen, visits,
// addresses, identities) wins when it has a value, because curation
// updates the row of a pinned profile without rewriting its document; a
// curated row's stale mark is authoritative, any other row only adds one.
func profileFromRecord(r store.Profile) (*emulation.Profile, error) {
	p, err := emulation.Unmarshal(r.JSON)
	if err != nil {
		return nil, err
	}
	applyRow(p, r)
	return p, nil
}

// applyRow copies a stored row's kind and bookkeeping into p's source (see
// profileFromRecord).
func applyRow(p *emulation.Profile, r store.Profile) {
	src := &p.Source
	if src.Kind == "" {
		src.Kind = cmp.Or(r.Source, emulation.SourceImported)
	}
	if !r.FirstSeen.IsZero() {
		src.FirstSeen = r.FirstSeen.UTC()
	}
	if !r.LastSeen.IsZero() {
		src.LastSeen = r.LastSeen.UTC()
	}
	if r.Visits > 0 {
		src.Visits = r.Visits
	}
	if r.Addresses > 0 {
		src.Addresses = r.Addresses
	}
	src.BrowserKey = cmp.Or(r.BrowserKey, src.BrowserKey)
	src.WireKey = cmp.Or(r.WireKey, src.WireKey)
	if r.Source == store.ProfileCurated {
		src.Stale = r.Stale
	} else {
		src.Stale = src.Stale || r.Stale
	}
}

// maxProfilePages bounds how many pages of an /api/profiles list
// fetchURL follows.
const maxProfilePages = 1000

// fetchURL reads an fpserver /api/profiles list, following its pages
// (the list says "page" and "pages"; the other pages are the same URL
// with ?page=N), or a single profile document. A profile listed twice
// (the list changed between pages) is kept once. Any failed page fails
// the whole read, so a reload never installs half a list.
func (s *profileSource) fetchURL(ctx context.Context) ([]*emulation.Profile, error) {
	base, err := url.Parse(s.cfg.profilesURL)
	if err != nil {
		return nil, fmt.Errorf("-profiles-url: %w", err)
	}
	b, err := s.getURL(ctx, base.String())
	if err != nil {
		return nil, err
	}
	out, page, pages, err := decodeProfilePage(b, s.log)
	if err != nil {
		return nil, err
	}
	if pages-page > maxProfilePages {
		return nil, fmt.Errorf("-profiles-url: %s has %d pages, more than %d", s.cfg.profilesURL, pages, maxProfilePages)
	}
	seen := map[string]bool{}
	for _, p := range out {
		seen[p.Name] = true
	}
	for n := page + 1; n <= pages; n++ {
		u := *base
		q := u.Query()
		q.Set("page", strconv.Itoa(n))
		u.RawQuery = q.Encode()
		b, err := s.getURL(ctx, u.String())
		if err != nil {
			return nil, err
		}
		more, _, _, err := decodeProfilePage(b, s.log)
		if err != nil {
			return nil, fmt.Errorf("-profiles-url page %d: %w", n, err)
		}
		for _, p := range more {
			if !seen[p.Name] {
				seen[p.Name] = true
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// getURL reads the body of a 200 answer to GET u.
func (s *profileSource) getURL(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("-profiles-url: %w", err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("-profiles-url: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("-profiles-url: %s answered %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("-profiles-url: %w", err)
	}
	return b, nil
}

// decodeProfiles reads one profile JSON or an /api/profiles list
// ({"profiles": [...]}); invalid list entries are logged and skipped.
func decodeProfiles(b []byte, log *slog.Logger) ([]*emulation.Profile, error) {
	ps, _, _, err := decodeProfilePage(b, log)
	return ps, err
}

// decodeProfilePage is decodeProfiles that also returns the list's page
// number and page count (both 0 for a single document or an unpaginated
// list).
func decodeProfilePage(b []byte, log *slog.Logger) (ps []*emulation.Profile, page, pages int, err error) {
	var list struct {
		Profiles []json.RawMessage `json:"profiles"`
		Page     int               `json:"page"`
		Pages    int               `json:"pages"`
		// Summaries are fpserver's rows of the same profiles: their
		// source and curation bookkeeping fill the documents as
		// -profiles-db rows do.
		Summaries []struct {
			Name       string    `json:"name"`
			Source     string    `json:"source"`
			Stale      bool      `json:"stale"`
			FirstSeen  time.Time `json:"first_seen"`
			LastSeen   time.Time `json:"last_seen"`
			Visits     int64     `json:"visits"`
			Addresses  int64     `json:"addresses"`
			BrowserKey string    `json:"browser_key"`
		} `json:"summaries"`
	}
	if err := json.Unmarshal(b, &list); err == nil && list.Profiles != nil {
		var out []*emulation.Profile
		for i, raw := range list.Profiles {
			p, err := emulation.Unmarshal(raw)
			if err != nil {
				log.Warn("emuproxy: skipping an invalid profile", "index", i, "err", err)
				continue
			}
			if i < len(list.Summaries) && list.Summaries[i].Name == p.Name {
				r := list.Summaries[i]
				applyRow(p, store.Profile{Source: r.Source, Stale: r.Stale, FirstSeen: r.FirstSeen, LastSeen: r.LastSeen,
					Visits: r.Visits, Addresses: r.Addresses, BrowserKey: r.BrowserKey})
			}
			out = append(out, p)
		}
		if list.Page < 1 || list.Pages < list.Page {
			return out, 0, 0, nil
		}
		return out, list.Page, list.Pages, nil
	}
	p, err := emulation.Unmarshal(b)
	if err != nil {
		return nil, 0, 0, err
	}
	return []*emulation.Profile{p}, 0, 0, nil
}

// readProfilesPath reads a profile file or a directory's *.json.
func readProfilesPath(path string) ([]*emulation.Profile, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("-profiles-file: %w", err)
	}
	files := []string{path}
	if st.IsDir() {
		files, err = filepath.Glob(filepath.Join(path, "*.json"))
		if err != nil {
			return nil, fmt.Errorf("-profiles-file: %w", err)
		}
		slices.Sort(files)
	}
	discard := slog.New(slog.DiscardHandler)
	var out []*emulation.Profile
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("-profiles-file: %w", err)
		}
		ps, err := decodeProfiles(b, discard)
		if err != nil {
			return nil, fmt.Errorf("-profiles-file %s: %w", f, err)
		}
		out = append(out, ps...)
	}
	return out, nil
}

const caSynopsis = `ca [flags]

Prints the path of the local CA certificate and its PEM (creating the CA on
first use). Trust it in the clients you point at 'emuproxy serve'.`

// caCmd runs `emuproxy ca`.
func (m *Main) caCmd(_ context.Context, args []string) int {
	fs := m.newFlagSet("ca", caSynopsis)
	dir := fs.String("ca-dir", defaultCADir(), "`directory` of the local CA")
	rest, code := m.parse(fs, args)
	if code >= 0 {
		return code
	}
	if len(rest) != 0 {
		fs.Usage()
		return exitUsage
	}
	ca, err := proxy.LoadOrCreateCA(*dir)
	if err != nil {
		fmt.Fprintf(m.Stderr, "emuproxy: %v\n", err)
		return exitFail
	}
	fmt.Fprintln(m.Stdout, ca.CertPath)
	if _, err := m.Stdout.Write(ca.CertPEM); err != nil {
		return exitFail
	}
	return exitOK
}
