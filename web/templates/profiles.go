package templates

// ProfileRow is one stored profile in the list of "/profiles".
type ProfileRow struct {
	Name     string
	URL      string // "/profiles/{name}"
	JSONURL  string // "/api/profiles/{name}?download=1"
	Browser  string
	Version  string
	Platform string
	// Source is curated, builtin or imported.
	Source    string
	Pinned    bool
	Stale     bool
	FirstSeen string
	LastSeen  string
	Visits    string
	Addresses string
	JA4       string
	JA4URL    string
	Akamai    string // the Akamai hash
	AkamaiURL string
}

// ProfilesPage is "/profiles": every stored profile, one page at a time.
type ProfilesPage struct {
	Page
	// Total is the number of profiles matching the filters, as text.
	Total    string
	Profiles []ProfileRow
	// Sources are the source filter's choices (the current one marked).
	Sources []Link
	// Browser, Platform and Source are the filters in effect ("" for none).
	Browser  string
	Platform string
	Source   string
	// PageLabel is "page 2 of 5"; Prev and Next are "" at the ends.
	PageLabel string
	Prev      string
	Next      string
	// APIURL is the same list in JSON.
	APIURL string
}

// HeaderList is one initiator's header list of a profile, in order.
type HeaderList struct {
	Initiator string
	Headers   []HeaderRow
	// Priority is the HEADERS priority of the initiator's requests (nil:
	// none; HTTP/2 only).
	Priority *PriorityRow
}

// ProfileDetailPage is "/profiles/{name}".
type ProfileDetailPage struct {
	Page
	Name      string
	JSONURL   string
	Download  string
	Browser   string
	Version   string
	Platform  string
	UserAgent string
	// Source is curated, builtin or imported ("" when the document does
	// not say and the store has no row value).
	Source string
	Pinned bool
	Stale  bool
	// Freshness and provenance: built at, first/last seen, visits,
	// addresses, identities, note.
	Facts        []KeyValue
	Fingerprints []FingerprintRow
	// ShuffleExtensions: the browser permutes its TLS extensions.
	ShuffleExtensions bool
	// H1 are the HTTP/1.1 header lists per initiator (empty: none).
	H1 []HeaderList
	// H2 is the HTTP/2 preface (nil when the profile has no HTTP/2).
	H2 *H2View
	// H2Lists are the HTTP/2 header lists per initiator.
	H2Lists []HeaderList
	// HintLists are the HTTP/2 header lists sent to origins that asked for
	// client hints (Accept-CH); empty for browsers that send none.
	HintLists []HeaderList
	// H3 is the profile's QUIC and HTTP/3 section (nil when it has none);
	// H3JA4 the JA4 of its QUIC ClientHello, H3Lists its HTTP/3 header
	// lists per initiator.
	H3      *H3View
	H3JA4   string
	H3Lists []HeaderList
	// Captures are the captures the profile was built from.
	Captures []Link
	// Notice explains a document that did not decode completely.
	Notice string
}

// CurationView tells, on a capture's page, what curation made of the
// capture's visit.
type CurationView struct {
	// Status is accepted, refused or pending.
	Status string
	Reason string
	// BrowserKey is the visit's browser identity ("" when not computed).
	BrowserKey string
	Evaluated  string
	// Profile and ProfileURL name the published profile the visit counts
	// towards ("" for none).
	Profile    string
	ProfileURL string
	// Details: the known parts of the verdict's evidence, and the rest as
	// text.
	Closest     string
	ClosestURL  string
	Differences []DiffRow
	Markers     []string
	Other       []KeyValue
}
