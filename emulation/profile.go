// Package emulation defines browser profiles: everything emuproxy needs to
// look like one browser build on one platform (TLS ClientHello, HTTP/2
// framing, header order and values per request initiator), their JSON
// interchange format (format version 1), validation, and the builder that
// turns one page visit's captures into a profile.
package emulation

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/guanaco-fp/guanaco/fingerprint"
)

// FormatVersion is the profile JSON format this package reads and writes.
const FormatVersion = 1

// Initiator is the kind of request a browser makes; header lists and HTTP/2
// priorities differ between them.
type Initiator string

// The initiators a profile describes.
const (
	Navigate Initiator = "navigate" // top-level navigation (address bar, link)
	Fetch    Initiator = "fetch"    // fetch() from page script
	XHR      Initiator = "xhr"      // XMLHttpRequest from page script
	Form     Initiator = "form"     // HTML form submission
	// WebSocket is the opening handshake of a WebSocket from page script:
	// an HTTP/1.1 Upgrade, or over HTTP/2 an extended CONNECT (RFC 8441).
	// Its header lists carry no pseudo headers; HTTP/2 lists leave out
	// :protocol like the other pseudo headers.
	WebSocket Initiator = "websocket"

	// Sub-resource destinations: requests a page's markup makes, named by
	// their fetch destination (Sec-Fetch-Dest; Style is "style", Media a
	// video or audio element's "video" or "audio").
	Iframe   Initiator = "iframe"   // a nested browsing context's document
	Style    Initiator = "style"    // <link rel=stylesheet>
	Script   Initiator = "script"   // <script src>
	Image    Initiator = "image"    // <img>, CSS images, favicons
	Font     Initiator = "font"     // @font-face
	Media    Initiator = "media"    // <video>, <audio>
	Manifest Initiator = "manifest" // <link rel=manifest>
)

// Initiators lists the request initiators, those whose captures are
// ordinary HTTP requests (navigate, fetch, xhr, form), in a stable order.
// WebSocket is not among them: a handshake is not sent as an ordinary
// request; AllInitiators includes it.
func Initiators() []Initiator { return []Initiator{Navigate, Fetch, XHR, Form} }

// Subresources lists the sub-resource destinations in a stable order.
// Profiles made before they were captured have no lists for them; see
// ProfileList for the fallback.
func Subresources() []Initiator {
	return []Initiator{Iframe, Style, Script, Image, Font, Media, Manifest}
}

// AllInitiators lists every initiator a profile may carry header lists
// for: Initiators, WebSocket, then Subresources.
func AllInitiators() []Initiator {
	return append(append(Initiators(), WebSocket), Subresources()...)
}

// Valid reports whether i is one of AllInitiators.
func (i Initiator) Valid() bool {
	switch i {
	case Navigate, Fetch, XHR, Form, WebSocket, Iframe, Style, Script, Image, Font, Media, Manifest:
		return true
	}
	return false
}

// IsSubresource reports whether i is one of Subresources.
func (i Initiator) IsSubresource() bool {
	switch i {
	case Iframe, Style, Script, Image, Font, Media, Manifest:
		return true
	}
	return false
}

// Header is one header as sent, original casing kept. JSON: ["name","value"].
type Header = fingerprint.Header

// Setting is one HTTP/2 SETTINGS parameter. JSON: [id, value].
type Setting = fingerprint.H2Setting

// Priority is an HTTP/2 priority: in a PRIORITY frame (StreamID set) or in
// a HEADERS frame (StreamID zero). Weight is the real weight, 1..256.
type Priority = fingerprint.H2Priority

