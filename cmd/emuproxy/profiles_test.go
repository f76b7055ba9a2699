package main

import (
	"context"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/store"
	"github.com/guanaco-fp/guanaco/web"
)

// nopSink drops the captures of the web handler's fingerprinted routes.
type nopSink struct{}

func (nopSink) Offer(store.Capture) bool { return true }

// storedCopy stores a copy of the built-in profile base called name, with
// the row fields of rec.
func storedCopy(t *testing.T, st store.Store, base, name string, rec store.Profile) {
	t.Helper()
	p, err := emulation.Lookup(base)
	if err != nil {
		t.Fatal(err)
	}
	p.Name = name
	p.Source = emulation.Source{BuiltAt: p.Source.BuiltAt}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	rec.Name, rec.Browser, rec.Version, rec.Platform, rec.JSON = name, p.Browser, p.Version, p.Platform, b
	if err := st.UpsertProfile(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
}

// profilesServer serves fpserver's web handler over st.
func profilesServer(t *testing.T, st store.Store) *httptest.Server {
	t.Helper()
	h, err := web.New(web.Deps{Store: st, Captures: nopSink{}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// TestFetchURLFollowsPages: -profiles-url reads every page of fpserver's
// paginated /api/profiles, keeping the URL's filters, and a failed page
// fails the whole read.
func TestFetchURLFollowsPages(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range 120 {
		storedCopy(t, st, "firefox-153-linux", fmt.Sprintf("ff-%03d", i), store.Profile{Source: store.ProfileCurated})
	}
	for i := range 3 {
		storedCopy(t, st, "chromium-156-linux", fmt.Sprintf("ch-%d", i), store.Profile{})
	}
	srv := profilesServer(t, st)
	fetch := func(u string) ([]*emulation.Profile, error) {
		s := &profileSource{cfg: serveConfig{profilesURL: u}, client: srv.Client(), log: slog.New(slog.DiscardHandler)}
		return s.fetchURL(ctx)
	}
	names := func(ps []*emulation.Profile) map[string]bool {
		m := map[string]bool{}
		for _, p := range ps {
			m[p.Name] = true
		}
		return m
	}
	ps, err := fetch(srv.URL + "/api/profiles")
	if err != nil {
		t.Fatal(err)
	}
	if got := names(ps); len(ps) != 123 || len(got) != 123 || !got["ff-000"] || !got["ff-119"] || !got["ch-2"] {
		t.Errorf("read %d profiles (%d names), want all 123 over 3 pages", len(ps), len(got))
	}
	ps, err = fetch(srv.URL + "/api/profiles?browser=firefox")
	if err != nil {
		t.Fatal(err)
	}
	if got := names(ps); len(got) != 120 || got["ch-0"] {
		t.Errorf("browser=firefox: %d profiles", len(got))
	}
	// Starting from page 2 reads pages 2 and 3.
	if ps, err = fetch(srv.URL + "/api/profiles?page=2"); err != nil || len(ps) != 73 {
		t.Errorf("from page 2: %d profiles, %v", len(ps), err)
	}
	// A single document (not a list) still works.
	if ps, err = fetch(srv.URL + "/api/profiles/ff-007"); err != nil || len(ps) != 1 || ps[0].Name != "ff-007" {
		t.Errorf("single document: %v %v", ps, err)
	}

	// A page that fails fails the read: no half list.
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("page") == "3" {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		srv.Config.Handler.ServeHTTP(w, r)
	}))
	defer flaky.Close()
	s := &profileSource{cfg: serveConfig{profilesURL: flaky.URL + "/api/profiles"}, client: flaky.Client(), log: slog.New(slog.DiscardHandler)}
	if ps, err := s.fetchURL(ctx); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("failed page 3: %d profiles, err %v", len(ps), err)
	}
}

// TestProfileFromRecord: a stored row's kind and freshness reach the
// document emuproxy uses.
func TestProfileFromRecord(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	last := time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)
	storedCopy(t, st, "firefox-153-linux", "ff-curated", store.Profile{Source: store.ProfileCurated, Stale: true,
		FirstSeen: last.Add(-48 * time.Hour), LastSeen: last, Visits: 9, Addresses: 5, BrowserKey: "firefox/153/linux/desktop", WireKey: "abc"})
	storedCopy(t, st, "firefox-153-linux", "ff-plain", store.Profile{})
	ps, err := readDBProfiles(ctx, st, slog.New(slog.DiscardHandler))
	if err != nil || len(ps) != 2 {
		t.Fatalf("readDBProfiles: %d, %v", len(ps), err)
	}
	cur, plain := ps[0], ps[1]
	if src := cur.Source; cur.Name != "ff-curated" || src.Kind != "curated" || !src.Stale || !src.LastSeen.Equal(last) ||
		src.Visits != 9 || src.Addresses != 5 || src.BrowserKey != "firefox/153/linux/desktop" || src.WireKey != "abc" {
		t.Errorf("curated row: %+v", src)
	}
	if src := plain.Source; plain.Name != "ff-plain" || src.Kind != "imported" || src.Stale || !src.LastSeen.IsZero() {
		t.Errorf("row without bookkeeping: %+v", src)
	}
	// The row of a pinned profile is newer than its document; a curated
	// row's stale mark wins over the document's.
	p, _ := emulation.Lookup("firefox-153-linux")
	p.Name = "pinned"
	p.Source = emulation.Source{BuiltAt: last, Kind: emulation.SourceCurated, LastSeen: last.Add(-240 * time.Hour), Visits: 2, Stale: true}
	b, _ := p.Marshal()
	got, err := profileFromRecord(store.Profile{Name: "pinned", JSON: b, Source: store.ProfileCurated, Pinned: true, LastSeen: last, Visits: 30})
	if err != nil || got.Source.Stale || !got.Source.LastSeen.Equal(last) || got.Source.Visits != 30 || got.Source.Kind != "curated" {
		t.Errorf("pinned row: %+v %v", got.Source, err)
	}
}

