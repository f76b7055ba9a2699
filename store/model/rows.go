package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
)

// The stored form of captures (schema 0004, both backends) is normalised:
//
//	dict         one row per distinct text: fingerprint strings (with their
//	             hash), User-Agents, hosts, header-name lists, header-value
//	             lists, TLS and HTTP/2 summaries. Keyed by DictID (a 63-bit
//	             hash of the entry's kind and lookup key), so a writer knows a
//	             text's key without asking the database, and a lookup by
//	             fingerprint hash is a lookup by DictID.
//	connections  one row per TLS (or plain) connection: raw ClientHello,
//	             client address, TLS version/SNI/ALPN and references to the
//	             TLS fingerprints and summary.
//	requests     one small row per capture: ID, time, connection, visit key,
//	             initiator, method, path, HTTP version, HTTP/2 stream, and
//	             references to the host, User-Agent, header names, header
//	             values, HTTP/2 summary, Akamai and header-order fingerprints.
//	captures     a view joining the three into the columns of a capture.
//
// Split computes these rows from a Capture; the backends write them and read
// the view back into Captures.

// Dictionary entry kinds. A kind is part of every DictID, so equal texts of
// different kinds are different entries.
const (
	DictJA3         = "ja3"          // value JA3, hash JA3Hash; keyed by both (HashedID)
	DictJA3N        = "ja3n"         // value JA3N, hash JA3NHash; keyed by both
	DictJA4         = "ja4"          // value JA4; keyed by the value
	DictJA4R        = "ja4_r"        // value JA4_r; keyed by the value
	DictJA4O        = "ja4_o"        // value JA4_o; keyed by the value
	DictJA4RO       = "ja4_ro"       // value JA4_ro; keyed by the value
	DictPeetPrint   = "peetprint"    // value PeetPrint, hash PeetPrintHash; keyed by both
	DictAkamai      = "akamai"       // value Akamai, hash AkamaiHash; keyed by both
	DictHeaderOrder = "header_order" // value HeaderOrder, hash HeaderOrderHash; keyed by both
	DictQUICTP      = "quic_tp"      // value QUICTP, hash QUICTPHash; keyed by both
	DictUserAgent   = "user_agent"
	DictHost        = "host"
	DictNames       = "header_names"  // JSON array of header names in wire order
	DictValues      = "header_values" // JSON array of the matching values
	DictTLSSummary  = "tls_summary"   // JSON document
	DictH2          = "h2"            // JSON document
)

// DictID returns the dictionary key of the entry of kind whose lookup key is
// key: the first 63 bits of xxHash64 over the kind and the key, never 0 (0
// means "no entry"). Stable across processes and versions: it is stored.
// Different texts sharing an ID (probability about n²/2⁶⁴ for n entries) would
// share one entry; the first one written wins.
func DictID(kind, key string) int64 {
	var d xxhash.Digest
	d.Reset()
	writeLenPrefixed(&d, kind)
	writeLenPrefixed(&d, key)
	return finishID(&d)
}

// KindDict maps an indexed fingerprint kind to its dictionary kind.
func KindDict(k FingerprintKind) string {
	switch k {
	case KindJA4:
		return DictJA4
	case KindJA4R:
		return DictJA4R
	case KindJA3Hash:
		return DictJA3
	case KindJA3NHash:
		return DictJA3N
	case KindAkamaiHash:
		return DictAkamai
	case KindPeetPrintHash:
		return DictPeetPrint
	case KindHeaderOrderHash:
		return DictHeaderOrder
	case KindQUICTPHash:
		return DictQUICTP
	}
	return ""
}

// HashedID is the DictID of a hashed fingerprint (JA3, JA3N, PeetPrint,
// Akamai, header order): keyed by its hash and its text together, so a
// capture whose text does not match its hash (nothing fpserver computes, but
// a store keeps what it is given) is stored exactly too. Lookups by hash go
// through the dict's hash index (HashedLookup).
func HashedID(kind, hash, value string) int64 {
	var d xxhash.Digest
	d.Reset()
	writeLenPrefixed(&d, kind)
	writeLenPrefixed(&d, hash)
	writeLenPrefixed(&d, value)
	return finishID(&d)
}

// HashedLookup reports whether the fingerprints of kind k are keyed by their
// hash (HashedID: looked up through dict.hash) rather than by their text
// (DictID(KindDict(k), text): looked up by ID).
func HashedLookup(k FingerprintKind) bool { return k != KindJA4 && k != KindJA4R }

