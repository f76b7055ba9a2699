package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/guanaco-fp/guanaco/capture"
	"github.com/guanaco-fp/guanaco/store"
	"github.com/guanaco-fp/guanaco/web/templates"
)

// Client hints requested on "/" so that Chromium sends them: Accept-CH asks
// for them on later requests, Critical-CH makes the browser retry the
// navigation once with them when the first request lacked them.
const (
	acceptCH   = "Sec-CH-UA, Sec-CH-UA-Mobile, Sec-CH-UA-Platform, Sec-CH-UA-Platform-Version, Sec-CH-UA-Full-Version-List, Sec-CH-UA-Arch, Sec-CH-UA-Model, Sec-CH-UA-Bitness, Sec-CH-UA-WoW64, Sec-CH-UA-Form-Factors"
	criticalCH = "Sec-CH-UA-Platform-Version, Sec-CH-UA-Full-Version-List, Sec-CH-UA-Arch, Sec-CH-UA-Model, Sec-CH-UA-Bitness"
)

// maxProbeBody bounds the bodies the probes read (and discard).
const maxProbeBody = 64 << 10

// captureOf returns r's capture, or nil.
func (h *handler) captureOf(r *http.Request) *capture.Request {
	if h.d.CaptureOf == nil {
		return claimedCapture(r)
	}
	rc, ok := h.d.CaptureOf(r)
	if !ok {
		return nil
	}
	return rc
}

// fingerprint builds the report of the request being served and offers its
// capture to the store writer. The report's Stored and StoredReason fields say
// what became of it: "queued" (taken by the writer, not yet in the database) or
// "dropped" with a reason.
func (h *handler) fingerprint(r *http.Request, rc *capture.Request, initiator, visitKey string) *report {
	rep := new(report)
	h.fingerprintInto(rep, r, rc, initiator, visitKey)
	return rep
}

// fingerprintInto is fingerprint filling *rep (a zero report), which it does
// not keep: a caller that needs the report only while answering keeps it on
// its stack.
func (h *handler) fingerprintInto(rep *report, r *http.Request, rc *capture.Request, initiator, visitKey string) {
	now := h.d.Now()
	rc.RefreshH2()
	var conn *connMemo // the connection's memo, looked up once
	if rc != nil {
		conn = connMemoOf(rc.TLS)
	}
	addr, hasAddr := clientAddr(r)
	fillLiveReport(rep, r, rc, conn, store.NewCaptureID(now), now, initiator, h.storedClientIP(conn, addr, hasAddr), visitKey)
	reason := ""
	if rec, err := rep.toCapture(); err != nil {
		h.log.LogAttrs(r.Context(), slog.LevelError, "web: building capture record",
			slog.String("path", r.URL.Path), slog.String("error", err.Error()))
		reason = DropEncoding
	} else if reason = h.admitStore(conn, addr, hasAddr); reason != "" {
		h.metrics.capped.WithLabelValues(reason).Inc()
	} else {
		h.redact.headers(rec.Headers)
		capHeaderValues(rec.Headers)
		reason = h.offer(&rec, now)
	}
	h.metrics.offered(reason == "")
	rep.Stored, rep.StoredReason = StoredQueued, reason
	if reason != "" {
		rep.Stored = StoredDropped
	}
}

// offer hands rec, made at now, to the capture sink and returns "" when it
// was queued, else the reason it was dropped.
func (h *handler) offer(rec *store.Capture, now time.Time) string {
	q, ok := h.d.Captures.(CaptureQueuer)
	if !ok {
		if h.d.Captures.Offer(*rec) {
			h.recent.add(rec, now)
			return ""
		}
		return DropUnknown
	}
	err := q.Queue(rec)
	if err == nil {
		h.recent.add(rec, now)
		return ""
	}
	var dr interface{ DropReason() string }
	if errors.As(err, &dr) && dr.DropReason() != "" {
		return dr.DropReason()
	}
	return DropUnknown
}

