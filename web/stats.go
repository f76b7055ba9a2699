package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/fingerprint"
	"github.com/guanaco-fp/guanaco/store"
	"github.com/guanaco-fp/guanaco/web/templates"
)

// statsWindow is one selectable time window of /stats.
type statsWindow struct {
	key   string
	label string
	span  time.Duration // 0: all time
}

// statsWindows are the windows /stats offers, in display order.
func statsWindows() []statsWindow {
	return []statsWindow{
		{"1h", "in the last hour", time.Hour},
		{"24h", "in the last 24 hours", 24 * time.Hour},
		{"7d", "in the last 7 days", 7 * 24 * time.Hour},
		{"30d", "in the last 30 days", 30 * 24 * time.Hour},
		{"all", "of all time", 0},
	}
}

// defaultStatsWindow is used when ?window= is absent.
const defaultStatsWindow = "24h"

// statsTop is how many values each chart shows.
const statsTop = 10

// statsCacheTTL is how long a computed stats result is reused. The stats
// are aggregate queries over the capture table; a public page must not run
// them on every hit.
const statsCacheTTL = 30 * time.Second

// statsStaleTTL is how long an expired result may still be served while
// one computation refreshes it in the background (stale-while-revalidate).
const statsStaleTTL = 10 * time.Minute

// statsKinds are the charted fingerprint kinds, in display order.
func statsKinds() []struct {
	kind  store.FingerprintKind
	title string
} {
	return []struct {
		kind  store.FingerprintKind
		title string
	}{
		{store.KindJA4, "JA4"},
		{store.KindAkamaiHash, "Akamai HTTP/2"},
		{store.KindJA3Hash, "JA3"},
		{store.KindJA3NHash, "JA3N"},
		{store.KindPeetPrintHash, "PeetPrint"},
		{store.KindHeaderOrderHash, "Header order"},
		{store.KindQUICTPHash, "QUIC transport parameters"},
	}
}

// statsResult is the JSON of GET /api/stats.
type statsResult struct {
	Window string     `json:"window"`
	Since  *time.Time `json:"since"`
	Until  time.Time  `json:"until"`
	// Totals counts the window's captures, their connections and visits.
	Totals       store.Totals `json:"totals"`
	Fingerprints []statsTopN  `json:"fingerprints"`
	UserAgents   []uaCount    `json:"user_agents"`
}

// statsTopN is the top values of one kind.
type statsTopN struct {
	Kind   string       `json:"kind"`
	Title  string       `json:"title"`
	Values []statsValue `json:"values"`
}