// Profile is one browser build on one platform.
type Profile struct {
	Format    int    `json:"format"`
	Name      string `json:"name"`
	Browser   string `json:"browser"` // lower-case family: chromium, chrome, firefox, safari, edge
	Version   string `json:"version"` // full version as in the user agent, e.g. 156.0.0.0
	Platform  string `json:"platform"`
	UserAgent string `json:"user_agent"`
	// ShuffleExtensions: the browser permutes TLS extensions on every
	// connection (Chromium does, Firefox does not).
	ShuffleExtensions bool `json:"shuffle_extensions"`
	TLS               TLS  `json:"tls"`
	H1                *H1  `json:"h1,omitempty"`
	H2                *H2  `json:"h2,omitempty"`
	// ClientHints are the header lists sent to origins that asked for
	// client hints (Chromium family); absent for browsers that send none.
	ClientHints *ClientHints `json:"client_hints,omitempty"`
	// H3 is what the browser sent over QUIC and HTTP/3, when the visit used
	// it. Optional, recorded for analysis and a future HTTP/3 emulation;
	// emuproxy does not use it.
	H3       *H3      `json:"h3,omitempty"`
	Expected Expected `json:"expected"`
	Source   Source   `json:"source"`
}

// TLS holds the ClientHello to replay.
type TLS struct {
	// ClientHello is the first-visit ClientHello as TLS record(s), without
	// pre_shared_key. JSON: base64.
	ClientHello []byte `json:"client_hello"`
}

// H1 holds HTTP/1.1 header lists per initiator, in order, original casing.
type H1 struct {
	Headers map[Initiator][]Header `json:"headers"`
}

// H2 holds the HTTP/2 connection preface and per-initiator header blocks.
type H2 struct {
	Settings []Setting `json:"settings"`
	// WindowUpdate is the connection-level WINDOW_UPDATE increment sent
	// after SETTINGS; 0 when the browser sends none.
	WindowUpdate uint32 `json:"window_update"`
	// PriorityFrames are the PRIORITY frames sent before the first HEADERS.
	PriorityFrames []Priority `json:"priority_frames"`
	// PseudoOrder is the pseudo-header order, e.g. [":method", ":authority", ":scheme", ":path"].
	PseudoOrder []string `json:"pseudo_order"`
	// HeadersPriority is the priority carried on HEADERS, per initiator;
	// absent when the browser sends none for that initiator.
	HeadersPriority map[Initiator]Priority `json:"headers_priority"`
	// Headers are the regular (non-pseudo) headers per initiator, in order,
	// names lower-case as HTTP/2 requires.
	Headers map[Initiator][]Header `json:"headers"`
	// FirstStreamID is the stream of the browser's first request on a
	// connection; 0 means 1. Firefox starts at 3 (it keeps stream 1 for an
	// HTTP/1.1 Upgrade). PRIORITY frames' idle streams come before it.
	FirstStreamID uint32 `json:"first_stream_id,omitempty"`
	// StreamWindowUpdate is the WINDOW_UPDATE increment the browser sends
	// on every request's stream right after its HEADERS (Firefox
	// 12451840, raising the stream window to 12 MiB); 0 when it sends none.
	StreamWindowUpdate uint32 `json:"stream_window_update,omitempty"`
	// HPACK holds, per initiator, the HPACK representation codes of the
	// captured request's header block (fingerprint.HPACKCodes joined by
	// ","), for comparison and display. The transport encodes by
	// HPACKIndexing and TableSizeUpdate.
	HPACK map[Initiator]string `json:"hpack,omitempty"`
	// HPACKIndexing maps a header name (lower-case, pseudo headers
	// included) to how the browser encodes it when no table entry matches
	// name and value: "l" literal with incremental indexing, "w" without
	// indexing, "v" never indexed. Names absent are "l".
	HPACKIndexing map[string]string `json:"hpack_indexing,omitempty"`
	// TableSizeUpdate: the browser's first header block on a connection
	// starts with a dynamic table size update (Firefox).
	TableSizeUpdate bool `json:"hpack_table_size_update,omitempty"`
	// HuffmanAlways: the browser Huffman-codes every literal name and value
	// (Firefox), not only when that is shorter (Chromium, the default).
	HuffmanAlways bool `json:"hpack_huffman_always,omitempty"`
}

