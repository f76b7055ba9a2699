package emulation

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/guanaco-fp/guanaco/fingerprint"
)

// VisitCapture is one captured request of a page visit, as the builder
// needs it. fpserver converts its stored captures into these.
type VisitCapture struct {
	ID        string
	CreatedAt time.Time
	Initiator Initiator
	// HTTPVersion is "1.1" or "2".
	HTTPVersion string
	// ClientHello is the raw record(s) of the connection's ClientHello.
	ClientHello []byte
	UserAgent   string
	// Headers are the header fields as sent; for HTTP/2 the pseudo headers
	// first, in their order, then the regular headers.
	Headers []Header
	// H2 is the connection and stream capture for HTTP/2 requests.
	H2 *VisitH2
	// H3 is the connection capture for HTTP/3 requests (HTTPVersion "3";
	// ClientHello is then the QUIC hello's handshake message).
	H3 *VisitH3
	// NoAcceptCH marks a request to an origin that never sent Accept-CH
	// (fpserver's -no-client-hints-host): what the browser sends to sites
	// that ask for no client hints.
	NoAcceptCH bool
}

// VisitH3 is the HTTP/3 part of a VisitCapture.
type VisitH3 struct {
	QUICVersion string
	Settings    []fingerprint.H3Setting
	QUICTP      string
	QUICTPHash  string
}

// VisitH2 is the HTTP/2 part of a VisitCapture.
type VisitH2 struct {
	Settings     []Setting
	WindowUpdate uint32
	Priorities   []Priority // PRIORITY frames before the first HEADERS
	// HeadersPriority is the priority on this request's HEADERS frame, nil
	// when the PRIORITY flag was not set.
	HeadersPriority *Priority
	// StreamID is this request's stream; FirstStreamID the stream of its
	// connection's first request (0 when unknown).
	StreamID      uint32
	FirstStreamID uint32
	// StreamWindowUpdates are the WINDOW_UPDATE increments sent on this
	// request's stream.
	StreamWindowUpdates []uint32
	// HPACK are the representation codes of this request's header block
	// (fingerprint.HPACKCodes), nil when not captured.
	HPACK []string
}

// callerOnly are headers whose values come from the caller of emuproxy and
// are sent only when the caller sent them; a profile keeps their position
// with an empty value.
var callerOnly = map[string]bool{
	"cookie": true, "authorization": true, "referer": true, "origin": true,
	"content-length": true, "content-type": true, "host": true,
	"sec-websocket-key": true, "sec-websocket-protocol": true,
	// The extensions a WebSocket uses are negotiated end to end: offering
	// one the client did not (permessage-deflate, say) would hand it
	// frames it cannot read.
	"sec-websocket-extensions": true,
}

// IsCallerOnly reports whether a header's value must come from the caller
// (cookie, authorization, referer, origin, content-*, host, websocket key,
// protocol and extensions): profiles keep only its position.
func IsCallerOnly(name string) bool { return callerOnly[strings.ToLower(name)] }

