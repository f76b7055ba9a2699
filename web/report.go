package web

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/guanaco-fp/guanaco/capture"
	"github.com/guanaco-fp/guanaco/fingerprint"
	"github.com/guanaco-fp/guanaco/store"
)

// report is the JSON document of one capture, live (GET /api/fingerprint,
// the probes, the echo API) or stored (GET /api/captures/{id}):
//
//	{
//	  "capture_id", "capture_url", "stored" and "stored_reason" (live only),
//	  "created_at",
//	  "initiator", "client_ip", "host", "method", "path", "user_agent",
//	  "complete",
//	  "tls": { decoded ClientHello..., "raw": base64 record(s) as captured,
//	           "sni", "alpn", "negotiated": {"version", "cipher_suite", "alpn"} } | null,
//	  "quic": { "version", "negotiated_version", "initial_packets",
//	            "transport_parameters": [{"id", "name", "value" (hex), "int"}, ...],
//	            "quic_tp", "quic_tp_hash" } (HTTP/3 only),
//	  "http": { "version": "1.1"|"2"|"3", "headers": [[name, value], ...],
//	            "header_order", "h2": {...} (HTTP/2 only), "h3": {...} (HTTP/3 only) },
//	  "fingerprints": { "ja3", "ja3_hash", "ja3n", "ja3n_hash", "ja4", "ja4_r",
//	            "ja4_o", "ja4_ro", "peetprint", "peetprint_hash", "akamai",
//	            "akamai_hash", "header_order", "header_order_hash" },
//	  "verdict": {...} (GET / and /api/fingerprint only; see verdictReport)
//	}
//
// "stored" is "queued" when the store writer took the capture (it is written,
// or spooled and written later, unless it is dropped afterwards: spool full,
// database refusal; the answer does not wait for the database) or "dropped",
// with "stored_reason" saying why (see CaptureQueuer; "encoding" when no record
// could be built, "unknown" from a sink without reasons).
//
// "complete" is false when no request head could be matched to the request
// (the header list is then empty).
type report struct {
	CaptureID    string       `json:"capture_id"`
	CaptureURL   string       `json:"capture_url"`
	Stored       string       `json:"stored,omitempty"`
	StoredReason string       `json:"stored_reason,omitempty"`
	CreatedAt    time.Time    `json:"created_at"`
	Initiator    string       `json:"initiator"`
	ClientIP     string       `json:"client_ip"`
	Host         string       `json:"host"`
	Method       string       `json:"method"`
	Path         string       `json:"path"`
	UserAgent    string       `json:"user_agent"`
	Complete     bool         `json:"complete"`
	TLS          *tlsReport   `json:"tls"`
	QUIC         *quicReport  `json:"quic,omitempty"`
	HTTP         httpReport   `json:"http"`
	Fingerprints fingerprints `json:"fingerprints"`
	// Verdict is set on GET / and GET /api/fingerprint only (see
	// verdictReport).
	Verdict *verdictReport `json:"verdict,omitempty"`

	// visitKey groups the captures of one page visit. It is stored but
	// never put into a response: the cookie is HttpOnly.
	visitKey string
	// conn is the memo of the live connection (its handshake in
	// conn.info), nil for stored reports and connections without TLS.
	conn *connMemo
	// connID names the live connection (capture.Request.ConnID): the
	// captures of one connection share its stored connection row.
	connID string
}

// tlsReport is the "tls" object: the ClientHello's own display JSON
// (transport, versions, random, session id, cipher suites, extensions with
// names and decoded values) plus the captured record bytes and the
// negotiated parameters.
type tlsReport struct {
	*fingerprint.ClientHello
	// Raw shadows ClientHello.Raw (the bare handshake message): it is the
	// record(s) as received. Omitted in the stored summary, whose raw bytes
	// live in their own column.
	Raw        []byte        `json:"raw,omitempty"`
	SNI        string        `json:"sni"`
	ALPN       []string      `json:"alpn"`
	Negotiated tlsNegotiated `json:"negotiated"`

	// info, when set, is the live connection whose handshake this reports:
	// the encoding is then computed once per connection, on first use.
	conn *connMemo
}