// H3 holds the QUIC and HTTP/3 side of a browser (format version 1,
// optional):
//
//	"h3": {
//	  "client_hello": base64 of the QUIC ClientHello handshake message (bare, from the CRYPTO frames),
//	  "quic_version": "0x00000001",
//	  "transport_parameters": [{"id", "name", "grease", "value" (hex), "int"}, ...],  wire order
//	  "settings": [{"id", "name", "value", "grease"}, ...],                          wire order
//	  "pseudo_order": [":method", ":authority", ":scheme", ":path"],
//	  "headers": {"navigate": [[name, value], ...], ...},                             regular headers per initiator
//	  "ja4": "q13d...", "quic_tp": "...", "quic_tp_hash": "..."
//	}
//
// Chromium permutes its transport parameters per connection, so their
// order is one sample; quic_tp is order-independent.
type H3 struct {
	ClientHello         []byte                  `json:"client_hello,omitempty"`
	QUICVersion         string                  `json:"quic_version,omitempty"`
	TransportParameters []fingerprint.QUICParam `json:"transport_parameters"`
	Settings            []fingerprint.H3Setting `json:"settings"`
	PseudoOrder         []string                `json:"pseudo_order"`
	Headers             map[Initiator][]Header  `json:"headers"`
	JA4                 string                  `json:"ja4,omitempty"`
	QUICTP              string                  `json:"quic_tp,omitempty"`
	QUICTPHash          string                  `json:"quic_tp_hash,omitempty"`
}

// Expected are fingerprints a request made with this profile must produce;
// fidelity checks compare against them.
type Expected struct {
	JA4        string `json:"ja4"`
	JA4R       string `json:"ja4_r"`
	JA3N       string `json:"ja3n,omitempty"`
	PeetPrint  string `json:"peetprint,omitempty"`
	Akamai     string `json:"akamai,omitempty"`
	AkamaiHash string `json:"akamai_hash,omitempty"`
}

// Source records how the profile was made and, for profiles curated from
// visitors, how well it is corroborated.
type Source struct {
	BuiltAt  time.Time `json:"built_at"`
	VisitKey string    `json:"visit_key,omitempty"`
	Captures []string  `json:"captures,omitempty"`
	Note     string    `json:"note,omitempty"`
	// Kind is where the profile came from: SourceCurated, SourceBuiltin or
	// SourceImported; empty in documents written before curation existed.
	Kind string `json:"kind,omitempty"`
	// BrowserKey and WireKey are the browser and wire identities the
	// curation grouped the visits by (curated profiles only).
	BrowserKey string `json:"browser_key,omitempty"`
	WireKey    string `json:"wire_key,omitempty"`
	// FirstSeen and LastSeen bound the corroborating visits; Visits and
	// Addresses count them and their distinct client addresses.
	FirstSeen time.Time `json:"first_seen,omitzero"`
	LastSeen  time.Time `json:"last_seen,omitzero"`
	Visits    int64     `json:"visits,omitempty"`
	Addresses int64     `json:"addresses,omitempty"`
	// Stale: no corroborating visit for the curation's stale period.
	Stale bool `json:"stale,omitempty"`
	// Origin is the provenance of a profile imported from published data
	// (rama, curl-impersonate); absent otherwise.
	Origin *Origin `json:"origin,omitempty"`
	// Derived lists what the source did not state and was derived from
	// another profile of the engine family ("h1 navigate", "h2 fetch",
	// "priority xhr"; see importer.Complete, Note names the profiles).
	Derived []string `json:"derived,omitempty"`
}

// Origin names the published record an imported profile was converted
// from.
type Origin struct {
	Project string `json:"project"`           // e.g. github.com/plabayo/rama
	Commit  string `json:"commit,omitempty"`  // the project's commit the data is from
	File    string `json:"file"`              // path inside the project
	Record  string `json:"record"`            // the record's key in that file
	Licence string `json:"licence,omitempty"` // the data's licence
}