// Build turns the captures of one page visit into a profile. When the
// captures include requests to an origin that never sent Accept-CH
// (VisitCapture.NoAcceptCH, a second visit to such an origin), the
// profile's per-initiator lists, HEADERS priorities and HPACK codes come
// from those, and ClientHints from the others; the ClientHello, user agent
// and browser identity come from the others' navigation. The visit must
// contain a navigation over HTTP/2 or HTTP/1.1; fetch, xhr, form and
// websocket captures and the other protocol are added when present. A
// WebSocket handshake gives the websocket list of its protocol: HTTP/2
// (extended CONNECT, pseudo headers left out like every h2 list) only
// with an HTTP/2 navigation, HTTP/1.1 only with an HTTP/1.1 navigation
// (a browser without extended CONNECT opens its WebSocket from the HTTP/2
// page over HTTP/1.1; on its own that handshake would make h1 lists
// without a navigate list, which profiles do not have). The ClientHello
// is taken from the earliest capture whose hello carries no pre_shared_key
// (a first visit), preferring the HTTP/2 navigation. Browser, version and
// platform are read from the user agent and the Sec-CH-UA brand list; the
// profile name is browser-major-platform unless name is given.
func Build(visitKey, name string, caps []VisitCapture, now time.Time) (*Profile, error) {
	if len(caps) == 0 {
		return nil, errors.New("emulation: building profile: the visit has no captures")
	}
	sorted := append([]VisitCapture(nil), caps...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].CreatedAt.Before(sorted[j].CreatedAt) })

	// byKey: "2/navigate" -> the first capture, taken from the requests to
	// an origin that never sent Accept-CH when there are any (the ordinary
	// lists are what the browser sends to such origins); asked: the same
	// over the other requests only.
	byKey, asked := map[string]*VisitCapture{}, map[string]*VisitCapture{}
	for i := range sorted {
		c := &sorted[i]
		if !c.Initiator.Valid() || (c.HTTPVersion != "2" && c.HTTPVersion != "1.1") {
			continue
		}
		k := c.HTTPVersion + "/" + string(c.Initiator)
		if !c.NoAcceptCH && asked[k] == nil {
			asked[k] = c
		}
		if byKey[k] == nil || c.NoAcceptCH && !byKey[k].NoAcceptCH {
			byKey[k] = c
		}
	}
	nav := byKey["2/navigate"]
	if nav == nil {
		nav = byKey["1.1/navigate"]
	}
	if nav == nil {
		return nil, errors.New("emulation: building profile: the visit has no navigation capture")
	}
	// The ClientHello and identity come from the main visit's navigation
	// when there is one: the no-Accept-CH origin is a second host name,
	// whose SNI differs.
	mainNav := nav
	if n := asked["2/navigate"]; n != nil {
		mainNav = n
	} else if n := asked["1.1/navigate"]; n != nil && byKey["2/navigate"] == nil {
		mainNav = n
	}

	hello, err := firstVisitHello(mainNav, sorted)
	if err != nil {
		return nil, err
	}
	ch, err := fingerprint.ParseClientHello(hello)
	if err != nil {
		return nil, fmt.Errorf("emulation: building profile: %w", err)
	}
	fp := ch.Fingerprints()

	browser, version, platform := identify(mainNav.UserAgent, mainNav.Headers)
	if name == "" {
		major, _, _ := strings.Cut(version, ".")
		name = strings.ToLower(fmt.Sprintf("%s-%s-%s", browser, major, platform))
	}
	p := &Profile{
		Format:            FormatVersion,
		Name:              name,
		Browser:           browser,
		Version:           version,
		Platform:          platform,
		UserAgent:         mainNav.UserAgent,
		ShuffleExtensions: chromiumFamily(browser),
		TLS:               TLS{ClientHello: hello},
		Expected:          Expected{JA4: fp.JA4, JA4R: fp.JA4R, JA3N: fp.JA3N, PeetPrint: fp.PeetPrint},
		Source:            Source{BuiltAt: now.UTC(), VisitKey: visitKey},
	}
	for _, in := range AllInitiators() {
		if c := byKey["1.1/"+string(in)]; c != nil {
			if in == WebSocket && (p.H1 == nil || len(p.H1.Headers[Navigate]) == 0) {
				continue
			}
			if p.H1 == nil {
				p.H1 = &H1{Headers: map[Initiator][]Header{}}
			}
			p.H1.Headers[in] = profileHeaders(c.Headers)
			p.Source.Captures = append(p.Source.Captures, c.ID)
		}
	}
	if h2nav := byKey["2/navigate"]; h2nav != nil && h2nav.H2 != nil {
		p.H2 = &H2{
			Settings:        append([]Setting(nil), h2nav.H2.Settings...),
			WindowUpdate:    h2nav.H2.WindowUpdate,
			PriorityFrames:  append([]Priority{}, h2nav.H2.Priorities...),
			PseudoOrder:     pseudoOrder(h2nav.Headers),
			HeadersPriority: map[Initiator]Priority{},
			Headers:         map[Initiator][]Header{},
		}
		for _, in := range AllInitiators() {
			c := byKey["2/"+string(in)]
			if c == nil || c.H2 == nil {
				continue
			}
			p.H2.Headers[in] = profileHeaders(regularHeaders(c.Headers))
			if c.H2.HeadersPriority != nil {
				hp := *c.H2.HeadersPriority
				hp.StreamID = 0
				p.H2.HeadersPriority[in] = hp
			}
			p.Source.Captures = append(p.Source.Captures, c.ID)
		}
		addH2Encoding(p.H2, h2nav, byKey, sorted)
		ak := fingerprint.AkamaiString(p.H2.Settings, p.H2.WindowUpdate, p.H2.PriorityFrames, p.H2.PseudoOrder)
		p.Expected.Akamai, p.Expected.AkamaiHash = ak.Text, ak.Hash
	}
	addClientHints(p, sorted)
	addH3(p, sorted)
	if added := addCallerSlots(p, sorted); len(added) > 0 {
		p.Source.Note = "caller-only header slots taken from the repeated request: " + strings.Join(added, ", ")
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("emulation: building profile %s: %w", name, err)
	}
	return p, nil
}

