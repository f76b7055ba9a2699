// Package model holds the record types, the Store interface and the errors shared by
// the storage backends (store/postgres, store/sqlite), the capture writer
// (store/writer) and the conformance suite (store/storetest).
//
// It is a leaf package: it imports only the standard library, so every backend can
// import it while package store (which dispatches to the backends in store.Open)
// re-exports these names through type aliases. Callers outside store/ should use the
// names in package store.
//
// Records are plain values with primitive fields; the store never interprets the
// fingerprint values, it only indexes them.
package model

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors returned by every Store implementation. Callers test them with errors.Is.
var (
	// ErrNotFound: the requested capture, profile or fingerprint does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrInvalid: the caller passed a value that fails validation (see
	// Capture.Validate, Profile.Validate, FingerprintQuery). Nothing was written.
	ErrInvalid = errors.New("store: invalid value")
	// ErrRejected: the database refused the data itself (a constraint or data
	// exception). Retrying the same data will fail again; the capture writer drops
	// rejected captures one by one instead of retrying them.
	ErrRejected = errors.New("store: rejected by database")
)

// Initiator names accepted in Capture.Initiator. The list is closed: the schema has a
// CHECK constraint with the same values.
const (
	InitiatorNavigate = "navigate"
	InitiatorFetch    = "fetch"
	InitiatorXHR      = "xhr"
	InitiatorForm     = "form"
	InitiatorEcho     = "echo"
	InitiatorAPI      = "api"
	// InitiatorWebSocket is the handshake of the page script's WebSocket
	// (HTTP/1.1 Upgrade or HTTP/2 extended CONNECT, RFC 8441).
	InitiatorWebSocket = "websocket"
	// Sub-resources the fingerprint page loads, named by their fetch
	// destination (Sec-Fetch-Dest; "style" is a stylesheet, "media" a
	// video or audio element's request).
	InitiatorIframe   = "iframe"
	InitiatorStyle    = "style"
	InitiatorScript   = "script"
	InitiatorImage    = "image"
	InitiatorFont     = "font"
	InitiatorMedia    = "media"
	InitiatorManifest = "manifest"
)

// Initiators lists the valid initiators in a stable order.
func Initiators() []string {
	return []string{InitiatorNavigate, InitiatorFetch, InitiatorXHR, InitiatorForm, InitiatorEcho, InitiatorAPI, InitiatorWebSocket,
		InitiatorIframe, InitiatorStyle, InitiatorScript, InitiatorImage, InitiatorFont, InitiatorMedia, InitiatorManifest}
}

// ValidInitiator reports whether s is one of Initiators.
func ValidInitiator(s string) bool {
	switch s {
	case InitiatorNavigate, InitiatorFetch, InitiatorXHR, InitiatorForm, InitiatorEcho, InitiatorAPI, InitiatorWebSocket,
		InitiatorIframe, InitiatorStyle, InitiatorScript, InitiatorImage, InitiatorFont, InitiatorMedia, InitiatorManifest:
		return true
	}
	return false
}

// MaxIDLen bounds Capture.ID and Capture.VisitKey.
const MaxIDLen = 64

// MaxIndexedHashLen bounds the fixed-length fingerprints the stores index by value
// (JA4, and the JA3, JA3N, Akamai, PeetPrint and header-order hashes): fpserver's
// are 32 to 64 bytes, and a bound keeps every index entry storable.
const MaxIndexedHashLen = 128

// HeaderPair is one HTTP header as sent on the wire: name with its original casing
// (HTTP/2 pseudo headers included, e.g. ":method") and value. Header lists are always
// ordered slices of HeaderPair; duplicates are kept.
//
// Its JSON form is a two-element array ["name","value"], the form stored in the
// database and used by the profile format.
type HeaderPair struct {
	Name  string
	Value string
}

// MarshalJSON encodes the pair as ["name","value"]. Invalid UTF-8 is replaced by
// U+FFFD, as encoding/json does.
func (h HeaderPair) MarshalJSON() ([]byte, error) {
	return h.appendJSON(make([]byte, 0, len(h.Name)+len(h.Value)+8)), nil
}

func (h HeaderPair) appendJSON(b []byte) []byte {
	b = append(b, '[')
	b = AppendJSONString(b, h.Name)
	b = append(b, ',')
	b = AppendJSONString(b, h.Value)
	return append(b, ']')
}

