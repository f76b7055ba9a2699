package transport

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/guanaco-fp/guanaco/emulation"
)

// maxHintOrigins bounds the origins whose Accept-CH a Transport remembers;
// the oldest is forgotten first.
const maxHintOrigins = 4096

// maxCriticalDrain bounds the bytes read from a response that is replaced
// by its Critical-CH retry (so its connection can be reused).
const maxCriticalDrain = 64 << 10

// hintStore is the transport's client hint state, like a Chromium
// browser's: per profile and origin, the hints the origin asked for with
// Accept-CH on a navigation response, kept for the transport's lifetime.
type hintStore struct {
	mu    sync.Mutex
	m     map[string][]string // profile "\x00" origin -> lower-case hint names
	order []string            // keys, oldest first
}

func hintKey(p *emulation.Profile, origin string) string { return p.Name + "\x00" + origin }

// get returns the hints origin asked p's browser for (nil if none).
func (s *hintStore) get(p *emulation.Profile, origin string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[hintKey(p, origin)]
}

// set records an origin's Accept-CH; an empty list forgets the origin (an
// empty Accept-CH clears the hints, as in Chromium).
func (s *hintStore) set(p *emulation.Profile, origin string, names []string) {
	k := hintKey(p, origin)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string][]string{}
	}
	if _, ok := s.m[k]; ok {
		s.order = slices.DeleteFunc(s.order, func(o string) bool { return o == k })
	}
	if len(names) == 0 {
		delete(s.m, k)
		return
	}
	for len(s.order) >= maxHintOrigins {
		delete(s.m, s.order[0])
		s.order = s.order[1:]
	}
	s.m[k] = names
	s.order = append(s.order, k)
}

// parseHintList reads Accept-CH / Critical-CH (a structured-field list of
// tokens; every field line counts): lower-case names in order, duplicates
// and empty members dropped. present reports whether the header was sent.
func parseHintList(h http.Header, name string) (names []string, present bool) {
	vs, present := h[http.CanonicalHeaderKey(name)]
	for _, v := range vs {
		for _, f := range strings.Split(v, ",") {
			f = strings.ToLower(strings.TrimSpace(f))
			if i := strings.IndexByte(f, ';'); i >= 0 {
				f = strings.TrimSpace(f[:i]) // parameters carry nothing for hints
			}
			if f != "" && !slices.Contains(names, f) {
				names = append(names, f)
			}
		}
	}
	return names, present
}

// hintOrigin is req's origin when client hints apply to it: https, and a
// profile that records hint lists (Chromium family); "" otherwise.
func hintOrigin(req *http.Request, p *emulation.Profile, key poolKey) string {
	if key.scheme != "https" || p.ClientHints == nil {
		return ""
	}
	return "https://" + strings.ToLower(key.addr)
}

// roundTripHints sends req with the client hints its origin asked for and,
// for a navigation, learns the origin's Accept-CH from the response. When
// that response's Critical-CH names a hint the origin now asks for, that
// the profile can send and that this request lacked, the navigation is sent
// once more with the hints (Chromium's Critical-CH retry) and that answer
// is returned; a request whose body cannot be replayed is not retried. The
// retry carries the cookies the first answer set (as the browser's does,
// from its cookie jar), and the answer returned carries the first answer's
// Set-Cookie lines for the names the retry's answer does not set itself.
func (t *Transport) roundTripHints(req *http.Request, p *emulation.Profile, key poolKey, host string) (*http.Response, error) {
	origin := hintOrigin(req, p, key)
	if origin == "" {
		return t.roundTripRetrying(req, p, key, host)
	}
	sent := t.hints.get(p, origin)
	if len(sent) > 0 {
		req = req.WithContext(emulation.WithClientHints(req.Context(), sent))
	}
	resp, err := t.roundTripRetrying(req, p, key, host)
	in, _ := InitiatorFromContext(req.Context())
	if err != nil || in != emulation.Navigate {
		return resp, err
	}
	accept, present := parseHintList(resp.Header, "Accept-CH")
	if !present {
		return resp, nil
	}
	t.hints.set(p, origin, accept)
	critical, _ := parseHintList(resp.Header, "Critical-CH")
	can := p.HintNames()
	missing := slices.ContainsFunc(critical, func(h string) bool {
		return slices.Contains(accept, h) && !slices.Contains(sent, h) && slices.Contains(can, h)
	})
	if !missing || len(accept) == 0 {
		return resp, nil
	}
	retry := req.Clone(emulation.WithClientHints(req.Context(), accept))
	if req.Body != nil && req.Body != http.NoBody {
		if req.GetBody == nil {
			return resp, nil
		}
		body, gerr := req.GetBody()
		if gerr != nil {
			return resp, nil
		}
		retry.Body = body
	}
	// A browser stores the first answer's cookies before it retries, so
	// the retry carries them, and its client keeps them: the caller, which
	// holds the cookies here, sees the first answer's Set-Cookie on the
	// answer it gets.
	first := resp.Header.Values("Set-Cookie")
	if c := cookieHeader(req.Header.Values("Cookie"), resp.Cookies()); c != "" {
		retry.Header.Set("Cookie", c)
	}
	t.o.Logger.Debug("transport: Critical-CH: sending the navigation again with client hints", "url", req.URL.Redacted())
	_, _ = io.CopyN(io.Discard, resp.Body, maxCriticalDrain)
	_ = resp.Body.Close()
	resp, err = t.roundTripRetrying(retry, p, key, host)
	if err != nil || len(first) == 0 {
		return resp, err
	}
	set := map[string]bool{}
	for _, c := range resp.Cookies() {
		set[c.Name] = true
	}
	var keep []string
	for _, line := range first {
		if c, perr := http.ParseSetCookie(line); perr == nil && !set[c.Name] {
			keep = append(keep, line)
		}
	}
	resp.Header["Set-Cookie"] = append(keep, resp.Header.Values("Set-Cookie")...)
	return resp, nil
}

// cookieHeader is the Cookie value of a request that sent sent (Cookie
// header lines) and then received set: the sent pairs in order, a pair
// whose name set has replaced in place, set's new names appended, and the
// names set deletes (a past expiry or negative Max-Age) left out; "" when
// nothing remains.
func cookieHeader(sent []string, set []*http.Cookie) string {
	type pair struct{ name, value string }
	var pairs []pair
	for _, line := range sent {
		for _, f := range strings.Split(line, ";") {
			if f = strings.TrimSpace(f); f == "" {
				continue
			}
			n, v, _ := strings.Cut(f, "=")
			pairs = append(pairs, pair{n, v})
		}
	}
	now := time.Now()
	for _, c := range set {
		i := slices.IndexFunc(pairs, func(p pair) bool { return p.name == c.Name })
		gone := c.MaxAge < 0 || (!c.Expires.IsZero() && c.Expires.Before(now))
		switch {
		case gone && i >= 0:
			pairs = slices.Delete(pairs, i, i+1)
		case gone:
		case i >= 0:
			pairs[i].value = c.Value
		default:
			pairs = append(pairs, pair{c.Name, c.Value})
		}
	}
	out := make([]string, len(pairs))
	for i, p := range pairs {
		out[i] = p.name + "=" + p.value
	}
	return strings.Join(out, "; ")
}