// addH2Encoding records how the browser framed and encoded its requests:
// the first stream of a connection and the per-stream WINDOW_UPDATE (from
// the navigation), each initiator's HPACK codes (its first capture), the
// indexing the browser chose per header name (over every HTTP/2 capture of
// the visit, first seen wins), whether a connection's first block opens
// with a table size update and whether every literal string was
// Huffman-coded (at least 8 literals seen).
func addH2Encoding(h2 *H2, nav *VisitCapture, byKey map[string]*VisitCapture, all []VisitCapture) {
	h2.FirstStreamID = nav.H2.FirstStreamID
	if len(nav.H2.StreamWindowUpdates) > 0 {
		h2.StreamWindowUpdate = nav.H2.StreamWindowUpdates[0]
	}
	for _, in := range AllInitiators() {
		if c := byKey["2/"+string(in)]; c != nil && c.H2 != nil && len(c.H2.HPACK) > 0 {
			if h2.HPACK == nil {
				h2.HPACK = map[Initiator]string{}
			}
			h2.HPACK[in] = strings.Join(c.H2.HPACK, ",")
		}
	}
	h2.TableSizeUpdate = nav.H2.StreamID != 0 && nav.H2.StreamID == nav.H2.FirstStreamID &&
		len(nav.H2.HPACK) > 0 && nav.H2.HPACK[0] == "u"
	literals, huffman := 0, 0
	for _, c := range all {
		if c.HTTPVersion != "2" || c.H2 == nil || len(c.H2.HPACK) == 0 {
			continue
		}
		for _, code := range c.H2.HPACK {
			if code == "i" || code == "u" {
				continue
			}
			literals++
			if strings.HasSuffix(code, "h") && (!strings.Contains(code, "n") || strings.Contains(code, "N")) {
				huffman++
			}
		}
		codes := slices.DeleteFunc(slices.Clone(c.H2.HPACK), func(s string) bool { return s == "u" })
		if len(codes) != len(c.Headers) {
			continue // not aligned with the decoded fields: nothing to learn
		}
		for i, h := range c.Headers {
			k := codes[i][:1]
			if k == "i" {
				continue
			}
			name := strings.ToLower(h.Name)
			if _, seen := h2.HPACKIndexing[name]; seen {
				continue
			}
			if h2.HPACKIndexing == nil {
				h2.HPACKIndexing = map[string]string{}
			}
			h2.HPACKIndexing[name] = k
		}
	}
	// A browser choosing the shorter form sends some strings raw (short
	// digits, "?0"); one that always Huffman-codes never does.
	h2.HuffmanAlways = literals >= 8 && huffman == literals
}

// addClientHints fills p.ClientHints from the visit's requests that carried
// requested client hints (fpserver's page asks for them, so Chromium's
// fetch, xhr, form and websocket requests and its Critical-CH repeat of the
// navigation carry them): per protocol and initiator the first such
// request's list, caller-only values blanked. Browsers that send no hints
// get none.
func addClientHints(p *Profile, caps []VisitCapture) {
	for _, c := range caps {
		if c.NoAcceptCH || !c.Initiator.Valid() || !slices.ContainsFunc(c.Headers, func(h Header) bool { return IsRequestedHint(h.Name) }) {
			continue
		}
		var target *map[Initiator][]Header
		hs := c.Headers
		h2 := c.HTTPVersion == "2" && p.H2 != nil
		if !h2 && (c.HTTPVersion != "1.1" || p.H1 == nil) {
			continue
		}
		if p.ClientHints == nil {
			p.ClientHints = &ClientHints{}
		}
		if target = &p.ClientHints.H1; h2 {
			target, hs = &p.ClientHints.H2, regularHeaders(hs)
		}
		if *target == nil {
			*target = map[Initiator][]Header{}
		}
		if _, ok := (*target)[c.Initiator]; ok {
			continue
		}
		list := make([]Header, 0, len(hs))
		for _, h := range hs {
			if IsCallerOnly(h.Name) {
				h.Value = ""
			}
			list = append(list, h)
		}
		(*target)[c.Initiator] = list
		p.Source.Captures = appendNew(p.Source.Captures, c.ID)
	}
}