// LookupID is the DictID of a lookup of text as kind k, for the kinds keyed
// by their text (HashedLookup false).
func LookupID(k FingerprintKind, text string) int64 { return DictID(KindDict(k), text) }

func writeLenPrefixed(d *xxhash.Digest, s string) {
	var b [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(b[:], uint64(len(s)))
	_, _ = d.Write(b[:n])
	_, _ = d.WriteString(s)
}

func finishID(d *xxhash.Digest) int64 {
	id := int64(d.Sum64() >> 1)
	if id == 0 {
		id = 1
	}
	return id
}

// headerListID is the DictID of a header list's names (values=false) or
// values (values=true), computed without building the list's text.
func headerListID(hs []HeaderPair, values bool) int64 {
	var d xxhash.Digest
	d.Reset()
	kind := DictNames
	if values {
		kind = DictValues
	}
	writeLenPrefixed(&d, kind)
	var b [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(b[:], uint64(len(hs)))
	_, _ = d.Write(b[:n])
	for _, h := range hs {
		if values {
			writeLenPrefixed(&d, h.Value)
		} else {
			writeLenPrefixed(&d, h.Name)
		}
	}
	return finishID(&d)
}

// DictEntry is one dictionary row.
type DictEntry struct {
	ID int64
	// Kind is one of the Dict* kinds (stored for inspection and GC).
	Kind string
	// Value is the text; Hash the fingerprint hash for hashed kinds, else "".
	Value string
	Hash  string
}

// ConnRow is the stored connection of a capture.
type ConnRow struct {
	// ID is DictID("conn", Capture.ConnID), or of the capture ID when the
	// capture has no ConnID (a connection of its own).
	ID        int64
	CreatedAt time.Time
	ClientIP  string
	TLSVersion,
	SNI,
	ALPN string
	ClientHello []byte
	// References into dict (0: none).
	TLSSummary, JA3, JA3N, JA4, JA4R, JA4O, JA4RO, PeetPrint, QUICTP int64
}

// RequestRow is the stored request of a capture.
type RequestRow struct {
	ID          string
	CreatedAt   time.Time
	Conn        int64
	VisitKey    string
	Initiator   string
	Method      string
	Path        string
	HTTPVersion string
	StreamID    int64
	// References into dict (0: none).
	Host, UserAgent, HeaderNames, HeaderValues, H2, Akamai, HeaderOrder int64
}

// ConnIDOf returns the connection row ID of c.
func ConnIDOf(c *Capture) int64 {
	if c.ConnID != "" {
		return DictID("conn", c.ConnID)
	}
	return DictID("conn-of-capture", c.ID)
}

// Split is a reusable buffer turning captures into rows. Not safe for
// concurrent use; a backend keeps one per writer.
type Split struct {
	cache *DictCache
	// Entries are the dictionary rows the batch needs that the cache did not
	// know; Conns the connections not known to the cache. Both without
	// duplicates, in first-use order.
	Entries  []DictEntry
	Conns    []ConnRow
	Requests []RequestRow
	seen     map[int64]struct{}
	last     lastRefs
}

// NewSplit returns a Split using cache (shared by the writers of one store).
func NewSplit(cache *DictCache) *Split {
	return &Split{cache: cache, seen: map[int64]struct{}{}}
}

// Reset empties the buffers for the next batch.
func (s *Split) Reset() {
	s.Entries = s.Entries[:0]
	s.Conns = s.Conns[:0]
	s.Requests = s.Requests[:0]
	clear(s.seen)
	s.last = lastRefs{}
}

// Commit marks the batch's entries and connections as stored in the cache;
// call it after the batch's transaction committed.
func (s *Split) Commit(now time.Time) {
	for i := range s.Entries {
		s.cache.put(s.Entries[i].ID, now)
	}
	for i := range s.Conns {
		s.cache.put(s.Conns[i].ID, now)
	}
}

// Add appends the rows of c, which must have passed Validate and be
// Normalized. JSON documents are checked here, once per distinct document
// (when it is not yet in the dictionary cache); an invalid one fails with
// ErrInvalid.
func (s *Split) Add(c *Capture, now time.Time) error {
	connID := ConnIDOf(c)
	return s.add(c, connID, s.isNew(connID, now), now)
}

// AddCapture is Add for a capture that passed ValidateFields but is not
// Normalized: it appends the rows of c.Normalized() without normalising what
// it does not store. A request on a connection the cache or the batch
// already holds (a keep-alive request) needs only its own fields cleaned, not
// the connection's fingerprints, raw hello and TLS summary. c is not
// modified.
func (s *Split) AddCapture(c *Capture, now time.Time) error {
	connID := ConnIDOf(c) // ID and ConnID are not changed by Normalized
	if s.isNew(connID, now) {
		n := c.Normalized()
		return s.add(&n, connID, true, now)
	}
	// The previous request's list (normalized) is what a keep-alive
	// request most often repeats.
	n := c.normalizedRequest(s.last.values.headers)
	return s.add(&n, connID, false, now)
}

// add appends the request row of c and, when newConn, its connection row
// connID; c is Normalized (at least normalizedRequest when !newConn).
func (s *Split) add(c *Capture, connID int64, newConn bool, now time.Time) error {
	ref := func(kind, key, value, hash string) int64 {
		if key == "" && value == "" {
			return 0
		}
		id := DictID(kind, key)
		s.need(id, kind, value, hash, now)
		return id
	}
	hashed := func(kind, value, hash string) int64 {
		if hash == "" && value == "" {
			return 0
		}
		id := HashedID(kind, hash, value)
		s.need(id, kind, value, hash, now)
		return id
	}
	if newConn {
		cr := ConnRow{
			ID: connID, CreatedAt: c.CreatedAt, ClientIP: c.ClientIP,
			TLSVersion: c.TLSVersion, SNI: c.SNI, ALPN: c.ALPN, ClientHello: c.ClientHello,
			JA3: hashed(DictJA3, c.JA3, c.JA3Hash), JA3N: hashed(DictJA3N, c.JA3N, c.JA3NHash),
			JA4: ref(DictJA4, c.JA4, c.JA4, ""), JA4R: ref(DictJA4R, c.JA4R, c.JA4R, ""),
			JA4O: ref(DictJA4O, c.JA4O, c.JA4O, ""), JA4RO: ref(DictJA4RO, c.JA4RO, c.JA4RO, ""),
			PeetPrint: hashed(DictPeetPrint, c.PeetPrint, c.PeetPrintHash),
			QUICTP:    hashed(DictQUICTP, c.QUICTP, c.QUICTPHash),
		}
		if len(c.TLSSummary) > 0 {
			id, err := s.needDoc(DictTLSSummary, c.TLSSummary, now)
			if err != nil {
				return fmt.Errorf("%w: capture %s: TLSSummary is not valid JSON", ErrInvalid, c.ID)
			}
			cr.TLSSummary = id
		}
		s.Conns = append(s.Conns, cr)
	}
	r := RequestRow{
		ID: c.ID, CreatedAt: c.CreatedAt, Conn: connID, VisitKey: c.VisitKey, Initiator: c.Initiator,
		Method: c.Method, Path: c.Path, HTTPVersion: c.HTTPVersion, StreamID: int64(c.StreamID),
		Host:        s.lastRef(&s.last.host, DictHost, c.Host, "", false, now),
		UserAgent:   s.lastRef(&s.last.userAgent, DictUserAgent, c.UserAgent, "", false, now),
		Akamai:      s.lastRef(&s.last.akamai, DictAkamai, c.Akamai, c.AkamaiHash, true, now),
		HeaderOrder: s.lastRef(&s.last.headerOrder, DictHeaderOrder, c.HeaderOrder, c.HeaderOrderHash, true, now),
	}
	if len(c.Headers) > 0 {
		r.HeaderNames = s.headerListRef(&s.last.names, c.Headers, false, now)
		r.HeaderValues = s.headerListRef(&s.last.values, c.Headers, true, now)
	}
	if len(c.H2) > 0 {
		if s.last.h2ID != 0 && bytes.Equal(s.last.h2, c.H2) {
			r.H2 = s.last.h2ID
		} else {
			id, err := s.needDoc(DictH2, c.H2, now)
			if err != nil {
				return fmt.Errorf("%w: capture %s: H2 is not valid JSON", ErrInvalid, c.ID)
			}
			r.H2 = id
			s.last.h2, s.last.h2ID = c.H2, id
		}
	}
	s.Requests = append(s.Requests, r)
	return nil
}

// lastRefs are the texts the previous request of the batch referenced, with
// their entry ids: the requests of a connection repeat them, and a repeated
// text costs a comparison instead of hashing it and looking its id up in the
// batch and the cache. An id here is in the batch or was fresh in the cache
// when first looked up (an entry the cache trusts is not deleted; see
// DictRetentionSlack), so reusing it adds nothing to Entries, as the lookup
// would not. Emptied by Reset.
type lastRefs struct {
	host, userAgent, akamai, headerOrder lastRef
	names, values                        lastHeaders
	h2                                   []byte
	h2ID                                 int64
}

type lastRef struct {
	value, hash string
	id          int64
}

type lastHeaders struct {
	headers []HeaderPair
	id      int64
}

// headerListRef returns the id of the entry of hs's values (values) or
// names, needing it for the batch, through the remembered last list m.
func (s *Split) headerListRef(m *lastHeaders, hs []HeaderPair, values bool, now time.Time) int64 {
	if m.id != 0 && sameHeaderField(m.headers, hs, values) {
		return m.id
	}
	id := headerListID(hs, values)
	if s.isNew(id, now) {
		e := DictEntry{ID: id, Kind: DictNames}
		if values {
			e.Kind, e.Value = DictValues, EncodeHeaderValues(hs)
		} else {
			e.Value = EncodeHeaderNames(hs)
		}
		s.Entries = append(s.Entries, e)
	}
	*m = lastHeaders{headers: hs, id: id}
	return id
}

// lastRef returns the id of the entry of kind for value and hash (keyed by
// HashedID when hashed, else by DictID of the value; 0 when both are empty),
// needing it for the batch, through the remembered last text m.
func (s *Split) lastRef(m *lastRef, kind, value, hash string, hashed bool, now time.Time) int64 {
	if value == "" && hash == "" {
		return 0
	}
	if m.id != 0 && m.value == value && m.hash == hash {
		return m.id
	}
	var id int64
	if hashed {
		id = HashedID(kind, hash, value)
	} else {
		id = DictID(kind, value)
	}
	s.need(id, kind, value, hash, now)
	*m = lastRef{value: value, hash: hash, id: id}
	return id
}

// sameHeaderField reports whether a and b have the same names (values=false)
// or the same values.
func sameHeaderField(a, b []HeaderPair, values bool) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) > 0 && &a[0] == &b[0] {
		return true // one list (see normalizedRequest)
	}
	for i := range a {
		if values && a[i].Value != b[i].Value || !values && a[i].Name != b[i].Name {
			return false
		}
	}
	return true
}

