package web

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/emulation/importer"
	"github.com/guanaco-fp/guanaco/fingerprint"
	"github.com/guanaco-fp/guanaco/store"
	"github.com/guanaco-fp/guanaco/web/templates"
)

// profilesPageSize is how many profiles one page of GET /profiles and
// GET /api/profiles holds.
const profilesPageSize = 50

// maxProfileName bounds the {name} parameter (store.MaxProfileNameLen).
const maxProfileName = 200

// profilesList is the JSON of GET /api/profiles: one page of the stored
// profiles (ordered by name, filtered by ?browser=, ?platform=, ?source=).
//
//	{
//	  "count": 120,        profiles matching the filters, on every page
//	  "page": 1, "pages": 3, "page_size": 50,
//	  "profiles": [documents],   this page's profile documents, byte for byte
//	  "summaries": [{name, browser, version, platform, source, pinned,
//	                 stale, first_seen, last_seen, visits, addresses,
//	                 browser_key, ja4, akamai, akamai_hash, updated_at,
//	                 url, json_url, download_url}]   the same profiles, in the same order
//	}
//
// "profiles" keeps the shape `{"profiles": [documents]}` that emuproxy
// -profiles-url, emulation.UnmarshalList and `fpserver profiles import`
// read; a reader of every profile follows the pages (?page=2 ... pages).
type profilesList struct {
	Count     int               `json:"count"`
	Page      int               `json:"page"`
	Pages     int               `json:"pages"`
	PageSize  int               `json:"page_size"`
	Profiles  []json.RawMessage `json:"profiles"`
	Summaries []profileSummary  `json:"summaries"`
}

// profileSummary is one row of the profile list. The store row's
// bookkeeping wins; the document's source fills what the row lacks.
type profileSummary struct {
	Name        string    `json:"name"`
	Browser     string    `json:"browser"`
	Version     string    `json:"version"`
	Platform    string    `json:"platform"`
	Source      string    `json:"source"`
	Pinned      bool      `json:"pinned"`
	Stale       bool      `json:"stale"`
	FirstSeen   time.Time `json:"first_seen,omitzero"`
	LastSeen    time.Time `json:"last_seen,omitzero"`
	Visits      int64     `json:"visits"`
	Addresses   int64     `json:"addresses"`
	BrowserKey  string    `json:"browser_key,omitempty"`
	JA4         string    `json:"ja4"`
	Akamai      string    `json:"akamai"`
	AkamaiHash  string    `json:"akamai_hash"`
	UpdatedAt   time.Time `json:"updated_at,omitzero"`
	URL         string    `json:"url"`
	JSONURL     string    `json:"json_url"`
	DownloadURL string    `json:"download_url"`
}

// profileFilter is the query of a profile list.
type profileFilter struct {
	browser, platform, source string
	page                      int
}

// parseProfileFilter reads ?browser=, ?platform=, ?source= and ?page=.
func parseProfileFilter(r *http.Request) (profileFilter, error) {
	q := r.URL.Query()
	f := profileFilter{
		browser:  strings.TrimSpace(q.Get("browser")),
		platform: strings.TrimSpace(q.Get("platform")),
		source:   strings.TrimSpace(q.Get("source")),
		page:     1,
	}
	if f.source != "" && !validSource(f.source) {
		return f, badRequest("unknown source %q: want curated, builtin or imported", f.source)
	}
	if s := q.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return f, badRequest("page must be a positive number, not %q", s)
		}
		f.page = n
	}
	return f, nil
}