// appendNew appends id unless list has it.
func appendNew(list []string, id string) []string {
	if slices.Contains(list, id) {
		return list
	}
	return append(list, id)
}

// addH3 records the visit's HTTP/3 side (the first HTTP/3 capture's
// connection, each initiator's first header list) in p.H3.
func addH3(p *Profile, caps []VisitCapture) {
	for i := range caps {
		c := &caps[i]
		if c.HTTPVersion != "3" || c.H3 == nil || !c.Initiator.Valid() {
			continue
		}
		if p.H3 == nil {
			p.H3 = &H3{ClientHello: c.ClientHello, QUICVersion: c.H3.QUICVersion, Settings: c.H3.Settings,
				PseudoOrder: pseudoOrder(c.Headers), Headers: map[Initiator][]Header{},
				QUICTP: c.H3.QUICTP, QUICTPHash: c.H3.QUICTPHash}
			if ch, err := fingerprint.ParseClientHelloQUIC(c.ClientHello); err == nil {
				p.H3.JA4 = ch.Fingerprints().JA4
				p.H3.TransportParameters, _ = ch.QUICTransportParams()
			}
		}
		if _, ok := p.H3.Headers[c.Initiator]; !ok {
			p.H3.Headers[c.Initiator] = profileHeaders(regularHeaders(c.Headers))
			p.Source.Captures = append(p.Source.Captures, c.ID)
		}
	}
}

// firstVisitHello returns the hello of nav when it has no PSK, else the
// earliest PSK-free hello of the visit.
func firstVisitHello(nav *VisitCapture, all []VisitCapture) ([]byte, error) {
	cands := []*VisitCapture{nav}
	for i := range all {
		cands = append(cands, &all[i])
	}
	var lastErr error
	for _, c := range cands {
		if len(c.ClientHello) == 0 {
			continue
		}
		ch, err := fingerprint.ParseClientHello(c.ClientHello)
		if err != nil {
			lastErr = err
			continue
		}
		if !ch.HasPSK() {
			return append([]byte(nil), c.ClientHello...), nil
		}
	}
	if lastErr != nil {
		return nil, fmt.Errorf("emulation: building profile: no usable ClientHello: %w", lastErr)
	}
	return nil, errors.New("emulation: building profile: every ClientHello of the visit resumes a session (pre_shared_key); visit again with a fresh browser profile")
}

// profileHeaders keeps a captured header list's order and casing, blanks
// the values that must come from the caller and drops requested hints.
func profileHeaders(hs []Header) []Header {
	out := make([]Header, 0, len(hs))
	for _, h := range hs {
		if IsRequestedHint(h.Name) {
			continue
		}
		if IsCallerOnly(h.Name) {
			h.Value = ""
		}
		out = append(out, h)
	}
	return out
}

func regularHeaders(hs []Header) []Header {
	out := make([]Header, 0, len(hs))
	for _, h := range hs {
		if !strings.HasPrefix(h.Name, ":") {
			out = append(out, h)
		}
	}
	return out
}

func pseudoOrder(hs []Header) []string {
	var out []string
	for _, h := range hs {
		if strings.HasPrefix(h.Name, ":") {
			out = append(out, h.Name)
		}
	}
	return out
}

func chromiumFamily(browser string) bool {
	switch browser {
	case "chrome", "chromium", "edge", "opera", "brave":
		return true
	}
	return false
}

var (
	reChrome  = regexp.MustCompile(`(?:Chrome|CriOS)/([0-9.]+)`)
	reFirefox = regexp.MustCompile(`(?:Firefox|FxiOS)/([0-9.]+)`)
	reEdge    = regexp.MustCompile(`Edg(?:e|A|iOS)?/([0-9.]+)`)
	reSafari  = regexp.MustCompile(`Version/([0-9.]+).*Safari/`)
	reBrand   = regexp.MustCompile(`"([^"]+)";v="([0-9.]+)"`)
)