// AppendJSONString appends s to b as a JSON string literal. Control characters are
// escaped, invalid UTF-8 becomes \ufffd, and U+2028/U+2029 are escaped so the output
// is also safe inside JavaScript.
func AppendJSONString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// UnmarshalJSON decodes a ["name","value"] array; any other shape is an error.
func (h *HeaderPair) UnmarshalJSON(b []byte) error {
	var raw []string
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("model: decoding header pair: %w", err)
	}
	if len(raw) != 2 {
		return fmt.Errorf("model: decoding header pair: want 2 elements, got %d", len(raw))
	}
	h.Name, h.Value = raw[0], raw[1]
	return nil
}

// Capture is one fingerprinted request as fpserver saw it. The producer fills every
// field it knows; empty strings and nil slices mean "not applicable" (for example the
// TLS fields of a plain-HTTP request).
type Capture struct {
	// ID is the capture's unique key, created by the producer (see NewCaptureID):
	// 1..MaxIDLen characters from [0-9A-Za-z_-]. Inserting a capture whose ID is
	// already stored is a no-op, which makes batch retries idempotent.
	ID string
	// CreatedAt is when the request was received. Stored with microsecond
	// precision in UTC.
	CreatedAt time.Time
	// VisitKey groups the captures of one page visit (navigate + probes); may be empty.
	VisitKey string
	// ConnID names the connection the request came on (at most MaxIDLen
	// bytes; any bytes). Captures sharing a ConnID are stored with one
	// connection row: its fields (ClientIP, TLSVersion, SNI, ALPN,
	// ClientHello, TLSSummary, the TLS fingerprints JA3 to PeetPrint and
	// QUICTP) are
	// those of the first of them stored, and the producer must give them equal
	// values. Empty: the capture is a connection of its own. Not returned by
	// reads.
	ConnID string
	// Initiator is one of Initiators().
	Initiator string
	// ClientIP is the client address, already truncated by the caller.
	ClientIP  string
	UserAgent string
	Host      string
	Method    string
	Path      string
	// HTTPVersion is "1.0", "1.1", "2" or "3".
	HTTPVersion string
	// TLSVersion is the negotiated TLS version ("1.2", "1.3"); empty without TLS.
	TLSVersion string
	// SNI is the server name the client sent.
	SNI string
	// ALPN is the negotiated application protocol.
	ALPN string
	// ClientHello holds the raw ClientHello bytes as captured (record framing
	// kept); for HTTP/3 the handshake message reassembled from the client's
	// Initial CRYPTO frames (QUIC has no record layer).
	ClientHello []byte
	// TLSSummary is the decoded ClientHello as a JSON document, stored verbatim.
	TLSSummary json.RawMessage
	// Headers are the request headers in wire order with original casing.
	Headers []HeaderPair
	// H2 is the request's protocol document, stored verbatim: for HTTP/2 the
	// frames summary (SETTINGS, WINDOW_UPDATE, PRIORITY, HEADERS priority,
	// pseudo-header order), for HTTP/3 (HTTPVersion "3") the HTTP/3 summary
	// (SETTINGS, stream types, PRIORITY_UPDATE, priority, pseudo-header
	// order).
	H2 json.RawMessage
	// StreamID is the HTTP/2 or HTTP/3 stream of the request (0 for HTTP/1).
	// Kept out of H2 by fpserver so equal summaries are stored once.
	StreamID uint32

	// Fingerprints: full text and hash, so profiles can be rebuilt from rows.
	JA3             string
	JA3Hash         string
	JA3N            string
	JA3NHash        string
	JA4             string
	JA4R            string
	JA4O            string
	JA4RO           string
	PeetPrint       string
	PeetPrintHash   string
	Akamai          string
	AkamaiHash      string
	HeaderOrder     string
	HeaderOrderHash string
	// QUICTP is the QUIC transport-parameters fingerprint of an HTTP/3
	// connection (fingerprint.QUICTransportParamsFP), empty otherwise.
	QUICTP     string
	QUICTPHash string
}

// Validate checks the capture without modifying it: ValidateFields, and that
// TLSSummary and H2 are valid JSON. The error wraps ErrInvalid.
func (c *Capture) Validate() error {
	if err := c.ValidateFields(); err != nil {
		return err
	}
	if len(c.TLSSummary) > 0 && !json.Valid(c.TLSSummary) {
		return fmt.Errorf("%w: capture %s: TLSSummary is not valid JSON", ErrInvalid, c.ID)
	}
	if len(c.H2) > 0 && !json.Valid(c.H2) {
		return fmt.Errorf("%w: capture %s: H2 is not valid JSON", ErrInvalid, c.ID)
	}
	return nil
}