// MarshalJSON encodes the report (appendTLSReport), at most once per live
// connection.
func (t *tlsReport) MarshalJSON() ([]byte, error) {
	size := tlsJSONSize(t)
	if t.conn == nil {
		return appendTLSReport(make([]byte, 0, size), t)
	}
	c := t.conn
	c.tlsJSONOnce.Do(func() {
		b, err := appendTLSReport(make([]byte, 0, size), t)
		c.tlsJSON = memoJSON{b, err}
	})
	return c.tlsJSON.b, c.tlsJSON.err
}

// tlsJSONSize is the buffer appendTLSReport starts t's encoding in: room
// for the record in base64 (4/3 of its bytes), the extensions' data in hex
// (twice theirs) and the names and numbers around them, so that the
// encoding of a real browser's hello is never copied to a larger buffer
// half-way (TestTLSJSONSizeFits).
func tlsJSONSize(t *tlsReport) int { return 5*len(t.Raw) + 3072 }

// quicReport is the "quic" object of an HTTP/3 capture: the Initial
// packets' version and the client's transport parameters in wire order
// with their fingerprint.
type quicReport struct {
	Version             string                  `json:"version"`
	NegotiatedVersion   string                  `json:"negotiated_version"`
	InitialPackets      int                     `json:"initial_packets,omitempty"`
	TransportParameters []fingerprint.QUICParam `json:"transport_parameters"`
	ParamsError         string                  `json:"transport_parameters_error,omitempty"`
	fingerprint.QUICTransportParamsFP
}

// quicStored is the part of the QUIC report stored in the connection's TLS
// summary; the transport parameters are recomputed from the stored hello.
type quicStored struct {
	Version           string `json:"version"`
	NegotiatedVersion string `json:"negotiated_version"`
	InitialPackets    int    `json:"initial_packets,omitempty"`
}

func quicVersionString(v uint32) string { return fmt.Sprintf("0x%08x", v) }

// quicFromCapture builds the "quic" object of a live HTTP/3 capture.
func quicFromCapture(q *capture.QUICInfo) *quicReport {
	return &quicReport{
		Version: quicVersionString(q.Version), NegotiatedVersion: quicVersionString(q.Negotiated),
		InitialPackets: q.InitialPackets, TransportParameters: nonNil(q.Params), ParamsError: q.ParamsErr,
		QUICTransportParamsFP: q.TP,
	}
}

// quicFromStored rebuilds the "quic" object from the stored summary part
// and the stored hello.
func quicFromStored(s quicStored, ch *fingerprint.ClientHello) *quicReport {
	q := &quicReport{Version: s.Version, NegotiatedVersion: s.NegotiatedVersion, InitialPackets: s.InitialPackets}
	params, err := ch.QUICTransportParams()
	if err != nil {
		q.ParamsError = err.Error()
	}
	q.TransportParameters = nonNil(params)
	q.QUICTransportParamsFP = fingerprint.QUICTransportParamsFingerprint(params)
	return q
}

// tlsSummary is the TLS summary stored with each capture: what a list or a
// query needs without re-parsing the raw ClientHello (which is stored
// apart and is the canonical form; the full decoded view is recomputed from
// it when a stored capture is shown).
type tlsSummary struct {
	SNI             string        `json:"sni"`
	ALPN            []string      `json:"alpn"`
	MaxVersion      string        `json:"max_version"`
	CipherSuites    []uint16      `json:"cipher_suites"`
	Extensions      []uint16      `json:"extensions"`
	SupportedGroups []uint16      `json:"supported_groups"`
	SigAlgs         []uint16      `json:"signature_algorithms"`
	Negotiated      tlsNegotiated `json:"negotiated"`
	// QUIC is set for connections over QUIC.
	QUIC *quicStored `json:"quic,omitempty"`
	// Truncated names the lists cut to maxSummaryList entries (and ALPN
	// protocols cut to maxSummaryList): the raw hello, stored once per
	// connection, keeps them whole.
	Truncated []string `json:"truncated,omitempty"`
}

