package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go/quicvarint"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/fingerprint"
	"github.com/guanaco-fp/guanaco/store"
)

// putProfile stores p with the row fields of rec (Name, Browser, Version,
// Platform and JSON are taken from p).
func putProfile(t *testing.T, e *env, p *emulation.Profile, rec store.Profile) store.Profile {
	t.Helper()
	doc, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	rec.Name, rec.Browser, rec.Version, rec.Platform, rec.JSON = p.Name, p.Browser, p.Version, p.Platform, doc
	if err := e.st.UpsertProfile(context.Background(), rec); err != nil {
		t.Fatalf("storing profile %s: %v", p.Name, err)
	}
	return rec
}

// curatedProfile is a curated Chrome profile with HTTP/1.1 lists, its
// bookkeeping in both the row and the document.
func curatedProfile(t *testing.T, name string) (*emulation.Profile, store.Profile) {
	p := testProfile(t, name)
	p.Browser, p.Version, p.Platform = "chrome", "156.0.0.0", "windows"
	first, last := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC), time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)
	p.Source = emulation.Source{
		BuiltAt: last, Kind: emulation.SourceCurated, BrowserKey: "chrome/156/windows/desktop", WireKey: "wk-" + name,
		FirstSeen: first, LastSeen: last, Visits: 7, Addresses: 4, Stale: true,
		Captures: []string{"0123456789abcdef0123456789abcdef", "bad id!"},
	}
	p.H1 = &emulation.H1{Headers: map[emulation.Initiator][]emulation.Header{
		emulation.Navigate: {{Name: "Host", Value: ""}, {Name: "Connection", Value: "keep-alive"}, {Name: "Upgrade-Insecure-Requests", Value: "1"}, {Name: "User-Agent", Value: p.UserAgent}},
	}}
	p.H2.Headers[emulation.Fetch] = []emulation.Header{{Name: "sec-ch-ua-platform", Value: `"Windows"`}, {Name: "user-agent", Value: p.UserAgent}, {Name: "accept", Value: "*/*"}}
	p.H2.HeadersPriority[emulation.Fetch] = emulation.Priority{Exclusive: true, Weight: 220}
	rec := store.Profile{Source: store.ProfileCurated, BrowserKey: p.Source.BrowserKey, WireKey: p.Source.WireKey,
		FirstSeen: first, LastSeen: last, Visits: 7, Addresses: 4, Stale: true}
	return p, rec
}

// profilesJSON is the JSON of GET /api/profiles as a client reads it.
type profilesJSON struct {
	Count     int               `json:"count"`
	Page      int               `json:"page"`
	Pages     int               `json:"pages"`
	PageSize  int               `json:"page_size"`
	Profiles  []json.RawMessage `json:"profiles"`
	Summaries []struct {
		Name        string    `json:"name"`
		Browser     string    `json:"browser"`
		Source      string    `json:"source"`
		Pinned      bool      `json:"pinned"`
		Stale       bool      `json:"stale"`
		FirstSeen   time.Time `json:"first_seen"`
		LastSeen    time.Time `json:"last_seen"`
		Visits      int64     `json:"visits"`
		Addresses   int64     `json:"addresses"`
		JA4         string    `json:"ja4"`
		Akamai      string    `json:"akamai"`
		AkamaiHash  string    `json:"akamai_hash"`
		URL         string    `json:"url"`
		JSONURL     string    `json:"json_url"`
		DownloadURL string    `json:"download_url"`
	} `json:"summaries"`
}

