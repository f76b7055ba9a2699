package emulation

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// Internal request headers a caller of emuproxy may set to steer it. They
// are never forwarded.
const (
	// ProfileHeader names the profile to use (DESIGN §4.5 step 1).
	ProfileHeader = "X-Guanaco-Profile"
	// InitiatorHeader states the request's initiator: navigate, fetch,
	// xhr, form or a sub-resource destination (iframe, style, script,
	// image, font, media, manifest); a WebSocket handshake is always
	// websocket. Without it ClassifyRequest infers the initiator.
	InitiatorHeader = "X-Guanaco-Initiator"
)

// InitiatorOf returns the initiator of req: ClassifyRequest(req).Initiator
// (a WebSocket handshake, X-Guanaco-Initiator, the client's own fetch
// metadata, X-Requested-With, the method and content type, Accept, the
// path's extension; a navigation when nothing tells).
func InitiatorOf(req *http.Request) Initiator {
	return ClassifyRequest(req).Initiator
}

type headerOrderKey struct{}

// WithHeaderOrder returns a context that records the order in which the
// caller sent its header names (http.Header forgets it). RequestHeaders
// places the caller's extra headers in this order; names it does not
// list follow in name order.
func WithHeaderOrder(ctx context.Context, names []string) context.Context {
	return context.WithValue(ctx, headerOrderKey{}, slices.Clone(names))
}

// headerOrder returns the order recorded with WithHeaderOrder.
func headerOrder(ctx context.Context) []string {
	names, _ := ctx.Value(headerOrderKey{}).([]string)
	return names
}

// hopByHop are connection-specific headers that are never taken from the
// caller (RFC 9110 §7.6.1, plus Proxy-* and the legacy Proxy-Connection).
// TE: trailers and a WebSocket Upgrade are the exceptions handled in
// RequestHeaders.
var hopByHop = map[string]bool{
	"connection": true, "proxy-connection": true, "keep-alive": true, "te": true,
	"transfer-encoding": true, "upgrade": true, "trailer": true,
	"proxy-authorization": true, "proxy-authenticate": true,
}

// lowEntropyHints are the client hints Chromium sends to every site; the
// other sec-ch-ua-* hints go only to origins that asked for them with
// Accept-CH.
var lowEntropyHints = map[string]bool{
	"sec-ch-ua": true, "sec-ch-ua-mobile": true, "sec-ch-ua-platform": true,
}

// browserOwned reports whether a header's value always comes from the
// profile and never from the caller: the browser's identity, fetch
// metadata, the encodings it accepts, its priority and connection
// handling.
func browserOwned(lname string) bool {
	switch {
	case strings.HasPrefix(lname, "sec-ch-"), strings.HasPrefix(lname, "sec-fetch-"):
		return true
	}
	switch lname {
	case "user-agent", "accept-encoding", "priority", "upgrade-insecure-requests", "dnt", "sec-gpc", "te", "connection", "keep-alive":
		return true
	}
	return false
}

// callerPreferred are profile headers whose value the caller may override.
var callerPreferred = map[string]bool{"accept": true, "accept-language": true}

// RequestHeaders returns the header list to send for req with profile p,
// in wire order, for HTTP/2 (names lower-case) or HTTP/1.1 (the profile's
// casing). The initiator is InitiatorOf(req). See RequestHeadersFor.
func RequestHeaders(p *Profile, req *http.Request, h2 bool) []Header {
	return RequestHeadersFor(p, req, InitiatorOf(req), h2)
}