// maxSummaryList bounds each list of the stored TLS summary. Real clients
// send a few dozen entries at most; a hello can carry tens of thousands
// (a 64 KB cipher list), and the summary is stored with every connection.
const maxSummaryList = 256

// capList returns s cut to maxSummaryList entries, recording name in
// *truncated when it was cut.
func capList[T any](s []T, name string, truncated *[]string) []T {
	if len(s) <= maxSummaryList {
		return s
	}
	*truncated = append(*truncated, name)
	return s[:maxSummaryList]
}

// h2DocKey identifies a stored HTTP/2 document within a connection: the
// Akamai text covers the connection's SETTINGS, WINDOW_UPDATE, PRIORITY
// frames and the request's pseudo-header order; the HPACK representations
// and the HEADERS priority (its stream ID removed) are the rest.
type h2DocKey struct {
	akamai  string
	hpack   string
	prio    fingerprint.H2Priority
	hasPrio bool
}

// h2DocMemo caches the last stored HTTP/2 document of a connection (one
// entry, so a client varying its priorities cannot grow it).
type h2DocMemo struct {
	mu  sync.Mutex
	key h2DocKey
	// The per-request lists the document holds besides key (copies).
	pseudo []string
	wu     []uint32
	data   []fingerprint.H2DataFrame
	doc    memoJSON
	set    bool
}

// memoJSON is a cached encoding or the error that prevented it.
type memoJSON struct {
	b   []byte
	err error
}

// connTLS returns the "tls" object of a live capture. It, its JSON encoding
// and the stored summary depend only on the connection's handshake, so they
// are built once per connection, and only when needed; the object is shared
// by the connection's reports and never modified.
func connTLS(c *connMemo) *tlsReport {
	c.tlsObjOnce.Do(func() { c.tlsObj = newConnTLS(c) })
	return c.tlsObj
}

// newConnTLS builds the "tls" object of connection c.
func newConnTLS(c *connMemo) *tlsReport {
	t := c.info
	tr := &tlsReport{
		ClientHello: t.Hello,
		Raw:         t.Raw,
		SNI:         t.Hello.ServerName(),
		ALPN:        t.Hello.ALPN(),
		Negotiated: tlsNegotiated{
			Version:     tlsVersionName(t.State.Version),
			CipherSuite: tlsCipherName(t.State.CipherSuite),
			ALPN:        t.State.NegotiatedProtocol,
		},
	}
	if tr.ALPN == nil {
		tr.ALPN = []string{}
	}
	tr.conn = c
	return tr
}

// summaryJSON is the stored TLS summary of t, cached per connection when
// the report came from one.
func (t *tlsReport) summaryJSON(conn *connMemo, q *quicReport) ([]byte, error) {
	build := func() memoJSON {
		s := t.summary(q)
		return memoJSON{appendTLSSummary(make([]byte, 0, 512), &s), nil}
	}
	if conn == nil {
		m := build()
		return m.b, m.err
	}
	conn.summaryOnce.Do(func() { conn.summary = build() })
	return conn.summary.b, conn.summary.err
}

// summary is the stored TLS summary of t (q: the QUIC report, nil over TCP).
func (t *tlsReport) summary(q *quicReport) tlsSummary {
	var cut []string
	s := tlsSummary{
		SNI: t.SNI, ALPN: capList(t.ALPN, "alpn", &cut), Negotiated: t.Negotiated,
		MaxVersion:      hex16(t.ClientHello.MaxVersion()),
		CipherSuites:    capList(t.ClientHello.CipherSuites, "cipher_suites", &cut),
		Extensions:      capList(t.ClientHello.ExtensionTypes(), "extensions", &cut),
		SupportedGroups: capList(t.ClientHello.SupportedGroups(), "supported_groups", &cut),
		SigAlgs:         capList(t.ClientHello.SignatureAlgorithms(), "signature_algorithms", &cut),
	}
	s.Truncated = cut
	if q != nil {
		s.QUIC = &quicStored{Version: q.Version, NegotiatedVersion: q.NegotiatedVersion, InitialPackets: q.InitialPackets}
	}
	return s
}