// need records that the batch references entry id, adding it to Entries
// unless the cache or the batch already has it.
func (s *Split) need(id int64, kind, value, hash string, now time.Time) {
	if s.isNew(id, now) {
		s.Entries = append(s.Entries, DictEntry{ID: id, Kind: kind, Value: value, Hash: hash})
	}
}

// known reports whether entry id is in the cache or already in the batch.
func (s *Split) known(id int64, now time.Time) bool {
	_, dup := s.seen[id]
	return dup || s.cache.fresh(id, now)
}

// isNew reports whether entry id is not known, and marks it as in the
// batch.
func (s *Split) isNew(id int64, now time.Time) bool {
	if s.known(id, now) {
		return false
	}
	s.seen[id] = struct{}{}
	return true
}

// needDoc is need for a JSON document keyed by its text: the document is
// checked once, when it is new to the cache and the batch; an invalid one
// is an error (and not added).
func (s *Split) needDoc(kind string, doc []byte, now time.Time) (int64, error) {
	id := DictID(kind, string(doc))
	if s.known(id, now) {
		return id, nil
	}
	if !json.Valid(doc) {
		return 0, errors.New("invalid JSON")
	}
	s.seen[id] = struct{}{}
	s.Entries = append(s.Entries, DictEntry{ID: id, Kind: kind, Value: string(doc)})
	return id, nil
}