// RequestHeadersFor returns the header list to send for req as initiator
// in. The profile's list for the initiator (FallbackOf's chain when the
// profile has none for it; the other protocol's list when the profile
// lacks this one)
// gives the order and the names; a WebSocket handshake over HTTP/1.1 (an
// Upgrade: websocket request) takes the websocket list whatever in says,
// falling back the same way (profiles built before WebSocket handshakes
// were captured have only the navigate list). At each of its positions:
//
//   - Host (HTTP/1.1 only) carries the request's host; Content-Length the
//     request's length when known;
//   - caller-only headers (IsCallerOnly: cookie, authorization, referer,
//     origin, content-type, websocket key, protocol and extensions) are
//     sent only when the caller sent them, with the caller's value
//     (cookies joined by "; ");
//   - a WebSocket handshake's Connection carries the profile's value when
//     it lists "upgrade" (a websocket list), else "Upgrade";
//   - cache-control and pragma are the profile's, and sent only where its
//     list has them, except for fetch and xhr (caller's value when
//     present, as any other header);
//   - accept-language takes the caller's value when present, else the
//     profile's; so does accept for fetch and xhr (page script sets it),
//     while every other initiator sends the profile's accept (the
//     browser's own for that destination);
//   - sec-fetch-dest and sec-fetch-mode are the client's own when it sent
//     fetch metadata (ClassifyRequest), and sec-fetch-user is then sent
//     only when the client sent it; else the list's values stand;
//   - browser-owned headers (user-agent, sec-ch-*, sec-fetch-*,
//     accept-encoding, priority, upgrade-insecure-requests, connection, te
//     and the like) always take the profile's value; Sec-Fetch-Site is
//     recomputed from the caller's Referer or Origin (same-origin,
//     same-site by registrable domain, or cross-site; without either the
//     client's own value, else none for a navigation and same-origin for
//     anything else, see fetchSiteFor);
//     client hints and sec-fetch-* are sent only over https, and only the
//     low-entropy hints (sec-ch-ua, -mobile, -platform), which browsers send
//     to every site, unless the request's context names the hints its
//     origin asked for (WithClientHints): then the profile's ClientHints
//     list for the initiator gives order and names (when the profile has
//     one), and each requested hint it carries is sent with its value;
//   - any other profile header takes the caller's value when present, else
//     the profile's.
//
// The caller's remaining headers follow in the order recorded with
// WithHeaderOrder (else name order), except hop-by-hop headers (a
// WebSocket upgrade's Upgrade and Connection are kept, TE only as
// "trailers"), browser-owned headers and the internal X-Guanaco-Profile
// and X-Guanaco-Initiator. Over HTTP/1.1 a Host is always sent, first
// when the profile has no slot for it.
func RequestHeadersFor(p *Profile, req *http.Request, in Initiator, h2 bool) []Header {
	https := isHTTPS(req)
	websocket := !h2 && isWebSocket(req)
	if websocket {
		in = WebSocket
	}
	kind := ClassifyRequest(req)
	if kind.Initiator != in {
		kind = DefaultKind(in) // the caller decided otherwise (context, redirects)
	}
	consumed := map[string]bool{}
	var out []Header
	add := func(name, value string) {
		if h2 {
			name = strings.ToLower(name)
		}
		out = append(out, Header{Name: name, Value: value})
	}
	addCaller := func(name string, lname string) {
		vs := req.Header.Values(lname)
		if lname == "cookie" && len(vs) > 1 {
			vs = []string{strings.Join(vs, "; ")}
		}
		for _, v := range vs {
			add(name, v)
		}
	}
	hostSent := false
	// The list: the hinted one when the origin asked for hints and the
	// profile records one, else the ordinary one; then the cookie slot.
	hints := clientHintsOf(req.Context())
	var list []Header
	if len(hints) > 0 && https {
		list = hintedList(p, in, h2)
	}
	if len(list) == 0 {
		list, _ = profileListFrom(p, in, h2)
	}
	if req.Header.Get("Cookie") != "" {
		list = withCookieSlot(p, in, h2, list)
	}
	for _, ph := range list {
		lname := strings.ToLower(ph.Name)
		if consumed[lname] || strings.HasPrefix(lname, ":") || isInternal(lname) {
			continue
		}
		consumed[lname] = true
		switch {
		case lname == "host":
			if !h2 {
				add(ph.Name, requestHost(req))
				hostSent = true
			}
		case lname == "content-length":
			if v, ok := requestContentLength(req); ok {
				add(ph.Name, v)
			}
		case IsCallerOnly(lname):
			addCaller(ph.Name, lname)
		case IsRequestedHint(lname):
			if https && hints[lname] {
				add(ph.Name, ph.Value)
			}
		case strings.HasPrefix(lname, "sec-ch-"):
			if https && lowEntropyHints[lname] {
				add(ph.Name, ph.Value)
			}
		case lname == "sec-fetch-site":
			if https {
				add(ph.Name, fetchSiteFor(req, in))
			}
		case lname == "sec-fetch-dest" || lname == "sec-fetch-mode" || lname == "sec-fetch-user":
			if v, ok := fetchMetadata(lname, ph.Value, kind); https && ok {
				add(ph.Name, v)
			}
		case browserCache(lname) && !scriptSetsAccept(in):
			add(ph.Name, ph.Value)
		case lname == "accept" && !scriptSetsAccept(in):
			if ph.Value != "" {
				add(ph.Name, ph.Value)
			} else {
				addCaller(ph.Name, lname)
			}
		case strings.HasPrefix(lname, "sec-fetch-"):
			if https {
				add(ph.Name, ph.Value)
			}
		case websocket && lname == "connection":
			if hasToken([]string{ph.Value}, "upgrade", false) {
				add(ph.Name, ph.Value) // a websocket list's own, e.g. Firefox's "keep-alive, Upgrade"
			} else {
				add(ph.Name, "Upgrade")
			}
		case browserOwned(lname):
			add(ph.Name, ph.Value)
		default:
			if vs := req.Header.Values(lname); len(vs) > 0 {
				addCaller(ph.Name, lname)
			} else if !callerPreferred[lname] || ph.Value != "" {
				add(ph.Name, ph.Value)
			}
		}
	}
	if !h2 && !hostSent {
		out = slices.Insert(out, 0, Header{Name: "Host", Value: requestHost(req)})
		consumed["host"] = true
	}
	if !consumed["content-length"] {
		consumed["content-length"] = true
		if v, ok := requestContentLength(req); ok {
			add("Content-Length", v)
		}
	}
	for _, name := range callerOrder(req) {
		lname := strings.ToLower(name)
		if consumed[lname] || isInternal(lname) || connectionListed(req, lname) {
			continue
		}
		consumed[lname] = true
		switch {
		case websocket && (lname == "upgrade" || lname == "connection"):
			addCaller(name, lname)
		case lname == "te":
			if strings.EqualFold(strings.TrimSpace(req.Header.Get("Te")), "trailers") {
				add(name, "trailers")
			}
		case hopByHop[lname], browserOwned(lname), lname == "host":
		case browserCache(lname) && !scriptSetsAccept(in):
		default:
			addCaller(name, lname)
		}
	}
	return out
}