// tlsNegotiated is what the handshake settled on.
type tlsNegotiated struct {
	Version     string `json:"version"`
	CipherSuite string `json:"cipher_suite"`
	ALPN        string `json:"alpn"`
}

// httpReport is the "http" object.
type httpReport struct {
	Version     string               `json:"version"`
	Headers     []fingerprint.Header `json:"headers"`
	HeaderOrder string               `json:"header_order"`
	H2          *H2Summary           `json:"h2,omitempty"`
	H3          *H3Summary           `json:"h3,omitempty"`
}

// H3Summary is the HTTP/3 summary of a request, stored in store.Capture.H2
// for captures with HTTP version "3" (see capture.H3Summary).
type H3Summary = capture.H3Summary

// H2Summary is the HTTP/2 summary of a request, stored in
// store.Capture.H2 (see capture.H2Summary).
type H2Summary = capture.H2Summary

// fingerprints is the "fingerprints" object. TLS values are empty without
// TLS, Akamai values empty without HTTP/2.
type fingerprints struct {
	JA3             string `json:"ja3"`
	JA3Hash         string `json:"ja3_hash"`
	JA3N            string `json:"ja3n"`
	JA3NHash        string `json:"ja3n_hash"`
	JA4             string `json:"ja4"`
	JA4R            string `json:"ja4_r"`
	JA4O            string `json:"ja4_o"`
	JA4RO           string `json:"ja4_ro"`
	PeetPrint       string `json:"peetprint"`
	PeetPrintHash   string `json:"peetprint_hash"`
	Akamai          string `json:"akamai"`
	AkamaiHash      string `json:"akamai_hash"`
	HeaderOrder     string `json:"header_order"`
	HeaderOrderHash string `json:"header_order_hash"`
	// QUICTP and QUICTPHash are the transport-parameters fingerprint
	// (HTTP/3 only).
	QUICTP     string `json:"quic_tp,omitempty"`
	QUICTPHash string `json:"quic_tp_hash,omitempty"`
}

// captureURL is the shareable page of a capture.
func captureURL(id string) string { return "/captures/" + url.PathEscape(id) }

// fillLiveReport fills *rep (a zero report) with the report of the request
// being served. rc may be nil when the request carries no capture; conn is
// the memo of rc's TLS connection (connMemoOf(rc.TLS)).
func fillLiveReport(rep *report, r *http.Request, rc *capture.Request, conn *connMemo, id string, now time.Time, initiator, clientIP, visitKey string) {
	*rep = report{
		CaptureID:  id,
		CaptureURL: captureURL(id),
		CreatedAt:  now.UTC(),
		Initiator:  initiator,
		ClientIP:   clientIP,
		Host:       r.Host,
		Method:     r.Method,
		Path:       r.URL.Path,
		UserAgent:  userAgent(r, rc),
		visitKey:   visitKey,
	}
	rep.HTTP.Version = httpVersion(r, rc)
	if rc == nil {
		rep.Fingerprints.HeaderOrder, rep.Fingerprints.HeaderOrderHash = "", fingerprint.HeaderOrderOf().Hash
		rep.HTTP.Headers = []fingerprint.Header{}
		return
	}
	rep.Complete = rc.Matched
	rep.connID = rc.ConnID
	rep.HTTP.Headers = rc.Headers
	if rep.HTTP.Headers == nil {
		rep.HTTP.Headers = []fingerprint.Header{}
	}
	rep.HTTP.HeaderOrder = rc.HeaderOrder.Order
	rep.Fingerprints.HeaderOrder = rc.HeaderOrder.Order
	rep.Fingerprints.HeaderOrderHash = rc.HeaderOrder.Hash
	if rep.Fingerprints.HeaderOrderHash == "" {
		rep.Fingerprints.HeaderOrderHash = fingerprint.HeaderOrderOf().Hash
	}
	if t := rc.TLS; t != nil && t.Hello != nil && conn != nil {
		rep.TLS = connTLS(conn)
		rep.conn = conn
		fp := t.Fingerprints
		rep.Fingerprints.JA3, rep.Fingerprints.JA3Hash = fp.JA3, fp.JA3Hash
		rep.Fingerprints.JA3N, rep.Fingerprints.JA3NHash = fp.JA3N, fp.JA3NHash
		rep.Fingerprints.JA4, rep.Fingerprints.JA4R = fp.JA4, fp.JA4R
		rep.Fingerprints.JA4O, rep.Fingerprints.JA4RO = fp.JA4O, fp.JA4RO
		rep.Fingerprints.PeetPrint, rep.Fingerprints.PeetPrintHash = fp.PeetPrint, fp.PeetPrintHash
	}
	if rc.QUIC != nil {
		rep.QUIC = quicFromCapture(rc.QUIC)
		rep.Fingerprints.QUICTP, rep.Fingerprints.QUICTPHash = rc.QUIC.TP.Text, rc.QUIC.TP.Hash
	}
	if rc.H3 != nil {
		rep.HTTP.H3 = capture.NewH3Summary(rc.H3)
	}
	if rc.H2 != nil {
		rep.HTTP.H2 = h2FromCapture(rc.H2, conn)
		rep.Fingerprints.Akamai = rc.H2.Akamai.Text
		rep.Fingerprints.AkamaiHash = rc.H2.Akamai.Hash
	}
}