// ValidateBatch runs ValidateFields on every capture of batch and returns
// the first error.
func ValidateBatch(batch []Capture) error {
	for i := range batch {
		if err := batch[i].ValidateFields(); err != nil {
			return err
		}
	}
	return nil
}

// ValidateFields is Validate without the JSON documents, which the stores
// check once per distinct document when they first store it (Split.Add): the
// cheap checks the capture writer makes on Offer. The error wraps ErrInvalid.
func (c *Capture) ValidateFields() error {
	if err := ValidateID(c.ID); err != nil {
		return err
	}
	if c.CreatedAt.IsZero() {
		return fmt.Errorf("%w: capture %s: zero CreatedAt", ErrInvalid, c.ID)
	}
	if y := c.CreatedAt.UTC().Year(); y < 1970 || y > 9999 {
		return fmt.Errorf("%w: capture %s: CreatedAt year %d out of range", ErrInvalid, c.ID, y)
	}
	if !ValidInitiator(c.Initiator) {
		return fmt.Errorf("%w: capture %s: unknown initiator %q", ErrInvalid, c.ID, c.Initiator)
	}
	if len(c.VisitKey) > MaxIDLen {
		return fmt.Errorf("%w: capture %s: visit key of %d bytes, at most %d", ErrInvalid, c.ID, len(c.VisitKey), MaxIDLen)
	}
	for _, f := range [...]struct{ name, v string }{
		{"ja4", c.JA4}, {"ja3_hash", c.JA3Hash}, {"ja3n_hash", c.JA3NHash}, {"akamai_hash", c.AkamaiHash},
		{"peetprint_hash", c.PeetPrintHash}, {"header_order_hash", c.HeaderOrderHash},
	} {
		if len(f.v) > MaxIndexedHashLen {
			return fmt.Errorf("%w: capture %s: %s of %d bytes, at most %d", ErrInvalid, c.ID, f.name, len(f.v), MaxIndexedHashLen)
		}
	}
	if len(c.ConnID) > MaxIDLen {
		return fmt.Errorf("%w: capture %s: connection id of %d bytes, at most %d", ErrInvalid, c.ID, len(c.ConnID), MaxIDLen)
	}
	return nil
}