type statsValue struct {
	Hash  string `json:"hash"`
	Count int64  `json:"count"`
	// Client names the browser most often seen with the value ("Chrome 156
	// on Linux"), from the User-Agents of its captures; "" when unknown.
	Client    string    `json:"client,omitempty"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// statsCache keeps the last result per window for statsCacheTTL.
type statsCache struct {
	mu      sync.Mutex
	entries map[string]statsCacheEntry
}

type statsCacheEntry struct {
	res     *statsResult
	expires time.Time
}

// get returns the cached result of key and whether it is still fresh; a
// result more than statsStaleTTL past its expiry is not returned.
func (c *statsCache) get(key string, now time.Time) (res *statsResult, fresh bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || now.After(e.expires.Add(statsStaleTTL)) {
		return nil, false
	}
	return e.res, !now.After(e.expires)
}

func (c *statsCache) put(key string, res *statsResult, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[string]statsCacheEntry)
	}
	c.entries[key] = statsCacheEntry{res: res, expires: now.Add(statsCacheTTL)}
}

// selectWindow returns the window named by ?window=.
func selectWindow(r *http.Request) (statsWindow, error) {
	key := r.URL.Query().Get("window")
	if key == "" {
		key = defaultStatsWindow
	}
	for _, w := range statsWindows() {
		if w.key == key {
			return w, nil
		}
	}
	return statsWindow{}, badRequest("unknown window %q (want 1h, 24h, 7d, 30d or all)", key)
}

// loadStats returns the statistics of window win: a fresh cached result; an
// expired one (up to statsStaleTTL) while a background computation
// refreshes it; or else the result of one computation shared by every
// concurrent caller (single-flight per window). The computation runs with
// its own StoreTimeout, detached from the caller's cancellation, so a
// caller that leaves does not fail the others.
func (h *handler) loadStats(ctx context.Context, win statsWindow) (*statsResult, error) {
	res, fresh := h.stats.get(win.key, h.d.Now())
	if fresh {
		return res, nil
	}
	compute := func() (any, error) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.d.StoreTimeout)
		defer cancel()
		return h.computeStats(cctx, win)
	}
	if res != nil {
		h.statsFlight.DoChan(win.key, compute) // buffered: nobody needs to receive
		return res, nil
	}
	v, err, _ := h.statsFlight.Do(win.key, compute)
	if err != nil {
		return nil, err
	}
	return v.(*statsResult), nil
}

// computeStats runs the stats queries of win and caches the result.
func (h *handler) computeStats(ctx context.Context, win statsWindow) (*statsResult, error) {
	h.metrics.statsComputations.Inc()
	now := h.d.Now()
	res := &statsResult{Window: win.key, Until: now.UTC(), UserAgents: []uaCount{}}
	tw := store.TimeWindow{} // no upper bound: captures of this very instant count
	if win.span > 0 {
		since := now.Add(-win.span).UTC()
		res.Since = &since
		tw.Since = since
	}
	placeholder := fingerprint.HeaderOrderOf().Hash // a request without headers
	for _, k := range statsKinds() {
		// One more than shown: the placeholder header order is left out.
		top, err := h.d.Store.TopFingerprints(ctx, k.kind, tw, statsTop+1)
		if err != nil {
			return nil, err
		}
		t := statsTopN{Kind: string(k.kind), Title: k.title, Values: []statsValue{}}
		for _, v := range top {
			if k.kind == store.KindHeaderOrderHash && (v.Hash == placeholder || strings.Trim(v.Hash, "0") == "") || len(t.Values) == statsTop {
				continue
			}
			sv := statsValue{Hash: v.Hash, Count: v.Count, FirstSeen: v.FirstSeen.UTC(), LastSeen: v.LastSeen.UTC()}
			if st, err := h.d.Store.FingerprintStats(ctx, store.FingerprintQuery{Hash: v.Hash, Kind: k.kind, Limit: 1}); err == nil && len(st.TopUserAgents) > 0 {
				sv.Client = shortClient(st.TopUserAgents[0].UserAgent)
			}
			t.Values = append(t.Values, sv)
		}
		res.Fingerprints = append(res.Fingerprints, t)
	}
	uas, err := h.d.Store.TopUserAgents(ctx, tw, statsTop)
	if err != nil {
		return nil, err
	}
	if res.Totals, err = h.d.Store.CaptureTotals(ctx, tw); err != nil {
		return nil, err
	}
	for _, u := range uas {
		res.UserAgents = append(res.UserAgents, uaCount{UserAgent: u.UserAgent, Count: u.Count})
	}
	h.stats.put(win.key, res, now)
	return res, nil
}

// statsAPI serves GET /api/stats.
func (h *handler) statsAPI(w http.ResponseWriter, r *http.Request) {
	win, err := selectWindow(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ctx, cancel := h.storeCtx(r)
	defer cancel()
	res, err := h.loadStats(ctx, win)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=30")
	h.writeJSON(w, r, http.StatusOK, res)
}

// statsPage serves GET /stats.
func (h *handler) statsPage(w http.ResponseWriter, r *http.Request) {
	win, err := selectWindow(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ctx, cancel := h.storeCtx(r)
	defer cancel()
	res, err := h.loadStats(ctx, win)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	page := templates.StatsPage{
		Page:   h.page("Statistics", templates.NavStats),
		Window: win.label,
		Empty:  len(res.UserAgents) == 0,
		Totals: []templates.Link{
			{Label: strconv.FormatInt(res.Totals.Captures, 10) + " captures"},
			{Label: strconv.FormatInt(res.Totals.Connections, 10) + " connections"},
			{Label: strconv.FormatInt(res.Totals.Visits, 10) + " visits"},
		},
	}
	for _, sw := range statsWindows() {
		page.Windows = append(page.Windows, templates.Link{Label: sw.key, URL: "/stats?window=" + sw.key, Current: sw.key == win.key})
	}
	for _, t := range res.Fingerprints {
		items := make([]chartItem, len(t.Values))
		for i, v := range t.Values {
			label := v.Hash
			if v.Client != "" {
				label = v.Client + " · " + v.Hash
			}
			items[i] = chartItem{label: label, title: v.Hash, count: v.Count, link: fingerprintLink(v.Hash, store.FingerprintKind(t.Kind))}
		}
		page.Charts = append(page.Charts, buildChart("top-"+t.Kind, t.Title, "captures by "+t.Kind, true, items))
		if len(t.Values) > 0 {
			page.Empty = false
		}
	}
	uas := make([]chartItem, len(res.UserAgents))
	for i, u := range res.UserAgents {
		uas[i] = chartItem{label: shortClient(u.UserAgent), title: u.UserAgent, count: u.Count}
	}
	page.Charts = append(page.Charts, buildChart("top-user-agents", "Clients", "captures by User-Agent", false, uas))
	w.Header().Set("Cache-Control", "public, max-age=30")
	h.render(w, r, http.StatusOK, templates.Stats(page))
}

// chartItem is one value to chart: label shown, title the full value on
// hover (label when empty).
type chartItem struct {
	label, title string
	count        int64
	link         string
}

// shortClient names the browser a User-Agent describes ("Chrome 156 on
// Linux", "Firefox 153 on Windows (mobile)"), or the User-Agent's first 40
// bytes when it names no browser this server knows.
func shortClient(ua string) string {
	id := emulation.Identify(ua, nil)
	if !id.Known() {
		if len(ua) > 40 {
			return cutUTF8(ua, 40) + "…"
		}
		return ua
	}
	name := strings.ToUpper(id.Browser[:1]) + id.Browser[1:]
	if m := id.Major(); m > 0 {
		name += " " + strconv.Itoa(m)
	}
	if id.Platform != "" && id.Platform != "unknown" {
		plat := map[string]string{"macos": "macOS", "ios": "iOS", "linux": "Linux", "windows": "Windows", "android": "Android", "chromeos": "ChromeOS"}[id.Platform]
		if plat == "" {
			plat = id.Platform
		}
		name += " on " + plat
	}
	if id.Mobile && id.Platform != "android" && id.Platform != "ios" {
		name += " (mobile)"
	}
	return name
}

// buildChart lays out a bar chart: bar lengths are proportional to the
// counts, the largest count spanning the full width.
func buildChart(id, title, caption string, mono bool, items []chartItem) templates.Chart {
	c := templates.Chart{ID: id, Title: title, Caption: caption, Mono: mono}
	var max int64
	for _, it := range items {
		if it.count > max {
			max = it.count
		}
	}
	for _, it := range items {
		w := 0.0
		if max > 0 {
			w = float64(it.count) / float64(max) * templates.ChartWidth
		}
		label := it.label
		if label == "" {
			label = "(empty)"
		}
		title := it.title
		if title == "" {
			title = it.label
		}
		c.Bars = append(c.Bars, templates.Bar{
			Label: label,
			Title: title,
			Count: strconv.FormatInt(it.count, 10),
			Width: w,
			Link:  it.link,
		})
	}
	return c
}