// query is f as a query string for page n ("" values left out).
func (f profileFilter) query(n int) string {
	q := url.Values{}
	if f.browser != "" {
		q.Set("browser", f.browser)
	}
	if f.platform != "" {
		q.Set("platform", f.platform)
	}
	if f.source != "" {
		q.Set("source", f.source)
	}
	if n > 1 {
		q.Set("page", strconv.Itoa(n))
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// validSource reports whether s names a profile source.
func validSource(s string) bool {
	return s == store.ProfileCurated || s == store.ProfileBuiltin || s == store.ProfileImported
}

// rowSource is the source of a stored row; the store keeps an empty one
// as imported.
func rowSource(p store.Profile) string {
	if p.Source == "" {
		return store.ProfileImported
	}
	return p.Source
}

func (f profileFilter) match(p store.Profile) bool {
	return (f.browser == "" || strings.EqualFold(p.Browser, f.browser)) &&
		(f.platform == "" || strings.EqualFold(p.Platform, f.platform)) &&
		(f.source == "" || rowSource(p) == f.source)
}

// profilePage is one page of the filtered profile list.
type profilePage struct {
	filter profileFilter
	total  int
	pages  int
	rows   []store.Profile
}

// loadProfiles reads the profiles and cuts out the requested page. A
// page past the last one is a 404 (page 1 always exists).
func (h *handler) loadProfiles(r *http.Request) (*profilePage, error) {
	f, err := parseProfileFilter(r)
	if err != nil {
		return nil, err
	}
	ctx, cancel := h.storeCtx(r)
	defer cancel()
	all, err := h.d.Store.ListProfiles(ctx)
	if err != nil {
		return nil, err
	}
	var rows []store.Profile
	for _, p := range all {
		if f.match(p) {
			rows = append(rows, p)
		}
	}
	pages := max(1, (len(rows)+profilesPageSize-1)/profilesPageSize)
	if f.page > pages {
		return nil, notFoundError("no page %d: the list has %d pages", f.page, pages)
	}
	start := (f.page - 1) * profilesPageSize
	end := min(start+profilesPageSize, len(rows))
	return &profilePage{filter: f, total: len(rows), pages: pages, rows: rows[start:end]}, nil
}

// decodeDocument decodes a stored profile document leniently (no
// validation, unknown fields ignored): pages show what is there.
func decodeDocument(b []byte) (*emulation.Profile, error) {
	var p emulation.Profile
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// profileURLs are the page, JSON and download URLs of a profile.
func profileURLs(name string) (page, doc, download string) {
	esc := url.PathEscape(name)
	return "/profiles/" + esc, "/api/profiles/" + esc, "/api/profiles/" + esc + "?download=1"
}

// summarize builds the list row of p.
func summarize(p store.Profile) profileSummary {
	s := profileSummary{
		Name: p.Name, Browser: p.Browser, Version: p.Version, Platform: p.Platform,
		Source: rowSource(p), Pinned: p.Pinned, Stale: p.Stale,
		FirstSeen: p.FirstSeen.UTC(), LastSeen: p.LastSeen.UTC(),
		Visits: p.Visits, Addresses: p.Addresses, BrowserKey: p.BrowserKey,
		UpdatedAt: p.UpdatedAt.UTC(),
	}
	if p.FirstSeen.IsZero() {
		s.FirstSeen = time.Time{}
	}
	if p.LastSeen.IsZero() {
		s.LastSeen = time.Time{}
	}
	if p.UpdatedAt.IsZero() {
		s.UpdatedAt = time.Time{}
	}
	s.URL, s.JSONURL, s.DownloadURL = profileURLs(p.Name)
	doc, err := decodeDocument(p.JSON)
	if err != nil {
		return s
	}
	s.JA4 = doc.Expected.JA4
	s.Akamai, s.AkamaiHash = doc.Expected.Akamai, doc.Expected.AkamaiHash
	if s.AkamaiHash == "" {
		s.AkamaiHash = md5Hex(s.Akamai)
	}
	src := doc.Source
	if p.Source == "" && validSource(src.Kind) {
		s.Source = src.Kind
	}
	if s.FirstSeen.IsZero() && !src.FirstSeen.IsZero() {
		s.FirstSeen = src.FirstSeen.UTC()
	}
	if s.LastSeen.IsZero() && !src.LastSeen.IsZero() {
		s.LastSeen = src.LastSeen.UTC()
	}
	if s.Visits == 0 {
		s.Visits = src.Visits
	}
	if s.Addresses == 0 {
		s.Addresses = src.Addresses
	}
	if s.BrowserKey == "" {
		s.BrowserKey = src.BrowserKey
	}
	// Curation keeps a curated row's stale mark current (also for a
	// pinned profile, whose document it leaves alone); other rows can only
	// add the document's.
	if p.Source != store.ProfileCurated {
		s.Stale = s.Stale || src.Stale
	}
	return s
}

// profiles serves GET /api/profiles: one page of the stored profile
// documents and their summaries (see profilesList).
func (h *handler) profiles(w http.ResponseWriter, r *http.Request) {
	pg, err := h.loadProfiles(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := profilesList{
		Count: pg.total, Page: pg.filter.page, Pages: pg.pages, PageSize: profilesPageSize,
		Profiles:  make([]json.RawMessage, len(pg.rows)),
		Summaries: make([]profileSummary, len(pg.rows)),
	}
	for i, p := range pg.rows {
		out.Profiles[i] = p.JSON
		out.Summaries[i] = summarize(p)
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	h.writeJSON(w, r, http.StatusOK, out)
}

// profilesPage serves GET /profiles.
func (h *handler) profilesPage(w http.ResponseWriter, r *http.Request) {
	pg, err := h.loadProfiles(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	f := pg.filter
	page := templates.ProfilesPage{
		Page:      h.page("Profiles", templates.NavProfiles),
		Total:     strconv.Itoa(pg.total),
		Browser:   f.browser,
		Platform:  f.platform,
		Source:    f.source,
		PageLabel: "page " + strconv.Itoa(f.page) + " of " + strconv.Itoa(pg.pages),
		APIURL:    "/api/profiles" + f.query(f.page),
	}
	if f.page > 1 {
		page.Prev = "/profiles" + f.query(f.page-1)
	}
	if f.page < pg.pages {
		page.Next = "/profiles" + f.query(f.page+1)
	}
	for _, src := range []string{"", store.ProfileCurated, store.ProfileBuiltin, store.ProfileImported} {
		g := f
		g.source = src
		label := src
		if src == "" {
			label = "all"
		}
		page.Sources = append(page.Sources, templates.Link{Label: label, URL: "/profiles" + g.query(1), Current: src == f.source})
	}
	for _, p := range pg.rows {
		s := summarize(p)
		page.Profiles = append(page.Profiles, templates.ProfileRow{
			Name: s.Name, URL: s.URL, JSONURL: s.DownloadURL,
			Browser: orDash(s.Browser), Version: s.Version, Platform: orDash(s.Platform),
			Source: s.Source, Pinned: s.Pinned, Stale: s.Stale,
			FirstSeen: fmtTime(s.FirstSeen), LastSeen: fmtTime(s.LastSeen),
			Visits: strconv.FormatInt(s.Visits, 10), Addresses: strconv.FormatInt(s.Addresses, 10),
			JA4: orDash(s.JA4), JA4URL: fingerprintLink(s.JA4, store.KindJA4),
			Akamai: orDash(s.AkamaiHash), AkamaiURL: fingerprintLink(s.AkamaiHash, store.KindAkamaiHash),
		})
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	h.render(w, r, http.StatusOK, templates.Profiles(page))
}

// loadProfile reads the profile named by the {name} parameter.
func (h *handler) loadProfile(r *http.Request) (store.Profile, error) {
	name := pathParam(r, "name")
	if name == "" || len(name) > maxProfileName || !utf8.ValidString(name) {
		return store.Profile{}, notFoundError("no profile named %q", name)
	}
	ctx, cancel := h.storeCtx(r)
	defer cancel()
	p, err := h.d.Store.Profile(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return store.Profile{}, notFoundError("no profile named %q", name)
	}
	return p, err
}

// profile serves GET /api/profiles/{name}: the stored document byte for
// byte; with ?download=1 as an attachment NAME.json; with ?format=rama in
// rama-ua's profile shape (importer.ToRama).
func (h *handler) profile(w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "rama" {
		h.fail(w, r, badRequest("unknown format %q (json or rama)", format))
		return
	}
	p, err := h.loadProfile(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	doc := []byte(p.JSON)
	if format == "rama" {
		ep, err := decodeDocument(p.JSON)
		if err == nil {
			doc, err = importer.ToRama(ep)
		}
		if err != nil {
			h.fail(w, r, fmt.Errorf("web: profile %s in rama's format: %w", p.Name, err))
			return
		}
	}
	if v := r.URL.Query().Get("download"); v != "" && v != "0" && v != "false" {
		w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": downloadName(p.Name)}))
	}
	h.writeRawJSON(w, http.StatusOK, doc)
}

// downloadName is the file name a profile is downloaded as: its name
// with every byte outside [A-Za-z0-9._-] replaced by "_", plus ".json".
func downloadName(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b) + ".json"
}

// profileDetail serves GET /profiles/{name}.
func (h *handler) profileDetail(w http.ResponseWriter, r *http.Request) {
	rec, err := h.loadProfile(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	s := summarize(rec)
	page := templates.ProfileDetailPage{
		Page: h.page("Profile "+rec.Name, templates.NavProfiles),
		Name: rec.Name, Browser: orDash(rec.Browser), Version: rec.Version, Platform: orDash(rec.Platform),
		Source: s.Source, Pinned: s.Pinned, Stale: s.Stale,
	}
	_, page.JSONURL, page.Download = profileURLs(rec.Name)
	doc, err := decodeDocument(rec.JSON)
	if err != nil {
		page.Notice = "The stored document does not decode as a profile; only the stored columns are shown."
		doc = &emulation.Profile{}
	}
	page.UserAgent = orDash(doc.UserAgent)
	page.ShuffleExtensions = doc.ShuffleExtensions
	page.Fingerprints = profileFingerprints(doc)
	facts := []templates.KeyValue{
		{Key: "Source", Value: orDash(s.Source)},
		{Key: "Pinned", Value: yesNo(s.Pinned)},
		{Key: "Stale", Value: yesNo(s.Stale)},
		{Key: "Built", Value: fmtTime(doc.Source.BuiltAt), Mono: true},
		{Key: "First seen", Value: fmtTime(s.FirstSeen), Mono: true},
		{Key: "Last seen", Value: fmtTime(s.LastSeen), Mono: true},
		{Key: "Visits", Value: strconv.FormatInt(s.Visits, 10)},
		{Key: "Distinct addresses", Value: strconv.FormatInt(s.Addresses, 10)},
		{Key: "Stored", Value: fmtTime(s.UpdatedAt), Mono: true},
	}
	if s.BrowserKey != "" {
		facts = append(facts, templates.KeyValue{Key: "Browser identity", Value: s.BrowserKey, Mono: true})
	}
	if wk := cmp.Or(rec.WireKey, doc.Source.WireKey); wk != "" {
		facts = append(facts, templates.KeyValue{Key: "Wire identity", Value: wk, Mono: true})
	}
	if doc.Source.Note != "" {
		facts = append(facts, templates.KeyValue{Key: "Note", Value: doc.Source.Note})
	}
	page.Facts = facts
	for _, id := range doc.Source.Captures {
		if validCaptureID(id) {
			page.Captures = append(page.Captures, templates.Link{Label: id, URL: captureURL(id)})
		}
	}
	if doc.H1 != nil {
		page.H1 = headerListsOf(doc.H1.Headers, nil)
	}
	if h2 := doc.H2; h2 != nil {
		sum := &H2Summary{
			Settings: nonNil(h2.Settings), WindowUpdate: h2.WindowUpdate,
			PriorityFrames: nonNil(h2.PriorityFrames), PseudoOrder: nonNil(h2.PseudoOrder),
			Akamai: doc.Expected.Akamai, AkamaiHash: doc.Expected.AkamaiHash,
			FirstStreamID: h2.FirstStreamID, HPACK: h2.HPACK[emulation.Navigate],
		}
		if h2.StreamWindowUpdate > 0 {
			sum.StreamWindowUpdates = []uint32{h2.StreamWindowUpdate}
		}
		if sum.Akamai == "" {
			ak := fingerprint.AkamaiString(h2.Settings, h2.WindowUpdate, h2.PriorityFrames, h2.PseudoOrder)
			sum.Akamai, sum.AkamaiHash = ak.Text, ak.Hash
		}
		if pr, ok := h2.HeadersPriority[emulation.Navigate]; ok {
			sum.HeadersPriority = &pr
		}
		page.H2 = h2View(sum)
		page.H2.StreamID = ""
		page.H2Lists = headerListsOf(h2.Headers, h2.HeadersPriority)
		if doc.ClientHints != nil && len(doc.ClientHints.H2) > 0 {
			page.HintLists = headerListsOf(doc.ClientHints.H2, h2.HeadersPriority)
		}
	}
	if h3 := doc.H3; h3 != nil {
		page.H3, page.H3JA4 = h3ProfileView(h3), h3.JA4
		page.H3Lists = headerListsOf(h3.Headers, nil)
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	h.render(w, r, http.StatusOK, templates.ProfileDetail(page))
}

// h3ProfileView shows a profile's h3 section with the capture page's
// HTTP/3 view: the transport-parameters fingerprint as the document has it
// (recomputed from the parameters when absent), SETTINGS and parameters in
// wire order.
func h3ProfileView(h *emulation.H3) *templates.H3View {
	v := &templates.H3View{
		QUICVersion: orDash(h.QUICVersion),
		TP:          h.QUICTP, TPHash: h.QUICTPHash,
		Params:      quicParamRows(h.TransportParameters),
		Settings:    h3SettingRows(h.Settings),
		PseudoOrder: h.PseudoOrder,
	}
	if v.TPHash == "" && len(h.TransportParameters) > 0 {
		tp := fingerprint.QUICTransportParamsFingerprint(h.TransportParameters)
		v.TP, v.TPHash = tp.Text, tp.Hash
	}
	if len(h.Settings) == 0 {
		v.SettingsNote = "The profile records no HTTP/3 SETTINGS."
	}
	return v
}

// initiatorsOf lists the initiators of m: the known ones in their order,
// then any other (a newer format's) sorted by name.
func initiatorsOf[V any](m map[emulation.Initiator]V) []emulation.Initiator {
	var out []emulation.Initiator
	for _, in := range emulation.AllInitiators() {
		if _, ok := m[in]; ok {
			out = append(out, in)
		}
	}
	var extra []emulation.Initiator
	for in := range m {
		if !slices.Contains(out, in) {
			extra = append(extra, in)
		}
	}
	slices.Sort(extra)
	return append(out, extra...)
}

// headerListsOf prepares per-initiator header lists, with their HEADERS
// priority when prio has one.
func headerListsOf(m map[emulation.Initiator][]emulation.Header, prio map[emulation.Initiator]emulation.Priority) []templates.HeaderList {
	var out []templates.HeaderList
	for _, in := range initiatorsOf(m) {
		l := templates.HeaderList{Initiator: string(in)}
		for _, hd := range m[in] {
			l.Headers = append(l.Headers, templates.HeaderRow{Name: hd.Name, Value: hd.Value})
		}
		if pr, ok := prio[in]; ok {
			row := priorityRow(pr)
			l.Priority = &row
		}
		out = append(out, l)
	}
	return out
}

// profileFingerprints are the fingerprints of a profile: the TLS ones
// computed from its ClientHello (the expected values when it does not
// parse), Akamai from its expected values.
func profileFingerprints(p *emulation.Profile) []templates.FingerprintRow {
	var rows []templates.FingerprintRow
	add := func(label, value, full string, kind store.FingerprintKind) {
		if value == "" {
			return
		}
		rows = append(rows, templates.FingerprintRow{Label: label, Value: value, Full: full, Link: fingerprintLink(value, kind)})
	}
	var fp fingerprint.TLSFingerprints
	if len(p.TLS.ClientHello) > 0 {
		if ch, err := fingerprint.ParseClientHello(p.TLS.ClientHello); err == nil {
			fp = ch.Fingerprints()
		}
	}
	add("JA4", cmp.Or(fp.JA4, p.Expected.JA4), "", store.KindJA4)
	add("JA4_r", cmp.Or(fp.JA4R, p.Expected.JA4R), "", store.KindJA4R)
	add("JA3", fp.JA3Hash, fp.JA3, store.KindJA3Hash)
	add("JA3N", cmp.Or(fp.JA3NHash, md5Hex(p.Expected.JA3N)), cmp.Or(fp.JA3N, p.Expected.JA3N), store.KindJA3NHash)
	add("PeetPrint", cmp.Or(fp.PeetPrintHash, md5Hex(p.Expected.PeetPrint)), cmp.Or(fp.PeetPrint, p.Expected.PeetPrint), store.KindPeetPrintHash)
	akamai, akamaiHash := p.Expected.Akamai, p.Expected.AkamaiHash
	if akamai == "" && p.H2 != nil {
		ak := fingerprint.AkamaiString(p.H2.Settings, p.H2.WindowUpdate, p.H2.PriorityFrames, p.H2.PseudoOrder)
		akamai, akamaiHash = ak.Text, ak.Hash
	}
	add("Akamai HTTP/2", cmp.Or(akamaiHash, md5Hex(akamai)), akamai, store.KindAkamaiHash)
	return rows
}

// curationReport is the "curation" object of GET /api/captures/{id} for a
// capture with a visit: what curation made of the visit.
//
//	{
//	  "status": "accepted"|"refused"|"pending",
//	  "reason": "...",            why a refused visit was not used ("" otherwise)
//	  "details": {...}|null,      the evidence as curation stored it
//	  "browser_key": "chrome/156/windows/desktop",
//	  "profile": "chrome-156-windows",   the published profile an accepted visit counts towards ("" for none)
//	  "evaluated_at": "..."       absent while pending
//	}
type curationReport struct {
	Status      string          `json:"status"`
	Reason      string          `json:"reason"`
	Details     json.RawMessage `json:"details"`
	BrowserKey  string          `json:"browser_key"`
	Profile     string          `json:"profile"`
	EvaluatedAt time.Time       `json:"evaluated_at,omitzero"`
}

// Curation statuses.
const (
	curationAccepted = "accepted"
	curationRefused  = "refused"
	curationPending  = "pending"
)

// curationOf looks up the verdict of a visit. It returns nil for a capture
// without a visit, and nil (logged) when the store fails: the capture is
// still worth showing.
func (h *handler) curationOf(ctx context.Context, visitKey string) *curationReport {
	if !validCaptureID(visitKey) {
		return nil
	}
	v, err := h.d.Store.VisitVerdict(ctx, visitKey)
	if errors.Is(err, store.ErrNotFound) {
		return &curationReport{Status: curationPending}
	}
	if err != nil {
		h.log.LogAttrs(ctx, slog.LevelWarn, "web: reading a visit verdict", slog.String("error", err.Error()))
		return nil
	}
	c := &curationReport{Status: curationRefused, Reason: v.Reason, BrowserKey: v.BrowserKey, EvaluatedAt: v.EvaluatedAt.UTC()}
	if len(v.Details) > 0 && json.Valid(v.Details) {
		c.Details = v.Details
	}
	if !v.Accepted {
		if c.Reason == "" {
			c.Reason = "no reason recorded"
		}
		return c
	}
	c.Status = curationAccepted
	if v.WireKey == "" {
		return c
	}
	ps, err := h.d.Store.ListProfiles(ctx)
	if err != nil {
		h.log.LogAttrs(ctx, slog.LevelWarn, "web: listing profiles for a verdict", slog.String("error", err.Error()))
		return c
	}
	for _, p := range ps {
		if p.WireKey != v.WireKey {
			continue
		}
		if p.BrowserKey == v.BrowserKey {
			c.Profile = p.Name
			break
		}
		if c.Profile == "" {
			c.Profile = p.Name
		}
	}
	return c
}

// maxDetailText bounds the text shown for one unknown detail.
const maxDetailText = 2000

// curationView prepares c for the capture page. Details are read
// defensively: any JSON is accepted, known keys are shown in their own
// form when they have the expected shape, everything else as JSON text.
func curationView(c *curationReport) *templates.CurationView {
	if c == nil {
		return nil
	}
	v := &templates.CurationView{Status: c.Status, Reason: c.Reason, BrowserKey: c.BrowserKey}
	if !c.EvaluatedAt.IsZero() {
		v.Evaluated = fmtTime(c.EvaluatedAt)
	}
	if c.Profile != "" {
		v.Profile = c.Profile
		v.ProfileURL, _, _ = profileURLs(c.Profile)
	}
	if len(c.Details) == 0 {
		return v
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(c.Details, &obj); err != nil {
		v.Other = append(v.Other, templates.KeyValue{Key: "details", Value: detailText(c.Details)})
		return v
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		raw := obj[k]
		switch k {
		case "closest_profile":
			var name string
			if json.Unmarshal(raw, &name) == nil {
				v.Closest = name
				if name != "" && len(name) <= maxProfileName {
					v.ClosestURL, _, _ = profileURLs(name)
				}
				continue
			}
		case "markers":
			var ms []string
			if json.Unmarshal(raw, &ms) == nil {
				v.Markers = append(v.Markers, ms...)
				continue
			}
		case "differences", "profile_differences":
			if rows, ok := diffRows(raw); ok {
				v.Differences = append(v.Differences, rows...)
				continue
			}
		}
		v.Other = append(v.Other, templates.KeyValue{Key: strings.ReplaceAll(k, "_", " "), Value: detailText(raw), Mono: true})
	}
	return v
}

// diffRows decodes a list of {"field", "claimed", "observed"} objects;
// values that are not strings are shown as JSON.
func diffRows(raw json.RawMessage) ([]templates.DiffRow, bool) {
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, false
	}
	rows := make([]templates.DiffRow, 0, len(items))
	for _, it := range items {
		rows = append(rows, templates.DiffRow{
			Field: jsonText(it["field"]), Claimed: jsonText(it["claimed"]), Observed: jsonText(it["observed"]),
		})
	}
	return rows, true
}

// jsonText is a JSON string's value, or any other value as compact JSON
// ("" for absent or null).
func jsonText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return detailText(raw)
}

// detailText is raw as compact JSON, cut at maxDetailText bytes.
func detailText(raw json.RawMessage) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return ""
	}
	s := buf.String()
	if len(s) > maxDetailText {
		s = cutUTF8(s, maxDetailText) + "…"
	}
	return s
}
