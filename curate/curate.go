// Package curate turns real visitors into emulation profiles. A curation
// pass judges every settled visit fpserver stored (a page load with its
// navigate, fetch, xhr, form and websocket captures, keyed by the visit
// key): it refuses tools, automation and clients whose TLS or HTTP/2 stack
// contradicts the browser their User-Agent names (Judge), builds a profile
// from the others (emulation.Build), and files each visit under its browser
// identity (browser, major version, platform, mobile) and wire identity
// (WireKey). A (browser, wire) group becomes a published profile, source
// "curated", once at least Quorum distinct visits from Quorum distinct
// client addresses agree on it; a second wire identity of one browser
// becomes a second profile with a numeric suffix. Published profiles are
// kept up to date (last seen, counts) and marked stale when no visit
// corroborated them for StaleAfter; profiles an operator imported or
// pinned are never replaced or removed.
package curate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/store"
)

// Defaults of Config.
const (
	DefaultQuorum     = 3
	DefaultStaleAfter = 14 * 24 * time.Hour
	DefaultSettle     = 30 * time.Second
	DefaultLookback   = 48 * time.Hour
	DefaultBatch      = 200
	// maxRounds bounds the visits one pass judges (maxRounds * Batch).
	maxRounds = 50
)

// Config configures a Curator. Store is required.
type Config struct {
	Store store.Store
	// Quorum is the number of distinct visits, and of distinct client
	// addresses, that must agree before a group is published (>= 1).
	Quorum int
	// StaleAfter marks a curated profile stale when its latest
	// corroborating visit is older.
	StaleAfter time.Duration
	// Settle is how long a visit must have been quiet before it is judged,
	// so that its probes have arrived.
	Settle time.Duration
	// Lookback bounds how far back a pass looks for visits not judged yet.
	Lookback time.Duration
	// Batch is how many visits are judged per store round trip.
	Batch int
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives what the pass did; default discard.
	Logger *slog.Logger
	// Registerer receives the curation metrics; nil: not registered.
	Registerer prometheus.Registerer
}

// Curator runs curation passes. It is safe for one goroutine at a time;
// Run serialises its own passes.
type Curator struct {
	c       Config
	log     *slog.Logger
	judged  *prometheus.CounterVec
	publish *prometheus.CounterVec
}

// New validates c, fills in defaults and registers the metrics.
func New(c Config) (*Curator, error) {
	if c.Store == nil {
		return nil, errors.New("curate: Config.Store is nil")
	}
	if c.Quorum <= 0 {
		c.Quorum = DefaultQuorum
	}
	if c.StaleAfter <= 0 {
		c.StaleAfter = DefaultStaleAfter
	}
	if c.Settle < 0 {
		c.Settle = 0
	}
	if c.Lookback <= 0 {
		c.Lookback = DefaultLookback
	}
	if c.Batch <= 0 {
		c.Batch = DefaultBatch
	}
	if c.Batch > store.MaxLimit {
		c.Batch = store.MaxLimit
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	cu := &Curator{
		c:   c,
		log: c.Logger,
		judged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fpserver_curation_visits_total",
			Help: "Visits judged by curation, by outcome (accepted, refused).",
		}, []string{"outcome"}),
		publish: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fpserver_curation_profiles_total",
			Help: "Profile writes by curation, by action (published, updated, stale).",
		}, []string{"action"}),
	}
	if c.Registerer != nil {
		for _, col := range []prometheus.Collector{cu.judged, cu.publish} {
			if err := c.Registerer.Register(col); err != nil {
				return nil, fmt.Errorf("curate: registering metrics: %w", err)
			}
		}
	}
	return cu, nil
}

// Report is what one pass did.
type Report struct {
	Judged    int      `json:"judged"`
	Accepted  int      `json:"accepted"`
	Refused   int      `json:"refused"`
	Published []string `json:"published"`
	Updated   []string `json:"updated"`
	// Stale are the profiles this pass marked stale.
	Stale []string `json:"stale"`
	// Waiting are groups that have not reached the quorum yet, as
	// "browser_key visits/addresses".
	Waiting []string `json:"waiting"`
}

