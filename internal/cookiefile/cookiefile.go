// Package cookiefile is a small cookie jar that reads and writes curl's
// Netscape cookie file format (tab-separated domain, include-subdomains,
// path, secure, expiry, name, value; "#HttpOnly_" before the domain of
// HttpOnly cookies; expiry 0 for session cookies). It stores the
// Set-Cookie answers of responses (RFC 6265 §5.3, without a public-suffix
// list) and builds the Cookie header of a request as browsers order it
// (RFC 6265 §5.4: longer paths first, then older cookies first).
package cookiefile

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// jarCookie is one cookie of a Jar, with the fields of a Netscape
// cookie file line.
type jarCookie struct {
	domain     string // without a leading dot
	hostOnly   bool   // "FALSE" in the include-subdomains column
	path       string
	secure     bool
	httpOnly   bool
	expires    int64 // Unix seconds; 0 = session cookie
	name       string
	value      string
	created    int // insertion sequence, for the Cookie header's order
	lastAccess time.Time
}

// Jar holds cookies. It is not safe for concurrent use.
type Jar struct {
	cookies []*jarCookie
	seq     int
	now     func() time.Time
}

// New returns an empty jar.
func New() *Jar { return &Jar{now: time.Now} }

// ReadFile adds the cookies of a Netscape cookie file. Blank lines
// and comments are skipped; a line that is not seven tab-separated
// fields is an error naming the line.
func (j *Jar) ReadFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("cookiefile: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		httpOnly := false
		if rest, ok := strings.CutPrefix(line, "#HttpOnly_"); ok {
			line, httpOnly = rest, true
		}
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 7 {
			return fmt.Errorf("cookiefile: %s line %d: want 7 tab-separated fields, have %d", name, n, len(f))
		}
		exp, err := strconv.ParseInt(f[4], 10, 64)
		if err != nil {
			return fmt.Errorf("cookiefile: %s line %d: bad expiry %q", name, n, f[4])
		}
		c := &jarCookie{
			domain:   strings.ToLower(strings.TrimPrefix(f[0], ".")),
			hostOnly: !strings.EqualFold(f[1], "TRUE"),
			path:     cmp.Or(f[2], "/"),
			secure:   strings.EqualFold(f[3], "TRUE"),
			httpOnly: httpOnly,
			expires:  exp,
			name:     f[5],
			value:    f[6],
		}
		j.put(c)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("cookiefile: %s: %w", name, err)
	}
	return nil
}

// put stores c, replacing a cookie of the same name, domain and path.
func (j *Jar) put(c *jarCookie) {
	j.seq++
	c.created = j.seq
	for i, o := range j.cookies {
		if o.name == c.name && o.domain == c.domain && o.path == c.path {
			c.created = o.created
			j.cookies[i] = c
			return
		}
	}
	j.cookies = append(j.cookies, c)
}

// SetCookies stores the Set-Cookie headers of a response to u (RFC 6265
// §5.3, without a public-suffix check: a cookie for a domain u's host is
// not within is ignored). A cookie that has expired is removed.
func (j *Jar) SetCookies(u *url.URL, resp *http.Response) {
	host := strings.ToLower(u.Hostname())
	now := j.now()
	for _, line := range resp.Header.Values("Set-Cookie") {
		hc, err := http.ParseSetCookie(line)
		if err != nil {
			continue
		}
		c := &jarCookie{name: hc.Name, value: hc.Value, secure: hc.Secure, httpOnly: hc.HttpOnly, path: hc.Path}
		if d := strings.ToLower(strings.TrimPrefix(hc.Domain, ".")); d != "" && net.ParseIP(host) == nil {
			if !domainMatch(host, d) {
				continue
			}
			c.domain = d
		} else {
			c.domain, c.hostOnly = host, true
		}
		if c.path == "" || !strings.HasPrefix(c.path, "/") {
			c.path = defaultCookiePath(u.Path)
		}
		switch {
		case hc.MaxAge < 0:
			c.expires = -1
		case hc.MaxAge > 0:
			c.expires = now.Add(time.Duration(hc.MaxAge) * time.Second).Unix()
		case !hc.Expires.IsZero():
			c.expires = hc.Expires.Unix()
			if c.expires <= 0 {
				c.expires = -1
			}
		}
		if c.expires < 0 || c.expires > 0 && c.expires <= now.Unix() {
			j.cookies = slices.DeleteFunc(j.cookies, func(o *jarCookie) bool {
				return o.name == c.name && o.domain == c.domain && o.path == c.path
			})
			continue
		}
		j.put(c)
	}
}

// defaultCookiePath is RFC 6265 §5.1.4's default-path of a request path.
func defaultCookiePath(p string) string {
	i := strings.LastIndex(p, "/")
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

// domainMatch reports whether host is domain or a subdomain of it.
func domainMatch(host, domain string) bool {
	return host == domain || strings.HasSuffix(host, "."+domain)
}

// pathMatch is RFC 6265 §5.1.4's path-match.
func pathMatch(reqPath, cookiePath string) bool {
	if reqPath == "" {
		reqPath = "/"
	}
	if reqPath == cookiePath {
		return true
	}
	return strings.HasPrefix(reqPath, cookiePath) && (strings.HasSuffix(cookiePath, "/") || reqPath[len(cookiePath)] == '/')
}

// Header returns the Cookie header value for a request to u, "" when no
// cookie applies.
func (j *Jar) Header(u *url.URL) string {
	host := strings.ToLower(u.Hostname())
	now := j.now()
	var match []*jarCookie
	for _, c := range j.cookies {
		if c.expires > 0 && c.expires <= now.Unix() {
			continue
		}
		if c.hostOnly && host != c.domain || !c.hostOnly && !domainMatch(host, c.domain) {
			continue
		}
		if !pathMatch(u.Path, c.path) || c.secure && u.Scheme != "https" {
			continue
		}
		c.lastAccess = now
		match = append(match, c)
	}
	slices.SortStableFunc(match, func(a, b *jarCookie) int {
		if n := cmp.Compare(len(b.path), len(a.path)); n != 0 {
			return n
		}
		return cmp.Compare(a.created, b.created)
	})
	parts := make([]string, 0, len(match))
	for _, c := range match {
		parts = append(parts, c.name+"="+c.value)
	}
	return strings.Join(parts, "; ")
}

// Write writes the jar in the Netscape cookie file format, session
// cookies included (expiry 0), as curl's -c does.
func (j *Jar) Write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprint(bw, "# Netscape HTTP Cookie File\n# Written by guanaco. Edit at your own risk.\n\n")
	now := j.now().Unix()
	for _, c := range j.cookies {
		if c.expires > 0 && c.expires <= now {
			continue
		}
		domain := c.domain
		if !c.hostOnly {
			domain = "." + domain
		}
		if c.httpOnly {
			domain = "#HttpOnly_" + domain
		}
		fmt.Fprintf(bw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", domain, upperBool(!c.hostOnly), c.path, upperBool(c.secure), c.expires, c.name, c.value)
	}
	return bw.Flush()
}

func upperBool(b bool) string {
	if b {
		return "TRUE"
	}
	return "FALSE"
}

// WriteFile writes the jar to the file name (0600, replaced atomically).
func (j *Jar) WriteFile(name string) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".cookies-*")
	if err != nil {
		return fmt.Errorf("cookiefile: writing %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	if err := j.Write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("cookiefile: writing %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("cookiefile: writing %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("cookiefile: writing %s: %w", name, err)
	}
	return nil
}