// Source kinds.
const (
	SourceCurated  = "curated"
	SourceBuiltin  = "builtin"
	SourceImported = "imported"
)

// Fresh reports whether p is usable as a current profile: not marked
// stale.
func (p *Profile) Fresh() bool { return !p.Source.Stale }

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// Validate checks that p is complete and consistent: a format this package
// reads, a name usable in URLs and proxy user labels, a ClientHello that
// parses and carries no PSK, at least one of H1/H2, header lists for the
// navigate initiator, pseudo headers that are a permutation of the four
// request pseudo headers, and fingerprints that match the hello. The error
// lists every problem found.
func (p *Profile) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if p.Format != FormatVersion {
		add("format is %d, want %d", p.Format, FormatVersion)
	}
	if !nameRE.MatchString(p.Name) {
		add("name %q must match %s", p.Name, nameRE)
	}
	if p.Browser == "" {
		add("browser is empty")
	}
	if p.UserAgent == "" {
		add("user_agent is empty")
	}
	if len(p.TLS.ClientHello) == 0 {
		add("tls.client_hello is empty")
	} else if ch, err := fingerprint.ParseClientHello(p.TLS.ClientHello); err != nil {
		add("tls.client_hello: %v", err)
	} else {
		if ch.HasPSK() {
			add("tls.client_hello carries pre_shared_key (a resumed visit); profiles need a first-visit hello")
		}
		// The parser tolerates malformed extension contents (issue 14);
		// a profile is replayed through utls and must stay well formed.
		for _, a := range ch.Anomalies {
			add("tls.client_hello: extension %d (%s) is malformed (%s at offset %d): %s", a.Extension, a.Name, a.Kind, a.Offset, a.Message)
		}
		fp := ch.Fingerprints()
		if p.Expected.JA4 != "" && p.Expected.JA4 != fp.JA4 {
			add("expected.ja4 %s does not match the hello's %s", p.Expected.JA4, fp.JA4)
		}
	}
	if p.H1 == nil && p.H2 == nil {
		add("neither h1 nor h2 is set")
	}
	if p.H1 != nil {
		checkHeaderSets(p.H1.Headers, "h1", add)
	}
	if p.H2 != nil {
		checkHeaderSets(p.H2.Headers, "h2", add)
		if len(p.H2.Settings) == 0 {
			add("h2.settings is empty")
		}
		if !isPseudoPermutation(p.H2.PseudoOrder) {
			add("h2.pseudo_order %v must be a permutation of :method :authority :scheme :path", p.H2.PseudoOrder)
		}
		for i, pr := range p.H2.PriorityFrames {
			if pr.StreamID == 0 || pr.Weight < 1 || pr.Weight > 256 {
				add("h2.priority_frames[%d]: need stream_id > 0 and weight 1..256", i)
			}
		}
		for in, pr := range p.H2.HeadersPriority {
			if !in.Valid() || pr.Weight < 1 || pr.Weight > 256 {
				add("h2.headers_priority[%s]: unknown initiator or weight outside 1..256", in)
			}
		}
		if p.H2.FirstStreamID != 0 && p.H2.FirstStreamID%2 == 0 {
			add("h2.first_stream_id %d must be odd", p.H2.FirstStreamID)
		}
		if p.H2.StreamWindowUpdate > 1<<31-1 {
			add("h2.stream_window_update %d exceeds 2^31-1", p.H2.StreamWindowUpdate)
		}
		for name, k := range p.H2.HPACKIndexing {
			if k != "l" && k != "w" && k != "v" || name != strings.ToLower(name) {
				add("h2.hpack_indexing[%q] = %q: want a lower-case name and l, w or v", name, k)
			}
		}
		for _, h := range flatten(p.H2.Headers) {
			if h.Name != strings.ToLower(h.Name) || strings.HasPrefix(h.Name, ":") {
				add("h2 header %q must be lower-case and not a pseudo header", h.Name)
				break
			}
		}
	}
	if ch := p.ClientHints; ch != nil {
		for where, m := range map[string]map[Initiator][]Header{"client_hints.h1": ch.H1, "client_hints.h2": ch.H2} {
			for in := range m {
				if !in.Valid() {
					add("%s: unknown initiator %q", where, in)
				}
			}
		}
	}
	if h := p.H3; h != nil {
		if len(h.ClientHello) > 0 {
			if _, err := fingerprint.ParseClientHelloQUIC(h.ClientHello); err != nil {
				add("h3.client_hello: %v", err)
			}
		}
		if len(h.PseudoOrder) > 0 && !isPseudoPermutation(h.PseudoOrder) {
			add("h3.pseudo_order %v must be a permutation of :method :authority :scheme :path", h.PseudoOrder)
		}
		for in := range h.Headers {
			if !in.Valid() {
				add("h3.headers: unknown initiator %q", in)
			}
		}
	}
	return errors.Join(errs...)
}