// userAgent is the User-Agent as captured on the wire (the first one, any
// case), else as net/http parsed it.
func userAgent(r *http.Request, rc *capture.Request) string {
	if rc != nil {
		for _, h := range rc.Headers {
			if strings.EqualFold(h.Name, "user-agent") {
				return h.Value
			}
		}
	}
	return r.UserAgent()
}

// h2FromCapture summarises the HTTP/2 side of a request capture. conn is
// the connection's memo (nil: none), which keeps the texts its requests
// repeat (see h2Texts). The summary and its copy of the HEADERS priority
// are one allocation.
func h2FromCapture(h *capture.H2Info, conn *connMemo) *H2Summary {
	a := new(struct {
		sum  H2Summary
		prio fingerprint.H2Priority
	})
	dst := &a.sum
	*dst = H2Summary{
		StreamID:            h.Request.StreamID,
		Settings:            []fingerprint.H2Setting{},
		PriorityFrames:      []fingerprint.H2Priority{},
		Data:                h.Request.Data,
		StreamWindowUpdates: h.Request.WindowUpdates,
		Akamai:              h.Akamai.Text,
		AkamaiHash:          h.Akamai.Hash,
	}
	dst.PseudoOrder, dst.HPACK = h2Texts(conn, &h.Request)
	if c := h.Conn; c != nil {
		// The connection's snapshot is shared and never modified, and
		// neither are these lists in the summary: no copies.
		dst.Settings = nonNil(c.Settings)
		dst.WindowUpdate = c.WindowUpdate
		dst.PriorityFrames = nonNil(c.Priorities)
		if len(c.Requests) > 0 {
			dst.FirstStreamID = c.Requests[0].StreamID
		}
	}
	if p := h.Request.Priority; p != nil {
		a.prio = *p
		dst.HeadersPriority = &a.prio
	}
	return dst
}

// h2TextMemo is the pseudo-header order and HPACK text of a connection's
// last HTTP/2 request (see h2Texts).
type h2TextMemo struct {
	mu     sync.Mutex
	pseudo []string // shared by the summaries that use it: read-only
	hpack  string
	set    bool
}

// h2Texts returns the names of req's pseudo headers (never nil) and its
// HPACK representations joined with commas. The requests of a kept-alive
// connection mostly repeat both, so the connection's last ones are returned
// again when req's match them, without building (and allocating) them anew;
// the pseudo-header slice is then shared and must not be modified.
func h2Texts(conn *connMemo, req *fingerprint.H2Request) ([]string, string) {
	if conn == nil {
		return nonNil(req.PseudoOrder()), strings.Join(req.HPACK, ",")
	}
	m := &conn.h2Texts
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.set || !samePseudoNames(m.pseudo, req.Pseudo) {
		m.pseudo = nonNil(req.PseudoOrder())
	}
	if !m.set || !joinsTo(m.hpack, req.HPACK) {
		m.hpack = strings.Join(req.HPACK, ",")
	}
	m.set = true
	return m.pseudo, m.hpack
}

