package curate

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/capture"
	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/fingerprint"
	"github.com/guanaco-fp/guanaco/store"
	"github.com/guanaco-fp/guanaco/store/pgtest"
)

// testClock is a settable clock.
type testClock struct{ now time.Time }

func (c *testClock) Now() time.Time { return c.now }

// pg is the throwaway Postgres (or TEST_DATABASE_URL) of this package's
// tests.
var pg *pgtest.Env

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	pg = pgtest.NewEnv(ctx, pgtest.Options{})
	cancel()
	code := m.Run()
	if err := pg.Close(); err != nil && code == 0 {
		code = 1
	}
	os.Exit(code)
}

// backends runs f against a fresh SQLite store and a fresh Postgres schema.
func backends(t *testing.T, f func(t *testing.T, st store.Store)) {
	for _, b := range []string{"sqlite", "postgres"} {
		t.Run(b, func(t *testing.T) {
			dsn := "sqlite:" + t.TempDir() + "/curate.db"
			if b == "postgres" {
				dsn = pg.DSN(t)
			}
			st, err := store.Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			f(t, st)
		})
	}
}

// storeVisit stores a visit's captures as fpserver would: HTTP/2 summary
// JSON, client address, visit key.
func storeVisit(t *testing.T, st store.Store, key, ip string, caps []emulation.VisitCapture) {
	t.Helper()
	var rows []store.Capture
	for i, c := range caps {
		row := store.Capture{
			ID: fmt.Sprintf("%s%02d", key, i), CreatedAt: c.CreatedAt, VisitKey: key, Initiator: string(c.Initiator),
			ClientIP: ip, UserAgent: c.UserAgent, Method: "GET", Path: "/", HTTPVersion: c.HTTPVersion,
			ClientHello: c.ClientHello, TLSVersion: "1.3", ALPN: "h2",
		}
		if c.HTTPVersion == "1.1" {
			row.ALPN = "http/1.1"
		}
		for _, h := range c.Headers {
			row.Headers = append(row.Headers, store.HeaderPair{Name: h.Name, Value: h.Value})
		}
		if c.H2 != nil {
			b, err := json.Marshal(capture.H2Summary{Settings: c.H2.Settings, WindowUpdate: c.H2.WindowUpdate,
				PriorityFrames: c.H2.Priorities, HeadersPriority: c.H2.HeadersPriority, PseudoOrder: pseudoOrder(c.Headers)})
			if err != nil {
				t.Fatal(err)
			}
			row.H2 = b
		}
		rows = append(rows, row)
	}
	if _, err := st.InsertCaptures(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
}

func newCurator(t *testing.T, st store.Store, clk *testClock, quorum int) *Curator {
	t.Helper()
	cu, err := New(Config{Store: st, Quorum: quorum, Settle: 30 * time.Second, Lookback: 30 * 24 * time.Hour,
		StaleAfter: 14 * 24 * time.Hour, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return cu
}

func pass(t *testing.T, cu *Curator) Report {
	t.Helper()
	rep, err := cu.Pass(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func profileOf(t *testing.T, st store.Store, name string) (store.Profile, *emulation.Profile) {
	t.Helper()
	rec, err := st.Profile(context.Background(), name)
	if err != nil {
		t.Fatalf("profile %s: %v", name, err)
	}
	p, err := emulation.Unmarshal(rec.JSON)
	if err != nil {
		t.Fatalf("stored profile %s does not validate: %v", name, err)
	}
	return rec, p
}

func TestCurationQuorumAndIdentities(t *testing.T) { backends(t, testQuorumAndIdentities) }

func testQuorumAndIdentities(t *testing.T, st store.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clk := &testClock{now: t0}
	cu := newCurator(t, st, clk, 3)
	chromium := catalogue(t, "chromium-156-linux")
	firefox := catalogue(t, "firefox-153-linux")

	// Three chromium visits from two addresses: below the quorum.
	storeVisit(t, st, "chr1", "198.51.100.0/24", visitOf(chromium, chromium.TLS.ClientHello, t0))
	storeVisit(t, st, "chr2", "198.51.100.0/24", visitOf(chromium, golden(t, "chromium"), t0.Add(time.Minute)))
	storeVisit(t, st, "chr3", "203.0.113.0/24", visitOf(chromium, chromium.TLS.ClientHello, t0.Add(2*time.Minute)))
	// Not settled yet: nothing is judged.
	clk.now = t0.Add(2*time.Minute + 10*time.Second)
	if rep := pass(t, cu); rep.Judged != 2 {
		t.Fatalf("judged %d visits before the third settled, want 2", rep.Judged)
	}
	clk.now = t0.Add(10 * time.Minute)
	rep := pass(t, cu)
	if rep.Judged != 1 || rep.Accepted != 1 || len(rep.Published) != 0 {
		t.Fatalf("below quorum: %+v", rep)
	}
	if len(rep.Waiting) != 1 || !strings.Contains(rep.Waiting[0], "chromium/156/linux/desktop 3/2") {
		t.Errorf("waiting %q", rep.Waiting)
	}
	// A fourth visit from a third address reaches it.
	storeVisit(t, st, "chr4", "192.0.2.0/24", visitOf(chromium, chromium.TLS.ClientHello, t0.Add(11*time.Minute)))
	clk.now = t0.Add(20 * time.Minute)
	rep = pass(t, cu)
	if !slices.Equal(rep.Published, []string{"chromium-156-linux"}) {
		t.Fatalf("published %q, want chromium-156-linux", rep.Published)
	}
	rec, p := profileOf(t, st, "chromium-156-linux")
	if rec.Source != store.ProfileCurated || rec.Visits != 4 || rec.Addresses != 3 || rec.Stale ||
		!rec.FirstSeen.Equal(t0) || !rec.LastSeen.Equal(t0.Add(11*time.Minute)) || rec.BrowserKey != "chromium/156/linux/desktop" {
		t.Errorf("stored record %+v", rec)
	}
	if p.Source.Kind != "curated" || p.Source.Visits != 4 || p.Source.Addresses != 3 || p.Name != "chromium-156-linux" ||
		p.Source.VisitKey != "chr4" || len(p.Source.Captures) == 0 {
		t.Errorf("document source %+v", p.Source)
	}
	if p.Expected.JA4 != chromium.Expected.JA4 || p.Expected.Akamai != chromium.Expected.Akamai {
		t.Errorf("curated fingerprints %s %s, want %s %s", p.Expected.JA4, p.Expected.Akamai, chromium.Expected.JA4, chromium.Expected.Akamai)
	}

	// Firefox from three addresses, and a second chromium wire identity
	// (another SETTINGS order) from three addresses.
	alt := *chromium
	h2 := *chromium.H2
	h2.Settings = slices.Clone(h2.Settings)
	slices.Reverse(h2.Settings)
	alt.H2 = &h2
	for i, ip := range []string{"10.1.0.0/24", "10.2.0.0/24", "10.3.0.0/24"} {
		at := t0.Add(time.Duration(30+i) * time.Minute)
		storeVisit(t, st, fmt.Sprintf("ffx%d", i), ip, visitOf(firefox, firefox.TLS.ClientHello, at))
		storeVisit(t, st, fmt.Sprintf("alt%d", i), ip, visitOf(&alt, chromium.TLS.ClientHello, at.Add(time.Second)))
	}
	clk.now = t0.Add(time.Hour)
	rep = pass(t, cu)
	slices.Sort(rep.Published)
	if !slices.Equal(rep.Published, []string{"chromium-156-linux-2", "firefox-153-linux"}) {
		t.Fatalf("published %q", rep.Published)
	}
	first, _ := profileOf(t, st, "chromium-156-linux")
	second, sp := profileOf(t, st, "chromium-156-linux-2")
	if first.WireKey == second.WireKey || first.BrowserKey != second.BrowserKey || !slices.Equal(first.JSON, rec.JSON) {
		t.Errorf("the second wire identity changed the first profile or shares its key")
	}
	if sp.H2.Settings[0] != h2.Settings[0] {
		t.Errorf("second profile settings %v", sp.H2.Settings)
	}

	// Liars and tools are judged and refused, never published.
	curlVisit := visitOf(chromium, golden(t, "curl"), t0.Add(2*time.Hour))
	for _, ip := range []string{"10.9.1.0/24", "10.9.2.0/24", "10.9.3.0/24"} {
		storeVisit(t, st, "curl"+ip[5:6], ip, curlVisit)
	}
	toolVisit := visitOf(chromium, golden(t, "go_crypto_tls"), t0.Add(2*time.Hour))
	for i := range toolVisit {
		toolVisit[i].UserAgent = "Go-http-client/2.0"
	}
	storeVisit(t, st, "gocl", "10.9.4.0/24", toolVisit)
	clk.now = t0.Add(3 * time.Hour)
	rep = pass(t, cu)
	if rep.Refused != 4 || len(rep.Published) != 0 {
		t.Fatalf("liars: %+v", rep)
	}
	v, err := st.VisitVerdict(ctx, "gocl")
	if err != nil || v.Accepted || !strings.Contains(v.Reason, "go-http-client") {
		t.Errorf("Go client verdict %+v, %v", v, err)
	}
	v, err = st.VisitVerdict(ctx, "curl1")
	if err != nil || v.Accepted || !strings.Contains(v.Reason, "do not fit") || !strings.Contains(string(v.Details), "GREASE") {
		t.Errorf("curl-as-chrome verdict %+v (%s), %v", v, v.Details, err)
	}
	all, err := st.ListProfiles(ctx)
	if err != nil || len(all) != 3 {
		t.Errorf("profiles after liars: %d, %v", len(all), err)
	}
}

func TestCurationStalePinImported(t *testing.T) { backends(t, testStalePinImported) }

func testStalePinImported(t *testing.T, st store.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clk := &testClock{now: t0}
	cu := newCurator(t, st, clk, 1)
	chromium := catalogue(t, "chromium-156-linux")
	firefox := catalogue(t, "firefox-153-linux")

	// An operator imported a profile under the name curation would pick.
	imp := *firefox
	imp.Source.Kind = emulation.SourceImported
	doc, _ := json.Marshal(&imp)
	if err := st.UpsertProfile(ctx, store.Profile{Name: "firefox-153-linux", Browser: "firefox", Version: "153.0", Platform: "linux", JSON: doc, Source: store.ProfileImported}); err != nil {
		t.Fatal(err)
	}
	storeVisit(t, st, "ffx1", "10.1.0.0/24", visitOf(firefox, firefox.TLS.ClientHello, t0))
	storeVisit(t, st, "chr1", "10.1.0.0/24", visitOf(chromium, chromium.TLS.ClientHello, t0))
	clk.now = t0.Add(time.Hour)
	rep := pass(t, cu)
	slices.Sort(rep.Published)
	if !slices.Equal(rep.Published, []string{"chromium-156-linux", "firefox-153-linux-2"}) {
		t.Fatalf("published %q", rep.Published)
	}
	if got, _ := profileOf(t, st, "firefox-153-linux"); got.Source != store.ProfileImported || !slices.Equal(got.JSON, doc) {
		t.Errorf("the imported profile was changed: %+v", got)
	}

	// Fifteen days without a visit: stale.
	clk.now = t0.Add(15 * 24 * time.Hour)
	rep = pass(t, cu)
	slices.Sort(rep.Stale)
	if !slices.Equal(rep.Stale, []string{"chromium-156-linux", "firefox-153-linux-2"}) {
		t.Fatalf("stale %q", rep.Stale)
	}
	rec, p := profileOf(t, st, "chromium-156-linux")
	if !rec.Stale || !p.Source.Stale || p.Fresh() {
		t.Errorf("not marked stale: %+v %+v", rec, p.Source)
	}
	// Pin it, then a new visit with another header value: counts and
	// freshness update, the document stays.
	if err := func() error { rec.Pinned = true; rec.UpdatedAt = time.Time{}; return st.UpsertProfile(ctx, rec) }(); err != nil {
		t.Fatal(err)
	}
	pinnedDoc := rec.JSON
	again := visitOf(chromium, golden(t, "chromium"), clk.now)
	again[0].Headers = append(slices.Clone(again[0].Headers[:len(again[0].Headers)-1]), fingerprint.Header{Name: again[0].Headers[len(again[0].Headers)-1].Name, Value: "changed"})
	storeVisit(t, st, "chr2", "10.2.0.0/24", again)
	clk.now = clk.now.Add(time.Hour)
	pass(t, cu)
	rec, _ = profileOf(t, st, "chromium-156-linux")
	if rec.Stale || rec.Visits != 2 || rec.Addresses != 2 || !rec.Pinned || !slices.Equal(rec.JSON, pinnedDoc) {
		t.Errorf("pinned profile after a new visit: stale %v visits %d addresses %d pinned %v, document changed %v",
			rec.Stale, rec.Visits, rec.Addresses, rec.Pinned, !slices.Equal(rec.JSON, pinnedDoc))
	}
	// A pass with nothing new writes nothing.
	before := rec.UpdatedAt
	clk.now = clk.now.Add(time.Minute)
	if rep := pass(t, cu); rep.Judged != 0 || len(rep.Updated)+len(rep.Published)+len(rep.Stale) != 0 {
		t.Errorf("idle pass: %+v", rep)
	}
	if rec, _ = profileOf(t, st, "chromium-156-linux"); !rec.UpdatedAt.Equal(before) {
		t.Errorf("idle pass rewrote the profile")
	}
}

func TestSeedBuiltin(t *testing.T) { backends(t, testSeedBuiltin) }

func testSeedBuiltin(t *testing.T, st store.Store) {
	ctx := context.Background()
	wrote, err := SeedBuiltin(ctx, st)
	if err != nil || len(wrote) < 2 {
		t.Fatalf("seeded %q, %v", wrote, err)
	}
	rec, p := profileOf(t, st, "chromium-156-linux")
	if rec.Source != store.ProfileBuiltin || p.Source.Kind != emulation.SourceBuiltin {
		t.Errorf("seeded %+v", rec)
	}
	if again, err := SeedBuiltin(ctx, st); err != nil || len(again) != 0 {
		t.Errorf("second seed wrote %q, %v", again, err)
	}
	k := NewKnown(st, time.Minute)
	if ps := k.Profiles(ctx); len(ps) != len(wrote) {
		t.Errorf("known profiles %d, want %d (catalogue and store share names)", len(ps), len(wrote))
	}
}