// index serves "/": the visitor's fingerprint page. It sets the visit
// cookie when missing and asks for the client hints.
func (h *handler) index(w http.ResponseWriter, r *http.Request) {
	rc := h.captureOf(r)
	key := ensureVisitKey(w, r, isTLS(r, rc))
	rep := h.fingerprint(r, rc, store.InitiatorNavigate, key)
	rep.Verdict = h.verdictOf(r.Context(), rep)
	hd := w.Header()
	if h.asksClientHints(r) {
		hd.Set("Accept-CH", acceptCH)
		hd.Set("Critical-CH", criticalCH)
	}
	h.noStore(w)
	page := h.page("Your fingerprint", templates.NavFingerprint)
	page.Probes = &templates.HeadProbes{Style: ProbeStylePath, Script: ProbeScriptPath,
		Manifest: ProbeManifestPath + "?visit=" + url.QueryEscape(key)}
	h.render(w, r, http.StatusOK, templates.Index(templates.IndexPage{
		Page:         page,
		Subresources: &templates.BodyProbes{Image: ProbeImagePath, Frame: ProbeFramePath, Media: ProbeMediaPath},
		Report:       reportView(rep),
		ProfileURL:   "/api/profiles/visit/" + key,
		Stored:       rep.Stored == StoredQueued,
		Verdict:      verdictView(rep.Verdict),
		HTTP1URL:     h.http1URL(r, rep),
	}))
}

// asksClientHints reports whether "/" asks r's browser for client hints:
// unless r's host (port and a trailing dot left out) is one of
// Deps.NoClientHintsHosts.
func (h *handler) asksClientHints(r *http.Request) bool {
	host := r.Host
	if hn, _, err := net.SplitHostPort(host); err == nil {
		host = hn
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	for _, n := range h.d.NoClientHintsHosts {
		if strings.EqualFold(strings.TrimSuffix(strings.Trim(n, "[]"), "."), host) {
			return false
		}
	}
	return true
}

// http1URL is "/" on the HTTP/1.1-only listener when rep came over HTTP/2
// and such a listener exists, else "".
func (h *handler) http1URL(r *http.Request, rep *report) string {
	if h.d.HTTP1Port == nil || rep.HTTP.Version != "2" {
		return ""
	}
	port := h.d.HTTP1Port()
	if port == 0 {
		return ""
	}
	host := r.Host
	if hp, _, err := net.SplitHostPort(host); err == nil {
		host = hp
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return "https://" + host + ":" + strconv.Itoa(port) + "/"
}

// apiFingerprint serves GET /api/fingerprint.
func (h *handler) apiFingerprint(w http.ResponseWriter, r *http.Request) {
	rep := h.fingerprint(r, h.captureOf(r), store.InitiatorAPI, visitKeyOf(r))
	rep.Verdict = h.verdictOf(r.Context(), rep)
	h.noStore(w)
	h.writeJSON(w, r, http.StatusOK, rep)
}

// cleanReport is the answer of GET /api/clean: only the fingerprints, for
// scripts that compare hashes and don't need the decoded handshake.
type cleanReport struct {
	CaptureID    string `json:"capture_id"`
	Stored       string `json:"stored"`
	StoredReason string `json:"stored_reason,omitempty"`
	HTTPVersion  string `json:"http_version"`
	UserAgent    string `json:"user_agent"`
	fingerprints

	// conn is the live connection's memo (see appendFingerprintFields).
	conn *connMemo
}

// apiClean serves GET /api/clean: the request is captured and stored like
// any other, and answered with its fingerprints only.
// The report and the answer stay on the stack (see writeClean).
func (h *handler) apiClean(w http.ResponseWriter, r *http.Request) {
	var rep report
	h.fingerprintInto(&rep, r, h.captureOf(r), store.InitiatorAPI, visitKeyOf(r))
	h.noStore(w)
	h.writeClean(w, r, &cleanReport{
		CaptureID: rep.CaptureID, Stored: rep.Stored, StoredReason: rep.StoredReason, HTTPVersion: rep.HTTP.Version,
		UserAgent: rep.UserAgent, fingerprints: rep.Fingerprints, conn: rep.conn,
	})
}

// discardBody reads and drops the request body, at most limit bytes.
func discardBody(w http.ResponseWriter, r *http.Request, limit int64) error {
	if _, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, limit)); err != nil {
		return bodyError(err)
	}
	return nil
}

// probe serves POST /probe/fetch and /probe/xhr: the JSON report of the
// page script's request, in the visit of the page.
func (h *handler) probe(initiator string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := discardBody(w, r, maxProbeBody); err != nil {
			h.fail(w, r, err)
			return
		}
		rep := h.fingerprint(r, h.captureOf(r), initiator, visitKeyOf(r))
		h.noStore(w)
		h.writeJSON(w, r, http.StatusOK, rep)
	}
}