// fetchMetadata is the value of Sec-Fetch-Dest, -Mode or -User (lname)
// for a request of kind, whose value in the profile's list is profile;
// false: leave the header out. A client that stated its fetch metadata (a
// browser) keeps its destination and mode, and Sec-Fetch-User only when it
// sent it; otherwise the list's values stand (ProfileList has adapted a
// fallback list to the initiator).
func fetchMetadata(lname, profile string, kind RequestKind) (string, bool) {
	if !kind.Stated {
		return profile, true
	}
	switch lname {
	case "sec-fetch-dest":
		return kind.Dest, kind.Dest != ""
	case "sec-fetch-mode":
		return kind.Mode, kind.Mode != ""
	}
	return profile, kind.User
}

// browserCache reports whether lname is a cache directive the browser
// itself adds (Cache-Control, Pragma: on reloads, form resubmissions,
// WebSocket handshakes). Outside fetch and xhr, whose script may set them,
// they are sent only where the profile's list has them, with its value.
func browserCache(lname string) bool { return lname == "cache-control" || lname == "pragma" }

// scriptSetsAccept reports whether page script chooses the Accept of
// requests of initiator in (fetch, xhr): then the caller's Accept is
// sent, else the profile's (the browser's own for that destination,
// whatever the client sent: never a Chromium Accept under a Firefox user
// agent).
func scriptSetsAccept(in Initiator) bool { return in == Fetch || in == XHR }

