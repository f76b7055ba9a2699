package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/emulation/transport"
)

// headerFlag is the repeatable -H 'Name: value' flag, in command-line
// order. One environment value may hold several headers, one per line.
type headerFlag []emulation.Header

func (h *headerFlag) String() string {
	var parts []string
	for _, x := range *h {
		parts = append(parts, x.Name+": "+x.Value)
	}
	return strings.Join(parts, "\n")
}

// Set adds the header(s) in v.
func (h *headerFlag) Set(v string) error {
	for _, line := range strings.Split(v, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return fmt.Errorf("header %q: want 'Name: value'", line)
		}
		value = strings.TrimSpace(value)
		if strings.ContainsAny(value, "\r\n\x00") {
			return fmt.Errorf("header %q: control character in the value", name)
		}
		*h = append(*h, emulation.Header{Name: name, Value: value})
	}
	return nil
}

const getSynopsis = `get [flags] URL

Sends one request to URL as the selected browser profile would and writes
the response body to stdout (decoded when the profile's Accept-Encoding
brought a coding the caller did not ask for). The profile is chosen by,
first match wins: an X-Guanaco-Profile header (-H), the profile closest to
a User-Agent given with -H, the -profile flag. The initiator (navigate,
fetch, xhr, form) follows the request (see -H X-Guanaco-Initiator).`

// getConfig is the parsed `emuproxy get` command line.
type getConfig struct {
	profile     string
	method      string
	headers     headerFlag
	data        string
	verbose     bool
	cacert      string
	profilesDir string
	profilesDB  string
	timeout     time.Duration
	url         string
}

// get runs `emuproxy get`.
func (m *Main) get(ctx context.Context, args []string) int {
	fs := m.newFlagSet("get", getSynopsis)
	var cfg getConfig
	fs.StringVar(&cfg.profile, "profile", defaultProfile, "profile `name` used when no X-Guanaco-Profile header or User-Agent selects one (see 'emuproxy profiles list')")
	fs.StringVar(&cfg.method, "X", "", "request `method`; default GET, or POST with -d")
	fs.Var(&cfg.headers, "H", "request `header` 'Name: value'; repeatable, sent in the profile's order and values by the header rules (the environment variable takes one header per line)")
	fs.StringVar(&cfg.data, "d", "", "request body `data`; @FILE reads a file, @- reads stdin")
	fs.BoolVar(&cfg.verbose, "v", false, "print the negotiated protocol, the profile, the status line and the response headers to stderr")
	fs.StringVar(&cfg.cacert, "cacert", "", "PEM `file` of CA certificates to verify the server with instead of the system roots")
	fs.StringVar(&cfg.profilesDir, "profiles-dir", defaultProfilesDir(), "`directory` of imported profiles")
	fs.StringVar(&cfg.profilesDB, "profiles-db", "", "also use the profiles of this database `DSN` (the database fpserver writes)")
	fs.DurationVar(&cfg.timeout, "timeout", 60*time.Second, "time allowed for the whole request, body included; 0 = none")
	rest, code := m.parse(fs, args)
	if code >= 0 {
		return code
	}
	if len(rest) != 1 {
		fmt.Fprintln(m.Stderr, "emuproxy get: want exactly one URL")
		fs.Usage()
		return exitUsage
	}
	cfg.url = rest[0]
	if err := m.doGet(ctx, cfg); err != nil {
		fmt.Fprintf(m.Stderr, "emuproxy: %v\n", err)
		return exitFail
	}
	return exitOK
}

// doGet sends the request and copies the response.
func (m *Main) doGet(ctx context.Context, cfg getConfig) error {
	set, err := loadProfiles(cfg.profilesDir, m.Stderr)
	if err != nil {
		return err
	}
	if cfg.profilesDB != "" {
		if err := set.addDB(ctx, cfg.profilesDB, m.Stderr); err != nil {
			return err
		}
	}
	var roots *x509.CertPool
	if cfg.cacert != "" {
		pem, err := os.ReadFile(cfg.cacert)
		if err != nil {
			return fmt.Errorf("reading -cacert: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return fmt.Errorf("-cacert %s holds no PEM certificate", cfg.cacert)
		}
	}
	var body io.Reader
	var bodyLen int64
	if cfg.data != "" {
		b, err := m.readData(cfg.data)
		if err != nil {
			return err
		}
		body, bodyLen = bytes.NewReader(b), int64(len(b))
	}
	method := cfg.method
	if method == "" {
		method = http.MethodGet
		if body != nil {
			method = http.MethodPost
		}
	}
	if cfg.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, method, cfg.url, body)
	if err != nil {
		return fmt.Errorf("building the request: %w", err)
	}
	if req.URL.Scheme != "https" && req.URL.Scheme != "http" {
		return fmt.Errorf("URL %q: want an http or https URL", cfg.url)
	}
	req.ContentLength = bodyLen
	var order []string
	for _, h := range cfg.headers {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
		order = append(order, h.Name)
	}
	p, err := set.selectProfile(req.Header.Get(emulation.ProfileHeader), req.Header.Get("User-Agent"), cfg.profile)
	if err != nil {
		return err
	}
	in := emulation.InitiatorOf(req)
	ctx = emulation.WithHeaderOrder(transport.WithInitiator(ctx, in), order)
	req = req.WithContext(ctx)

	tr := transport.New(transport.Options{Profile: p, RootCAs: roots})
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := emulation.DecodeBody(resp); err != nil {
		return err
	}
	if cfg.verbose {
		m.describe(resp, p, in)
	}
	if _, err := io.Copy(m.Stdout, resp.Body); err != nil {
		return fmt.Errorf("reading the response body: %w", err)
	}
	return nil
}

// readData returns the -d body: literal, @FILE or @- (stdin).
func (m *Main) readData(d string) ([]byte, error) {
	name, ok := strings.CutPrefix(d, "@")
	if !ok {
		return []byte(d), nil
	}
	if name == "-" {
		b, err := io.ReadAll(m.Stdin)
		if err != nil {
			return nil, fmt.Errorf("reading the body from stdin: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("reading the body: %w", err)
	}
	return b, nil
}

// describe writes the -v report to stderr.
func (m *Main) describe(resp *http.Response, p *emulation.Profile, in emulation.Initiator) {
	alpn := "none"
	if resp.TLS != nil && resp.TLS.NegotiatedProtocol != "" {
		alpn = resp.TLS.NegotiatedProtocol
	}
	fmt.Fprintf(m.Stderr, "* protocol %s (ALPN %s)\n", resp.Proto, alpn)
	fmt.Fprintf(m.Stderr, "* profile %s (%s %s %s), initiator %s, expected JA4 %s\n", p.Name, p.Browser, p.Version, p.Platform, in, p.Expected.JA4)
	fmt.Fprintf(m.Stderr, "< %s %s\n", resp.Proto, resp.Status)
	names := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		for _, v := range resp.Header[k] {
			fmt.Fprintf(m.Stderr, "< %s: %s\n", textproto.CanonicalMIMEHeaderKey(k), v)
		}
	}
	if resp.Uncompressed {
		fmt.Fprintln(m.Stderr, "* body decoded (the profile's Accept-Encoding, not the caller's)")
	}
}
