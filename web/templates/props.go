// Package templates holds the fpserver HTML pages as templ components and
// the props structs they render.
//
// Props are display-ready: every field is already formatted text (or a
// number the template prints), computed by package web. The components add
// no logic beyond loops and conditionals, and they render every value as
// escaped text or as an escaped attribute; no component uses templ.Raw, so
// request data (header values, user agents, SNI, ...) can never become
// markup. URLs in props are relative paths built by package web from
// validated identifiers, and templ sanitizes them again.
package templates

import (
	"strconv"
	"strings"
)

// Navigation targets for Page.Nav.
const (
	NavFingerprint = "fingerprint"
	NavStats       = "stats"
	NavProfiles    = "profiles"
	NavAPI         = "api"
)

// Page is what the shared layout needs.
type Page struct {
	// Title goes into <title> (followed by " · guanaco").
	Title string
	// Nav marks the current entry of the top navigation (Nav* constants or
	// "").
	Nav string
	// AssetVersion is appended to asset URLs for cache busting.
	AssetVersion string
	// Probes, when set, makes the layout load the sub-resource probes
	// that belong in <head> (stylesheet, script, manifest); the
	// fingerprint page sets it.
	Probes *HeadProbes
}

// HeadProbes are the URLs of the sub-resource probes in <head>.
type HeadProbes struct {
	Style, Script, Manifest string
}

// Asset returns the URL of the static asset name.
func (p Page) Asset(name string) string {
	u := "/static/" + name
	if p.AssetVersion != "" {
		u += "?v=" + p.AssetVersion
	}
	return u
}

// KeyValue is one row of a definition list.
type KeyValue struct {
	Key   string
	Value string
	// Mono renders the value in a monospace font.
	Mono bool
}

// NamedCode is a registered code point: Code is its hex form ("0x1301"),
// Name the registered name ("" when unknown), GREASE marks RFC 8701 values.
type NamedCode struct {
	Code   string
	Name   string
	GREASE bool
}

// Label is the name, or a placeholder for GREASE and unknown values.
func (c NamedCode) Label() string {
	switch {
	case c.GREASE:
		return "GREASE"
	case c.Name == "":
		return "unknown"
	}
	return c.Name
}

// ExtensionRow is one ClientHello extension.
type ExtensionRow struct {
	Code   string
	Name   string
	Length int
	// Detail summarises the decoded data ("" when there is nothing to say).
	Detail string
	GREASE bool
}

// KeyShareRow is one key_share entry.
type KeyShareRow struct {
	Group     NamedCode
	KeyLength int
}

// HeaderRow is one request header as sent.
type HeaderRow struct {
	Name  string
	Value string
}

// FingerprintRow is one fingerprint: Value is the value shown and copied
// (usually the hash), Full the long form when it differs, Link the
// population view ("" when the kind is not indexed).
type FingerprintRow struct {
	Label string
	Value string
	Full  string
	Link  string
}

// TLSView is the decoded ClientHello and the negotiated parameters.
type TLSView struct {
	// Summary holds negotiated version, cipher, ALPN, SNI and hello-level
	// fields.
	Summary    []KeyValue
	Ciphers    []NamedCode
	Extensions []ExtensionRow
	Groups     []NamedCode
	SigAlgs    []NamedCode
	Versions   []NamedCode
	ALPN       []string
	KeyShares  []KeyShareRow
	// RawBase64 is the ClientHello record(s) as captured.
	RawBase64 string
	// RawLength is the size of the captured hello in bytes.
	RawLength int
	// Anomalies are the extension content problems the parser tolerated,
	// in wire order; empty for a well-formed hello.
	Anomalies []AnomalyRow
}

// AnomalyRow is one tolerated extension anomaly (fingerprint.Anomaly).
type AnomalyRow struct {
	Code    string // extension type, "0x0010"
	Name    string // extension name, "unknown" when unregistered
	Kind    string // fingerprint.AnomalyKind
	Offset  int    // byte offset in the captured records
	Message string
}