func checkHeaderSets(m map[Initiator][]Header, where string, add func(string, ...any)) {
	if len(m[Navigate]) == 0 {
		add("%s.headers.navigate is empty", where)
	}
	for in, hs := range m {
		if !in.Valid() {
			add("%s.headers: unknown initiator %q", where, in)
		}
		for _, h := range hs {
			if h.Name == "" || strings.ContainsAny(h.Name, " \t\r\n:") && !strings.HasPrefix(h.Name, ":") {
				add("%s.headers.%s: invalid header name %q", where, in, h.Name)
			}
			if strings.ContainsAny(h.Value, "\r\n\x00") {
				add("%s.headers.%s: header %q has a control character in its value", where, in, h.Name)
			}
		}
	}
}

func flatten(m map[Initiator][]Header) []Header {
	var out []Header
	for _, in := range AllInitiators() {
		out = append(out, m[in]...)
	}
	return out
}

func isPseudoPermutation(order []string) bool {
	if len(order) != 4 {
		return false
	}
	seen := map[string]bool{}
	for _, p := range order {
		switch p {
		case ":method", ":authority", ":scheme", ":path":
			if seen[p] {
				return false
			}
			seen[p] = true
		default:
			return false
		}
	}
	return true
}

// Marshal encodes p as indented profile JSON.
func (p *Profile) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("emulation: encoding profile %s: %w", p.Name, err)
	}
	return append(b, '\n'), nil
}

// Unmarshal decodes and validates profile JSON. Unknown fields are an error
// so a typo never silently drops a setting.
func Unmarshal(b []byte) (*Profile, error) {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var p Profile
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("emulation: decoding profile: %w", err)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("emulation: profile %q is invalid: %w", p.Name, err)
	}
	return &p, nil
}

// ClientHelloBase64 is the hello as it appears in JSON, for display.
func (p *Profile) ClientHelloBase64() string {
	return base64.StdEncoding.EncodeToString(p.TLS.ClientHello)
}

// ResumedFingerprints are the TLS fingerprints of p's hello on a connection
// that resumes a session: browsers append pre_shared_key (41) as the last
// extension when they hold a ticket for the server, and so does the
// emulating transport, so the extension count and lists of JA3, JA4 and
// PeetPrint change. The first connection to a server carries p.Expected's.
func (p *Profile) ResumedFingerprints() (fingerprint.TLSFingerprints, error) {
	ch, err := fingerprint.ParseClientHello(p.TLS.ClientHello)
	if err != nil {
		return fingerprint.TLSFingerprints{}, fmt.Errorf("emulation: profile %s: %w", p.Name, err)
	}
	for _, e := range ch.Extensions {
		if e.Type == 41 {
			return ch.Fingerprints(), nil
		}
	}
	ch.Extensions = append(ch.Extensions, fingerprint.Extension{Type: 41})
	return ch.Fingerprints(), nil
}