// TestProfilesListSources: 'profiles list' shows where each profile comes
// from, its kind, freshness and stale mark, with -profiles-db and
// -profiles-url.
func TestProfilesListSources(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "fp.db")
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	storedCopy(t, st, "firefox-153-linux", "ff-db", store.Profile{Source: store.ProfileCurated, Stale: true,
		LastSeen: time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC), Visits: 12, Addresses: 6})
	ust, err := store.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer ust.Close()
	storedCopy(t, ust, "chromium-156-linux", "ch-url", store.Profile{Source: store.ProfileCurated})
	storedCopy(t, ust, "chromium-156-linux", "ff-db", store.Profile{}) // taken by the database's
	srv := profilesServer(t, ust)

	env := map[string]string{"EMUPROXY_PROFILES_DIR": filepath.Join(dir, "profiles")}
	code, out, errOut := runMain(t, env, "", "profiles", "-profiles-db", dsn, "-profiles-url", srv.URL+"/api/profiles", "list")
	if code != exitOK {
		t.Fatalf("list: exit %d\n%s%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	row := func(name string) []string {
		for _, l := range lines {
			if f := strings.Fields(l); len(f) > 0 && f[0] == name {
				return f
			}
		}
		t.Fatalf("list lacks %s:\n%s", name, out)
		return nil
	}
	if f := strings.Fields(lines[0]); strings.Join(f[:7], " ") != "NAME BROWSER VERSION PLATFORM SOURCE KIND LAST" {
		t.Errorf("header: %q", lines[0])
	}
	// NAME BROWSER VERSION PLATFORM SOURCE KIND LAST-SEEN(2 fields) VISITS STALE JA4 AKAMAI
	if f := row("chromium-156-linux"); f[4] != "builtin" || f[5] != "builtin" || f[6] != "-" || f[7] != "-" || f[8] != "-" {
		t.Errorf("built-in row: %v", f)
	}
	if f := row("ff-db"); f[4] != "db" || f[5] != "curated" || f[6] != "2026-11-20" || f[7] != "09:30" || f[8] != "12" || f[9] != "stale" {
		t.Errorf("database row: %v", f)
	}
	if f := row("ch-url"); f[4] != "url" || f[5] != "curated" {
		t.Errorf("URL row: %v", f)
	}
	if strings.Count(out, "ff-db") != 1 || !strings.Contains(errOut, `"ff-db"`) {
		t.Errorf("a taken name is listed twice or silently dropped:\n%s%s", out, errOut)
	}
}

// TestGetProfilesDB: 'emuproxy get -profiles-db' selects a stored profile
// by name.
func TestGetProfilesDB(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "fp.db")
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	storedCopy(t, st, "firefox-153-linux", "ff-stored", store.Profile{Source: store.ProfileCurated})
	storedCopy(t, st, "chromium-156-linux", "firefox-153-linux", store.Profile{}) // a built-in name: skipped
	st.Close()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.UserAgent()))
	}))
	defer srv.Close()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	ff, _ := emulation.Lookup("firefox-153-linux")
	env := map[string]string{"EMUPROXY_PROFILES_DIR": filepath.Join(dir, "profiles")}
	code, out, errOut := runMain(t, env, "", "get", "-profiles-db", dsn, "-profile", "ff-stored", "-cacert", ca, srv.URL+"/")
	if code != exitOK || out != ff.UserAgent {
		t.Errorf("get -profiles-db: exit %d, body %q\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, `"firefox-153-linux"`) {
		t.Errorf("a stored profile with a built-in name is not reported: %s", errOut)
	}
	if code, _, _ := runMain(t, env, "", "get", "-profile", "ff-stored", "-cacert", ca, srv.URL+"/"); code != exitFail {
		t.Errorf("without -profiles-db the stored profile is found: exit %d", code)
	}
}
