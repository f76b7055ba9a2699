package storetest

// Conformance tests of the curation part of the Store: profile metadata,
// pending visits, visit verdicts, wire groups and their retention.

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/store/model"
)

// DiffProfile describes how got differs from want ("" when equal): times are
// compared with Equal, the document byte for byte, everything else exactly.
func DiffProfile(want, got model.Profile) string {
	var diffs []string
	for _, tc := range []struct {
		name string
		w, g time.Time
	}{{"UpdatedAt", want.UpdatedAt, got.UpdatedAt}, {"FirstSeen", want.FirstSeen, got.FirstSeen}, {"LastSeen", want.LastSeen, got.LastSeen}} {
		if !tc.w.Equal(tc.g) || tc.w.IsZero() != tc.g.IsZero() {
			diffs = append(diffs, fmt.Sprintf("%s: want %v, got %v", tc.name, tc.w, tc.g))
		}
	}
	if !bytes.Equal(want.JSON, got.JSON) {
		diffs = append(diffs, fmt.Sprintf("JSON: want %.80q, got %.80q", want.JSON, got.JSON))
	}
	want.UpdatedAt, want.FirstSeen, want.LastSeen, want.JSON = time.Time{}, time.Time{}, time.Time{}, nil
	got.UpdatedAt, got.FirstSeen, got.LastSeen, got.JSON = time.Time{}, time.Time{}, time.Time{}, nil
	wv, gv := reflect.ValueOf(want), reflect.ValueOf(got)
	for i := 0; i < wv.NumField(); i++ {
		if !reflect.DeepEqual(wv.Field(i).Interface(), gv.Field(i).Interface()) {
			diffs = append(diffs, fmt.Sprintf("%s: want %.80q, got %.80q", wv.Type().Field(i).Name,
				fmt.Sprint(wv.Field(i).Interface()), fmt.Sprint(gv.Field(i).Interface())))
		}
	}
	return strings.Join(diffs, "; ")
}

// DiffVerdict describes how got differs from want ("" when equal): times are
// compared with Equal, JSON documents byte for byte, nil and empty slices are
// equal, everything else exactly.
func DiffVerdict(want, got model.VisitVerdict) string {
	var diffs []string
	if !want.SeenAt.Equal(got.SeenAt) {
		diffs = append(diffs, fmt.Sprintf("SeenAt: want %v, got %v", want.SeenAt, got.SeenAt))
	}
	if !want.EvaluatedAt.Equal(got.EvaluatedAt) {
		diffs = append(diffs, fmt.Sprintf("EvaluatedAt: want %v, got %v", want.EvaluatedAt, got.EvaluatedAt))
	}
	if !bytes.Equal(want.Details, got.Details) {
		diffs = append(diffs, fmt.Sprintf("Details: want %.80q, got %.80q", want.Details, got.Details))
	}
	if !bytes.Equal(want.Profile, got.Profile) {
		diffs = append(diffs, fmt.Sprintf("Profile: want %.80q, got %.80q", want.Profile, got.Profile))
	}
	for _, p := range []*model.VisitVerdict{&want, &got} {
		p.SeenAt, p.EvaluatedAt, p.Details, p.Profile = time.Time{}, time.Time{}, nil, nil
		if len(p.CaptureIDs) == 0 {
			p.CaptureIDs = nil
		}
	}
	wv, gv := reflect.ValueOf(want), reflect.ValueOf(got)
	for i := 0; i < wv.NumField(); i++ {
		if !reflect.DeepEqual(wv.Field(i).Interface(), gv.Field(i).Interface()) {
			diffs = append(diffs, fmt.Sprintf("%s: want %.80q, got %.80q", wv.Type().Field(i).Name,
				fmt.Sprint(wv.Field(i).Interface()), fmt.Sprint(gv.Field(i).Interface())))
		}
	}
	return strings.Join(diffs, "; ")
}

func mustProfile(t *testing.T, s model.Store, name string) model.Profile {
	t.Helper()
	p, err := s.Profile(ctxT(t), name)
	if err != nil {
		t.Fatalf("Profile(%q): %v", name, err)
	}
	return p
}

func mustPutVerdicts(t *testing.T, s model.Store, vs ...model.VisitVerdict) {
	t.Helper()
	if err := s.PutVisitVerdicts(ctxT(t), vs); err != nil {
		t.Fatalf("PutVisitVerdicts(%d verdicts): %v", len(vs), err)
	}
}

func mustVerdict(t *testing.T, s model.Store, key string) model.VisitVerdict {
	t.Helper()
	v, err := s.VisitVerdict(ctxT(t), key)
	if err != nil {
		t.Fatalf("VisitVerdict(%s): %v", key, err)
	}
	return v
}