// SettingRow is one HTTP/2 SETTINGS parameter.
type SettingRow struct {
	ID    string
	Name  string
	Value string
}

// PriorityRow is an HTTP/2 priority (PRIORITY frame or HEADERS flag). Weight
// is the real weight 1..256.
type PriorityRow struct {
	StreamID  string
	Exclusive bool
	DependsOn string
	Weight    string
}

// H2View is the HTTP/2 side of a capture.
type H2View struct {
	StreamID        string
	Settings        []SettingRow
	WindowUpdate    string
	Priorities      []PriorityRow
	HeadersPriority *PriorityRow
	PseudoOrder     []string
	Akamai          string
	AkamaiHash      string
	// HPACK is the header block's representation codes, comma-separated
	// (fingerprint.HPACKCodes); "" when not recorded.
	HPACK string
	// FirstStreamID is the stream of the connection's first request, ""
	// when unknown; StreamWindowUpdates this stream's WINDOW_UPDATE
	// increments and Data its DATA frames ("11 END_STREAM"), "" when none.
	FirstStreamID       string
	StreamWindowUpdates string
	Data                string
}

// Report is one capture prepared for display.
type Report struct {
	CaptureID  string
	CaptureURL string
	// Created is the capture time, formatted.
	Created   string
	Initiator string
	// Protocol is "HTTP/2", "HTTP/1.1", ...
	Protocol string
	// Transport is e.g. "TLS 1.3" or "plain TCP".
	Transport string
	Method    string
	Path      string
	Host      string
	ClientIP  string
	UserAgent string
	// Notice explains an incomplete capture ("" when complete).
	Notice       string
	Fingerprints []FingerprintRow
	Headers      []HeaderRow
	// HeaderOrder is the header-order fingerprint text and hash.
	HeaderOrder     string
	HeaderOrderHash string
	TLS             *TLSView
	H2              *H2View
	H3              *H3View
}

// H3View is the QUIC and HTTP/3 side of a capture.
type H3View struct {
	StreamID string
	// QUICVersion is the client's Initial packets' version; Packets the
	// number of Initial packets that carried the hello ("" when unknown).
	QUICVersion string
	Packets     string
	// TP is the transport-parameters fingerprint text and hash.
	TP, TPHash string
	// Params are the transport parameters in wire order.
	Params []QUICParamRow
	// Settings are the client's HTTP/3 SETTINGS in wire order; SettingsNote
	// says why there are none.
	Settings     []SettingRow
	SettingsNote string
	UniStreams   []string
	PseudoOrder  []string
	Priority     string
	// PriorityUpdates are PRIORITY_UPDATE frames as "element: value".
	PriorityUpdates []string
}

// QUICParamRow is one transport parameter.
type QUICParamRow struct {
	ID, Name, Value string
	GREASE          bool
}

// HeaderCount is len(Headers) as text.
func (r Report) HeaderCount() string { return strconv.Itoa(len(r.Headers)) }

// IndexPage is "/": the visitor's fingerprint and the initiator probes.
type IndexPage struct {
	Page
	Report Report
	// ProfileURL builds a profile from this visit ("" without a visit key).
	ProfileURL string
	// Stored is false when the capture could not be queued for storage, so
	// its link will not resolve.
	Stored bool
	// Verdict: does the User-Agent fit the TLS and HTTP stack? Nil: not
	// shown.
	Verdict *VerdictView
	// HTTP1URL is this page on the listener that offers only HTTP/1.1, shown
	// when the page came over HTTP/2 ("" : no link).
	HTTP1URL string
	// Subresources are the body's sub-resource probes (nil: none).
	Subresources *BodyProbes
}

// BodyProbes are the URLs of the sub-resource probes in the page body.
type BodyProbes struct {
	Image, Frame, Media string
}