// TestProfilesList: the list pages show every profile with its source,
// freshness and fingerprints, 50 a page, filtered on request.
func TestProfilesList(t *testing.T) {
	e := newEnv(t, nil)
	cur, rec := curatedProfile(t, "chrome-156-windows")
	putProfile(t, e, cur, rec)
	builtin := testProfile(t, "chromium-156-linux")
	putProfile(t, e, builtin, store.Profile{Source: store.ProfileBuiltin})
	imp := testProfile(t, "my-import")
	imp.Browser = "firefox"
	putProfile(t, e, imp, store.Profile{}) // no source: stored as imported
	// Fillers: 103 profiles in all, so three pages (50, 50, 3).
	for i := range 100 {
		putProfile(t, e, testProfile(t, fmt.Sprintf("filler-%03d", i)), store.Profile{Source: store.ProfileBuiltin})
	}

	get := func(target string) profilesJSON {
		t.Helper()
		w := e.do("GET", "https://fp.example"+target, nil, nil)
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s = %d\n%s", target, w.Code, w.Body.String())
		}
		var l profilesJSON
		decodeJSON(t, w, &l)
		if len(l.Profiles) != len(l.Summaries) {
			t.Fatalf("GET %s: %d profiles but %d summaries", target, len(l.Profiles), len(l.Summaries))
		}
		for i, raw := range l.Profiles {
			var doc struct {
				Name string `json:"name"`
			}
			if err := json.Unmarshal(raw, &doc); err != nil || doc.Name != l.Summaries[i].Name {
				t.Errorf("GET %s: profiles[%d] is %q, summaries[%d] %q (%v)", target, i, doc.Name, i, l.Summaries[i].Name, err)
			}
		}
		return l
	}

	// Pagination boundaries.
	var all []string
	for page, want := range map[int]int{1: 50, 2: 50, 3: 3} {
		l := get("/api/profiles?page=" + fmt.Sprint(page))
		if l.Count != 103 || l.Page != page || l.Pages != 3 || l.PageSize != 50 || len(l.Profiles) != want {
			t.Errorf("page %d: count %d page %d pages %d size %d, %d profiles; want 103/%d/3/50, %d",
				page, l.Count, l.Page, l.Pages, l.PageSize, len(l.Profiles), page, want)
		}
		for _, s := range l.Summaries {
			all = append(all, s.Name)
		}
	}
	seen := map[string]bool{}
	for _, n := range all {
		if seen[n] {
			t.Errorf("%s listed twice across pages", n)
		}
		seen[n] = true
	}
	if len(seen) != 103 {
		t.Errorf("the pages list %d distinct profiles, want 103", len(seen))
	}
	if l := get("/api/profiles"); l.Page != 1 || len(l.Profiles) != 50 || l.Summaries[0].Name != "chrome-156-windows" {
		t.Errorf("default page: page %d, %d profiles, first %q", l.Page, len(l.Profiles), l.Summaries[0].Name)
	}
	for target, status := range map[string]int{
		"/api/profiles?page=4": http.StatusNotFound, "/api/profiles?page=0": http.StatusBadRequest,
		"/api/profiles?page=-1": http.StatusBadRequest, "/api/profiles?page=x": http.StatusBadRequest,
		"/api/profiles?source=nope": http.StatusBadRequest, "/profiles?page=4": http.StatusNotFound,
	} {
		w := e.do("GET", "https://fp.example"+target, nil, nil)
		if w.Code != status {
			t.Errorf("GET %s = %d, want %d", target, w.Code, status)
		}
		if strings.HasPrefix(target, "/api/") {
			var es errorShape
			decodeJSON(t, w, &es)
		}
	}
	// An empty (filtered) list has one empty page.
	if l := get("/api/profiles?browser=netscape"); l.Count != 0 || l.Pages != 1 || l.Profiles == nil || len(l.Profiles) != 0 {
		t.Errorf("empty list: %+v", l)
	}

	// Filters and the summary of each source.
	l := get("/api/profiles?source=curated")
	if l.Count != 1 || len(l.Summaries) != 1 {
		t.Fatalf("source=curated: %d profiles", l.Count)
	}
	s := l.Summaries[0]
	if s.Name != cur.Name || s.Source != "curated" || !s.Stale || s.Visits != 7 || s.Addresses != 4 ||
		!s.FirstSeen.Equal(rec.FirstSeen) || !s.LastSeen.Equal(rec.LastSeen) ||
		s.JA4 != cur.Expected.JA4 || s.Akamai != cur.Expected.Akamai || s.AkamaiHash != cur.Expected.AkamaiHash ||
		s.URL != "/profiles/chrome-156-windows" || s.JSONURL != "/api/profiles/chrome-156-windows" ||
		s.DownloadURL != "/api/profiles/chrome-156-windows?download=1" {
		t.Errorf("curated summary: %+v", s)
	}
	if l := get("/api/profiles?source=imported"); l.Count != 1 || l.Summaries[0].Name != "my-import" || l.Summaries[0].Stale {
		t.Errorf("source=imported: %+v", l.Summaries)
	}
	if l := get("/api/profiles?source=builtin&page=3"); l.Count != 101 || l.Pages != 3 || len(l.Profiles) != 1 {
		t.Errorf("source=builtin page 3: count %d pages %d, %d profiles", l.Count, l.Pages, len(l.Profiles))
	}
	if l := get("/api/profiles?browser=FIREFOX"); l.Count != 1 || l.Summaries[0].Name != "my-import" {
		t.Errorf("browser=FIREFOX: %+v", l.Summaries)
	}
	if l := get("/api/profiles?platform=windows&browser=chrome"); l.Count != 1 || l.Summaries[0].Name != cur.Name {
		t.Errorf("platform=windows: %+v", l.Summaries)
	}

	// The HTML list.
	w := e.do("GET", "https://fp.example/profiles", nil, nil)
	body := w.Body.String()
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET /profiles = %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	for _, want := range []string{
		`href="/profiles/chrome-156-windows"`, `href="/api/profiles/chrome-156-windows?download=1"`,
		`<span class="pill ok">curated</span>`, `class="pill warn stale">stale</span>`, `>builtin</span>`,
		"2026-11-20 09:30:00 UTC", "2026-11-01 08:00:00 UTC", cur.Expected.JA4, cur.Expected.AkamaiHash,
		`href="/fingerprints/` + url.PathEscape(cur.Expected.JA4) + `?kind=ja4"`,
		"103 profiles match", "page 1 of 3", `href="/profiles?page=2"`, `aria-current="page">Profiles</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /profiles lacks %s", want)
		}
	}
	if strings.Contains(body, `rel="prev"`) || strings.Contains(body, "filler-060") {
		t.Error("page 1 links a previous page or shows page 2's profiles")
	}
	// Only the curated profile is stale.
	if n := strings.Count(body, "pill warn stale"); n != 1 {
		t.Errorf("%d stale marks on page 1, want 1", n)
	}
	body = e.do("GET", "https://fp.example/profiles?page=3&source=builtin", nil, nil).Body.String()
	for _, want := range []string{"page 3 of 3", `href="/profiles?page=2&amp;source=builtin"`, "filler-099"} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /profiles?page=3&source=builtin lacks %s", want)
		}
	}
	if strings.Contains(body, `rel="next"`) || strings.Contains(body, "chrome-156-windows") {
		t.Error("the last page links a next page or shows a filtered-out profile")
	}
}

// TestProfileDetail: a profile's page shows its fingerprints, freshness,
// header lists in order with their casing, the HTTP/2 preface and the
// captures it came from; unknown names are a 404 page.
func TestProfileDetail(t *testing.T) {
	e := newEnv(t, nil)
	cur, rec := curatedProfile(t, "chrome-156-windows")
	putProfile(t, e, cur, rec)

	w := e.do("GET", "https://fp.example/profiles/chrome-156-windows", nil, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("GET /profiles/chrome-156-windows = %d\n%s", w.Code, w.Body.String())
	}
	body := w.Body.String()
	g := loadGolden(t, "chromium")
	for _, want := range []string{
		"chrome 156.0.0.0 on windows", cur.UserAgent, `<span class="pill ok">curated</span>`, "stale</span>",
		"JA4", "JA4_r", "JA3N", "PeetPrint", "Akamai HTTP/2",
		`href="/fingerprints/` + url.PathEscape(g.expect.JA4) + `?kind=ja4"`,
		`href="/fingerprints/` + url.PathEscape(g.expect.JA3NHash) + `?kind=ja3n_hash"`,
		`href="/fingerprints/` + url.PathEscape(g.expect.PeetPrintHash) + `?kind=peetprint_hash"`,
		`href="/fingerprints/` + cur.Expected.AkamaiHash + `?kind=akamai_hash"`,
		"chrome/156/windows/desktop", "2026-11-20 09:30:00 UTC",
		`href="/captures/0123456789abcdef0123456789abcdef"`,
		`href="/api/profiles/chrome-156-windows?download=1"`,
		"6291456", "15663105", "exclusive yes · depends on 0 · weight 220",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("profile page lacks %q", want)
		}
	}
	if strings.Contains(body, "bad id!") {
		t.Error("an invalid capture id is shown")
	}
	// Header order: each list in wire order, names as sent.
	inOrder := func(what string, names ...string) {
		t.Helper()
		at := 0
		for _, n := range names {
			i := strings.Index(body[at:], ">"+n+"</li>")
			if i < 0 {
				t.Errorf("%s: %s missing or out of order", what, n)
				return
			}
			at += i + 1
		}
	}
	h2 := body[strings.Index(body, `id="h2-headers"`):]
	h1 := body[strings.Index(body, `id="h1-headers"`):]
	body = h2[:strings.Index(h2, `id="h1-headers"`)]
	var nav []string
	for _, h := range browserHeaders() {
		nav = append(nav, h.Name)
	}
	inOrder("h2 navigate", nav...)
	body = body[strings.Index(body, "<h3>fetch</h3>"):]
	inOrder("h2 fetch", "sec-ch-ua-platform", "user-agent", "accept")
	body = h1
	inOrder("h1 navigate", "Host", "Connection", "Upgrade-Insecure-Requests", "User-Agent")

	// The JSON download.
	w = e.do("GET", "https://fp.example/api/profiles/chrome-156-windows?download=1", nil, nil)
	if w.Code != http.StatusOK || w.Header().Get("Content-Disposition") != `attachment; filename=chrome-156-windows.json` {
		t.Errorf("download: %d, Content-Disposition %q", w.Code, w.Header().Get("Content-Disposition"))
	}
	if _, err := emulation.Unmarshal(w.Body.Bytes()); err != nil {
		t.Errorf("downloaded document: %v", err)
	}
	if w := e.do("GET", "https://fp.example/api/profiles/chrome-156-windows", nil, nil); w.Header().Get("Content-Disposition") != "" {
		t.Error("the plain JSON is an attachment")
	}
	// rama's shape: the structured hello and the header lists.
	w = e.do("GET", "https://fp.example/api/profiles/chrome-156-windows?format=rama", nil, nil)
	var rama map[string]any
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &rama) != nil || rama["uastr"] == nil || rama["tls_client_hello"] == nil || rama["h2_headers_navigate"] == nil {
		t.Errorf("format=rama: %d %.300s", w.Code, w.Body.String())
	}
	if w = e.do("GET", "https://fp.example/api/profiles/chrome-156-windows?format=yaml", nil, nil); w.Code != http.StatusBadRequest {
		t.Errorf("format=yaml: %d, want 400", w.Code)
	}

	for _, target := range []string{"/profiles/nobody", "/profiles/" + strings.Repeat("a", 201)} {
		w = e.do("GET", "https://fp.example"+target, nil, nil)
		if w.Code != http.StatusNotFound || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
			t.Errorf("GET %s = %d %s, want an HTML 404", target[:min(len(target), 30)], w.Code, w.Header().Get("Content-Type"))
		}
	}
	// A document that does not decode still gets a page.
	if err := e.st.UpsertProfile(context.Background(), store.Profile{Name: "odd", Browser: "x", JSON: []byte(`{"name": 5}`)}); err != nil {
		t.Fatal(err)
	}
	if w = e.do("GET", "https://fp.example/profiles/odd", nil, nil); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "does not decode") {
		t.Errorf("undecodable document: %d", w.Code)
	}
}

// TestProfilesXSS: names, user agents and header values from a stored
// profile are text on every page.
func TestProfilesXSS(t *testing.T) {
	e := newEnv(t, nil)
	p := testProfile(t, "x")
	p.Name = xss
	p.UserAgent = xss
	p.Platform = xss
	p.H2.Headers[emulation.Navigate] = append(p.H2.Headers[emulation.Navigate], emulation.Header{Name: xss, Value: xss})
	p.Source.Note = xss
	putProfile(t, e, p, store.Profile{Source: store.ProfileCurated, BrowserKey: xss})
	escaped := "&lt;script&gt;alert(1)&lt;/script&gt;"
	for _, target := range []string{"/profiles", "/profiles/" + url.PathEscape(xss)} {
		w := e.do("GET", "https://fp.example"+target, nil, nil)
		body := w.Body.String()
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s = %d", target, w.Code)
		}
		if strings.Contains(body, xss) {
			t.Errorf("GET %s renders stored data as markup", target)
		}
		if !strings.Contains(body, escaped) {
			t.Errorf("GET %s does not show the name as text", target)
		}
	}
	w := e.do("GET", "https://fp.example/api/profiles?download=1", nil, nil)
	if strings.Contains(w.Body.String(), "<script>") {
		t.Error("the JSON list carries raw markup")
	}
	w = e.do("GET", "https://fp.example/api/profiles/"+url.PathEscape(xss)+"?download=1", nil, nil)
	if cd := w.Header().Get("Content-Disposition"); w.Code != http.StatusOK || cd != "attachment; filename=_script_alert_1___script_.json" {
		t.Errorf("download of a hostile name: %d, Content-Disposition %q", w.Code, cd)
	}
}

// storeCapture stores a capture of visit key (none when "") and returns
// its id.
func storeCapture(t *testing.T, e *env, key string) string {
	t.Helper()
	id := store.NewCaptureID(e.now)
	c := store.Capture{ID: id, CreatedAt: e.now, VisitKey: key, Initiator: store.InitiatorNavigate,
		UserAgent: "Mozilla/5.0", Host: "fp.example", Method: "GET", Path: "/", HTTPVersion: "2"}
	if _, err := e.st.InsertCaptures(context.Background(), []store.Capture{c}); err != nil {
		t.Fatal(err)
	}
	return id
}

// captureCuration is the "curation" object of GET /api/captures/{id}.
type captureCuration struct {
	Curation *struct {
		Status     string          `json:"status"`
		Reason     string          `json:"reason"`
		Details    json.RawMessage `json:"details"`
		BrowserKey string          `json:"browser_key"`
		Profile    string          `json:"profile"`
	} `json:"curation"`
	CaptureID string `json:"capture_id"`
}

// TestCaptureCuration: a stored capture shows what curation made of its
// visit: refused with the reason and evidence, accepted with the profile
// it counts towards, or pending.
func TestCaptureCuration(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	cur, rec := curatedProfile(t, "chrome-156-windows")
	putProfile(t, e, cur, rec)

	refusedKey, acceptedKey, pendingKey := strings.Repeat("a", 32), strings.Repeat("b", 32), strings.Repeat("c", 32)
	refused := storeCapture(t, e, refusedKey)
	accepted := storeCapture(t, e, acceptedKey)
	pending := storeCapture(t, e, pendingKey)
	none := storeCapture(t, e, "")
	details := `{"closest_profile": "chrome-156-windows",
		"differences": [{"field": "ja4", "claimed": "t13d1516h2_aaa", "observed": "<img src=x onerror=alert(1)>"}, {"field": 5, "claimed": {"x": 1}}],
		"markers": ["curl", "<b>bold</b>"],
		"missing_probes": ["fetch", "xhr"],
		"unexpected": {"nested": "<script>alert(1)</script>"}}`
	err := e.st.PutVisitVerdicts(ctx, []store.VisitVerdict{
		{VisitKey: refusedKey, SeenAt: e.now, EvaluatedAt: e.now, UserAgent: "Mozilla/5.0",
			BrowserKey: "chrome/156/windows/desktop", Reason: "the TLS stack is not Chrome's <really>", Details: json.RawMessage(details),
			CaptureIDs: []string{refused}},
		{VisitKey: acceptedKey, SeenAt: e.now, EvaluatedAt: e.now, Accepted: true,
			BrowserKey: rec.BrowserKey, WireKey: rec.WireKey, CaptureIDs: []string{accepted}},
	})
	if err != nil {
		t.Fatal(err)
	}

	api := func(id string) captureCuration {
		t.Helper()
		w := e.do("GET", "https://fp.example/api/captures/"+id, nil, nil)
		if w.Code != http.StatusOK {
			t.Fatalf("GET /api/captures/%s = %d\n%s", id, w.Code, w.Body.String())
		}
		var c captureCuration
		decodeJSON(t, w, &c)
		if c.CaptureID != id {
			t.Errorf("capture_id = %q: the stored report is missing", c.CaptureID)
		}
		return c
	}
	c := api(refused)
	if c.Curation == nil || c.Curation.Status != "refused" || c.Curation.Reason != "the TLS stack is not Chrome's <really>" ||
		c.Curation.BrowserKey != "chrome/156/windows/desktop" || c.Curation.Profile != "" || !jsonEqual(t, c.Curation.Details, json.RawMessage(details)) {
		t.Errorf("refused curation: %+v", c.Curation)
	}
	if c := api(accepted); c.Curation == nil || c.Curation.Status != "accepted" || c.Curation.Profile != "chrome-156-windows" || c.Curation.Reason != "" {
		t.Errorf("accepted curation: %+v", c.Curation)
	}
	if c := api(pending); c.Curation == nil || c.Curation.Status != "pending" {
		t.Errorf("pending curation: %+v", c.Curation)
	}
	if c := api(none); c.Curation != nil {
		t.Errorf("a capture without a visit has curation %+v", c.Curation)
	}

	// The pages.
	page := func(id string) string {
		t.Helper()
		w := e.do("GET", "https://fp.example/captures/"+id, nil, nil)
		if w.Code != http.StatusOK {
			t.Fatalf("GET /captures/%s = %d", id, w.Code)
		}
		return w.Body.String()
	}
	body := page(refused)
	for _, want := range []string{
		`id="curation"`, `<span class="pill warn">refused</span>`, "Not used for a profile: the TLS stack is not Chrome&#39;s &lt;really&gt;",
		`href="/profiles/chrome-156-windows"`, "t13d1516h2_aaa", "&lt;img src=x onerror=alert(1)&gt;",
		"curl, &lt;b&gt;bold&lt;/b&gt;", "missing probes", "fetch", "unexpected", "&lt;script&gt;alert(1)&lt;/script&gt;",
		`{&#34;x&#34;:1}`, "chrome/156/windows/desktop",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("refused capture page lacks %q", want)
		}
	}
	for _, bad := range []string{"<img src=x", "<b>bold", "<script>alert", "<really>"} {
		if strings.Contains(body, bad) {
			t.Errorf("refused capture page renders %q as markup", bad)
		}
	}
	if body := page(accepted); !strings.Contains(body, `<span class="pill ok">accepted</span>`) || !strings.Contains(body, `href="/profiles/chrome-156-windows"`) {
		t.Error("accepted capture page does not name its profile")
	}
	if body := page(pending); !strings.Contains(body, "has not judged this visit yet") {
		t.Error("pending capture page")
	}
	if body := page(none); strings.Contains(body, `id="curation"`) {
		t.Error("a capture without a visit shows a curation card")
	}
}