// samePseudoNames reports whether names are hs' names in order.
func samePseudoNames(names []string, hs []fingerprint.Header) bool {
	if len(names) != len(hs) {
		return false
	}
	for i, h := range hs {
		if names[i] != h.Name {
			return false
		}
	}
	return true
}

// joinsTo reports whether strings.Join(ss, ",") == s, without joining.
func joinsTo(s string, ss []string) bool {
	for i, e := range ss {
		if i > 0 {
			if s == "" || s[0] != ',' {
				return false
			}
			s = s[1:]
		}
		if !strings.HasPrefix(s, e) {
			return false
		}
		s = s[len(e):]
	}
	return s == ""
}

// nonNil makes a nil slice encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// httpVersion is the request's HTTP version as stored: "1.0", "1.1", "2".
func httpVersion(r *http.Request, rc *capture.Request) string {
	if rc != nil {
		switch {
		case rc.Protocol == capture.ProtoH2:
			return "2"
		case rc.Protocol == capture.ProtoH3:
			return "3"
		case rc.HTTP1 != nil && strings.HasPrefix(rc.HTTP1.Proto, "HTTP/"):
			return strings.TrimPrefix(rc.HTTP1.Proto, "HTTP/")
		}
	}
	if r.ProtoMajor >= 2 {
		return strconv.Itoa(r.ProtoMajor)
	}
	return strconv.Itoa(r.ProtoMajor) + "." + strconv.Itoa(r.ProtoMinor)
}

// tlsVersionName names a negotiated TLS version ("TLS 1.3").
func tlsVersionName(v uint16) string {
	if v == 0 {
		return ""
	}
	return tls.VersionName(v)
}

// tlsCipherName names a negotiated cipher suite.
func tlsCipherName(id uint16) string {
	if n := fingerprint.CipherSuiteName(id); n != "" {
		return n
	}
	return tls.CipherSuiteName(id)
}

// shortTLSVersion is the stored TLS version: "1.3" for "TLS 1.3".
func shortTLSVersion(name string) string {
	return strings.TrimPrefix(name, "TLS ")
}

// toCapture converts a live report into the stored record.
func (rep *report) toCapture() (store.Capture, error) {
	c := store.Capture{
		ID:              rep.CaptureID,
		ConnID:          rep.connID,
		CreatedAt:       rep.CreatedAt,
		VisitKey:        rep.visitKey,
		Initiator:       rep.Initiator,
		ClientIP:        rep.ClientIP,
		UserAgent:       rep.UserAgent,
		Host:            rep.Host,
		Method:          rep.Method,
		Path:            rep.Path,
		HTTPVersion:     rep.HTTP.Version,
		JA3:             rep.Fingerprints.JA3,
		JA3Hash:         rep.Fingerprints.JA3Hash,
		JA3N:            rep.Fingerprints.JA3N,
		JA3NHash:        rep.Fingerprints.JA3NHash,
		JA4:             rep.Fingerprints.JA4,
		JA4R:            rep.Fingerprints.JA4R,
		JA4O:            rep.Fingerprints.JA4O,
		JA4RO:           rep.Fingerprints.JA4RO,
		PeetPrint:       rep.Fingerprints.PeetPrint,
		PeetPrintHash:   rep.Fingerprints.PeetPrintHash,
		Akamai:          rep.Fingerprints.Akamai,
		AkamaiHash:      rep.Fingerprints.AkamaiHash,
		HeaderOrder:     rep.Fingerprints.HeaderOrder,
		HeaderOrderHash: rep.Fingerprints.HeaderOrderHash,
		QUICTP:          rep.Fingerprints.QUICTP,
		QUICTPHash:      rep.Fingerprints.QUICTPHash,
	}
	if len(rep.HTTP.Headers) > 0 {
		c.Headers = make([]store.HeaderPair, len(rep.HTTP.Headers))
		for i, h := range rep.HTTP.Headers {
			c.Headers[i] = store.HeaderPair{Name: h.Name, Value: h.Value}
		}
	}
	if t := rep.TLS; t != nil {
		c.TLSVersion = shortTLSVersion(t.Negotiated.Version)
		c.SNI = t.SNI
		c.ALPN = t.Negotiated.ALPN
		c.ClientHello = t.Raw
		b, err := t.summaryJSON(rep.conn, rep.QUIC)
		if err != nil {
			return store.Capture{}, fmt.Errorf("web: encoding TLS summary: %w", err)
		}
		c.TLSSummary = b
	}
	if h3 := rep.HTTP.H3; h3 != nil {
		// The request's protocol document: stream id in its own column.
		doc := *h3
		doc.StreamID = 0
		b, err := json.Marshal(&doc)
		if err != nil {
			return store.Capture{}, fmt.Errorf("web: encoding HTTP/3 summary: %w", err)
		}
		c.StreamID = uint32(h3.StreamID)
		c.H2 = b
	}
	if rep.HTTP.H2 != nil {
		c.StreamID = rep.HTTP.H2.StreamID
		b, err := rep.storedH2()
		if err != nil {
			return store.Capture{}, fmt.Errorf("web: encoding HTTP/2 summary: %w", err)
		}
		c.H2 = b
	}
	return c, nil
}