// withCookieSlot returns list with a cookie slot when it has none: a
// profile built from a first visit has no cookie on its navigation, but the
// browser puts one at a fixed place (Firefox: after Accept-Encoding over
// HTTP/2, after Connection over HTTP/1.1). The place is taken from another
// of the profile's lists of the same protocol that has one (form first, a
// navigation too, then the others): the cookie goes after the nearest header
// before it there that list also has. Without such a list, list is returned
// unchanged (the cookie then follows the list, in the caller's order).
func withCookieSlot(p *Profile, in Initiator, h2 bool, list []Header) []Header {
	has := map[string]int{}
	for i, h := range list {
		has[strings.ToLower(h.Name)] = i
	}
	if _, ok := has["cookie"]; ok {
		return list
	}
	for _, donor := range []Initiator{Form, Navigate, Fetch, XHR, WebSocket} {
		if donor == in {
			continue
		}
		d := profileList(p, donor, h2)
		at := slices.IndexFunc(d, func(h Header) bool { return strings.EqualFold(h.Name, "cookie") })
		if at < 0 {
			continue
		}
		for j := at - 1; j >= 0; j-- {
			if i, ok := has[strings.ToLower(d[j].Name)]; ok {
				out := slices.Clone(list)
				return slices.Insert(out, i+1, Header{Name: d[at].Name})
			}
		}
		if at == 0 {
			return slices.Insert(slices.Clone(list), 0, Header{Name: d[at].Name})
		}
	}
	return list
}

// ProfileList is the profile's header list for initiator in over HTTP/2
// (h2) or HTTP/1.1: a missing initiator falls back (see FallbackOf; the
// fallback list carries in's own Sec-Fetch-Dest and Sec-Fetch-Mode
// (DefaultKind) and, unless in is navigate or form, no Sec-Fetch-User), a
// missing protocol to the other protocol's list. With cookie (the request
// carries one) a list without a cookie slot gets one where the browser puts
// it (see withCookieSlot). RequestHeadersFor builds requests from it.
func ProfileList(p *Profile, in Initiator, h2, cookie bool) []Header {
	list, _ := profileListFrom(p, in, h2)
	if cookie {
		list = withCookieSlot(p, in, h2, list)
	}
	return list
}

// FallbackOf is the chain of initiators whose lists stand in for in when a
// profile has none for it (profiles made before sub-resources were
// captured, imported ones without them): in itself, then for iframe the
// navigation (a nested document is a navigation without Sec-Fetch-User);
// for xhr and the other sub-resources fetch (a load without a document
// is closest to a fetch: no Upgrade-Insecure-Requests, no Sec-Fetch-User),
// then the navigation; for fetch, form and websocket the navigation.
// ProfileList gives the borrowed list in's own Sec-Fetch-Dest and
// Sec-Fetch-Mode (DefaultKind); RequestHeadersFor then sends a stating
// client's own (see RequestKind).
func FallbackOf(in Initiator) []Initiator {
	switch {
	case in == Navigate:
		return []Initiator{Navigate}
	case in == Iframe:
		return []Initiator{Iframe, Navigate}
	case in.IsSubresource(), in == XHR:
		return []Initiator{in, Fetch, Navigate}
	}
	return []Initiator{in, Navigate}
}

// profileList is ProfileList without the cookie slot.
func profileList(p *Profile, in Initiator, h2 bool) []Header {
	list, _ := profileListFrom(p, in, h2)
	return list
}

// profileListFrom is profileList and the initiator whose list it is (see
// FallbackOf), adapted to in by fallbackList.
func profileListFrom(p *Profile, in Initiator, h2 bool) ([]Header, Initiator) {
	pick := func(m map[Initiator][]Header) ([]Header, Initiator) {
		for _, f := range FallbackOf(in) {
			if hs := m[f]; len(hs) > 0 {
				return hs, f
			}
		}
		return nil, Navigate
	}
	var h1l, h2l []Header
	var h1from, h2from Initiator
	if p.H1 != nil {
		h1l, h1from = pick(p.H1.Headers)
	}
	if p.H2 != nil {
		h2l, h2from = pick(p.H2.Headers)
	}
	list, from := h1l, h1from
	if h2 && len(h2l) > 0 || !h2 && len(h1l) == 0 {
		list, from = h2l, h2from
	}
	if from != in {
		list = fallbackList(list, in)
	}
	return list, from
}

// fallbackList adapts another initiator's list to in: Sec-Fetch-Dest and
// Sec-Fetch-Mode take in's DefaultKind values, and Sec-Fetch-User, which
// only top-level navigations (navigate, form) carry, is left out for the
// others.
func fallbackList(list []Header, in Initiator) []Header {
	k := DefaultKind(in)
	out := make([]Header, 0, len(list))
	for _, h := range list {
		switch strings.ToLower(h.Name) {
		case "sec-fetch-dest":
			h.Value = k.Dest
		case "sec-fetch-mode":
			h.Value = k.Mode
		case "sec-fetch-user":
			if in != Navigate && in != Form {
				continue
			}
		}
		out = append(out, h)
	}
	return out
}