func testProfileMetadata(t *testing.T, s model.Store) {
	ctx := ctxT(t)
	full := model.Profile{
		Name: "chrome-156-windows", Browser: "chrome", Version: "156", Platform: "windows",
		JSON:      json.RawMessage(`{"format":1, "name":"chrome-156-windows","z":[3,2,1]}`),
		UpdatedAt: base.Add(5 * time.Second), Source: model.ProfileCurated, Pinned: true,
		BrowserKey: "chrome/156/windows/desktop", WireKey: "0123456789abcdef0123456789abcdef",
		FirstSeen: base.Add(-48*time.Hour + 1500*time.Nanosecond), LastSeen: base.Add(-time.Hour + 999*time.Nanosecond),
		Visits: 1 << 40, Addresses: 7, Stale: true,
	}
	if err := s.UpsertProfile(ctx, full); err != nil {
		t.Fatal(err)
	}
	want := full
	want.FirstSeen = base.Add(-48*time.Hour + time.Microsecond) // truncated to µs
	want.LastSeen = base.Add(-time.Hour)
	got := mustProfile(t, s, full.Name)
	if d := DiffProfile(want, got); d != "" {
		t.Errorf("profile round trip: %s", d)
	}
	for _, tm := range []time.Time{got.UpdatedAt, got.FirstSeen, got.LastSeen} {
		if tm.Location() != time.UTC {
			t.Errorf("time %v not in UTC", tm)
		}
	}

	// Empty source is stored as imported; zero times stay zero; booleans false.
	plain := model.Profile{Name: "plain", JSON: json.RawMessage(`{}`), UpdatedAt: base}
	if err := s.UpsertProfile(ctx, plain); err != nil {
		t.Fatal(err)
	}
	wantPlain := plain
	wantPlain.Source = model.ProfileImported
	if d := DiffProfile(wantPlain, mustProfile(t, s, "plain")); d != "" {
		t.Errorf("plain profile: %s", d)
	}
	builtin := model.Profile{Name: "builtin", JSON: json.RawMessage(`{}`), UpdatedAt: base, Source: model.ProfileBuiltin}
	if err := s.UpsertProfile(ctx, builtin); err != nil {
		t.Fatal(err)
	}

	// ListProfiles carries the same fields.
	list, err := s.ListProfiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]model.Profile{}
	for _, p := range list {
		byName[p.Name] = p
	}
	if len(list) != 3 {
		t.Fatalf("ListProfiles: %d profiles, want 3", len(list))
	}
	if d := DiffProfile(want, byName[full.Name]); d != "" {
		t.Errorf("ListProfiles full profile: %s", d)
	}
	if d := DiffProfile(wantPlain, byName["plain"]); d != "" {
		t.Errorf("ListProfiles plain profile: %s", d)
	}
	if byName["builtin"].Source != model.ProfileBuiltin {
		t.Errorf("builtin profile source %q", byName["builtin"].Source)
	}

	// An upsert replaces every field, including back to zero values.
	repl := model.Profile{Name: full.Name, JSON: json.RawMessage(`{"v":2}`), UpdatedAt: base.Add(time.Minute), Source: model.ProfileImported}
	if err := s.UpsertProfile(ctx, repl); err != nil {
		t.Fatal(err)
	}
	if d := DiffProfile(repl, mustProfile(t, s, full.Name)); d != "" {
		t.Errorf("after replacing upsert: %s", d)
	}

	long := strings.Repeat("k", model.MaxKeyLen+1)
	for name, bad := range map[string]model.Profile{
		"unknown source":   {Name: "bad", JSON: json.RawMessage(`{}`), Source: "scraped"},
		"long browser key": {Name: "bad", JSON: json.RawMessage(`{}`), BrowserKey: long},
		"long wire key":    {Name: "bad", JSON: json.RawMessage(`{}`), WireKey: long},
		"bad utf8 key":     {Name: "bad", JSON: json.RawMessage(`{}`), WireKey: "\xff"},
		"negative visits":  {Name: "bad", JSON: json.RawMessage(`{}`), Visits: -1},
		"negative addrs":   {Name: "bad", JSON: json.RawMessage(`{}`), Addresses: -1},
	} {
		if err := s.UpsertProfile(ctx, bad); !errors.Is(err, model.ErrInvalid) {
			t.Errorf("UpsertProfile(%s) err = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := s.Profile(ctx, "bad"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("an invalid profile was stored (err=%v)", err)
	}
	// Keys of exactly the maximum length are fine.
	maxKeys := model.Profile{Name: "max-keys", JSON: json.RawMessage(`{}`), UpdatedAt: base,
		Source: model.ProfileCurated, BrowserKey: strings.Repeat("b", model.MaxKeyLen), WireKey: strings.Repeat("w", model.MaxKeyLen)}
	if err := s.UpsertProfile(ctx, maxKeys); err != nil {
		t.Fatal(err)
	}
	if d := DiffProfile(maxKeys, mustProfile(t, s, maxKeys.Name)); d != "" {
		t.Errorf("max-length keys: %s", d)
	}
}

func testDeleteProfile(t *testing.T, s model.Store) {
	ctx := ctxT(t)
	for _, n := range []string{"keep", "drop", "Émile"} {
		if err := s.UpsertProfile(ctx, model.Profile{Name: n, JSON: json.RawMessage(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteProfile(ctx, "drop"); err != nil {
		t.Fatalf("DeleteProfile(drop): %v", err)
	}
	if _, err := s.Profile(ctx, "drop"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("deleted profile still readable (err=%v)", err)
	}
	if err := s.DeleteProfile(ctx, "drop"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("DeleteProfile(deleted) err = %v, want ErrNotFound", err)
	}
	if err := s.DeleteProfile(ctx, "never-stored"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("DeleteProfile(unknown) err = %v, want ErrNotFound", err)
	}
	if err := s.DeleteProfile(ctx, "Émile"); err != nil {
		t.Errorf("DeleteProfile(Émile): %v", err)
	}
	list, err := s.ListProfiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != "keep" {
		t.Errorf("after deletes ListProfiles = %+v, want only keep", list)
	}
}

func pendingKeys(vs []model.PendingVisit) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.VisitKey
	}
	return out
}

func testPendingVisits(t *testing.T, s model.Store) {
	ctx := ctxT(t)
	var batch []model.Capture
	add := func(visit, initiator string, at time.Duration) {
		batch = append(batch, model.Capture{
			ID: fmt.Sprintf("pv%02d", len(batch)), CreatedAt: base.Add(at), VisitKey: visit,
			Initiator: initiator, UserAgent: "ua", ClientIP: "198.51.100.0",
		})
	}
	const nav, fetch, ws = model.InitiatorNavigate, model.InitiatorFetch, model.InitiatorWebSocket
	settled := base.Add(time.Minute)
	since := base.Add(-time.Hour)

	add("v-settled", fetch, 20*time.Second) // inserted before its navigation
	add("v-settled", nav, 10*time.Second)
	add("v-settled", ws, 30*time.Second)
	add("v-busy", nav, 20*time.Second) // a probe after SettledBefore: not settled
	add("v-busy", fetch, 2*time.Minute)
	add("v-edge", nav, 0) // last capture exactly at SettledBefore: not settled
	add("v-edge", fetch, time.Minute)
	add("v-nonav", fetch, 0) // no navigation at all
	add("v-nonav", ws, time.Second)
	add("v-old", nav, -2*time.Hour) // navigation before Since
	add("v-old", fetch, -time.Hour+time.Second)
	add("v-early", fetch, -3*time.Hour) // an old probe, but the navigation is after Since
	add("v-early", nav, 5*time.Second)
	add("v-twonav", nav, -2*time.Hour) // one navigation before Since, one after
	add("v-twonav", nav, 15*time.Second)
	add("v-tie-b", nav, 40*time.Second) // same first time: ordered by key
	add("v-tie-a", nav, 40*time.Second)
	add("v-since", nav, -time.Hour) // navigation exactly at Since: included
	add("", nav, 0)                 // no visit key: never a visit
	mustInsert(t, s, batch, int64(len(batch)))

	type pv struct {
		key         string
		first, last time.Duration
	}
	check := func(name string, q model.PendingQuery, want []pv) {
		t.Helper()
		got, err := s.PendingVisits(ctx, q)
		if err != nil {
			t.Fatalf("%s: PendingVisits: %v", name, err)
		}
		var wantKeys []string
		for _, w := range want {
			wantKeys = append(wantKeys, w.key)
		}
		if !reflect.DeepEqual(pendingKeys(got), wantKeys) && !(len(got) == 0 && len(wantKeys) == 0) {
			t.Fatalf("%s: PendingVisits = %v, want %v", name, pendingKeys(got), wantKeys)
		}
		for i, w := range want {
			g := got[i]
			if !g.FirstAt.Equal(base.Add(w.first)) || !g.LastAt.Equal(base.Add(w.last)) {
				t.Errorf("%s: %s first/last %v / %v, want %v / %v", name, w.key, g.FirstAt, g.LastAt, base.Add(w.first), base.Add(w.last))
			}
			if g.FirstAt.Location() != time.UTC || g.LastAt.Location() != time.UTC {
				t.Errorf("%s: %s times not in UTC", name, w.key)
			}
		}
	}
	bounded := []pv{
		{"v-early", -3 * time.Hour, 5 * time.Second},
		{"v-twonav", -2 * time.Hour, 15 * time.Second},
		{"v-since", -time.Hour, -time.Hour},
		{"v-settled", 10 * time.Second, 30 * time.Second},
		{"v-tie-a", 40 * time.Second, 40 * time.Second},
		{"v-tie-b", 40 * time.Second, 40 * time.Second},
	}
	check("since", model.PendingQuery{Since: since, SettledBefore: settled}, bounded)
	unbounded := append([]pv{bounded[0], bounded[1], {"v-old", -2 * time.Hour, -time.Hour + time.Second}}, bounded[2:]...)
	// v-old and v-twonav share their first time: ordered by key.
	unbounded[1], unbounded[2] = unbounded[2], unbounded[1]
	check("no since", model.PendingQuery{SettledBefore: settled}, unbounded)
	check("limit", model.PendingQuery{Since: since, SettledBefore: settled, Limit: 2}, bounded[:2])
	// A later SettledBefore settles v-edge (and v-busy one tick after its probe).
	check("later", model.PendingQuery{Since: since, SettledBefore: base.Add(2*time.Minute + time.Microsecond)},
		append(append([]pv{}, bounded[:3]...), pv{"v-edge", 0, time.Minute}, bounded[3], pv{"v-busy", 20 * time.Second, 2 * time.Minute}, bounded[4], bounded[5]))
	// SettledBefore before every capture: nothing.
	check("early", model.PendingQuery{SettledBefore: base.Add(-4 * time.Hour)}, nil)

	// A verdict, accepted or not, takes the visit out.
	mustPutVerdicts(t, s,
		model.VisitVerdict{VisitKey: "v-settled", SeenAt: base.Add(10 * time.Second), EvaluatedAt: base.Add(time.Hour), Reason: "refused"},
		model.VisitVerdict{VisitKey: "v-tie-a", SeenAt: base.Add(40 * time.Second), EvaluatedAt: base.Add(time.Hour), Accepted: true, BrowserKey: "b", WireKey: "w", ClientIP: "198.51.100.0"},
	)
	check("judged", model.PendingQuery{Since: since, SettledBefore: settled}, []pv{bounded[0], bounded[1], bounded[2], bounded[5]})

	if _, err := s.PendingVisits(ctx, model.PendingQuery{Since: since}); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("PendingVisits without SettledBefore err = %v, want ErrInvalid", err)
	}
}

func testPendingVisitsLimit(t *testing.T, s model.Store) {
	ctx := ctxT(t)
	var batch []model.Capture
	n := model.MaxLimit + 20
	for i := 0; i < n; i++ {
		batch = append(batch, model.Capture{ID: fmt.Sprintf("l%04d", i), CreatedAt: base.Add(time.Duration(i) * time.Millisecond),
			VisitKey: fmt.Sprintf("visit-%04d", i), Initiator: model.InitiatorNavigate})
	}
	mustInsert(t, s, batch, int64(n))
	q := model.PendingQuery{SettledBefore: base.Add(time.Hour)}
	got, err := s.PendingVisits(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 100 || got[0].VisitKey != "visit-0000" || got[99].VisitKey != "visit-0099" {
		t.Errorf("default limit: %d visits (%v ... )", len(got), pendingKeys(got[:min(3, len(got))]))
	}
	q.Limit = model.MaxLimit + 500
	got, err = s.PendingVisits(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != model.MaxLimit {
		t.Errorf("limit above MaxLimit: %d visits, want %d", len(got), model.MaxLimit)
	}
}

// fullVerdict has every field set, with values that catch column swaps.
func fullVerdict(key string, at time.Time) model.VisitVerdict {
	return model.VisitVerdict{
		VisitKey: key, SeenAt: at, EvaluatedAt: at.Add(90*time.Second + 1234*time.Nanosecond),
		ClientIP: "203.0.113.0", UserAgent: "Mozilla/5.0 UA " + key,
		BrowserKey: "chrome/156/linux/desktop", WireKey: "wire-" + key,
		Accepted: true, Reason: "",
		Details:    json.RawMessage(`{"z": 1, "a":[3,2,1], "m":{"y":true,"b":null}}`),
		CaptureIDs: []string{"c-3", "c-1", "c-2"},
		Profile:    json.RawMessage(`{"format":1,  "name":"x","h1":{"navigate":[["Host",""]]}}`),
	}
}

func testVisitVerdicts(t *testing.T, s model.Store) {
	ctx := ctxT(t)
	full := fullVerdict("vv1", base.Add(777*time.Nanosecond))
	refused := model.VisitVerdict{VisitKey: "vv2", SeenAt: base, EvaluatedAt: base.Add(time.Minute), Reason: "the visit's user agent says Chrome but the ClientHello is curl's"}
	mustPutVerdicts(t, s, full, refused)
	got := mustVerdict(t, s, "vv1")
	if d := DiffVerdict(full.Normalized(), got); d != "" {
		t.Errorf("full verdict round trip: %s", d)
	}
	// SeenAt is base + 777 ns, EvaluatedAt 90 s + 1234 ns later: base + 90 s + 2011 ns.
	if !got.SeenAt.Equal(base) || !got.EvaluatedAt.Equal(base.Add(90*time.Second+2*time.Microsecond)) {
		t.Errorf("times %v / %v not truncated to µs", got.SeenAt, got.EvaluatedAt)
	}
	if got.SeenAt.Location() != time.UTC || got.EvaluatedAt.Location() != time.UTC {
		t.Errorf("times not in UTC")
	}
	// JSON documents are stored verbatim and capture IDs keep their order.
	if !bytes.Equal(got.Details, full.Details) || !bytes.Equal(got.Profile, full.Profile) {
		t.Errorf("documents not verbatim: %s / %s", got.Details, got.Profile)
	}
	if !reflect.DeepEqual(got.CaptureIDs, full.CaptureIDs) {
		t.Errorf("capture ids %q, want %q", got.CaptureIDs, full.CaptureIDs)
	}
	r := mustVerdict(t, s, "vv2")
	if d := DiffVerdict(refused.Normalized(), r); d != "" {
		t.Errorf("refused verdict round trip: %s", d)
	}
	if r.Details != nil || r.Profile != nil || r.CaptureIDs != nil {
		t.Errorf("minimal verdict read back with non-nil optional fields: %+v", r)
	}

	// A later put replaces every field; a key repeated in one batch ends with
	// its last value.
	repl := model.VisitVerdict{VisitKey: "vv1", SeenAt: base.Add(time.Hour), EvaluatedAt: base.Add(2 * time.Hour),
		ClientIP: "192.0.2.0", UserAgent: "other", Reason: "replaced", CaptureIDs: []string{"only"}}
	mid := repl
	mid.Reason = "intermediate"
	mustPutVerdicts(t, s, mid, repl)
	if d := DiffVerdict(repl.Normalized(), mustVerdict(t, s, "vv1")); d != "" {
		t.Errorf("replaced verdict: %s", d)
	}

	// Text is repaired like captures' text.
	dirty := model.VisitVerdict{VisitKey: "vv3", SeenAt: base, EvaluatedAt: base, UserAgent: "Mozilla\x00/5.0 \xff", Reason: "bad \xc3(",
		Details: json.RawMessage("{\"s\":\"\xff\"}")}
	mustPutVerdicts(t, s, dirty)
	dg := mustVerdict(t, s, "vv3")
	if d := DiffVerdict(dirty.Normalized(), dg); d != "" {
		t.Errorf("normalized verdict: %s", d)
	}
	if dg.UserAgent != "Mozilla\uFFFD/5.0 \uFFFD" || !json.Valid(dg.Details) {
		t.Errorf("dirty verdict read back as %q / %q", dg.UserAgent, dg.Details)
	}

	// One invalid verdict fails the batch and nothing of it is written.
	good := fullVerdict("vv4", base)
	change := refused
	change.Reason = "must not be stored"
	long := strings.Repeat("k", model.MaxKeyLen+1)
	for name, bad := range map[string]model.VisitVerdict{
		"empty key":          {SeenAt: base, EvaluatedAt: base},
		"bad key":            {VisitKey: "a b", SeenAt: base, EvaluatedAt: base},
		"long key":           {VisitKey: strings.Repeat("v", model.MaxIDLen+1), SeenAt: base, EvaluatedAt: base},
		"zero seen":          {VisitKey: "x", EvaluatedAt: base},
		"zero evaluated":     {VisitKey: "x", SeenAt: base},
		"accepted, no keys":  {VisitKey: "x", SeenAt: base, EvaluatedAt: base, Accepted: true, BrowserKey: "b"},
		"long browser key":   {VisitKey: "x", SeenAt: base, EvaluatedAt: base, BrowserKey: long},
		"long wire key":      {VisitKey: "x", SeenAt: base, EvaluatedAt: base, WireKey: long},
		"bad details":        {VisitKey: "x", SeenAt: base, EvaluatedAt: base, Details: json.RawMessage(`{"a":`)},
		"bad profile":        {VisitKey: "x", SeenAt: base, EvaluatedAt: base, Profile: json.RawMessage(`nope`)},
		"bad capture id":     {VisitKey: "x", SeenAt: base, EvaluatedAt: base, CaptureIDs: []string{"ok", "not ok"}},
		"invalid, then good": {VisitKey: "x", SeenAt: base},
	} {
		batch := []model.VisitVerdict{good, change, bad}
		if name == "invalid, then good" {
			batch = []model.VisitVerdict{bad, good, change}
		}
		if err := s.PutVisitVerdicts(ctx, batch); !errors.Is(err, model.ErrInvalid) {
			t.Errorf("PutVisitVerdicts(%s) err = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := s.VisitVerdict(ctx, "vv4"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("valid verdict of a rejected batch was stored (err=%v)", err)
	}
	if r := mustVerdict(t, s, "vv2"); r.Reason != refused.Reason {
		t.Errorf("a rejected batch replaced a stored verdict: reason %q", r.Reason)
	}
	if _, err := s.VisitVerdict(ctx, "x"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("invalid verdict stored (err=%v)", err)
	}

	if err := s.PutVisitVerdicts(ctx, nil); err != nil {
		t.Errorf("PutVisitVerdicts(nil): %v", err)
	}
	if _, err := s.VisitVerdict(ctx, "unknown"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("VisitVerdict(unknown) err = %v, want ErrNotFound", err)
	}
	if _, err := s.VisitVerdict(ctx, "bad key!"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("VisitVerdict(malformed) err = %v, want ErrNotFound", err)
	}
}

func testWireGroups(t *testing.T, s model.Store) {
	ctx := ctxT(t)
	groups, err := s.WireGroups(ctx)
	if err != nil || len(groups) != 0 {
		t.Fatalf("WireGroups on an empty store = %+v, %v", groups, err)
	}
	v := func(key, browser, wire, ip string, at time.Duration, accepted bool) model.VisitVerdict {
		r := model.VisitVerdict{VisitKey: key, SeenAt: base.Add(at), EvaluatedAt: base.Add(24 * time.Hour),
			ClientIP: ip, UserAgent: "ua " + key, BrowserKey: browser, WireKey: wire, Accepted: accepted}
		if !accepted {
			r.Reason = "refused"
		}
		return r
	}
	const chrome, upper = "chrome/156/linux/desktop", "Chrome/156/linux/desktop"
	mustPutVerdicts(t, s,
		// chrome/w1: 5 accepted visits from 3 addresses; x3 and x10 share the
		// latest time, x3 is the greater key in byte order.
		v("x1", chrome, "w1", "198.51.100.0", 0, true),
		v("x3", chrome, "w1", "198.51.100.0", 3*time.Hour, true),
		v("x10", chrome, "w1", "203.0.113.0", 3*time.Hour, true),
		v("x2", chrome, "w1", "2001:db8::", time.Hour+time.Microsecond, true),
		v("x0", chrome, "w1", "", -time.Hour, true), // no address: a visit, not an address
		// Refused verdicts never count, even with the group's keys and later times.
		v("r1", chrome, "w1", "192.0.2.0", 10*time.Hour, false),
		v("r2", chrome, "w2", "192.0.2.0", 0, false),
		v("r3", "", "", "192.0.2.0", 0, false),
		// chrome/w0 sorts before chrome/w1; Chrome (upper case) before chrome in byte order.
		v("y1", chrome, "w0", "198.51.100.0", 2*time.Hour, true),
		v("z1", upper, "w9", "198.51.100.0", 5*time.Hour, true),
		v("z2", upper, "w9", "198.51.100.0", 4*time.Hour, true),
	)
	want := []model.WireGroup{
		{BrowserKey: upper, WireKey: "w9", Visits: 2, Addresses: 1, FirstSeen: base.Add(4 * time.Hour), LastSeen: base.Add(5 * time.Hour), LatestVisit: "z1"},
		{BrowserKey: chrome, WireKey: "w0", Visits: 1, Addresses: 1, FirstSeen: base.Add(2 * time.Hour), LastSeen: base.Add(2 * time.Hour), LatestVisit: "y1"},
		{BrowserKey: chrome, WireKey: "w1", Visits: 5, Addresses: 3, FirstSeen: base.Add(-time.Hour), LastSeen: base.Add(3 * time.Hour), LatestVisit: "x3"},
	}
	checkGroups := func(name string, want []model.WireGroup) {
		t.Helper()
		got, err := s.WireGroups(ctx)
		if err != nil {
			t.Fatalf("%s: WireGroups: %v", name, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: WireGroups = %+v, want %+v", name, got, want)
		}
		for i := range want {
			g, w := got[i], want[i]
			if !g.FirstSeen.Equal(w.FirstSeen) || !g.LastSeen.Equal(w.LastSeen) || g.FirstSeen.Location() != time.UTC {
				t.Errorf("%s: group %d first/last %v / %v, want %v / %v", name, i, g.FirstSeen, g.LastSeen, w.FirstSeen, w.LastSeen)
			}
			g.FirstSeen, g.LastSeen, w.FirstSeen, w.LastSeen = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if g != w {
				t.Errorf("%s: group %d = %+v, want %+v", name, i, g, w)
			}
		}
	}
	checkGroups("initial", want)

	// Replacing a verdict moves it: x3 refused leaves x10 the latest visit of
	// chrome/w1; y1 re-judged into chrome/w1 empties chrome/w0.
	mustPutVerdicts(t, s, v("x3", chrome, "w1", "198.51.100.0", 3*time.Hour, false), v("y1", chrome, "w1", "192.0.2.0", 2*time.Hour, true))
	want = []model.WireGroup{
		want[0],
		{BrowserKey: chrome, WireKey: "w1", Visits: 5, Addresses: 4, FirstSeen: base.Add(-time.Hour), LastSeen: base.Add(3 * time.Hour), LatestVisit: "x10"},
	}
	checkGroups("after replacing", want)
}

func testVerdictRetention(t *testing.T, s model.Store) {
	ctx := ctxT(t)
	cutoff := base.Add(-24 * time.Hour)
	var vs []model.VisitVerdict
	add := func(prefix string, n int, at time.Time, accepted bool) {
		for i := 0; i < n; i++ {
			v := model.VisitVerdict{VisitKey: fmt.Sprintf("%s%03d", prefix, i), SeenAt: at.Add(time.Duration(i) * time.Second),
				EvaluatedAt: base, ClientIP: "198.51.100.0", Accepted: accepted}
			if accepted {
				v.BrowserKey, v.WireKey = "b", "w"
			} else {
				v.Reason = "refused"
			}
			vs = append(vs, v)
		}
	}
	add("old-refused-", 250, cutoff.Add(-10*24*time.Hour), false) // more than one chunk
	add("old-accepted-", 30, cutoff.Add(-10*24*time.Hour), true)
	add("new-refused-", 20, cutoff, false) // at the cutoff: kept (exclusive)
	add("new-accepted-", 10, cutoff, true)
	mustPutVerdicts(t, s, vs...)
	old := NewGenerator(6, cutoff.Add(-time.Hour), time.Second).Batch(120)
	recent := NewGenerator(7, base, time.Second).Batch(5)
	mustInsert(t, s, append(old, recent...), 125)

	n, err := s.DeleteCapturesBefore(ctx, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	if n != 120+250 {
		t.Errorf("deleted %d rows, want 370 (120 captures, 250 refused verdicts)", n)
	}
	for _, v := range vs {
		_, err := s.VisitVerdict(ctx, v.VisitKey)
		gone := errors.Is(err, model.ErrNotFound)
		if wantGone := strings.HasPrefix(v.VisitKey, "old-refused-"); gone != wantGone {
			t.Errorf("verdict %s: gone=%v (err=%v), want gone=%v", v.VisitKey, gone, err, wantGone)
		}
	}
	groups, err := s.WireGroups(ctx)
	if err != nil || len(groups) != 1 || groups[0].Visits != 40 {
		t.Errorf("WireGroups after retention = %+v, %v; want one group of 40 visits", groups, err)
	}
	if total := countAll(t, s); total != 5 {
		t.Errorf("%d captures left, want 5", total)
	}
	// Nothing left to delete.
	if n, err := s.DeleteCapturesBefore(ctx, cutoff); err != nil || n != 0 {
		t.Errorf("second delete = %d, %v; want 0", n, err)
	}
}

func testWebSocketInitiator(t *testing.T, s model.Store) {
	c := fullCapture("ws1", base)
	c.Initiator = model.InitiatorWebSocket
	c.Method, c.Path = "GET", "/ws"
	mustInsert(t, s, []model.Capture{c}, 1)
	if d := DiffCapture(c.Normalized(), mustGet(t, s, "ws1")); d != "" {
		t.Errorf("websocket capture round trip: %s", d)
	}
	cs, err := s.CapturesByVisit(ctxT(t), c.VisitKey)
	if err != nil || len(cs) != 1 || cs[0].Initiator != model.InitiatorWebSocket {
		t.Errorf("CapturesByVisit = %+v, %v", cs, err)
	}
}

// testEveryInitiator stores one capture of each initiator in one visit (the
// sub-resource destinations included, which the schema's CHECK constraint
// must accept) and reads every one back, by ID and by visit.
func testEveryInitiator(t *testing.T, s model.Store) {
	var batch []model.Capture
	for i, in := range model.Initiators() {
		c := fullCapture(fmt.Sprintf("in%02d", i), base.Add(time.Duration(i)*time.Millisecond))
		c.VisitKey = "visit-every-initiator"
		c.Initiator = in
		c.Method, c.Path = "GET", "/probe/"+in
		batch = append(batch, c)
	}
	mustInsert(t, s, batch, int64(len(batch)))
	for _, c := range batch {
		if d := DiffCapture(c.Normalized(), mustGet(t, s, c.ID)); d != "" {
			t.Errorf("%s capture round trip: %s", c.Initiator, d)
		}
	}
	cs, err := s.CapturesByVisit(ctxT(t), "visit-every-initiator")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cs {
		got = append(got, c.Initiator)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(model.Initiators()))
	if !slices.Equal(got, want) {
		t.Errorf("CapturesByVisit initiators = %v, want %v", got, want)
	}
}

// bigJSON returns a valid JSON document of about n bytes of incompressible text.
func bigJSON(rng *rand.Rand, n int) json.RawMessage {
	raw := make([]byte, n/2)
	for i := range raw {
		raw[i] = byte(rng.Uint32())
	}
	return json.RawMessage(`{"format":1,"blob":"` + hex.EncodeToString(raw) + `","list":[1,2,3]}`)
}

func randomText(rng *rand.Rand, n int) string {
	raw := make([]byte, n/2)
	for i := range raw {
		raw[i] = byte(rng.Uint32())
	}
	return hex.EncodeToString(raw)
}

// testLongValues stores verdicts, profiles and captures whose unindexed values
// are far larger than any index entry may be (Postgres refuses btree entries
// over ~2.7 KB), with identity keys of the maximum length.
func testLongValues(t *testing.T, s model.Store) {
	ctx := ctxT(t)
	rng := rand.New(rand.NewPCG(1, 2))
	browserKey := "chrome/" + randomText(rng, model.MaxKeyLen-7)
	wireKey := randomText(rng, model.MaxKeyLen)
	ua := "Mozilla/5.0 " + randomText(rng, 20<<10)
	key := strings.Repeat("k", model.MaxIDLen)
	var ids []string
	for i := 0; i < 500; i++ {
		ids = append(ids, fmt.Sprintf("%032x", i))
	}
	v := model.VisitVerdict{
		VisitKey: key, SeenAt: base, EvaluatedAt: base, ClientIP: randomText(rng, 4<<10), UserAgent: ua,
		BrowserKey: browserKey, WireKey: wireKey, Accepted: true, Reason: randomText(rng, 20<<10),
		Details: bigJSON(rng, 200<<10), CaptureIDs: ids, Profile: bigJSON(rng, 200<<10),
	}
	refused := v
	refused.VisitKey, refused.Accepted = strings.Repeat("r", model.MaxIDLen), false
	mustPutVerdicts(t, s, v, refused)
	if d := DiffVerdict(v.Normalized(), mustVerdict(t, s, key)); d != "" {
		t.Errorf("long verdict round trip: %s", d)
	}
	if d := DiffVerdict(refused.Normalized(), mustVerdict(t, s, refused.VisitKey)); d != "" {
		t.Errorf("long refused verdict round trip: %s", d)
	}
	groups, err := s.WireGroups(ctx)
	if err != nil || len(groups) != 1 || groups[0].BrowserKey != browserKey || groups[0].WireKey != wireKey || groups[0].LatestVisit != key || groups[0].Addresses != 1 {
		t.Errorf("WireGroups with long values = %+v, %v", groups, err)
	}

	p := model.Profile{Name: strings.Repeat("p", model.MaxProfileNameLen), Browser: "chrome", Version: "156", Platform: "linux",
		JSON: bigJSON(rng, 200<<10), UpdatedAt: base, Source: model.ProfileCurated, BrowserKey: browserKey, WireKey: wireKey,
		FirstSeen: base, LastSeen: base, Visits: 1, Addresses: 1}
	if err := s.UpsertProfile(ctx, p); err != nil {
		t.Fatalf("UpsertProfile(200 KB document): %v", err)
	}
	if d := DiffProfile(p, mustProfile(t, s, p.Name)); d != "" {
		t.Errorf("long profile round trip: %s", d)
	}

	// A visit whose captures carry a 20 KB user agent is pending like any other.
	c := model.Capture{ID: "long-ua", CreatedAt: base, VisitKey: "long-visit", Initiator: model.InitiatorNavigate, UserAgent: ua}
	mustInsert(t, s, []model.Capture{c}, 1)
	pending, err := s.PendingVisits(ctx, model.PendingQuery{Since: base, SettledBefore: base.Add(time.Second)})
	if err != nil || len(pending) != 1 || pending[0].VisitKey != "long-visit" {
		t.Errorf("PendingVisits = %+v, %v", pending, err)
	}
}