// TestProfilePageH2EncodingAndHints: a built-in profile's page shows what
// it records of the browser's HTTP/2 encoding (first stream, stream
// WINDOW_UPDATE, the navigation's HPACK codes) and its header lists after
// Accept-CH.
func TestProfilePageH2EncodingAndHints(t *testing.T) {
	e := newEnv(t, nil)
	for _, name := range []string{"chromium-156-linux", "firefox-153-linux"} {
		p, err := emulation.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		putProfile(t, e, p, store.Profile{Source: store.ProfileBuiltin})
		w := e.do("GET", "https://fp.example/profiles/"+name, nil, nil)
		body := w.Body.String()
		wants := []string{"First stream of the connection", p.H2.HPACK[emulation.Navigate]}
		if p.H2.StreamWindowUpdate > 0 {
			wants = append(wants, "Stream WINDOW_UPDATE", fmt.Sprint(p.H2.StreamWindowUpdate))
		}
		if p.ClientHints != nil {
			wants = append(wants, `id="h2-client-hints"`, ">sec-ch-ua-full-version-list</li>")
		} else if strings.Contains(body, `id="h2-client-hints"`) {
			t.Errorf("%s: client hint lists shown for a profile without them", name)
		}
		for _, want := range wants {
			if !strings.Contains(body, want) {
				t.Errorf("%s: profile page lacks %q", name, want)
			}
		}
	}
}