// HeadersPriorityFor is the HTTP/2 HEADERS priority a request of initiator
// in carries with profile p: the priority of the initiator whose HTTP/2
// list is sent (see FallbackOf); false when the browser sends none for it
// or the profile has no HTTP/2 part.
func HeadersPriorityFor(p *Profile, in Initiator) (Priority, bool) {
	if p.H2 == nil {
		return Priority{}, false
	}
	from := in
	for _, f := range FallbackOf(in) {
		if len(p.H2.Headers[f]) > 0 {
			from = f
			break
		}
	}
	pr, ok := p.H2.HeadersPriority[from]
	return pr, ok
}

func isInternal(lname string) bool {
	return strings.EqualFold(lname, ProfileHeader) || strings.EqualFold(lname, InitiatorHeader)
}

// callerOrder lists req's header names in the caller's order (see
// WithHeaderOrder), then the rest in name order.
func callerOrder(req *http.Request) []string {
	var names []string
	seen := map[string]bool{}
	for _, n := range headerOrder(req.Context()) {
		cn := http.CanonicalHeaderKey(n)
		if _, ok := req.Header[cn]; ok && !seen[cn] {
			seen[cn] = true
			names = append(names, n)
		}
	}
	var rest []string
	for n := range req.Header {
		if !seen[http.CanonicalHeaderKey(n)] {
			rest = append(rest, n)
		}
	}
	slices.Sort(rest)
	return append(names, rest...)
}

// connectionListed reports whether the caller's Connection header names
// lname as hop-by-hop (RFC 9110 §7.6.1).
func connectionListed(req *http.Request, lname string) bool {
	for _, v := range req.Header.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			if t := strings.ToLower(strings.TrimSpace(tok)); t == lname && t != "upgrade" {
				return true
			}
		}
	}
	return false
}

func isWebSocket(req *http.Request) bool {
	return strings.EqualFold(strings.TrimSpace(req.Header.Get("Upgrade")), "websocket")
}

// isWebSocketUpgrade reports whether req is a WebSocket opening handshake:
// an Upgrade header listing "websocket" and a Connection header listing
// "upgrade" (case-insensitive; an Upgrade token's "/version" is ignored).
func isWebSocketUpgrade(req *http.Request) bool {
	return hasToken(req.Header.Values("Upgrade"), "websocket", true) && hasToken(req.Header.Values("Connection"), "upgrade", false)
}

// hasToken reports whether the comma-separated lists vs hold token
// (case-insensitive), ignoring a "/version" suffix when withVersion.
func hasToken(vs []string, token string, withVersion bool) bool {
	for _, v := range vs {
		for t := range strings.SplitSeq(v, ",") {
			t = strings.TrimSpace(t)
			if i := strings.IndexByte(t, '/'); withVersion && i >= 0 {
				t = t[:i]
			}
			if strings.EqualFold(t, token) {
				return true
			}
		}
	}
	return false
}

func isHTTPS(req *http.Request) bool {
	if req.URL != nil && req.URL.Scheme != "" {
		return strings.EqualFold(req.URL.Scheme, "https") || strings.EqualFold(req.URL.Scheme, "wss")
	}
	return req.TLS != nil
}

// requestHost is the host (and port, if any) the request is for.
func requestHost(req *http.Request) string {
	if req.Host != "" {
		return req.Host
	}
	if req.URL != nil {
		return req.URL.Host
	}
	return ""
}

// requestContentLength is the Content-Length of req's body when it is
// known: the length when positive, 0 for a POST, PUT or PATCH without a
// body.
func requestContentLength(req *http.Request) (string, bool) {
	if req.ContentLength > 0 {
		return strconv.FormatInt(req.ContentLength, 10), true
	}
	if req.ContentLength == 0 && (req.Body == nil || req.Body == http.NoBody) {
		switch req.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
			return "0", true
		}
	}
	return "", false
}

// Sec-Fetch-Site values.
const (
	SiteNone       = "none"
	SiteSameOrigin = "same-origin"
	SiteSameSite   = "same-site"
	SiteCrossSite  = "cross-site"
)

type fetchSiteKey struct{}