// Run runs a pass now and then every interval until ctx ends. Failed
// passes are logged and retried at the next tick. A non-positive interval
// means one minute.
func (cu *Curator) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := cu.Pass(ctx); err != nil && ctx.Err() == nil {
			cu.log.Warn("curation pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Pass judges the settled visits not judged yet, then publishes and
// updates the profiles of every group that has reached the quorum and
// re-marks staleness.
func (cu *Curator) Pass(ctx context.Context) (Report, error) {
	rep := Report{Published: []string{}, Updated: []string{}, Stale: []string{}, Waiting: []string{}}
	now := cu.c.Now()
	built := map[groupKey]*emulation.Profile{}
	for round := 0; round < maxRounds; round++ {
		pending, err := cu.c.Store.PendingVisits(ctx, store.PendingQuery{
			Since: now.Add(-cu.c.Lookback), SettledBefore: now.Add(-cu.c.Settle), Limit: cu.c.Batch,
		})
		if err != nil {
			return rep, fmt.Errorf("curate: listing pending visits: %w", err)
		}
		if len(pending) == 0 {
			break
		}
		verdicts := make([]store.VisitVerdict, 0, len(pending))
		for _, pv := range pending {
			v, p, err := cu.judgeVisit(ctx, pv, now)
			if err != nil {
				return rep, err
			}
			verdicts = append(verdicts, v)
			rep.Judged++
			if v.Accepted {
				rep.Accepted++
				cu.judged.WithLabelValues("accepted").Inc()
				k := groupKey{v.BrowserKey, v.WireKey}
				if prev := built[k]; prev == nil || completeness(p) >= completeness(prev) {
					built[k] = p // visits come oldest first: ties go to the newest
				}
			} else {
				rep.Refused++
				cu.judged.WithLabelValues("refused").Inc()
			}
		}
		if err := cu.c.Store.PutVisitVerdicts(ctx, verdicts); err != nil {
			return rep, fmt.Errorf("curate: storing verdicts: %w", err)
		}
		if len(pending) < cu.c.Batch {
			break
		}
	}
	if err := cu.publishGroups(ctx, now, built, &rep); err != nil {
		return rep, err
	}
	cu.log.Info("curation pass", "judged", rep.Judged, "accepted", rep.Accepted, "refused", rep.Refused,
		"published", rep.Published, "updated", len(rep.Updated), "stale", rep.Stale)
	return rep, nil
}

type groupKey struct{ browser, wire string }

// judgeVisit makes the verdict of one visit and, when accepted, the
// profile built from it (named later).
func (cu *Curator) judgeVisit(ctx context.Context, pv store.PendingVisit, now time.Time) (store.VisitVerdict, *emulation.Profile, error) {
	v := store.VisitVerdict{VisitKey: pv.VisitKey, SeenAt: pv.FirstAt, EvaluatedAt: now}
	rows, err := cu.c.Store.CapturesByVisit(ctx, pv.VisitKey)
	if err != nil {
		return v, nil, fmt.Errorf("curate: reading visit %s: %w", pv.VisitKey, err)
	}
	for _, r := range rows {
		v.CaptureIDs = append(v.CaptureIDs, r.ID)
	}
	caps, err := VisitCaptures(rows)
	if err != nil {
		v.Reason = "the visit's stored HTTP/2 data cannot be read: " + err.Error()
		return v, nil, nil
	}
	e := EvaluateVisit(pv.VisitKey, caps, now)
	v.ClientIP = clientIPOf(rows, e.Navigation)
	v.UserAgent = e.Judgement.Identity.Browser
	if e.Navigation != nil {
		v.UserAgent = e.Navigation.UserAgent
	}
	v.BrowserKey = e.BrowserKey
	v.WireKey = e.WireKey
	v.Accepted = e.Accepted
	v.Reason = e.Reason
	if d, err := json.Marshal(e.Details()); err == nil {
		v.Details = d
	}
	if e.Profile != nil {
		if b, err := json.Marshal(e.Profile); err == nil {
			v.Profile = b
		}
	}
	if v.Accepted && v.ClientIP == "" {
		v.Accepted, v.Reason = false, "the visit has no client address"
	}
	return v, e.Profile, nil
}

func clientIPOf(rows []store.Capture, nav *emulation.VisitCapture) string {
	for _, r := range rows {
		if nav != nil && r.ID == nav.ID {
			return r.ClientIP
		}
	}
	for _, r := range rows {
		if r.ClientIP != "" {
			return r.ClientIP
		}
	}
	return ""
}

// publishGroups publishes the groups that reached the quorum, refreshes
// the curated profiles' counts and staleness.
func (cu *Curator) publishGroups(ctx context.Context, now time.Time, built map[groupKey]*emulation.Profile, rep *Report) error {
	groups, err := cu.c.Store.WireGroups(ctx)
	if err != nil {
		return fmt.Errorf("curate: reading groups: %w", err)
	}
	existing, err := cu.c.Store.ListProfiles(ctx)
	if err != nil {
		return fmt.Errorf("curate: listing profiles: %w", err)
	}
	byGroup := map[groupKey]store.Profile{}
	taken := map[string]bool{}
	for _, p := range existing {
		taken[p.Name] = true
		if p.BrowserKey != "" && p.WireKey != "" {
			byGroup[groupKey{p.BrowserKey, p.WireKey}] = p
		}
	}
	// New groups get names in the order they were first seen, so the
	// first wire identity of a browser keeps the plain name.
	slices.SortStableFunc(groups, func(a, b store.WireGroup) int { return a.FirstSeen.Compare(b.FirstSeen) })
	handled := map[string]bool{}
	for _, g := range groups {
		k := groupKey{g.BrowserKey, g.WireKey}
		prev, have := byGroup[k]
		if !have && (g.Visits < int64(cu.c.Quorum) || g.Addresses < int64(cu.c.Quorum)) {
			rep.Waiting = append(rep.Waiting, fmt.Sprintf("%s %d/%d", g.BrowserKey, g.Visits, g.Addresses))
			continue
		}
		if have && prev.Source != store.ProfileCurated && !prev.Pinned {
			continue // an imported or built-in profile that happens to carry the keys
		}
		doc := built[k]
		if doc == nil && !have {
			doc, err = cu.rebuild(ctx, g.LatestVisit, now)
			if err != nil {
				cu.log.Warn("curation: cannot rebuild a group's profile", "browser", g.BrowserKey, "visit", g.LatestVisit, "err", err)
				if !have {
					continue
				}
			}
		}
		rec := prev
		name := prev.Name
		handled[name] = true
		if !have {
			name = allocateName(doc, taken)
			taken[name], handled[name] = true, true
			rec = store.Profile{Name: name, Source: store.ProfileCurated, BrowserKey: g.BrowserKey, WireKey: g.WireKey}
		}
		rec.FirstSeen, rec.LastSeen = g.FirstSeen, g.LastSeen
		rec.Visits, rec.Addresses = g.Visits, g.Addresses
		rec.Stale = now.Sub(g.LastSeen) > cu.c.StaleAfter
		switch {
		case have && prev.Pinned:
			// Counts only: a pinned profile's document is the operator's.
		case doc != nil:
			if have && doc.H1 == nil {
				doc = withStoredH1(doc, prev)
			}
			if err := cu.fill(&rec, doc); err != nil {
				return err
			}
		default:
			if err := refreshSource(&rec); err != nil {
				return err
			}
		}
		if have && sameBookkeeping(prev, rec) && (doc == nil || prev.Pinned) {
			continue
		}
		rec.UpdatedAt = time.Time{}
		if err := cu.c.Store.UpsertProfile(ctx, rec); err != nil {
			return fmt.Errorf("curate: storing profile %s: %w", rec.Name, err)
		}
		switch {
		case !have:
			rep.Published = append(rep.Published, rec.Name)
			cu.publish.WithLabelValues("published").Inc()
		case rec.Stale && !prev.Stale:
			rep.Stale = append(rep.Stale, rec.Name)
			cu.publish.WithLabelValues("stale").Inc()
		default:
			rep.Updated = append(rep.Updated, rec.Name)
			cu.publish.WithLabelValues("updated").Inc()
		}
	}
	// Curated profiles whose group has no verdicts left still age.
	for _, p := range existing {
		if p.Source != store.ProfileCurated || p.Stale || p.LastSeen.IsZero() || handled[p.Name] {
			continue
		}
		if now.Sub(p.LastSeen) <= cu.c.StaleAfter {
			continue
		}
		p.Stale = true
		if err := refreshSource(&p); err != nil {
			return err
		}
		p.UpdatedAt = time.Time{}
		if err := cu.c.Store.UpsertProfile(ctx, p); err != nil {
			return fmt.Errorf("curate: marking %s stale: %w", p.Name, err)
		}
		rep.Stale = append(rep.Stale, p.Name)
		cu.publish.WithLabelValues("stale").Inc()
	}
	return nil
}

func sameBookkeeping(a, b store.Profile) bool {
	return a.FirstSeen.Equal(b.FirstSeen) && a.LastSeen.Equal(b.LastSeen) && a.Visits == b.Visits &&
		a.Addresses == b.Addresses && a.Stale == b.Stale
}

// rebuild builds the profile of a visit from its stored captures (for a
// group that reached the quorum without a visit in this pass).
func (cu *Curator) rebuild(ctx context.Context, visitKey string, now time.Time) (*emulation.Profile, error) {
	rows, err := cu.c.Store.CapturesByVisit(ctx, visitKey)
	if err != nil {
		return nil, err
	}
	caps, err := VisitCaptures(rows)
	if err != nil {
		return nil, err
	}
	e := EvaluateVisit(visitKey, caps, now)
	if e.Profile == nil {
		return nil, fmt.Errorf("visit %s makes no profile: %s", visitKey, e.Reason)
	}
	return e.Profile, nil
}

// allocateName returns browser-major-platform, or with -2, -3, ... when
// that name is taken.
func allocateName(p *emulation.Profile, taken map[string]bool) string {
	base := emulation.Identity{Browser: p.Browser, Version: p.Version, Platform: p.Platform}.ProfileName()
	if !taken[base] {
		return base
	}
	for n := 2; ; n++ {
		if name := base + "-" + strconv.Itoa(n); !taken[name] {
			return name
		}
	}
}

// fill writes doc, named and with rec's bookkeeping in its source, into
// rec.
func (cu *Curator) fill(rec *store.Profile, doc *emulation.Profile) error {
	cp := *doc
	cp.Name = rec.Name
	rec.Browser, rec.Version, rec.Platform = cp.Browser, cp.Version, cp.Platform
	setSource(&cp, rec)
	b, err := json.Marshal(&cp)
	if err != nil {
		return fmt.Errorf("curate: encoding profile %s: %w", rec.Name, err)
	}
	rec.JSON = b
	return nil
}

// refreshSource rewrites the bookkeeping in rec's stored document.
func refreshSource(rec *store.Profile) error {
	var p emulation.Profile
	if err := json.Unmarshal(rec.JSON, &p); err != nil {
		return fmt.Errorf("curate: decoding stored profile %s: %w", rec.Name, err)
	}
	setSource(&p, rec)
	b, err := json.Marshal(&p)
	if err != nil {
		return fmt.Errorf("curate: encoding profile %s: %w", rec.Name, err)
	}
	rec.JSON = b
	return nil
}

func setSource(p *emulation.Profile, rec *store.Profile) {
	p.Source.Kind = emulation.SourceCurated
	p.Source.BrowserKey, p.Source.WireKey = rec.BrowserKey, rec.WireKey
	p.Source.FirstSeen, p.Source.LastSeen = rec.FirstSeen.UTC(), rec.LastSeen.UTC()
	p.Source.Visits, p.Source.Addresses = rec.Visits, rec.Addresses
	p.Source.Stale = rec.Stale
}

// withStoredH1 returns doc with the HTTP/1.1 lists of the stored profile
// prev when doc has none: a visit that did not load the HTTP/1.1-only page
// must not drop what an earlier visit of the same wire identity taught.
func withStoredH1(doc *emulation.Profile, prev store.Profile) *emulation.Profile {
	var old emulation.Profile
	if json.Unmarshal(prev.JSON, &old) != nil || old.H1 == nil {
		return doc
	}
	cp := *doc
	cp.H1 = old.H1
	return &cp
}
