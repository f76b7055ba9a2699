package web

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/fingerprint"
	"github.com/guanaco-fp/guanaco/store"
	"github.com/guanaco-fp/guanaco/web/templates"
)

// Limits of the population view.
const (
	populationUserAgents = 10
	populationCaptures   = 20
)

// pathParam returns the unescaped value of a chi URL parameter.
func pathParam(r *http.Request, name string) string {
	v := chi.URLParam(r, name)
	if u, err := url.PathUnescape(v); err == nil {
		return u
	}
	return v
}

// validCaptureID reports whether id can name a stored capture (the store's
// ID alphabet and length).
func validCaptureID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// loadCapture reads the capture named by the {id} parameter.
func (h *handler) loadCapture(r *http.Request) (*report, error) {
	id := pathParam(r, "id")
	if !validCaptureID(id) {
		return nil, notFoundError("no capture with id %q", id)
	}
	ctx, cancel := h.storeCtx(r)
	defer cancel()
	c, err := h.d.Store.Capture(ctx, id)
	fromMemory := false
	if errors.Is(err, store.ErrNotFound) {
		// Queued a moment ago and not flushed yet: read your write.
		if rc, ok := h.recent.get(id, h.d.Now()); ok {
			c, err, fromMemory = rc.Normalized(), nil, true
		}
	}
	if err != nil {
		return nil, err
	}
	rep, err := storedReport(c)
	if err != nil {
		return nil, err
	}
	if fromMemory {
		// Says so: "stored" is "queued" until the store has it.
		rep.Stored = StoredQueued
	}
	rep.visitKey = c.VisitKey
	return rep, nil
}

// storedCapture is the JSON of GET /api/captures/{id}: the stored report
// plus, for a capture with a visit, the "curation" object (see
// curationReport).
type storedCapture struct {
	*report
	Curation *curationReport `json:"curation,omitempty"`
}