// WithFetchSite returns a context whose requests carry Sec-Fetch-Site
// value instead of what FetchSite derives from the Referer. A client that
// follows redirects needs it: Fetch Metadata takes the most cross-site
// relation between the initiator and every URL of the redirect chain
// (see SiteOf), which the Referer of the last hop cannot tell.
func WithFetchSite(ctx context.Context, value string) context.Context {
	return context.WithValue(ctx, fetchSiteKey{}, value)
}

// SiteOf returns the Sec-Fetch-Site relation of a request to target made
// by a document at initiator (both absolute URLs): same-origin, same-site
// (same scheme and registrable domain) or cross-site.
func SiteOf(initiator, target *url.URL) string {
	if !strings.EqualFold(initiator.Scheme, target.Scheme) {
		return SiteCrossSite
	}
	if sameOrigin(initiator.Scheme, initiator.Host, target.Host) {
		return SiteSameOrigin
	}
	if site(hostname(initiator.Host)) == site(hostname(target.Host)) {
		return SiteSameSite
	}
	return SiteCrossSite
}

// fetchSiteFor is Sec-Fetch-Site for req sent as initiator in: FetchSite,
// unless that finds no initiator (none: no Referer, no Origin, no
// override). Then the client's own Sec-Fetch-Site stands when it sent a
// valid one (a browser under a no-referrer policy); else only a
// navigation is none (typed, bookmarked), and anything else, which a page
// always initiates, is same-origin (the most common case; none with a
// sub-resource destination is a combination no browser sends).
func fetchSiteFor(req *http.Request, in Initiator) string {
	site := FetchSite(req)
	if site != SiteNone {
		return site
	}
	switch v := strings.ToLower(strings.TrimSpace(req.Header.Get("Sec-Fetch-Site"))); v {
	case SiteNone, SiteSameOrigin, SiteSameSite, SiteCrossSite:
		return v
	}
	if in == Navigate {
		return SiteNone
	}
	return SiteSameOrigin
}

// FetchSite computes Sec-Fetch-Site for req: the value set with
// WithFetchSite when there is one; else from its Referer, or without one
// from its Origin (a WebSocket handshake or a request under a no-referrer
// policy still names its initiator's origin; "null", an opaque origin, is
// cross-site): none without either (parseable, absolute); same-origin when
// scheme, host and port equal the request's; same-site when the scheme
// and the registrable domain (public suffix + 1; the whole host for IP
// addresses and hosts without a registrable domain) are equal; cross-site
// otherwise.
func FetchSite(req *http.Request) string {
	if v, ok := req.Context().Value(fetchSiteKey{}).(string); ok && v != "" {
		return v
	}
	ref := strings.TrimSpace(req.Header.Get("Referer"))
	if ref == "" {
		ref = strings.TrimSpace(req.Header.Get("Origin"))
		if ref == "null" {
			return SiteCrossSite
		}
	}
	if ref == "" {
		return SiteNone
	}
	ru, err := url.Parse(ref)
	if err != nil || ru.Scheme == "" || ru.Host == "" {
		return SiteNone
	}
	scheme := "http"
	if isHTTPS(req) {
		scheme = "https"
	}
	host := requestHost(req)
	if !strings.EqualFold(ru.Scheme, scheme) {
		return SiteCrossSite
	}
	if sameOrigin(ru.Scheme, ru.Host, host) {
		return SiteSameOrigin
	}
	if site(hostname(ru.Host)) == site(hostname(host)) {
		return SiteSameSite
	}
	return SiteCrossSite
}

func sameOrigin(scheme, a, b string) bool {
	ha, pa := splitHostPort(scheme, a)
	hb, pb := splitHostPort(scheme, b)
	return strings.EqualFold(ha, hb) && pa == pb
}

func splitHostPort(scheme, hp string) (string, string) {
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		h, p = strings.Trim(hp, "[]"), ""
	}
	if p == "" {
		p = "80"
		if strings.EqualFold(scheme, "https") {
			p = "443"
		}
	}
	return strings.ToLower(strings.TrimSuffix(h, ".")), p
}

func hostname(hp string) string {
	h, _ := splitHostPort("", hp)
	return h
}

// site is the registrable domain of host, or host itself for IP addresses
// and names without one (localhost, a bare public suffix).
func site(host string) string {
	if net.ParseIP(host) != nil {
		return host
	}
	if d, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
		return d
	}
	return host
}