// storedH2 is the stored HTTP/2 document of the report: its summary with the
// stream ID (stored in its own column) removed, also from the HEADERS
// priority, so the document is the same for every request of a connection
// sent with the same priority and is stored once. The encoding is cached per
// connection.
func (rep *report) storedH2() ([]byte, error) {
	src := rep.HTTP.H2
	key := h2DocKey{akamai: src.Akamai, hpack: src.HPACK}
	if p := src.HeadersPriority; p != nil {
		key.prio, key.hasPrio = *p, true
		key.prio.StreamID = 0
	}
	// The copy is made (and escapes) only when the document is encoded.
	encode := func() memoJSON {
		h2 := *src
		h2.StreamID = 0
		if key.hasPrio {
			p := key.prio
			h2.HeadersPriority = &p
		}
		b, err := json.Marshal(&h2)
		return memoJSON{b, err}
	}
	if rep.conn == nil {
		m := encode()
		return m.b, m.err
	}
	memo := &rep.conn.h2Doc
	memo.mu.Lock()
	defer memo.mu.Unlock()
	// The connection-level lists (SETTINGS, WINDOW_UPDATE, PRIORITY frames,
	// first stream) come from the connection's one snapshot; the request's
	// pseudo-header order, stream WINDOW_UPDATEs and DATA framing are
	// compared as well.
	if !memo.set || memo.key != key || !slices.Equal(memo.pseudo, src.PseudoOrder) ||
		!slices.Equal(memo.wu, src.StreamWindowUpdates) || !slices.Equal(memo.data, src.Data) {
		memo.key, memo.doc, memo.set = key, encode(), true
		memo.pseudo, memo.wu, memo.data = slices.Clone(src.PseudoOrder), slices.Clone(src.StreamWindowUpdates), slices.Clone(src.Data)
	}
	return memo.doc.b, memo.doc.err
}

// storedTLSSummary is the part of a stored TLS summary not recomputed from
// the raw hello.
type storedTLSSummary struct {
	Negotiated tlsNegotiated `json:"negotiated"`
	QUIC       *quicStored   `json:"quic"`
}

