package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/guanaco-fp/guanaco/emulation"
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
fetch, xhr, form, or a sub-resource: iframe, style, script, image, font,
media, manifest) is inferred from the request (its Sec-Fetch-Dest, Accept,
the path's extension; see -H X-Guanaco-Initiator).

The flags follow curl's where curl has one (-o, -i, -I, -L, -k, -f, -s, -S,
-x, -b, -c, -w, -m, --http1.1); short boolean flags combine (-fsSL). With
-L redirects are followed as the browser would: 301/302 turn a POST into a
GET, 303 anything but HEAD, 307/308 keep method and body; a form becomes a
navigation when its method changes; the Referer is the one given, cut to
its origin on a cross-origin hop and dropped on https -> http
(strict-origin-when-cross-origin); Sec-Fetch-Site is the most cross-site
relation between the Referer's origin and every URL of the chain ("none"
for a navigation without a Referer); Authorization and a -H Cookie are
dropped on a cross-origin hop. The exit status tells the failure class
as curl's: 6 resolving the host, 7 connecting, 28 timeout, 35 TLS
handshake, 60 certificate not trusted, 22 a status >= 400 with -f, 47 too
many redirects, 97 the -x proxy refused, 1 anything before the request.`

// getConfig is the parsed `emuproxy get` command line.
type getConfig struct {
	profile      string
	method       string
	headers      headerFlag
	data         string
	verbose      bool
	cacert       string
	profilesDir  string
	profilesDB   string
	profilesFile string
	profilesURL  string
	timeout      time.Duration
	maxTime      float64
	output       string
	include      bool
	head         bool
	location     bool
	maxRedirs    int
	insecure     bool
	fail         bool
	silent       bool
	showError    bool
	http11       bool
	http2        bool
	proxy        string
	cookie       string
	cookieJar    string
	writeOut     string
	url          string
}

// getFlags defines the flags of `emuproxy get` on fs.
func getFlags(fs *flag.FlagSet, cfg *getConfig) {
	fs.StringVar(&cfg.profile, "profile", defaultProfile, "profile `name` used when no X-Guanaco-Profile header or User-Agent selects one (see 'emuproxy profiles list')")
	fs.StringVar(&cfg.method, "X", "", "request `method`; default GET, or POST with -d, HEAD with -I")
	fs.Var(&cfg.headers, "H", "request `header` 'Name: value'; repeatable, sent in the profile's order and values by the header rules (the environment variable takes one header per line)")
	fs.StringVar(&cfg.data, "d", "", "request body `data`; @FILE reads a file, @- reads stdin")
	fs.BoolVar(&cfg.verbose, "v", false, "print the negotiated protocol, the profile, the status line and the response headers of every hop to stderr")
	fs.StringVar(&cfg.cacert, "cacert", "", "PEM `file` of CA certificates to verify the server (and -profiles-url) with instead of the system roots")
	fs.StringVar(&cfg.profilesDir, "profiles-dir", defaultProfilesDir(), "`directory` of imported profiles")
	fs.StringVar(&cfg.profilesDB, "profiles-db", "", "also use the profiles of this database `DSN` (the database fpserver writes)")
	fs.StringVar(&cfg.profilesFile, "profiles-file", "", "also use the profiles of this JSON `file`, or of a directory's *.json")
	fs.StringVar(&cfg.profilesURL, "profiles-url", "", "also use the profiles a running fpserver serves at this /api/profiles `URL`")
	fs.DurationVar(&cfg.timeout, "timeout", 60*time.Second, "time allowed for the whole request, redirects and body included; 0 = none (-m/--max-time overrides it)")
	fs.Float64Var(&cfg.maxTime, "max-time", 0, "time allowed for the whole transfer in `seconds` (fractions allowed), as curl's; exit 28 when it passes")
	fs.Float64Var(&cfg.maxTime, "m", 0, "short for -max-time `seconds`")
	fs.StringVar(&cfg.output, "o", "", "write the body to `file` instead of stdout")
	fs.StringVar(&cfg.output, "output", "", "long for -o `file`")
	fs.BoolVar(&cfg.include, "i", false, "write the response status line and headers before the body (each hop's with -L)")
	fs.BoolVar(&cfg.include, "include", false, "long for -i")
	fs.BoolVar(&cfg.head, "I", false, "send HEAD and write the response status line and headers only")
	fs.BoolVar(&cfg.head, "head", false, "long for -I")
	fs.BoolVar(&cfg.location, "L", false, "follow redirects as the browser would (see above)")
	fs.BoolVar(&cfg.location, "location", false, "long for -L")
	fs.IntVar(&cfg.maxRedirs, "max-redirs", 20, "redirects -L follows at most (browsers stop at 20); exit 47 beyond")
	fs.BoolVar(&cfg.insecure, "k", false, "do not verify the server's certificate (nothing on the wire changes)")
	fs.BoolVar(&cfg.insecure, "insecure", false, "long for -k")
	fs.BoolVar(&cfg.fail, "f", false, "fail with exit status 22 and no body when the status is 400 or more")
	fs.BoolVar(&cfg.fail, "fail", false, "long for -f")
	fs.BoolVar(&cfg.silent, "s", false, "silent: no error messages (unless -S)")
	fs.BoolVar(&cfg.silent, "silent", false, "long for -s")
	fs.BoolVar(&cfg.showError, "S", false, "print error messages even with -s")
	fs.BoolVar(&cfg.showError, "show-error", false, "long for -S")
	fs.BoolVar(&cfg.http11, "http1.1", false, "offer only http/1.1 in ALPN (the rest of the ClientHello is the profile's; the ALPN extension is not)")
	fs.BoolVar(&cfg.http2, "http2", false, "offer h2 and http/1.1 as the profile does (the default)")
	fs.StringVar(&cfg.proxy, "x", "", "send through this upstream proxy `URL`: http://[user:pass@]host:port (CONNECT) or socks5://[user:pass@]host:port (host names resolved by the proxy)")
	fs.StringVar(&cfg.proxy, "proxy", "", "long for -x `URL`")
	fs.StringVar(&cfg.cookie, "b", "", "send cookies: a 'name=value; name2=value2' `string`, or a Netscape cookie file (as curl's -c writes) whose matching cookies are sent on every hop")
	fs.StringVar(&cfg.cookie, "cookie", "", "long for -b `data|file`")
	fs.StringVar(&cfg.cookieJar, "c", "", "after the transfer write every cookie (those of -b and those the responses set) to this Netscape cookie `file`; - is stdout")
	fs.StringVar(&cfg.cookieJar, "cookie-jar", "", "long for -c `file`")
	fs.StringVar(&cfg.writeOut, "w", "", "after the transfer write this `format` to stdout: %{http_code} and the other variables ("+writeOutVars+"), \\n; @FILE reads it")
	fs.StringVar(&cfg.writeOut, "write-out", "", "long for -w `format`")
}

// shortBools are the one-letter boolean flags that combine as curl's
// (-fsSL).
const shortBools = "fsSLikIv"

// expandShort splits combined short boolean flags ("-fsSL") into single
// ones; anything else is returned as is. Arguments after "--" and the
// values of flags that take one (-d -fsS sends "-fsS") are left alone.
func expandShort(fs *flag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args))
	valueNext := false
	for i, a := range args {
		if a == "--" && !valueNext {
			return append(out, args[i:]...)
		}
		if valueNext {
			out = append(out, a)
			valueNext = false
			continue
		}
		body, ok := strings.CutPrefix(a, "-")
		if ok && len(body) >= 2 && !strings.HasPrefix(body, "-") && fs.Lookup(body) == nil && strings.Trim(body, shortBools) == "" {
			for _, c := range body {
				out = append(out, "-"+string(c))
			}
			continue
		}
		out = append(out, a)
		if !strings.HasPrefix(a, "-") || strings.Contains(a, "=") {
			continue
		}
		if f := fs.Lookup(strings.TrimLeft(a, "-")); f != nil {
			bf, isBool := f.Value.(interface{ IsBoolFlag() bool })
			valueNext = !isBool || !bf.IsBoolFlag()
		}
	}
	return out
}

// get runs `emuproxy get`.
func (m *Main) get(ctx context.Context, args []string) int {
	fs := m.newFlagSet("get", getSynopsis)
	var cfg getConfig
	getFlags(fs, &cfg)
	rest, code := m.parse(fs, expandShort(fs, args))
	if code >= 0 {
		return code
	}
	if len(rest) != 1 {
		fmt.Fprintln(m.Stderr, "emuproxy get: want exactly one URL")
		fs.Usage()
		return exitUsage
	}
	if cfg.http11 && cfg.http2 {
		fmt.Fprintln(m.Stderr, "emuproxy get: --http1.1 and --http2 exclude each other")
		return exitUsage
	}
	if cfg.maxTime < 0 || cfg.maxRedirs < 0 {
		fmt.Fprintln(m.Stderr, "emuproxy get: -max-time and -max-redirs may not be negative")
		return exitUsage
	}
	cfg.url = rest[0]
	g := &getRun{m: m, cfg: cfg, info: &transferInfo{}}
	start := time.Now()
	err := g.run(ctx)
	g.info.total = time.Since(start)
	status := exitOK
	if err != nil {
		var msg string
		status, msg = classify(err)
		g.info.exitCode, g.info.errMsg = status, msg
		if !cfg.silent || cfg.showError {
			fmt.Fprintf(m.Stderr, "emuproxy: %s\n", msg)
		}
	}
	if cfg.writeOut != "" {
		s, werr := expandWriteOut(cfg.writeOut, g.info)
		if werr != nil {
			fmt.Fprintf(m.Stderr, "emuproxy: %v\n", werr)
			if status == exitOK {
				status = exitUsage
			}
		} else if _, werr := io.WriteString(m.Stdout, s); werr != nil && status == exitOK {
			status = getExitWrite
		}
	}
	return status
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

// describe writes the -v report of one response to stderr.
func (m *Main) describe(resp *http.Response, p *emulation.Profile, in emulation.Initiator) {
	alpn := "none"
	if resp.TLS != nil && resp.TLS.NegotiatedProtocol != "" {
		alpn = resp.TLS.NegotiatedProtocol
	}
	fmt.Fprintf(m.Stderr, "* %s %s\n", resp.Request.Method, resp.Request.URL.Redacted())
	fmt.Fprintf(m.Stderr, "* protocol %s (ALPN %s)\n", resp.Proto, alpn)
	fmt.Fprintf(m.Stderr, "* profile %s (%s %s %s), initiator %s, expected JA4 %s\n", p.Name, p.Browser, p.Version, p.Platform, in, p.Expected.JA4)
	fmt.Fprintf(m.Stderr, "< %s %s\n", resp.Proto, resp.Status)
	for _, kv := range sortedHeader(resp.Header) {
		fmt.Fprintf(m.Stderr, "< %s: %s\n", textproto.CanonicalMIMEHeaderKey(kv[0]), kv[1])
	}
}

// sortedHeader returns h's fields as name/value pairs in name order
// (net/http keeps no wire order).
func sortedHeader(h http.Header) [][2]string {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	var out [][2]string
	for _, k := range names {
		for _, v := range h[k] {
			out = append(out, [2]string{k, v})
		}
	}
	return out
}

// headBlock formats a response's status line and headers as curl's -i
// does: "HTTP/2 200" with lower-case names for HTTP/2, "HTTP/1.1 200 OK"
// with canonical names for HTTP/1.1; a blank line ends it.
func headBlock(resp *http.Response) string {
	var b strings.Builder
	h2 := resp.ProtoMajor == 2
	if h2 {
		fmt.Fprintf(&b, "HTTP/2 %d\r\n", resp.StatusCode)
	} else {
		fmt.Fprintf(&b, "%s %s\r\n", resp.Proto, resp.Status)
	}
	for _, kv := range sortedHeader(resp.Header) {
		name := textproto.CanonicalMIMEHeaderKey(kv[0])
		if h2 {
			name = strings.ToLower(name)
		}
		fmt.Fprintf(&b, "%s: %s\r\n", name, kv[1])
	}
	b.WriteString("\r\n")
	return b.String()
}
