package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/emulation/transport"
	"github.com/guanaco-fp/guanaco/emulation/upstream"
	"github.com/guanaco-fp/guanaco/internal/cookiefile"
)

// getRun is one `emuproxy get` transfer: the redirect chain, the cookie
// jar and what -w reports.
type getRun struct {
	m    *Main
	cfg  getConfig
	info *transferInfo

	out     io.Writer // -o file or stdout, opened on first write
	outFile *os.File
}

// profiles gathers the profiles `get` may use: the catalogue and
// -profiles-dir, then -profiles-db, -profiles-file and -profiles-url (a
// name already taken is reported and skipped, as serve does).
func (g *getRun) profiles(ctx context.Context, roots *x509.CertPool) ([]*emulation.Profile, error) {
	set, err := loadProfiles(g.cfg.profilesDir, g.m.Stderr)
	if err != nil {
		return nil, err
	}
	if g.cfg.profilesDB != "" {
		if err := set.addDB(ctx, g.cfg.profilesDB, g.m.Stderr); err != nil {
			return nil, err
		}
	}
	var more []*emulation.Profile
	if g.cfg.profilesFile != "" {
		ps, err := readProfilesPath(g.cfg.profilesFile)
		if err != nil {
			return nil, err
		}
		more = append(more, ps...)
	}
	if g.cfg.profilesURL != "" {
		src := &profileSource{cfg: serveConfig{profilesURL: g.cfg.profilesURL}, client: profilesClient(roots),
			log: slog.New(slog.NewTextHandler(g.m.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
		ps, err := src.fetchURL(ctx)
		if err != nil {
			return nil, err
		}
		more = append(more, ps...)
	}
	all := set.all()
	for _, p := range more {
		if lookupName(all, p.Name) {
			if p.Source.Kind != emulation.SourceBuiltin {
				fmt.Fprintf(g.m.Stderr, "emuproxy: skipping profile %q: the name is taken\n", p.Name)
			}
			continue
		}
		all = append(all, p)
	}
	return all, nil
}

// pickProfile applies DESIGN §4.5 without the proxy label: the
// X-Guanaco-Profile header, the closest profile to the User-Agent, the
// default. An unknown name is an error listing the valid ones.
func pickProfile(ps []*emulation.Profile, headerName, userAgent, def string) (*emulation.Profile, error) {
	name := strings.TrimSpace(headerName)
	if name == "" && userAgent != "" {
		if p := emulation.Match(ps, userAgent); p != nil {
			return p, nil
		}
	}
	if name == "" {
		name = def
	}
	for _, p := range ps {
		if p.Name == name {
			return p, nil
		}
	}
	names := make([]string, 0, len(ps))
	for _, p := range ps {
		names = append(names, p.Name)
	}
	return nil, fmt.Errorf("%w %q (valid: %s)", emulation.ErrUnknownProfile, name, strings.Join(names, ", "))
}

// setup reads everything the transfer needs before the first byte is
// sent; its failures exit 1 (26 for an unreadable local file).
func (g *getRun) setup(ctx context.Context) (*transport.Transport, []*emulation.Profile, *cookiefile.Jar, []byte, error) {
	fail := func(code int, err error) (*transport.Transport, []*emulation.Profile, *cookiefile.Jar, []byte, error) {
		return nil, nil, nil, nil, withCode(code, err)
	}
	roots, err := readRoots(g.cfg.cacert)
	if err != nil {
		return fail(exitFail, err)
	}
	ps, err := g.profiles(ctx, roots)
	if err != nil {
		return fail(exitFail, err)
	}
	var body []byte
	if g.cfg.data != "" {
		if body, err = g.m.readData(g.cfg.data); err != nil {
			return fail(getExitRead, err)
		}
	}
	var jar *cookiefile.Jar
	if g.cfg.cookieJar != "" || g.cfg.cookie != "" && !strings.Contains(g.cfg.cookie, "=") {
		jar = cookiefile.New()
		if g.cfg.cookie != "" && !strings.Contains(g.cfg.cookie, "=") {
			if err := jar.ReadFile(g.cfg.cookie); err != nil {
				if !errors.Is(err, os.ErrNotExist) || g.cfg.cookieJar == "" {
					return fail(getExitRead, err)
				}
			}
		}
	}
	opts := transport.Options{RootCAs: roots, InsecureSkipVerify: g.cfg.insecure, HTTP1Only: g.cfg.http11}
	if g.cfg.proxy != "" {
		px, err := upstream.Parse(g.cfg.proxy)
		if err != nil {
			return fail(exitFail, fmt.Errorf("-x: %w", err))
		}
		px.RootCAs = roots
		opts.DialContext = px.Dialer(nil)
	}
	opts.DialContext = g.timedDial(opts.DialContext)
	return transport.New(opts), ps, jar, body, nil
}

// timedDial wraps dial (nil = a net.Dialer) to note, for -w, when the
// last TCP connection (to the server or the -x proxy) was established and
// its peer's address.
func (g *getRun) timedDial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if dial == nil {
		d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
		dial = d.DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		start := time.Now()
		c, err := dial(ctx, network, addr)
		if err == nil {
			g.info.connect = time.Since(start)
			if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
				g.info.remoteIP, g.info.remotePort = ta.IP.String(), ta.Port
			}
		}
		return c, err
	}
}

// hop is one request of the redirect chain.
type hop struct {
	url       *url.URL
	method    string
	body      []byte
	in        emulation.Initiator
	headers   []emulation.Header // the caller's, as they apply to this hop
	fetchSite string             // "" = from the Referer
}

func (g *getRun) run(ctx context.Context) error {
	tr, ps, jar, body, err := g.setup(ctx)
	if err != nil {
		return err
	}
	defer tr.CloseIdleConnections()
	limit := g.cfg.timeout
	if g.cfg.maxTime > 0 {
		limit = time.Duration(g.cfg.maxTime * float64(time.Second))
	}
	if limit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, limit)
		defer cancel()
	}
	u, err := url.Parse(g.cfg.url)
	if err != nil {
		return errorf(getExitURL, "URL %q: %w", g.cfg.url, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return errorf(getExitUnsupported, "URL %q: want an http or https URL", g.cfg.url)
	}
	if u.Host == "" {
		return errorf(getExitURL, "URL %q has no host", g.cfg.url)
	}
	method := g.cfg.method
	switch {
	case method != "":
	case g.cfg.head:
		method = http.MethodHead
	case body != nil:
		method = http.MethodPost
	default:
		method = http.MethodGet
	}
	h := hop{url: u, method: method, body: body, headers: slices.Clone([]emulation.Header(g.cfg.headers))}
	if g.cfg.cookie != "" && strings.Contains(g.cfg.cookie, "=") {
		h.headers = append(h.headers, emulation.Header{Name: "Cookie", Value: g.cfg.cookie})
	}
	chain := []*url.URL{u}
	var referer *url.URL
	if r := headerValue(h.headers, "Referer"); r != "" {
		if ru, err := url.Parse(r); err == nil && ru.IsAbs() {
			referer = ru
		}
	}
	for redirects := 0; ; redirects++ {
		resp, _, in, err := g.send(ctx, tr, ps, jar, &h)
		if err != nil {
			return err
		}
		loc := resp.Header.Get("Location")
		next, nerr := h.url.Parse(loc)
		redirect := isRedirect(resp.StatusCode) && loc != "" && nerr == nil && (next.Scheme == "http" || next.Scheme == "https")
		if !redirect || !g.cfg.location {
			if redirect {
				g.info.redirectURL = next.String()
			}
			err := g.finish(resp)
			g.writeJar(jar)
			return err
		}
		if err := g.writeHead(resp); err != nil {
			_ = resp.Body.Close()
			return err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
		if redirects >= g.cfg.maxRedirs {
			g.writeJar(jar)
			return errorf(getExitRedirects, "maximum (%d) redirects followed", g.cfg.maxRedirs)
		}
		g.info.numRedirects++
		chain = append(chain, next)
		h = nextHop(h, in, resp.StatusCode, next, referer, chain)
	}
}

// headerValue returns the value of the first header called name.
func headerValue(hs []emulation.Header, name string) string {
	for _, x := range hs {
		if strings.EqualFold(x.Name, name) {
			return x.Value
		}
	}
	return ""
}

func isRedirect(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// nextHop is the request a browser makes after a redirect from prev
// (Fetch §4.4 HTTP-redirect fetch, Referrer Policy
// strict-origin-when-cross-origin, Fetch Metadata's site over the URL
// chain; see getSynopsis).
func nextHop(prev hop, in emulation.Initiator, code int, next, referer *url.URL, chain []*url.URL) hop {
	h := hop{url: next, method: prev.method, body: prev.body, in: in}
	if (code == http.StatusMovedPermanently || code == http.StatusFound) && prev.method == http.MethodPost ||
		code == http.StatusSeeOther && prev.method != http.MethodHead {
		h.method, h.body = http.MethodGet, nil
	}
	methodChanged := h.method != prev.method
	if methodChanged && in == emulation.Form {
		h.in = emulation.Navigate
	}
	crossOrigin := emulation.SiteOf(prev.url, next) != emulation.SiteSameOrigin
	for _, x := range prev.headers {
		switch strings.ToLower(x.Name) {
		case "referer", "sec-fetch-site":
			continue // set below
		case "authorization", "cookie":
			if crossOrigin {
				continue
			}
		case "content-type", "content-encoding", "content-language", "content-location", "origin":
			if methodChanged {
				continue
			}
			if strings.EqualFold(x.Name, "origin") && crossOrigin {
				x.Value = "null" // the tainted origin of a cross-origin redirect
			}
		}
		h.headers = append(h.headers, x)
	}
	if referer != nil {
		switch {
		case referer.Scheme == "https" && next.Scheme != "https":
			// no Referer on a downgrade
		case emulation.SiteOf(referer, next) == emulation.SiteSameOrigin:
			r := *referer
			r.User, r.Fragment, r.RawFragment = nil, "", ""
			h.headers = append(h.headers, emulation.Header{Name: "Referer", Value: r.String()})
		default:
			h.headers = append(h.headers, emulation.Header{Name: "Referer", Value: referer.Scheme + "://" + referer.Host + "/"})
		}
		site := emulation.SiteSameOrigin
		for _, u := range chain {
			switch s := emulation.SiteOf(referer, u); {
			case s == emulation.SiteCrossSite:
				site = s
			case s == emulation.SiteSameSite && site == emulation.SiteSameOrigin:
				site = s
			}
		}
		h.fetchSite = site
	} else {
		h.fetchSite = emulation.SiteNone
	}
	return h
}

// send makes one request of the chain and returns its response with the
// profile and initiator it went out as.
func (g *getRun) send(ctx context.Context, tr *transport.Transport, ps []*emulation.Profile, jar *cookiefile.Jar, h *hop) (*http.Response, *emulation.Profile, emulation.Initiator, error) {
	var body io.Reader
	if h.body != nil {
		body = bytes.NewReader(h.body)
	}
	req, err := http.NewRequestWithContext(ctx, h.method, h.url.String(), body)
	if err != nil {
		return nil, nil, "", errorf(getExitURL, "building the request: %w", err)
	}
	req.ContentLength = int64(len(h.body))
	if h.body != nil {
		b := h.body
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	var order []string
	for _, x := range h.headers {
		if strings.EqualFold(x.Name, "Host") {
			req.Host = x.Value
			continue
		}
		req.Header.Add(x.Name, x.Value)
		order = append(order, x.Name)
	}
	if jar != nil {
		if c := jar.Header(h.url); c != "" {
			if prev := req.Header.Get("Cookie"); prev != "" {
				c = prev + "; " + c
			} else {
				order = append(order, "Cookie")
			}
			req.Header.Set("Cookie", c)
		}
	}
	p, err := pickProfile(ps, req.Header.Get(emulation.ProfileHeader), req.Header.Get("User-Agent"), g.cfg.profile)
	if err != nil {
		return nil, nil, "", withCode(exitFail, err)
	}
	in := h.in
	if in == "" {
		in = emulation.InitiatorOf(req)
		h.in = in
	}
	rctx := emulation.WithHeaderOrder(transport.WithInitiator(transport.WithProfile(ctx, p), in), order)
	if h.fetchSite != "" {
		rctx = emulation.WithFetchSite(rctx, h.fetchSite)
	}
	req = req.WithContext(rctx)
	start := time.Now()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return nil, nil, "", err
	}
	g.info.startTransfer = time.Since(start)
	resp.Request = req
	if jar != nil {
		jar.SetCookies(h.url, resp)
	}
	g.record(resp, p, in)
	if g.cfg.verbose {
		g.m.describe(resp, p, in)
	}
	return resp, p, in, nil
}

// record notes the response for -w.
func (g *getRun) record(resp *http.Response, p *emulation.Profile, in emulation.Initiator) {
	ti := g.info
	ti.code = resp.StatusCode
	ti.httpVersion = "1.1"
	if resp.ProtoMajor == 2 {
		ti.httpVersion = "2"
	}
	ti.alpn = ""
	if resp.TLS != nil {
		ti.alpn = resp.TLS.NegotiatedProtocol
	}
	ti.urlEffective = resp.Request.URL.String()
	ti.scheme = resp.Request.URL.Scheme
	ti.contentType = resp.Header.Get("Content-Type")
	ti.profile, ti.initiator, ti.ja4 = p.Name, string(in), p.Expected.JA4
	ti.sizeHeader += int64(len(headBlock(resp)))
}

// writer returns the output: the -o file (created now) or stdout.
func (g *getRun) writer() (io.Writer, error) {
	if g.out != nil {
		return g.out, nil
	}
	if g.cfg.output == "" || g.cfg.output == "-" {
		g.out = g.m.Stdout
		return g.out, nil
	}
	f, err := os.Create(g.cfg.output)
	if err != nil {
		return nil, withCode(getExitWrite, fmt.Errorf("-o: %w", err))
	}
	g.out, g.outFile = f, f
	return f, nil
}

// writeHead writes a response head for -i and -I.
func (g *getRun) writeHead(resp *http.Response) error {
	if !g.cfg.include && !g.cfg.head {
		return nil
	}
	w, err := g.writer()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, headBlock(resp)); err != nil {
		return withCode(getExitWrite, fmt.Errorf("writing the output: %w", err))
	}
	return nil
}

// finish writes the last response: its head with -i/-I, its body unless
// -I or -f with a status of 400 or more.
func (g *getRun) finish(resp *http.Response) (err error) {
	defer resp.Body.Close()
	defer func() {
		if g.outFile != nil {
			if cerr := g.outFile.Close(); cerr != nil && err == nil {
				err = withCode(getExitWrite, fmt.Errorf("-o: %w", cerr))
			}
		}
	}()
	if g.cfg.fail && resp.StatusCode >= 400 {
		return errorf(getExitHTTP, "the requested URL returned error: %s", resp.Status)
	}
	if err := g.writeHead(resp); err != nil {
		return err
	}
	if g.cfg.head {
		return nil
	}
	if err := emulation.DecodeBody(resp); err != nil {
		return withCode(getExitRecv, err)
	}
	if g.cfg.verbose && resp.Uncompressed {
		fmt.Fprintln(g.m.Stderr, "* body decoded (the profile's Accept-Encoding, not the caller's)")
	}
	w, err := g.writer()
	if err != nil {
		return err
	}
	n, err := io.Copy(w, &readErrTagger{r: resp.Body})
	g.info.sizeDownload = n
	if err != nil {
		var re *readErr
		if errors.As(err, &re) {
			return fmt.Errorf("reading the response body: %w", re.err)
		}
		return withCode(getExitWrite, fmt.Errorf("writing the output: %w", err))
	}
	return nil
}

// readErr marks an error of the response body, to tell it from a write
// error of the output.
type readErr struct{ err error }

func (e *readErr) Error() string { return e.err.Error() }
func (e *readErr) Unwrap() error { return e.err }

type readErrTagger struct{ r io.Reader }

func (t *readErrTagger) Read(b []byte) (int, error) {
	n, err := t.r.Read(b)
	if err != nil && err != io.EOF {
		err = &readErr{err: err}
	}
	return n, err
}

// writeJar writes -c when set; a failure is reported, not fatal.
func (g *getRun) writeJar(jar *cookiefile.Jar) {
	if jar == nil || g.cfg.cookieJar == "" {
		return
	}
	var err error
	if g.cfg.cookieJar == "-" {
		err = jar.Write(g.m.Stdout)
	} else {
		err = jar.WriteFile(g.cfg.cookieJar)
	}
	if err != nil {
		fmt.Fprintf(g.m.Stderr, "emuproxy: -c: %v\n", err)
	}
}