// DictTTL is how long a writer trusts its cache that a dictionary entry or a
// connection row exists. Writing an entry again (after the TTL) refreshes its
// last_seen, so an entry a writer still uses is at most DictTTL older than its
// last use; retention keeps entries with last_seen within DictRetentionSlack
// of its cutoff (> DictTTL), so it never removes an entry a writer's cache
// still trusts.
const (
	DictTTL            = 10 * time.Minute
	DictRetentionSlack = time.Hour
)

// DictCache remembers which dictionary entries and connections were written,
// so a known text costs a map lookup instead of bytes. Bounded: when it holds
// max entries it is emptied (the next uses write their entries again, which
// the database ignores). Safe for concurrent use.
type DictCache struct {
	mu  sync.Mutex
	m   map[int64]int64 // id -> unix seconds written
	max int
}

// NewDictCache returns a cache holding at most max ids (default 1<<20).
func NewDictCache(max int) *DictCache {
	if max <= 0 {
		max = 1 << 20
	}
	return &DictCache{m: map[int64]int64{}, max: max}
}

// fresh reports whether id was written within DictTTL of now.
func (c *DictCache) fresh(id int64, now time.Time) bool {
	c.mu.Lock()
	t, ok := c.m[id]
	c.mu.Unlock()
	return ok && now.Unix()-t < int64(DictTTL/time.Second)
}