// TestProfilePageH3: a profile with an h3 section shows it (QUIC version,
// JA4 of the QUIC hello, the transport-parameters fingerprint, the
// parameters and SETTINGS in wire order with GREASE marked, the
// pseudo-header order and the HTTP/3 header lists); one without shows none.
func TestProfilePageH3(t *testing.T) {
	e := newEnv(t, nil)
	plain, rec := curatedProfile(t, "chrome-156-tcp-only")
	putProfile(t, e, plain, rec)
	if body := e.do("GET", "https://fp.example/profiles/chrome-156-tcp-only", nil, nil).Body.String(); strings.Contains(body, `id="http3"`) || strings.Contains(body, `id="h3-headers"`) {
		t.Error("profile without an h3 section shows one")
	}

	// Transport parameters as sent: max_idle_timeout, a GREASE id
	// (31*5+27), initial_max_data, google_version (raw bytes).
	var tp []byte
	for _, p := range []struct {
		id  uint64
		val []byte
	}{{0x01, quicvarint.Append(nil, 30000)}, {182, []byte{0xde, 0xad}}, {0x04, quicvarint.Append(nil, 15728640)}, {0x4752, []byte{0, 0, 0, 1}}} {
		tp = quicvarint.Append(tp, p.id)
		tp = quicvarint.Append(tp, uint64(len(p.val)))
		tp = append(tp, p.val...)
	}
	params, err := fingerprint.ParseQUICTransportParams(tp)
	if err != nil {
		t.Fatal(err)
	}
	var sp []byte // SETTINGS: QPACK_MAX_TABLE_CAPACITY, MAX_FIELD_SECTION_SIZE, a GREASE id, QPACK_BLOCKED_STREAMS
	for _, v := range []uint64{0x01, 65536, 0x06, 262144, 0x1f*3 + 0x21, 7, 0x07, 100} {
		sp = quicvarint.Append(sp, v)
	}
	settings, err := fingerprint.ParseH3Settings(sp)
	if err != nil {
		t.Fatal(err)
	}
	p, rec := curatedProfile(t, "chrome-156-quic")
	p.H3 = &emulation.H3{
		QUICVersion: "0x00000001", TransportParameters: params, Settings: settings,
		PseudoOrder: []string{":method", ":authority", ":scheme", ":path"},
		Headers: map[emulation.Initiator][]emulation.Header{
			emulation.Navigate: {{Name: "sec-ch-ua", Value: `"Chromium";v="156"`}, {Name: "user-agent", Value: p.UserAgent}, {Name: "priority", Value: "u=0, i"}},
		},
		JA4: "q13d0312h3_55b375c5d22e_06cda9e17597",
	}
	putProfile(t, e, p, rec)
	w := e.do("GET", "https://fp.example/profiles/chrome-156-quic", nil, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("GET = %d\n%s", w.Code, w.Body.String())
	}
	body := w.Body.String()
	tpfp := fingerprint.QUICTransportParamsFingerprint(params)
	for _, want := range []string{
		`id="http3"`, "0x00000001", "JA4 (QUIC)", "q13d0312h3_55b375c5d22e_06cda9e17597",
		tpfp.Hash, tpfp.Text,
		`id="h3-headers"`, "HTTP/3 header lists by initiator",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("profile page lacks %q", want)
		}
	}
	// Wire order: parameters, settings, pseudo headers and headers appear
	// in the order sent, in the HTTP/3 card (the HTTP/2 card before it
	// has its own settings and pseudo-header order).
	i, j := strings.Index(body, `id="http3"`), strings.Index(body, `id="h3-headers"`)
	if i < 0 || j < i {
		t.Fatalf("no HTTP/3 card before the HTTP/3 header lists:\n%s", body)
	}
	card := body[i:j]
	inOrder(t, card[strings.Index(card, "QUIC transport parameters (in order)"):], "transport parameters", ">0x1<", ">30000<", ">0xb6<", ">GREASE<", ">dead<", ">0x4<", ">15728640<", ">0x4752<", ">00000001<")
	inOrder(t, card[strings.Index(card, "HTTP/3 SETTINGS (in order)"):], "settings", ">0x1<", ">65536<", ">0x6<", ">262144<", ">0x7e<", ">7<", ">0x7<", ">100<")
	inOrder(t, card, "pseudo order", "<li>:method</li>", "<li>:authority</li>", "<li>:scheme</li>", "<li>:path</li>")
	inOrder(t, body[j:], "h3 headers", ">sec-ch-ua</li>", ">user-agent</li>", ">priority</li>")
}

// inOrder reports an error unless each of wants occurs in s after the
// previous one.
func inOrder(t *testing.T, s, what string, wants ...string) {
	t.Helper()
	rest := s
	for _, w := range wants {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Errorf("%s: %q missing or out of order", what, w)
			return
		}
		rest = rest[i+len(w):]
	}
}
