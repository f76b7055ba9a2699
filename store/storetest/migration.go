package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/store/model"
)

// LegacyValues returns c (normalized) as a row of the old captures table,
// in the order of model.LegacyColumns:
// created_at as a time.Time (the backend converts it to its column type),
// JSON documents and the header list as text, empty documents as nil.
func LegacyValues(c model.Capture) []any {
	c = c.Normalized()
	doc := func(b []byte) any {
		if len(b) == 0 {
			return nil
		}
		return string(b)
	}
	var hello any
	if len(c.ClientHello) > 0 {
		hello = c.ClientHello
	}
	return []any{
		c.ID, c.CreatedAt, c.VisitKey, c.Initiator, c.ClientIP, c.UserAgent, c.Host, c.Method, c.Path,
		c.HTTPVersion, c.TLSVersion, c.SNI, c.ALPN, hello, doc(c.TLSSummary), string(model.EncodeHeaders(c.Headers)), doc(c.H2),
		c.JA3, c.JA3Hash, c.JA3N, c.JA3NHash, c.JA4, c.JA4R, c.JA4O, c.JA4RO,
		c.PeetPrint, c.PeetPrintHash, c.Akamai, c.AkamaiHash, c.HeaderOrder, c.HeaderOrderHash,
	}
}

// MigrationCaptures returns captures for the migration test: single
// requests on connections of their own and keep-alive runs crossing the
// conversion's chunks, over two days.
func MigrationCaptures() []model.Capture {
	start := time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC)
	g := NewGenerator(77, start, 3*time.Second)
	var cs []model.Capture
	for len(cs) < 4500 {
		if len(cs)%3 == 0 {
			cs = append(cs, KeepAlive(g.Next(), 250, 10*time.Millisecond)...)
		} else {
			cs = append(cs, g.Batch(100)...)
		}
	}
	return cs
}

// CheckMigrated compares every read of migrated (a database filled with cs
// under the schema before 0004, then opened, which converted it) with fresh
// (an empty database of the current schema into which the test inserts cs
// as the conversion sees them): captures by ID and by visit, lookups and
// statistics by every fingerprint kind, the population views and the
// curation queries must give identical answers.
func CheckMigrated(t *testing.T, migrated, fresh model.Store, cs []model.Capture) {
	t.Helper()
	ctx := context.Background()
	as := make([]model.Capture, len(cs))
	for i := range cs {
		as[i] = cs[i]
		as[i].ConnID, as[i].StreamID = "", 0
		model.PrepareLegacy(&as[i])
	}
	if _, err := fresh.InsertCaptures(ctx, as); err != nil {
		t.Fatal(err)
	}
	CompareReads(t, migrated, fresh, as)
}

// CompareReads compares every read of migrated (a database holding cs,
// converted or migrated from an older schema) with fresh (a database of the
// current schema into which cs were inserted): captures by ID (also against
// cs themselves, normalized) and by visit, lookups and statistics by every
// fingerprint kind, the population views and the curation queries must give
// identical answers.
func CompareReads(t *testing.T, migrated, fresh model.Store, as []model.Capture) {
	t.Helper()
	ctx := context.Background()
	same := func(what string, a, b any, errA, errB error) {
		t.Helper()
		if errA != nil || errB != nil {
			t.Fatalf("%s: migrated: %v, fresh: %v", what, errA, errB)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("%s differs:\nmigrated: %+v\nfresh:    %+v", what, a, b)
		}
	}
	visits := map[string]bool{}
	values := map[model.FingerprintKind]map[string]bool{}
	for _, k := range model.Kinds() {
		values[k] = map[string]bool{}
	}
	last := time.Time{}
	for i := range as {
		c := &as[i]
		a, errA := migrated.Capture(ctx, c.ID)
		b, errB := fresh.Capture(ctx, c.ID)
		same("capture "+c.ID, a, b, errA, errB)
		want := c.Normalized()
		want.ConnID = ""
		if !reflect.DeepEqual(a, want) {
			t.Fatalf("migrated capture %s differs from what was stored:\n got %+v\nwant %+v", c.ID, a, want)
		}
		if c.VisitKey != "" {
			visits[c.VisitKey] = true
		}
		for _, k := range model.Kinds() {
			if v := c.Value(k); v != "" && len(values[k]) < 25 {
				values[k][v] = true
			}
		}
		if c.CreatedAt.After(last) {
			last = c.CreatedAt
		}
	}
	for v := range visits {
		a, errA := migrated.CapturesByVisit(ctx, v)
		b, errB := fresh.CapturesByVisit(ctx, v)
		same("captures by visit "+v, a, b, errA, errB)
	}
	for k, vs := range values {
		for v := range vs {
			for _, kind := range []model.FingerprintKind{k, ""} {
				q := model.FingerprintQuery{Hash: v, Kind: kind, Limit: 1000}
				a, ka, errA := migrated.CapturesByFingerprint(ctx, q)
				b, kb, errB := fresh.CapturesByFingerprint(ctx, q)
				same("captures by "+string(k)+" "+v, a, b, errA, errB)
				same("kind of "+v, ka, kb, nil, nil)
				sa, errA := migrated.FingerprintStats(ctx, q)
				sb, errB := fresh.FingerprintStats(ctx, q)
				same("stats of "+string(k)+" "+v, sa, sb, errA, errB)
			}
		}
	}
	for _, w := range []model.TimeWindow{{}, {Since: last.Add(-3 * time.Hour), Until: last}} {
		for _, k := range model.Kinds() {
			a, errA := migrated.TopFingerprints(ctx, k, w, 50)
			b, errB := fresh.TopFingerprints(ctx, k, w, 50)
			same("top "+string(k), a, b, errA, errB)
		}
		a, errA := migrated.TopUserAgents(ctx, w, 50)
		b, errB := fresh.TopUserAgents(ctx, w, 50)
		same("top user agents", a, b, errA, errB)
	}
	pq := model.PendingQuery{SettledBefore: last.Add(time.Hour), Limit: 1000}
	pa, errA := migrated.PendingVisits(ctx, pq)
	pb, errB := fresh.PendingVisits(ctx, pq)
	same("pending visits", pa, pb, errA, errB)
	if len(pa) == 0 {
		t.Fatal("no pending visits: the comparison checked nothing")
	}
}