// capturePage serves GET /captures/{id}.
func (h *handler) capturePage(w http.ResponseWriter, r *http.Request) {
	rep, err := h.loadCapture(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ctx, cancel := h.storeCtx(r)
	defer cancel()
	cur := h.curationOf(ctx, rep.visitKey)
	w.Header().Set("Cache-Control", "private, max-age=60")
	h.render(w, r, http.StatusOK, templates.Capture(templates.CapturePage{
		Page:     h.page("Capture "+rep.CaptureID, ""),
		Report:   reportView(rep),
		Curation: curationView(cur),
	}))
}

// captureAPI serves GET /api/captures/{id}.
func (h *handler) captureAPI(w http.ResponseWriter, r *http.Request) {
	rep, err := h.loadCapture(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ctx, cancel := h.storeCtx(r)
	defer cancel()
	out := storedCapture{report: rep, Curation: h.curationOf(ctx, rep.visitKey)}
	w.Header().Set("Cache-Control", "private, max-age=60")
	h.writeJSON(w, r, http.StatusOK, out)
}

// population is the JSON of GET /api/fingerprints/{hash}.
type population struct {
	Hash           string       `json:"hash"`
	Kind           string       `json:"kind"`
	Count          int64        `json:"count"`
	Visits         int64        `json:"visits"`
	FirstSeen      time.Time    `json:"first_seen"`
	LastSeen       time.Time    `json:"last_seen"`
	TopUserAgents  []uaCount    `json:"top_user_agents"`
	Profiles       []profileRef `json:"profiles"`
	RecentCaptures []captureRef `json:"recent_captures"`
	// Days counts captures per UTC day over the 90 days up to last_seen,
	// oldest first, days without captures left out.
	Days []dayCount `json:"days"`
}

type dayCount struct {
	Day   string `json:"day"` // YYYY-MM-DD
	Count int64  `json:"count"`
}

type uaCount struct {
	UserAgent string `json:"user_agent"`
	Count     int64  `json:"count"`
}

type profileRef struct {
	Name     string `json:"name"`
	Browser  string `json:"browser"`
	Version  string `json:"version"`
	Platform string `json:"platform"`
	URL      string `json:"url"`
}

type captureRef struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	CreatedAt time.Time `json:"created_at"`
	Initiator string    `json:"initiator"`
	UserAgent string    `json:"user_agent"`
}

// wellFormedHash reports whether h has the shape of a fingerprint the
// population views look up: a JA4 or JA4_r (a 10-character "a" part, then
// "_" sections of lower-case hex, commas allowed in JA4_r's lists), or 12
// to 64 lower-case hex digits.
func wellFormedHash(h string) bool {
	if h == "" || len(h) > store.MaxHashLen {
		return false
	}
	hex := func(s string, comma bool) bool {
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || comma && c == ',') {
				return false
			}
		}
		return true
	}
	a, rest, ja4 := strings.Cut(h, "_")
	if !ja4 {
		return len(h) >= 12 && len(h) <= 64 && hex(h, false)
	}
	if len(a) != 10 || !strings.ContainsRune("tqd", rune(a[0])) {
		return false
	}
	for i := 1; i < len(a); i++ {
		c := a[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	for _, part := range strings.Split(rest, "_") {
		if part == "" || !hex(part, true) {
			return false
		}
	}
	return true
}

// loadPopulation gathers the population view of the {hash} parameter,
// restricted to ?kind= when given.
func (h *handler) loadPopulation(r *http.Request) (*population, error) {
	hash := pathParam(r, "hash")
	kind := store.FingerprintKind(r.URL.Query().Get("kind"))
	if kind != "" && !kind.Valid() {
		var valid []string
		for _, k := range store.Kinds() {
			valid = append(valid, string(k))
		}
		// The list is ours, not the client's: part of the format, not cut.
		return nil, badRequest("unknown fingerprint kind %q; valid kinds: "+strings.Join(valid, ", "), string(kind))
	}
	if !wellFormedHash(hash) {
		return nil, badRequest("malformed fingerprint %q: want a JA4 (t13d1516h2_8daaf6152771_e5627efa2ab1), a JA4_r, or a hex hash (JA3, JA3N, Akamai, PeetPrint: 32 hex digits; header order: 12)", hash)
	}
	ctx, cancel := h.storeCtx(r)
	defer cancel()
	st, err := h.d.Store.FingerprintStats(ctx, store.FingerprintQuery{Hash: hash, Kind: kind, Limit: populationUserAgents})
	if err != nil {
		return nil, err
	}
	pop := &population{
		Hash: st.Hash, Kind: string(st.Kind), Count: st.Count, Visits: st.Visits,
		FirstSeen: st.FirstSeen.UTC(), LastSeen: st.LastSeen.UTC(),
		TopUserAgents: []uaCount{}, Profiles: []profileRef{}, RecentCaptures: []captureRef{}, Days: []dayCount{},
	}
	for _, d := range st.Days {
		pop.Days = append(pop.Days, dayCount{Day: d.Day.Format(time.DateOnly), Count: d.Count})
	}
	for _, u := range st.TopUserAgents {
		pop.TopUserAgents = append(pop.TopUserAgents, uaCount{UserAgent: u.UserAgent, Count: u.Count})
	}
	// Other visitors' capture ids lead to their captures: listed only when
	// the operator made captures public.
	var caps []store.Capture
	if h.d.PublicCaptures {
		caps, _, err = h.d.Store.CapturesByFingerprint(ctx, store.FingerprintQuery{Hash: hash, Kind: st.Kind, Limit: populationCaptures})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	for _, c := range caps {
		pop.RecentCaptures = append(pop.RecentCaptures, captureRef{
			ID: c.ID, URL: captureURL(c.ID), CreatedAt: c.CreatedAt.UTC(), Initiator: c.Initiator, UserAgent: c.UserAgent,
		})
	}
	profiles, err := h.d.Store.ListProfiles(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range profiles {
		if profileMatches(p.JSON, st.Kind, st.Hash) {
			pop.Profiles = append(pop.Profiles, profileRef{
				Name: p.Name, Browser: p.Browser, Version: p.Version, Platform: p.Platform,
				URL: "/api/profiles/" + url.PathEscape(p.Name),
			})
		}
	}
	return pop, nil
}

// md5Hex is the lower-case hex MD5 of s ("" for "").
func md5Hex(s string) string {
	if s == "" {
		return ""
	}
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// profileMatches reports whether the profile document would produce value
// v for fingerprint kind k: TLS kinds are computed from the profile's
// ClientHello, Akamai from its expected values, header order from its
// per-initiator header lists. Documents that do not decode never match.
func profileMatches(doc json.RawMessage, k store.FingerprintKind, v string) bool {
	var p emulation.Profile
	if err := json.Unmarshal(doc, &p); err != nil {
		return false
	}
	switch k {
	case store.KindAkamaiHash:
		return v == p.Expected.AkamaiHash || v == md5Hex(p.Expected.Akamai)
	case store.KindHeaderOrderHash:
		return profileHasHeaderOrder(&p, v)
	}
	if len(p.TLS.ClientHello) == 0 {
		return false
	}
	ch, err := fingerprint.ParseClientHello(p.TLS.ClientHello)
	if err != nil {
		return false
	}
	fp := ch.Fingerprints()
	switch k {
	case store.KindJA4:
		return v == fp.JA4
	case store.KindJA4R:
		return v == fp.JA4R
	case store.KindJA3Hash:
		return v == fp.JA3Hash
	case store.KindJA3NHash:
		return v == fp.JA3NHash
	case store.KindPeetPrintHash:
		return v == fp.PeetPrintHash
	}
	return false
}

// profileHasHeaderOrder reports whether any initiator's header list of p
// (HTTP/1, or HTTP/2 with the pseudo-header order first) hashes to v.
func profileHasHeaderOrder(p *emulation.Profile, v string) bool {
	if p.H1 != nil {
		for _, hs := range p.H1.Headers {
			if headerNamesHash(nil, hs) == v {
				return true
			}
		}
	}
	if p.H2 != nil {
		for _, hs := range p.H2.Headers {
			if headerNamesHash(p.H2.PseudoOrder, hs) == v {
				return true
			}
		}
	}
	return false
}

func headerNamesHash(pseudo []string, hs []fingerprint.Header) string {
	names := append([]string(nil), pseudo...)
	for _, h := range hs {
		names = append(names, h.Name)
	}
	return fingerprint.HeaderOrderOf(names...).Hash
}

// fingerprintAPI serves GET /api/fingerprints/{hash}.
func (h *handler) fingerprintAPI(w http.ResponseWriter, r *http.Request) {
	pop, err := h.loadPopulation(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	h.writeJSON(w, r, http.StatusOK, pop)
}

// fingerprintPage serves GET /fingerprints/{hash}.
func (h *handler) fingerprintPage(w http.ResponseWriter, r *http.Request) {
	pop, err := h.loadPopulation(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	page := templates.FingerprintPage{
		Page:      h.page("Fingerprint "+pop.Hash, ""),
		Hash:      pop.Hash,
		Kind:      pop.Kind,
		Count:     strconv.FormatInt(pop.Count, 10),
		Visits:    strconv.FormatInt(pop.Visits, 10),
		FirstSeen: fmtTime(pop.FirstSeen),
		LastSeen:  fmtTime(pop.LastSeen),
	}
	uas := make([]chartItem, len(pop.TopUserAgents))
	for i, u := range pop.TopUserAgents {
		uas[i] = chartItem{label: u.UserAgent, count: u.Count}
	}
	page.UserAgents = buildChart("user-agents", "User agents", "captures with this fingerprint, by User-Agent", false, uas)
	page.Days = daySeries(pop.Days, pop.LastSeen)
	for _, p := range pop.Profiles {
		page.Profiles = append(page.Profiles, templates.Link{Label: p.Name, URL: p.URL, Detail: p.Browser + " " + p.Version + " · " + p.Platform})
	}
	for _, c := range pop.RecentCaptures {
		page.Captures = append(page.Captures, templates.Link{Label: c.ID, URL: c.URL, Detail: fmtTime(c.CreatedAt) + " · " + c.Initiator})
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	h.render(w, r, http.StatusOK, templates.Fingerprint(page))
}

// daySeries lays out the per-day counts of the 90 days ending with last's.
func daySeries(days []dayCount, last time.Time) templates.DaySeries {
	var s templates.DaySeries
	if len(days) == 0 {
		return s
	}
	first := store.DaysSince(last)
	var top int64
	for _, d := range days {
		top = max(top, d.Count)
	}
	for _, d := range days {
		t, err := time.Parse(time.DateOnly, d.Day)
		if err != nil {
			continue
		}
		i := int(t.Sub(first).Hours() / 24)
		s.Columns = append(s.Columns, templates.DayColumn{
			X:      float64(i) * templates.DayColumnWidth,
			Height: float64(d.Count) / float64(top) * templates.DaySeriesHeight,
			Title:  d.Day + ": " + strconv.FormatInt(d.Count, 10),
		})
	}
	s.First, s.Last, s.Max = first.Format(time.DateOnly), last.UTC().Format(time.DateOnly), strconv.FormatInt(top, 10)
	return s
}

// visitProfile serves GET /api/profiles/visit/{key}: a profile built from
// the captures of one visit, in the profile JSON format. It is not stored.
func (h *handler) visitProfile(w http.ResponseWriter, r *http.Request) {
	key := pathParam(r, "key")
	if !validVisitKey(key) {
		h.fail(w, r, notFoundError("no visit with key %q", key))
		return
	}
	if h.d.BuildProfile == nil {
		h.writeError(w, r, http.StatusNotImplemented, codeNotImplemented, "this server does not build profiles")
		return
	}
	ctx, cancel := h.storeCtx(r)
	defer cancel()
	p, err := h.d.BuildProfile(ctx, key)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	b, err := p.Marshal()
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.noStore(w)
	h.writeRawJSON(w, http.StatusOK, b)
}

// status is the JSON of the health endpoints.
type status struct {
	Status string `json:"status"`
}

// healthz serves GET /healthz: 200 while the process serves.
func (h *handler) healthz(w http.ResponseWriter, r *http.Request) {
	h.noStore(w)
	h.writeJSON(w, r, http.StatusOK, status{Status: "ok"})
}

// readyz serves GET /readyz: 200 when Deps.Ready succeeds, else 503.
func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	h.noStore(w)
	ctx, cancel := context.WithTimeout(r.Context(), h.d.StoreTimeout)
	defer cancel()
	if err := h.d.Ready(ctx); err != nil {
		h.log.LogAttrs(r.Context(), slog.LevelWarn, "web: not ready", slog.String("error", err.Error()))
		h.writeError(w, r, http.StatusServiceUnavailable, codeNotReady, "not ready: the store is unreachable or not taking captures")
		return
	}
	h.writeJSON(w, r, http.StatusOK, status{Status: "ready"})
}