func (c *DictCache) put(id int64, now time.Time) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[id] = now.Unix()
	c.mu.Unlock()
}

// Forget empties the cache (after a retention pass or a failed transaction
// whose rows may not exist).
func (c *DictCache) Forget() {
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}

// Len is the number of cached ids.
func (c *DictCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// EncodeHeaderNames encodes the names of hs as a JSON array of strings.
func EncodeHeaderNames(hs []HeaderPair) string { return encodeHeaderColumn(hs, false) }

// EncodeHeaderValues encodes the values of hs as a JSON array of strings.
func EncodeHeaderValues(hs []HeaderPair) string { return encodeHeaderColumn(hs, true) }

// encodeHeaderColumn encodes the names (values=false) or the values of hs as
// a JSON array of strings.
func encodeHeaderColumn(hs []HeaderPair, values bool) string {
	field := func(h *HeaderPair) string {
		if values {
			return h.Value
		}
		return h.Name
	}
	n := 2
	for i := range hs {
		n += len(field(&hs[i])) + 3
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i := range hs {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendJSONString(b, field(&hs[i]))
	}
	return string(append(b, ']'))
}

// ZipHeaders rebuilds a header list from the stored names and values arrays;
// both empty gives nil.
func ZipHeaders(names, values string) ([]HeaderPair, error) {
	if names == "" && values == "" {
		return nil, nil
	}
	var ns, vs []string
	if err := json.Unmarshal([]byte(names), &ns); err != nil {
		return nil, fmt.Errorf("model: decoding header names: %w", err)
	}
	if err := json.Unmarshal([]byte(values), &vs); err != nil {
		return nil, fmt.Errorf("model: decoding header values: %w", err)
	}
	if len(ns) != len(vs) {
		return nil, fmt.Errorf("model: %d header names but %d values", len(ns), len(vs))
	}
	if len(ns) == 0 {
		return nil, nil
	}
	hs := make([]HeaderPair, len(ns))
	for i := range ns {
		hs[i] = HeaderPair{Name: ns[i], Value: vs[i]}
	}
	return hs, nil
}

// LegacyColumns are the columns of the captures table before schema 0004
// (one table of whole captures, renamed captures_legacy by migration 0004),
// in the order the backends' conversions read them.
var LegacyColumns = []string{
	"id", "created_at", "visit_key", "initiator", "client_ip", "user_agent", "host", "method", "path",
	"http_version", "tls_version", "sni", "alpn", "client_hello", "tls_summary", "headers", "h2",
	"ja3", "ja3_hash", "ja3n", "ja3n_hash", "ja4", "ja4_r", "ja4_o", "ja4_ro",
	"peetprint", "peetprint_hash", "akamai", "akamai_hash", "header_order", "header_order_hash",
}

// PrepareLegacy completes a capture read from the schema before 0004 (one
// table of whole captures) for Split: captures of one connection carried the
// same raw ClientHello (its random and key shares make it unique), so their
// ConnID is derived from the client address and the hello; a capture without
// a hello stays a connection of its own. StreamID is read from the HTTP/2
// summary, which is kept as it was.
func PrepareLegacy(c *Capture) {
	if len(c.ClientHello) > 0 {
		var d xxhash.Digest
		d.Reset()
		writeLenPrefixed(&d, c.ClientIP)
		_, _ = d.Write(c.ClientHello)
		c.ConnID = fmt.Sprintf("legacy-%016x", d.Sum64())
	}
	if len(c.H2) > 0 {
		var h struct {
			StreamID uint32 `json:"stream_id"`
		}
		if json.Unmarshal(c.H2, &h) == nil {
			c.StreamID = h.StreamID
		}
	}
}