// ValidateID checks a capture ID; the error wraps ErrInvalid.
func ValidateID(id string) error {
	if id == "" || len(id) > MaxIDLen {
		return fmt.Errorf("%w: capture id length %d not in 1..%d", ErrInvalid, len(id), MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		b := id[i]
		if !(b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b == '_' || b == '-') {
			return fmt.Errorf("%w: capture id %q: invalid character at %d", ErrInvalid, id, i)
		}
	}
	return nil
}

// Normalized returns the capture as every backend stores it, so that a value read
// back equals c.Normalized():
//   - CreatedAt in UTC, truncated to the microsecond;
//   - text fields made valid UTF-8 without NUL bytes (invalid sequences and NUL
//     become U+FFFD), because Postgres text cannot hold them;
//   - JSON documents made valid UTF-8 the same way; empty documents become nil;
//   - an empty ClientHello or header list becomes nil.
//
// Header names and values keep their bytes except for the same UTF-8 repair.
// Normalized does not validate; call Validate first.
func (c Capture) Normalized() Capture {
	n := c.normalizedRequest(nil)
	for _, p := range n.connTextFields() {
		*p = CleanText(*p)
	}
	n.TLSSummary = cleanJSON(n.TLSSummary)
	if len(n.ClientHello) == 0 {
		n.ClientHello = nil
	}
	return n
}

// normalizedRequest is Normalized for the fields a stored request row is
// built from (Split.AddCapture): the time, the request's texts, headers and
// protocol document. The connection's fields (client address, TLS version,
// SNI, ALPN, raw hello, TLS summary and fingerprints) are left as they are;
// they must not be stored from the result.
//
// clean, when not nil, is a header list known to be clean text (a
// normalized one): headers equal to it are clean and the result has clean
// itself as its list, which costs one comparison (equal strings of one
// list are compared by pointer after that) instead of checking every name
// and value.
func (c *Capture) normalizedRequest(clean []HeaderPair) Capture {
	n := *c
	n.CreatedAt = n.CreatedAt.UTC().Truncate(time.Microsecond)
	for _, p := range n.requestTextFields() {
		*p = CleanText(*p)
	}
	n.H2 = cleanJSON(n.H2)
	if len(n.Headers) == 0 {
		n.Headers = nil
	} else if clean != nil && slices.Equal(clean, n.Headers) {
		n.Headers = clean
	} else if !cleanHeaders(n.Headers) {
		hs := make([]HeaderPair, len(n.Headers))
		for i, h := range n.Headers {
			hs[i] = HeaderPair{Name: CleanText(h.Name), Value: CleanText(h.Value)}
		}
		n.Headers = hs
	}
	return n
}

// cleanHeaders reports whether every name and value is already clean text.
func cleanHeaders(hs []HeaderPair) bool {
	for _, h := range hs {
		if !isCleanText(h.Name) || !isCleanText(h.Value) {
			return false
		}
	}
	return true
}

func isCleanText(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

// textFields are every text field of the capture.
func (c *Capture) textFields() []*string {
	r, k := c.requestTextFields(), c.connTextFields()
	return append(r[:], k[:]...)
}

// requestTextFields are the text fields a stored request row is built from.
func (c *Capture) requestTextFields() [10]*string {
	return [...]*string{
		&c.VisitKey, &c.UserAgent, &c.Host, &c.Method, &c.Path, &c.HTTPVersion,
		&c.Akamai, &c.AkamaiHash, &c.HeaderOrder, &c.HeaderOrderHash,
	}
}

// connTextFields are the text fields a stored connection row is built from.
func (c *Capture) connTextFields() [14]*string {
	return [...]*string{
		&c.ClientIP, &c.TLSVersion, &c.SNI, &c.ALPN,
		&c.JA3, &c.JA3Hash, &c.JA3N, &c.JA3NHash, &c.JA4, &c.JA4R, &c.JA4O, &c.JA4RO,
		&c.PeetPrint, &c.PeetPrintHash,
	}
}

// ApproxSize is the approximate number of bytes the capture occupies in a row: the
// sum of its variable-length fields. Used for batching and benchmarks.
func (c *Capture) ApproxSize() int {
	n := len(c.ID) + 8 + len(c.Initiator) + len(c.ClientHello) + len(c.TLSSummary) + len(c.H2)
	for _, p := range c.textFields() {
		n += len(*p)
	}
	for _, h := range c.Headers {
		n += len(h.Name) + len(h.Value) + 6
	}
	return n
}

// CleanText returns s as valid UTF-8 without NUL bytes: invalid sequences and NUL
// are replaced by U+FFFD. Valid input is returned unchanged without allocating.
func CleanText(s string) string {
	if isCleanText(s) {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// cleanJSON repairs invalid UTF-8 inside a JSON document. In valid JSON, bytes >= 0x80
// only occur inside strings, so replacing invalid sequences keeps the document valid.
func cleanJSON(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	if utf8.Valid(b) {
		return b
	}
	return bytes.ToValidUTF8(b, []byte("\uFFFD"))
}

// EncodeHeaders encodes an ordered header list as the JSON array of
// ["name","value"] pairs stored in the database. A nil or empty list encodes as "[]".
func EncodeHeaders(hs []HeaderPair) []byte {
	if len(hs) == 0 {
		return []byte("[]")
	}
	n := 2
	for _, h := range hs {
		n += len(h.Name) + len(h.Value) + 8
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, h := range hs {
		if i > 0 {
			b = append(b, ',')
		}
		b = h.appendJSON(b)
	}
	return append(b, ']')
}

// DecodeHeaders is the inverse of EncodeHeaders; an empty array or empty input
// decodes to nil.
func DecodeHeaders(b []byte) ([]HeaderPair, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var hs []HeaderPair
	if err := json.Unmarshal(b, &hs); err != nil {
		return nil, fmt.Errorf("model: decoding headers: %w", err)
	}
	if len(hs) == 0 {
		return nil, nil
	}
	return hs, nil
}

// NewCaptureID returns a new 32-character lowercase hex capture ID: 48 bits of
// milliseconds since the Unix epoch taken from now, then 80 random bits. IDs sort by
// creation time (which keeps index inserts local) and are unique with overwhelming
// probability.
func NewCaptureID(now time.Time) string {
	var b [16]byte
	ms := uint64(now.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never returns an error (Go >= 1.24).
	return hex.EncodeToString(b[:])
}

// FingerprintKind names an indexed fingerprint column. The value is the column name.
type FingerprintKind string

// The indexed fingerprint kinds.
const (
	KindJA4             FingerprintKind = "ja4"
	KindJA4R            FingerprintKind = "ja4_r"
	KindJA3Hash         FingerprintKind = "ja3_hash"
	KindJA3NHash        FingerprintKind = "ja3n_hash"
	KindAkamaiHash      FingerprintKind = "akamai_hash"
	KindPeetPrintHash   FingerprintKind = "peetprint_hash"
	KindHeaderOrderHash FingerprintKind = "header_order_hash"
	KindQUICTPHash      FingerprintKind = "quic_tp_hash"
)

// Kinds lists the indexed fingerprint kinds in lookup priority order: when a hash is
// looked up without a kind, the first kind with at least one matching capture wins.
func Kinds() []FingerprintKind {
	return []FingerprintKind{KindJA4, KindJA4R, KindJA3Hash, KindJA3NHash, KindAkamaiHash, KindPeetPrintHash, KindHeaderOrderHash, KindQUICTPHash}
}

// ResolveKind returns q.Kind, or else the first of Kinds for which exists
// reports a capture with q.Hash in that kind's column; an error wrapping
// ErrNotFound when none has one. exists gets the column name (one of Kinds,
// safe to put in SQL) and the hash; the backends implement it with their
// driver.
func ResolveKind(ctx context.Context, q FingerprintQuery, exists func(ctx context.Context, column, hash string) (bool, error)) (FingerprintKind, error) {
	kinds := Kinds()
	if q.Kind != "" {
		kinds = []FingerprintKind{q.Kind}
	}
	for _, k := range kinds {
		ok, err := exists(ctx, string(k), q.Hash)
		if err != nil {
			return "", fmt.Errorf("looking up fingerprint: %w", err)
		}
		if ok {
			return k, nil
		}
	}
	return "", fmt.Errorf("fingerprint %q: %w", q.Hash, ErrNotFound)
}

// Totals are the counts of CaptureTotals.
type Totals struct {
	Captures    int64 `json:"captures"`
	Connections int64 `json:"connections"`
	Visits      int64 `json:"visits"`
}

// Valid reports whether k is one of Kinds.
func (k FingerprintKind) Valid() bool {
	switch k {
	case KindJA4, KindJA4R, KindJA3Hash, KindJA3NHash, KindAkamaiHash, KindPeetPrintHash, KindHeaderOrderHash, KindQUICTPHash:
		return true
	}
	return false
}

// Value returns the capture's value for kind k ("" for an invalid kind).
func (c *Capture) Value(k FingerprintKind) string {
	switch k {
	case KindJA4:
		return c.JA4
	case KindJA4R:
		return c.JA4R
	case KindJA3Hash:
		return c.JA3Hash
	case KindJA3NHash:
		return c.JA3NHash
	case KindAkamaiHash:
		return c.AkamaiHash
	case KindPeetPrintHash:
		return c.PeetPrintHash
	case KindHeaderOrderHash:
		return c.HeaderOrderHash
	case KindQUICTPHash:
		return c.QUICTPHash
	}
	return ""
}

// MaxHashLen bounds FingerprintQuery.Hash (a ja4_r can be long, but not this long).
const MaxHashLen = 4096

// FingerprintQuery selects captures by one fingerprint value.
type FingerprintQuery struct {
	// Hash is the value to match exactly (a JA4, a JA4_r, or an md5/sha256-prefix
	// hash). Required, at most MaxHashLen bytes.
	Hash string
	// Kind restricts the match to one column. Empty means "any": the kinds are
	// probed in Kinds() order and the first one with a match is used.
	Kind FingerprintKind
	// Limit: for CapturesByFingerprint the maximum number of captures (default 50,
	// at most 1000); for FingerprintStats the number of top user agents (default
	// 10, at most 1000).
	Limit int
	// Before, if not zero, restricts CapturesByFingerprint to captures created
	// strictly before it (keyset pagination). Ignored by FingerprintStats.
	Before time.Time
}

// Check validates q and returns it with defaults applied. The error wraps ErrInvalid.
func (q FingerprintQuery) Check(defaultLimit int) (FingerprintQuery, error) {
	if q.Hash == "" || len(q.Hash) > MaxHashLen {
		return q, fmt.Errorf("%w: fingerprint hash length %d not in 1..%d", ErrInvalid, len(q.Hash), MaxHashLen)
	}
	if q.Kind != "" && !q.Kind.Valid() {
		return q, fmt.Errorf("%w: unknown fingerprint kind %q", ErrInvalid, q.Kind)
	}
	q.Limit = ClampLimit(q.Limit, defaultLimit)
	return q, nil
}

// ClampLimit returns def when n <= 0 and caps n at MaxLimit.
func ClampLimit(n, def int) int {
	if n <= 0 {
		return def
	}
	if n > MaxLimit {
		return MaxLimit
	}
	return n
}

// MaxVisitCaptures bounds CapturesByVisit: a page visit makes a dozen
// captures; a client repeating one visit key cannot make a reader load more.
const MaxVisitCaptures = 256

// MaxLimit caps every list returned by a Store.
const MaxLimit = 1000

// UserAgentCount is one user agent and how many captures carried it.
type UserAgentCount struct {
	UserAgent string
	Count     int64
}

// FingerprintStats is the population view of one fingerprint value.
type FingerprintStats struct {
	Kind FingerprintKind
	Hash string
	// Count is the number of captures with this value.
	Count int64
	// Visits is the number of distinct non-empty visit keys among them.
	Visits    int64
	FirstSeen time.Time
	LastSeen  time.Time
	// TopUserAgents: most frequent first, ties by user agent ascending.
	TopUserAgents []UserAgentCount
	// Days counts the captures per UTC day over the StatsDays days ending
	// with LastSeen's, oldest first; days without captures are absent.
	Days []DayCount
}

// StatsDays is how many days FingerprintStats.Days covers.
const StatsDays = 90

// DayCount is the number of captures of one UTC day.
type DayCount struct {
	Day   time.Time // midnight UTC
	Count int64
}

// DaysSince is the first day FingerprintStats.Days covers for a value last
// seen at last.
func DaysSince(last time.Time) time.Time {
	return last.UTC().Truncate(24*time.Hour).AddDate(0, 0, -(StatsDays - 1))
}

// TimeWindow is the half-open interval [Since, Until). A zero bound is unbounded.
type TimeWindow struct {
	Since time.Time
	Until time.Time
}

// FingerprintCount is one row of TopFingerprints.
type FingerprintCount struct {
	Hash      string
	Count     int64
	FirstSeen time.Time
	LastSeen  time.Time
}

// Profile sources: where a stored profile came from.
const (
	// ProfileCurated: published by fpserver's curation from corroborated
	// visits. Curation updates and re-marks these.
	ProfileCurated = "curated"
	// ProfileBuiltin: one of the built-in catalogue's profiles.
	ProfileBuiltin = "builtin"
	// ProfileImported: imported by an operator (`fpserver profiles import`).
	// Curation never modifies or removes an imported profile.
	ProfileImported = "imported"
)

// ValidProfileSource reports whether s is one of the profile sources.
func ValidProfileSource(s string) bool {
	return s == ProfileCurated || s == ProfileBuiltin || s == ProfileImported
}

// Profile is a stored emulation profile. The profile document (format in
// DESIGN §4.4) is stored whole in JSON; the other fields are indexed copies
// and curation bookkeeping for listing and selection.
type Profile struct {
	// Name is the unique key: 1..200 bytes of valid UTF-8.
	Name     string
	Browser  string
	Version  string
	Platform string
	// JSON is the profile document, stored and returned byte for byte.
	JSON json.RawMessage
	// UpdatedAt is set by the store on upsert when zero; stored with microsecond
	// precision in UTC.
	UpdatedAt time.Time

	// Source is one of ProfileCurated, ProfileBuiltin, ProfileImported; empty
	// is stored as ProfileImported.
	Source string
	// Pinned: an operator pinned the profile; curation may update its
	// counts but never replaces its document, renames or removes it.
	Pinned bool
	// BrowserKey is the browser identity of a curated profile
	// ("chrome/156/windows/desktop"); empty for other sources. At most
	// MaxKeyLen bytes.
	BrowserKey string
	// WireKey is the wire identity of a curated profile: a fixed-size hex
	// hash (at most MaxKeyLen bytes); empty for other sources.
	WireKey string
	// FirstSeen and LastSeen bound the visits that corroborate the profile
	// (zero when unknown), with microsecond precision in UTC.
	FirstSeen time.Time
	LastSeen  time.Time
	// Visits and Addresses count the distinct visits and distinct (stored,
	// truncated) client addresses that agree on the wire identity.
	Visits    int64
	Addresses int64
	// Stale: no corroborating visit within the curation's stale period.
	Stale bool
}

// MaxKeyLen bounds the identity keys of profiles and visit verdicts.
const MaxKeyLen = 200

// MaxProfileNameLen bounds Profile.Name.
const MaxProfileNameLen = 200

// Validate checks the profile; the error wraps ErrInvalid.
func (p *Profile) Validate() error {
	if p.Name == "" || len(p.Name) > MaxProfileNameLen || !utf8.ValidString(p.Name) || strings.IndexByte(p.Name, 0) >= 0 {
		return fmt.Errorf("%w: profile name must be 1..%d bytes of UTF-8 without NUL", ErrInvalid, MaxProfileNameLen)
	}
	for _, s := range []string{p.Browser, p.Version, p.Platform} {
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return fmt.Errorf("%w: profile %q: browser/version/platform must be UTF-8 without NUL", ErrInvalid, p.Name)
		}
	}
	if len(p.JSON) == 0 || !json.Valid(p.JSON) || !utf8.Valid(p.JSON) {
		return fmt.Errorf("%w: profile %q: JSON document is empty or invalid", ErrInvalid, p.Name)
	}
	if p.Source != "" && !ValidProfileSource(p.Source) {
		return fmt.Errorf("%w: profile %q: unknown source %q", ErrInvalid, p.Name, p.Source)
	}
	if len(p.BrowserKey) > MaxKeyLen || len(p.WireKey) > MaxKeyLen || !utf8.ValidString(p.BrowserKey) || !utf8.ValidString(p.WireKey) {
		return fmt.Errorf("%w: profile %q: identity keys must be UTF-8 of at most %d bytes", ErrInvalid, p.Name, MaxKeyLen)
	}
	if p.Visits < 0 || p.Addresses < 0 {
		return fmt.Errorf("%w: profile %q: negative counts", ErrInvalid, p.Name)
	}
	return nil
}

// VisitVerdict is curation's decision about one visit (the captures sharing
// a visit key): whether it is a real browser whose captures make a profile,
// and if not, why. One verdict per visit key; a later Put replaces it.
type VisitVerdict struct {
	// VisitKey is the visit's key (1..MaxIDLen characters of the capture ID
	// alphabet).
	VisitKey string
	// SeenAt is the time of the visit's first capture; EvaluatedAt when
	// curation decided. Microsecond precision, UTC.
	SeenAt      time.Time
	EvaluatedAt time.Time
	// ClientIP is the (stored, truncated) address of the visit's navigation.
	ClientIP  string
	UserAgent string
	// BrowserKey and WireKey are the visit's identities (see Profile); empty
	// when the visit was refused before they could be computed. At most
	// MaxKeyLen bytes each.
	BrowserKey string
	WireKey    string
	// Accepted: the visit counts towards its (BrowserKey, WireKey) group.
	Accepted bool
	// Reason says why a visit was refused (empty when accepted): a short
	// human-readable sentence.
	Reason string
	// Details is an optional JSON document with the evidence (fields that
	// differ from the closest profile, markers found), stored verbatim.
	Details json.RawMessage
	// CaptureIDs are the visit's captures the verdict was made from.
	CaptureIDs []string
	// Profile is the profile document built from the visit (nil when none
	// could be built).
	Profile json.RawMessage
}

// Validate checks the verdict; the error wraps ErrInvalid.
func (v *VisitVerdict) Validate() error {
	if err := ValidateID(v.VisitKey); err != nil {
		return fmt.Errorf("%w: visit verdict: bad visit key", ErrInvalid)
	}
	if v.SeenAt.IsZero() || v.EvaluatedAt.IsZero() {
		return fmt.Errorf("%w: visit verdict %s: zero time", ErrInvalid, v.VisitKey)
	}
	if len(v.BrowserKey) > MaxKeyLen || len(v.WireKey) > MaxKeyLen {
		return fmt.Errorf("%w: visit verdict %s: identity key longer than %d bytes", ErrInvalid, v.VisitKey, MaxKeyLen)
	}
	if v.Accepted && (v.BrowserKey == "" || v.WireKey == "") {
		return fmt.Errorf("%w: visit verdict %s: accepted without identities", ErrInvalid, v.VisitKey)
	}
	if len(v.Details) > 0 && !json.Valid(v.Details) {
		return fmt.Errorf("%w: visit verdict %s: details are not valid JSON", ErrInvalid, v.VisitKey)
	}
	if len(v.Profile) > 0 && !json.Valid(v.Profile) {
		return fmt.Errorf("%w: visit verdict %s: profile is not valid JSON", ErrInvalid, v.VisitKey)
	}
	for _, id := range v.CaptureIDs {
		if err := ValidateID(id); err != nil {
			return fmt.Errorf("visit verdict %s: %w", v.VisitKey, err)
		}
	}
	return nil
}

// PendingVisit is a visit that curation has not judged yet.
type PendingVisit struct {
	VisitKey string
	// FirstAt and LastAt are the times of its first and last capture.
	FirstAt time.Time
	LastAt  time.Time
}

// PendingQuery selects the visits PendingVisits returns.
type PendingQuery struct {
	// Since: only visits with a navigate capture created at or after Since
	// (zero: no bound).
	Since time.Time
	// SettledBefore: only visits whose last capture was created strictly
	// before it (so their probes are done). Required.
	SettledBefore time.Time
	// Limit caps the result (default 100, at most MaxLimit).
	Limit int
}

// WireGroup aggregates the accepted verdicts sharing a browser identity and
// a wire identity.
type WireGroup struct {
	BrowserKey string
	WireKey    string
	// Visits is the number of accepted visits, Addresses the number of
	// distinct client addresses among them.
	Visits    int64
	Addresses int64
	// FirstSeen and LastSeen: the earliest and latest SeenAt.
	FirstSeen time.Time
	LastSeen  time.Time
	// LatestVisit is the visit key of the accepted verdict with the latest
	// SeenAt (ties: the greatest visit key).
	LatestVisit string
}

// Store is the storage layer used by fpserver and emuproxy. Implementations are safe
// for concurrent use. All list results are ordered as documented, never by map order.
type Store interface {
	// InsertCaptures stores a batch atomically and idempotently: captures whose ID
	// already exists (in the database or earlier in the same batch) are skipped.
	// It returns how many rows were newly inserted. Every capture is validated
	// first; one invalid capture fails the whole batch with ErrInvalid and nothing
	// is written. Captures are stored as Normalized.
	InsertCaptures(ctx context.Context, batch []Capture) (int64, error)
	// Capture returns one capture by ID, or ErrNotFound.
	Capture(ctx context.Context, id string) (Capture, error)
	// CapturesByVisit returns the captures of one visit ordered by CreatedAt then
	// ID, at most MaxVisitCaptures (the earliest). An unknown visit gives an
	// empty slice.
	CapturesByVisit(ctx context.Context, visitKey string) ([]Capture, error)
	// CapturesByFingerprint returns the captures matching q, newest first (ties by
	// ID descending), and the kind that matched. No match gives ErrNotFound.
	CapturesByFingerprint(ctx context.Context, q FingerprintQuery) ([]Capture, FingerprintKind, error)
	// FingerprintStats returns the population statistics of q's value. No match
	// gives ErrNotFound.
	FingerprintStats(ctx context.Context, q FingerprintQuery) (FingerprintStats, error)
	// TopFingerprints returns the most frequent non-empty values of kind within w,
	// count descending, ties by hash ascending, at most limit (default 20) rows.
	TopFingerprints(ctx context.Context, kind FingerprintKind, w TimeWindow, limit int) ([]FingerprintCount, error)
	// TopUserAgents returns the most frequent non-empty user agents within w,
	// count descending, ties by user agent ascending, at most limit (default 20).
	TopUserAgents(ctx context.Context, w TimeWindow, limit int) ([]UserAgentCount, error)
	// CaptureTotals counts the captures within w, the distinct connections
	// they came over and the distinct non-empty visit keys among them.
	CaptureTotals(ctx context.Context, w TimeWindow) (Totals, error)
	// UpsertProfile inserts or replaces the profile with p.Name. A zero UpdatedAt
	// is set to the current time.
	UpsertProfile(ctx context.Context, p Profile) error
	// Profile returns one profile by name, or ErrNotFound.
	Profile(ctx context.Context, name string) (Profile, error)
	// ListProfiles returns every profile ordered by name.
	ListProfiles(ctx context.Context) ([]Profile, error)
	// DeleteProfile removes the profile with name, or returns ErrNotFound.
	DeleteProfile(ctx context.Context, name string) error
	// PendingVisits returns the visits without a verdict that match q,
	// ordered by FirstAt then visit key.
	PendingVisits(ctx context.Context, q PendingQuery) ([]PendingVisit, error)
	// PutVisitVerdicts stores verdicts atomically, replacing any verdict
	// of the same visit key. One invalid verdict fails the batch with
	// ErrInvalid and nothing is written.
	PutVisitVerdicts(ctx context.Context, vs []VisitVerdict) error
	// VisitVerdict returns the verdict of one visit, or ErrNotFound.
	VisitVerdict(ctx context.Context, visitKey string) (VisitVerdict, error)
	// WireGroups aggregates every accepted verdict by (BrowserKey, WireKey),
	// ordered by BrowserKey then WireKey.
	WireGroups(ctx context.Context) ([]WireGroup, error)
	// DeleteCapturesBefore deletes captures created strictly before cutoff,
	// and the verdicts of refused visits seen before it (accepted verdicts
	// are kept: they are what published profiles' counts are made of), in
	// bounded chunks (each its own transaction, so concurrent writers are not
	// blocked for long), and returns how many were deleted. A cancelled context
	// stops between chunks and returns the count so far with the error.
	DeleteCapturesBefore(ctx context.Context, cutoff time.Time) (int64, error)
	// Ping checks that the database is reachable.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}