// identify reads browser family, version and platform from a user agent
// and, when present, the Sec-CH-UA brand list (which tells Chromium from
// Google Chrome: both send "Chrome/" in the user agent).
func identify(ua string, headers []Header) (browser, version, platform string) {
	brands := ""
	for _, h := range headers {
		if strings.EqualFold(h.Name, "sec-ch-ua") {
			brands = h.Value
		}
	}
	switch {
	case reEdge.MatchString(ua):
		browser, version = "edge", reEdge.FindStringSubmatch(ua)[1]
	case reChrome.MatchString(ua):
		browser, version = "chrome", reChrome.FindStringSubmatch(ua)[1]
		if brands != "" {
			names := map[string]bool{}
			for _, m := range reBrand.FindAllStringSubmatch(brands, -1) {
				names[m[1]] = true
			}
			switch {
			case names["Google Chrome"]:
				browser = "chrome"
			case names["Opera"]:
				browser = "opera"
			case names["Brave"]:
				browser = "brave"
			case names["Chromium"]:
				browser = "chromium"
			}
		}
	case reFirefox.MatchString(ua):
		browser, version = "firefox", reFirefox.FindStringSubmatch(ua)[1]
	case reSafari.MatchString(ua):
		browser, version = "safari", reSafari.FindStringSubmatch(ua)[1]
	default:
		browser, version = "unknown", "0"
	}
	switch {
	case strings.Contains(ua, "Android"):
		platform = "android"
	case strings.Contains(ua, "iPhone") || strings.Contains(ua, "iPad"):
		platform = "ios"
	case strings.Contains(ua, "Windows"):
		platform = "windows"
	case strings.Contains(ua, "Macintosh") || strings.Contains(ua, "Mac OS X"):
		platform = "macos"
	case strings.Contains(ua, "CrOS"):
		platform = "chromeos"
	case strings.Contains(ua, "Linux") || strings.Contains(ua, "X11"):
		platform = "linux"
	default:
		platform = "unknown"
	}
	return browser, version, platform
}

// addCallerSlots completes the profile's header lists with the positions of
// caller-only headers (cookie, referer, ...) that the first request of an
// initiator lacked but a repeated request of the same initiator and
// protocol carried. Chromium navigates twice when a page sends Critical-CH:
// the builder keeps the first navigation (low-entropy client hints only, as
// on any site that asks for none), which was sent before the visit cookie
// existed, while the repeat carries the Cookie slot. A slot is inserted
// after the nearest preceding header both lists share, with an empty value
// as builder output has. It returns "h2/navigate:cookie"-style labels of
// what it added.
func addCallerSlots(p *Profile, caps []VisitCapture) []string {
	sorted := slices.Clone(caps)
	slices.SortStableFunc(sorted, func(a, b VisitCapture) int { return a.CreatedAt.Compare(b.CreatedAt) })
	var added []string
	for _, version := range []string{"2", "1.1"} {
		var lists map[Initiator][]Header
		switch {
		case version == "2" && p.H2 != nil:
			lists = p.H2.Headers
		case version == "1.1" && p.H1 != nil:
			lists = p.H1.Headers
		default:
			continue
		}
		for _, in := range AllInitiators() {
			if len(lists[in]) == 0 {
				continue // no list was taken for it: nothing to complete
			}
			// The list's own capture (the first, or the first to an
			// origin without Accept-CH when there is one) is skipped.
			plain := slices.ContainsFunc(sorted, func(c VisitCapture) bool {
				return c.NoAcceptCH && c.HTTPVersion == version && c.Initiator == in
			})
			seenFirst := false
			for _, c := range sorted {
				if c.HTTPVersion != version || c.Initiator != in {
					continue
				}
				if !seenFirst && c.NoAcceptCH == plain {
					seenFirst = true
					continue
				}
				var names []string
				lists[in], names = mergeCallerSlots(lists[in], c.Headers)
				for _, n := range names {
					added = append(added, fmt.Sprintf("h%s/%s:%s", strings.TrimSuffix(version, ".1"), in, n))
				}
			}
		}
	}
	return added
}

// mergeCallerSlots inserts into list every caller-only header of repeat
// that list lacks, after the nearest header before it in repeat that list
// has (at the front when there is none). Pseudo headers are ignored.
func mergeCallerSlots(list, repeat []Header) ([]Header, []string) {
	has := func(hs []Header, name string) int {
		return slices.IndexFunc(hs, func(h Header) bool { return strings.EqualFold(h.Name, name) })
	}
	var added []string
	for i, h := range repeat {
		if strings.HasPrefix(h.Name, ":") || !IsCallerOnly(h.Name) || has(list, h.Name) >= 0 {
			continue
		}
		at := 0
		for j := i - 1; j >= 0; j-- {
			if k := has(list, repeat[j].Name); k >= 0 {
				at = k + 1
				break
			}
		}
		list = slices.Insert(list, at, Header{Name: h.Name})
		added = append(added, h.Name)
	}
	return list, added
}