// CapturePage is "/captures/{id}".
type CapturePage struct {
	Page
	Report Report
	// Curation is what curation made of the capture's visit (nil: the
	// capture has no visit).
	Curation *CurationView
}

// ProbeResultPage is the answer to the form probe, loaded into a hidden
// iframe: ResultJSON is the capture report the page script reads from the
// data-result attribute of #probe-result.
type ProbeResultPage struct {
	Page
	ResultJSON string
	Report     Report
}

// Bar is one row of a bar chart.
type Bar struct {
	// Label is the (possibly shortened) text shown; Title the full value.
	Label string
	Title string
	Count string
	// Width is the bar length in units of a track ChartWidth long.
	Width float64
	Link  string
}

// ChartWidth is the length of a full bar in the SVG user units of each
// bar's viewBox.
const ChartWidth = 1000

// Chart is a horizontal bar chart: per row an HTML label and count above an
// inline SVG bar whose length is proportional to the count.
type Chart struct {
	ID    string
	Title string
	// Caption describes what is counted.
	Caption string
	Bars    []Bar
	// Mono renders labels in a monospace font (hashes).
	Mono bool
}

// BarViewBox is the viewBox of every bar's SVG.
func BarViewBox() string { return "0 0 " + strconv.Itoa(ChartWidth) + " 10" }

// Link is a labelled URL.
type Link struct {
	Label string
	URL   string
	// Detail is secondary text shown next to the link.
	Detail string
	// Current marks the selected entry of a selector.
	Current bool
}

// FingerprintPage is "/fingerprints/{hash}": the population view.
type FingerprintPage struct {
	Page
	Hash      string
	Kind      string
	Count     string
	Visits    string
	FirstSeen string
	LastSeen  string
	// UserAgents charts the most frequent user agents.
	UserAgents Chart
	// Profiles are stored profiles whose expected fingerprints include Hash.
	Profiles []Link
	// Captures are the most recent captures with this value.
	Captures []Link
	// Days is the captures per day of the last DaySeries.Days days.
	Days DaySeries
}

// DaySeries is a column chart of counts per day, drawn as SVG: one column
// per day (DayWidth user units wide) of height proportional to its count.
type DaySeries struct {
	Columns []DayColumn
	// First and Last label the axis ends; Max the tallest column.
	First, Last, Max string
}

// DayColumn is one day of a DaySeries; X and Height in SVG user units
// (the chart is DaySeriesWidth by DaySeriesHeight).
type DayColumn struct {
	X, Height float64
	Title     string
}

// Size of a DaySeries' SVG in user units.
const (
	DaySeriesWidth  = 900
	DaySeriesHeight = 120
)

// DaySeriesViewBox is the viewBox of a DaySeries' SVG.
func DaySeriesViewBox() string {
	return "0 0 " + strconv.Itoa(DaySeriesWidth) + " " + strconv.Itoa(DaySeriesHeight)
}

// DayColumnWidth is the width of one day's column (a 90-day series).
const DayColumnWidth = DaySeriesWidth / 90.0

// StatsPage is "/stats".
type StatsPage struct {
	Page
	// Window describes the selected time window.
	Window  string
	Windows []Link
	Charts  []Chart
	// Totals are the window's counts, shown as text (captures,
	// connections, visits).
	Totals []Link
	// Empty is true when no capture falls into the window.
	Empty bool
}

// ErrorPage is an HTML error (404 and the like).
type ErrorPage struct {
	Page
	Status  int
	Heading string
	Message string
}

// article is the indefinite article before word: "an" before a vowel
// letter ("an api request", "an echo request"), else "a".
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiouAEIOU", rune(word[0])) {
		return "an"
	}
	return "a"
}

// capitalize upper-cases the first ASCII letter of s.
func capitalize(s string) string {
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		return string(s[0]-'a'+'A') + s[1:]
	}
	return s
}