// probeForm serves GET and POST /probe/form: the page's form submission,
// answered with an HTML page (it loads in a hidden iframe) that carries the
// JSON report in a data attribute for the page script.
func (h *handler) probeForm(w http.ResponseWriter, r *http.Request) {
	if err := discardBody(w, r, maxProbeBody); err != nil {
		h.fail(w, r, err)
		return
	}
	rep := h.fingerprint(r, h.captureOf(r), store.InitiatorForm, visitKeyOf(r))
	b, err := encodeReport(rep)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.noStore(w)
	h.render(w, r, http.StatusOK, templates.ProbeResult(templates.ProbeResultPage{
		Page:       h.page("Form probe", ""),
		ResultJSON: string(b),
		Report:     reportView(rep),
	}))
}

// echoResponse is the echo API's answer: the request line parts, the query
// as ordered pairs, the body, and the fingerprint report.
//
// body_encoding is "text" when the (possibly truncated) body is valid
// UTF-8, else "base64"; body_length is the full body size; body_truncated
// says that only the first Deps.MaxEchoBody bytes are echoed.
type echoResponse struct {
	Query         [][2]string `json:"query"`
	Body          string      `json:"body"`
	BodyEncoding  string      `json:"body_encoding"`
	BodyLength    int64       `json:"body_length"`
	BodyTruncated bool        `json:"body_truncated"`
	httpbinFields
	*report
}

// echo serves any method on /api/echo and /api/echo/*.
func (h *handler) echo(w http.ResponseWriter, r *http.Request) {
	body, total, truncated, err := readEchoBody(w, r, h.d.MaxEchoBody, h.d.MaxRequestBody)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rc := h.captureOf(r)
	resp := echoResponse{
		Query:         queryPairs(r.URL.RawQuery),
		BodyLength:    total,
		BodyTruncated: truncated,
		report:        h.fingerprint(r, rc, store.InitiatorEcho, visitKeyOf(r)),
	}
	resp.Body, resp.BodyEncoding = encodeBody(body, truncated)
	origin := ""
	if a, ok := clientAddr(r); ok {
		origin = a.String() // the client's own address, in its own answer
	}
	resp.httpbinFields = httpbinOf(r, isTLS(r, rc), body, truncated, origin)
	h.noStore(w)
	h.writeJSON(w, r, http.StatusOK, resp)
}

// readEchoBody reads r's body: the first keep bytes are returned, the rest
// is counted and dropped. A body longer than limit fails with
// *http.MaxBytesError.
func readEchoBody(w http.ResponseWriter, r *http.Request, keep, limit int64) (body []byte, total int64, truncated bool, err error) {
	rd := http.MaxBytesReader(w, r.Body, limit)
	var buf bytes.Buffer
	n, err := io.CopyN(&buf, rd, keep)
	total = n
	if err == io.EOF {
		return buf.Bytes(), total, false, nil
	}
	if err != nil {
		return nil, total, false, bodyError(err)
	}
	rest, err := io.Copy(io.Discard, rd)
	total += rest
	if err != nil {
		return nil, total, false, bodyError(err)
	}
	return buf.Bytes(), total, rest > 0, nil
}

// bodyError classifies a failure to read the client's request body. Too
// large stays a *http.MaxBytesError (413); anything else (a body shorter or
// longer than its Content-Length, an HTTP/2 stream reset, broken chunking)
// is the client's fault: 400, not a logged server error.
func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || errors.Is(err, context.Canceled) {
		return err
	}
	return &httpError{status: http.StatusBadRequest, code: codeInvalid, message: "could not read the request body", err: err}
}

// encodeBody returns the body as text when it is valid UTF-8, else as
// base64. A truncated body may end inside a UTF-8 sequence: up to three
// trailing bytes of an incomplete rune are then ignored for the check and
// dropped from the text.
func encodeBody(b []byte, truncated bool) (string, string) {
	text := b
	if truncated && !utf8.Valid(text) {
		for k := 1; k < utf8.UTFMax && k <= len(text); k++ {
			head, tail := text[:len(text)-k], text[len(text)-k:]
			if !utf8.FullRune(tail) && utf8.Valid(head) {
				text = head
				break
			}
		}
	}
	if utf8.Valid(text) {
		return string(text), "text"
	}
	return base64.StdEncoding.EncodeToString(b), "base64"
}

// queryPairs splits a raw query into [name, value] pairs in order, keeping
// duplicates and empty values. Components that fail to unescape are kept
// as sent.
func queryPairs(raw string) [][2]string {
	out := [][2]string{}
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		if uv, err := url.QueryUnescape(v); err == nil {
			v = uv
		}
		out = append(out, [2]string{k, v})
	}
	return out
}