// storedReport rebuilds the report of a stored capture. The ClientHello is
// parsed again from the stored raw bytes (the canonical form); fingerprints
// are the stored values.
func storedReport(c store.Capture) (*report, error) {
	rep := &report{
		CaptureID:  c.ID,
		CaptureURL: captureURL(c.ID),
		CreatedAt:  c.CreatedAt.UTC(),
		Initiator:  c.Initiator,
		ClientIP:   c.ClientIP,
		Host:       c.Host,
		Method:     c.Method,
		Path:       c.Path,
		UserAgent:  c.UserAgent,
		Complete:   len(c.Headers) > 0,
		Fingerprints: fingerprints{
			JA3: c.JA3, JA3Hash: c.JA3Hash, JA3N: c.JA3N, JA3NHash: c.JA3NHash,
			JA4: c.JA4, JA4R: c.JA4R, JA4O: c.JA4O, JA4RO: c.JA4RO,
			PeetPrint: c.PeetPrint, PeetPrintHash: c.PeetPrintHash,
			Akamai: c.Akamai, AkamaiHash: c.AkamaiHash,
			HeaderOrder: c.HeaderOrder, HeaderOrderHash: c.HeaderOrderHash,
			QUICTP: c.QUICTP, QUICTPHash: c.QUICTPHash,
		},
	}
	rep.HTTP.Version = c.HTTPVersion
	rep.HTTP.HeaderOrder = c.HeaderOrder
	rep.HTTP.Headers = make([]fingerprint.Header, len(c.Headers))
	for i, h := range c.Headers {
		rep.HTTP.Headers[i] = fingerprint.Header{Name: h.Name, Value: h.Value}
	}
	h3 := c.HTTPVersion == "3"
	if len(c.ClientHello) > 0 {
		parse := fingerprint.ParseClientHello
		if h3 {
			parse = fingerprint.ParseClientHelloQUIC // a bare handshake message from CRYPTO frames
		}
		ch, err := parse(c.ClientHello)
		if err != nil {
			return nil, fmt.Errorf("web: parsing stored ClientHello of capture %s: %w", c.ID, err)
		}
		t := &tlsReport{ClientHello: ch, Raw: c.ClientHello, SNI: ch.ServerName(), ALPN: ch.ALPN()}
		if len(c.TLSSummary) > 0 {
			var s storedTLSSummary
			if err := json.Unmarshal(c.TLSSummary, &s); err != nil {
				return nil, fmt.Errorf("web: decoding TLS summary of capture %s: %w", c.ID, err)
			}
			t.Negotiated = s.Negotiated
			if s.QUIC != nil {
				rep.QUIC = quicFromStored(*s.QUIC, ch)
				if c.QUICTPHash != "" {
					// The stored fingerprint, as for the other kinds.
					rep.QUIC.Text, rep.QUIC.Hash = c.QUICTP, c.QUICTPHash
				}
				rep.Fingerprints.QUICTP, rep.Fingerprints.QUICTPHash = rep.QUIC.Text, rep.QUIC.Hash
			}
		}
		if t.Negotiated.ALPN == "" {
			t.Negotiated.ALPN = c.ALPN
		}
		if t.Negotiated.Version == "" && c.TLSVersion != "" {
			t.Negotiated.Version = "TLS " + c.TLSVersion
		}
		rep.TLS = t
	}
	if len(c.H2) > 0 && h3 {
		var doc H3Summary
		if err := json.Unmarshal(c.H2, &doc); err != nil {
			return nil, fmt.Errorf("web: decoding HTTP/3 summary of capture %s: %w", c.ID, err)
		}
		doc.Normalize()
		doc.StreamID = uint64(c.StreamID)
		rep.HTTP.H3 = &doc
	} else if len(c.H2) > 0 {
		var h2 H2Summary
		if err := json.Unmarshal(c.H2, &h2); err != nil {
			return nil, fmt.Errorf("web: decoding HTTP/2 summary of capture %s: %w", c.ID, err)
		}
		h2.Settings = nonNil(h2.Settings)
		h2.PriorityFrames = nonNil(h2.PriorityFrames)
		h2.PseudoOrder = nonNil(h2.PseudoOrder)
		if c.StreamID != 0 {
			// Stored apart from the document (see storedH2).
			h2.StreamID = c.StreamID
			if p := h2.HeadersPriority; p != nil && p.StreamID == 0 {
				p.StreamID = c.StreamID
			}
		}
		rep.HTTP.H2 = &h2
	}
	return rep, nil
}
