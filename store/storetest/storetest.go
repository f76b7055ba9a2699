// Package storetest is the conformance suite every storage backend must pass, plus
// a generator of realistic captures for tests and benchmarks.
//
// A backend's test calls Run with a function that opens a fresh, empty store for
// each subtest:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) model.Store { ... })
//	}
//
// The suite only uses the model.Store interface, so one set of expectations covers
// SQLite and Postgres.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/store/model"
)

// Opener returns a fresh, empty store; the suite closes it.
type Opener func(t *testing.T) model.Store

// Run runs every conformance test against stores made by open.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s model.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"Normalization", testNormalization},
		{"Idempotent", testIdempotent},
		{"IDShapes", testIDShapes},
		{"InvalidBatch", testInvalidBatch},
		{"NotFound", testNotFound},
		{"ByVisit", testByVisit},
		{"ByVisitBounded", testByVisitBounded},
		{"FingerprintLookup", testFingerprintLookup},
		{"FingerprintStats", testFingerprintStats},
		{"TopFingerprints", testTopFingerprints},
		{"TopUserAgents", testTopUserAgents},
		{"CaptureTotals", testCaptureTotals},
		{"Profiles", testProfiles},
		{"Retention", testRetention},
		{"ProfileMetadata", testProfileMetadata},
		{"DeleteProfile", testDeleteProfile},
		{"PendingVisits", testPendingVisits},
		{"PendingVisitsLimit", testPendingVisitsLimit},
		{"VisitVerdicts", testVisitVerdicts},
		{"WireGroups", testWireGroups},
		{"VerdictRetention", testVerdictRetention},
		{"WebSocketInitiator", testWebSocketInitiator},
		{"EveryInitiator", testEveryInitiator},
		{"LongValues", testLongValues},
		{"ConcurrentInserts", testConcurrentInserts},
		{"Ping", testPing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// base is a fixed, microsecond-aligned time for deterministic windows.
var base = time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)

// DiffCapture describes how got differs from want ("" when equal): times are
// compared with Equal, everything else exactly; nil and empty byte slices and header
// lists are equal.
func DiffCapture(want, got model.Capture) string {
	var diffs []string
	if !want.CreatedAt.Equal(got.CreatedAt) {
		diffs = append(diffs, fmt.Sprintf("CreatedAt: want %v, got %v", want.CreatedAt, got.CreatedAt))
	}
	want.CreatedAt, got.CreatedAt = time.Time{}, time.Time{}
	for _, p := range []*model.Capture{&want, &got} {
		if len(p.ClientHello) == 0 {
			p.ClientHello = nil
		}
		if len(p.TLSSummary) == 0 {
			p.TLSSummary = nil
		}
		if len(p.H2) == 0 {
			p.H2 = nil
		}
		if len(p.Headers) == 0 {
			p.Headers = nil
		}
	}
	wv, gv := reflect.ValueOf(want), reflect.ValueOf(got)
	for i := 0; i < wv.NumField(); i++ {
		if !reflect.DeepEqual(wv.Field(i).Interface(), gv.Field(i).Interface()) {
			diffs = append(diffs, fmt.Sprintf("%s: want %q, got %q", wv.Type().Field(i).Name,
				fmt.Sprint(wv.Field(i).Interface()), fmt.Sprint(gv.Field(i).Interface())))
		}
	}
	return strings.Join(diffs, "; ")
}

func mustInsert(t *testing.T, s model.Store, batch []model.Capture, wantInserted int64) {
	t.Helper()
	n, err := s.InsertCaptures(ctxT(t), batch)
	if err != nil {
		t.Fatalf("InsertCaptures(%d captures): %v", len(batch), err)
	}
	if n != wantInserted {
		t.Fatalf("InsertCaptures(%d captures) inserted %d, want %d", len(batch), n, wantInserted)
	}
}

func mustGet(t *testing.T, s model.Store, id string) model.Capture {
	t.Helper()
	c, err := s.Capture(ctxT(t), id)
	if err != nil {
		t.Fatalf("Capture(%s): %v", id, err)
	}
	return c
}

// fullCapture has every field set, with values that catch column swaps.
func fullCapture(id string, at time.Time) model.Capture {
	return model.Capture{
		ID: id, CreatedAt: at, VisitKey: "visit-" + id, Initiator: model.InitiatorFetch,
		ClientIP: "203.0.113.0", UserAgent: "UA " + id, Host: "host.example", Method: "POST", Path: "/probe/fetch?x=1",
		HTTPVersion: "2", TLSVersion: "1.3", SNI: "sni.example", ALPN: "h2",
		ClientHello: []byte{0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0xff},
		TLSSummary:  json.RawMessage(`{"z":1,"a":[3,2,1],"m":{"y":true,"b":null}}`),
		Headers: []model.HeaderPair{
			{Name: ":method", Value: "POST"}, {Name: ":authority", Value: "host.example"},
			{Name: "X-Dup", Value: "1"}, {Name: "x-dup", Value: "2"}, {Name: "X-Dup", Value: "3"},
			{Name: "Content-Type", Value: `text/plain; charset="utf-8"`}, {Name: "X-Html", Value: "<a href='x'>&amp;</a>\t\\"},
		},
		H2:  json.RawMessage(`{"settings":[[1,65536],[4,6291456]],"window_update":15663105}`),
		JA3: "ja3-" + id, JA3Hash: "ja3h-" + id, JA3N: "ja3n-" + id, JA3NHash: "ja3nh-" + id,
		JA4: "ja4-" + id, JA4R: "ja4r-" + id, JA4O: "ja4o-" + id, JA4RO: "ja4ro-" + id,
		PeetPrint: "peet-" + id, PeetPrintHash: "peeth-" + id, Akamai: "akamai-" + id, AkamaiHash: "akamaih-" + id,
		HeaderOrder: "ho-" + id, HeaderOrderHash: "hoh-" + id,
		QUICTP: "qtp-" + id, QUICTPHash: "qtph-" + id,
	}
}

// h3Capture is an HTTP/3 capture as fpserver stores it: the bare QUIC
// ClientHello, the QUIC part of the TLS summary, the HTTP/3 document as
// the protocol document, a stream id and the transport-parameters
// fingerprint.
func h3Capture(id string, at time.Time) model.Capture {
	c := fullCapture(id, at)
	c.HTTPVersion, c.ALPN, c.StreamID = "3", "h3", 8
	c.ClientHello = []byte{0x01, 0x00, 0x00, 0x02, 0x03, 0x03}
	c.TLSSummary = json.RawMessage(`{"sni":"sni.example","quic":{"version":"0x00000001","negotiated_version":"0x00000001","initial_packets":2}}`)
	c.H2 = json.RawMessage(`{"stream_id":0,"settings":[{"id":1,"name":"SETTINGS_QPACK_MAX_TABLE_CAPACITY","value":65536},{"id":6,"value":262144}],"settings_seen":true,"uni_streams":[0,2,3],"priority":"u=0, i","pseudo_order":[":method",":authority",":scheme",":path"]}`)
	c.QUICTP, c.QUICTPHash = "1-3-4_1:30000", "0123456789ab"
	return c
}

func testRoundTrip(t *testing.T, s model.Store) {
	full := fullCapture("c1", base.Add(123456*time.Nanosecond))
	minimal := model.Capture{ID: "c2", CreatedAt: base, Initiator: model.InitiatorAPI}
	gen := NewGenerator(1, base, time.Millisecond).Batch(3)
	batch := append([]model.Capture{full, minimal, h3Capture("c3", base.Add(time.Second))}, gen...)
	mustInsert(t, s, batch, int64(len(batch)))
	for _, c := range batch {
		got := mustGet(t, s, c.ID)
		if d := DiffCapture(c.Normalized(), got); d != "" {
			t.Errorf("capture %s round trip: %s", c.ID, d)
		}
	}
	got := mustGet(t, s, "c1")
	if got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt location %v, want UTC", got.CreatedAt.Location())
	}
	if want := base.Add(123 * time.Microsecond); !got.CreatedAt.Equal(want) {
		t.Errorf("CreatedAt %v, want %v (truncated to µs)", got.CreatedAt, want)
	}
	// Header order, casing and duplicates survive exactly.
	if !reflect.DeepEqual(got.Headers, full.Headers) {
		t.Errorf("headers: got %q, want %q", got.Headers, full.Headers)
	}
	// JSON documents are stored verbatim: key order kept.
	if !bytes.Equal(got.TLSSummary, full.TLSSummary) {
		t.Errorf("TLSSummary: got %s, want %s", got.TLSSummary, full.TLSSummary)
	}
	m := mustGet(t, s, "c2")
	if m.ClientHello != nil || m.TLSSummary != nil || m.H2 != nil || m.Headers != nil {
		t.Errorf("minimal capture read back with non-nil optional fields: %+v", m)
	}
}

// testIDShapes stores captures whose ids have the shape of
// model.NewCaptureID (32 lowercase hex characters, which a backend may
// store packed) and near misses of it, each of which must stay a capture of
// its own, read back by its id exactly, idempotent on a replay, and ordered
// by id among captures of one visit at one time.
func testIDShapes(t *testing.T, s model.Store) {
	hexID := model.NewCaptureID(base)
	ids := []string{
		hexID, strings.ToUpper(hexID), hexID[:31], hexID + "0", hexID[:31] + "g", hexID[:31] + "A",
		"0" + hexID[:30] + "-", strings.Repeat("f", 32), strings.Repeat("0", 32), "x",
	}
	var batch []model.Capture
	for _, id := range ids {
		c := fullCapture(id, base)
		c.VisitKey = "shapes"
		batch = append(batch, c)
	}
	mustInsert(t, s, batch, int64(len(batch)))
	mustInsert(t, s, batch, 0)
	for _, c := range batch {
		if d := DiffCapture(c.Normalized(), mustGet(t, s, c.ID)); d != "" {
			t.Errorf("capture %q: %s", c.ID, d)
		}
	}
	other := hexID[:31] + "0"
	if hexID[31] == '0' {
		other = hexID[:31] + "1"
	}
	if _, err := s.Capture(ctxT(t), other); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("Capture(%s), never stored: %v, want ErrNotFound", other, err)
	}
	got, err := s.CapturesByVisit(ctxT(t), "shapes")
	if err != nil {
		t.Fatal(err)
	}
	var gotIDs []string
	for _, c := range got {
		gotIDs = append(gotIDs, c.ID)
	}
	want := append([]string(nil), ids...)
	sort.Strings(want)
	if !reflect.DeepEqual(gotIDs, want) {
		t.Errorf("captures of one visit at one time: %q, want them by id %q", gotIDs, want)
	}
}

func testNormalization(t *testing.T, s model.Store) {
	c := model.Capture{
		ID: "bad-text", CreatedAt: base, Initiator: model.InitiatorNavigate,
		UserAgent:  "Mozilla\x00/5.0 \xff\xfe",
		Path:       "/\xc3(",
		Headers:    []model.HeaderPair{{Name: "X-Bin\xff", Value: "a\x00b"}},
		TLSSummary: json.RawMessage("{\"s\":\"\xff\"}"),
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	mustInsert(t, s, []model.Capture{c}, 1)
	got := mustGet(t, s, c.ID)
	want := c.Normalized()
	if d := DiffCapture(want, got); d != "" {
		t.Errorf("normalized round trip: %s", d)
	}
	if got.UserAgent != "Mozilla\uFFFD/5.0 \uFFFD" {
		t.Errorf("UserAgent %q: NUL and invalid UTF-8 not replaced", got.UserAgent)
	}
	if !json.Valid(got.TLSSummary) {
		t.Errorf("TLSSummary %q is not valid JSON after repair", got.TLSSummary)
	}
}

func testIdempotent(t *testing.T, s model.Store) {
	g := NewGenerator(2, base, time.Millisecond)
	batch := g.Batch(250)
	mustInsert(t, s, batch, 250)
	// Retrying the same batch stores nothing new.
	mustInsert(t, s, batch, 0)
	// A batch overlapping the stored one, with a duplicate inside itself.
	more := g.Batch(10)
	overlap := append(append([]model.Capture{}, batch[100:110]...), more...)
	overlap = append(overlap, more[3])
	mustInsert(t, s, overlap, 10)
	total := countAll(t, s)
	if total != 260 {
		t.Fatalf("stored %d captures, want 260", total)
	}
	// A retried capture with changed content does not overwrite the first write.
	changed := batch[0]
	changed.UserAgent = "changed"
	mustInsert(t, s, []model.Capture{changed}, 0)
	if got := mustGet(t, s, batch[0].ID); got.UserAgent != batch[0].UserAgent {
		t.Errorf("duplicate insert overwrote user agent: %q", got.UserAgent)
	}
	// Empty batch.
	mustInsert(t, s, nil, 0)
}

// countAll counts stored captures using only the Store interface: the sum of the
// per-user-agent counts over all time. Only valid when every capture has a user
// agent (generated captures do) and there are at most model.MaxLimit agents.
func countAll(t *testing.T, s model.Store) int64 {
	t.Helper()
	uas, err := s.TopUserAgents(ctxT(t), model.TimeWindow{}, model.MaxLimit)
	if err != nil {
		t.Fatalf("TopUserAgents: %v", err)
	}
	var n int64
	for _, u := range uas {
		n += u.Count
	}
	return n
}

func testInvalidBatch(t *testing.T, s model.Store) {
	good := fullCapture("ok1", base)
	cases := map[string]model.Capture{
		"empty id":         {CreatedAt: base, Initiator: model.InitiatorAPI},
		"bad id char":      {ID: "a b", CreatedAt: base, Initiator: model.InitiatorAPI},
		"long id":          {ID: strings.Repeat("a", model.MaxIDLen+1), CreatedAt: base, Initiator: model.InitiatorAPI},
		"zero time":        {ID: "z", Initiator: model.InitiatorAPI},
		"bad initiator":    {ID: "i", CreatedAt: base, Initiator: "bot"},
		"bad tls json":     {ID: "j", CreatedAt: base, Initiator: model.InitiatorAPI, TLSSummary: json.RawMessage(`{"a":`)},
		"bad h2 json":      {ID: "k", CreatedAt: base, Initiator: model.InitiatorAPI, H2: json.RawMessage(`nope`)},
		"year before 1970": {ID: "y", CreatedAt: time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC), Initiator: model.InitiatorAPI},
	}
	names := make([]string, 0, len(cases))
	for name := range cases {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		n, err := s.InsertCaptures(ctxT(t), []model.Capture{good, cases[name]})
		if !errors.Is(err, model.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
		if n != 0 {
			t.Errorf("%s: inserted %d", name, n)
		}
	}
	// Nothing of the rejected batches was written.
	if _, err := s.Capture(ctxT(t), good.ID); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("valid capture of a rejected batch was stored (err=%v)", err)
	}
}

func testNotFound(t *testing.T, s model.Store) {
	ctx := ctxT(t)
	if _, err := s.Capture(ctx, "nope"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("Capture(unknown) err = %v, want ErrNotFound", err)
	}
	if _, err := s.Capture(ctx, "bad id!"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("Capture(malformed id) err = %v, want ErrNotFound", err)
	}
	if _, err := s.Profile(ctx, "nope"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("Profile(unknown) err = %v, want ErrNotFound", err)
	}
	if _, _, err := s.CapturesByFingerprint(ctx, model.FingerprintQuery{Hash: "t13d0000h2_000000000000_000000000000"}); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("CapturesByFingerprint(unknown) err = %v, want ErrNotFound", err)
	}
	if _, err := s.FingerprintStats(ctx, model.FingerprintQuery{Hash: "deadbeef"}); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("FingerprintStats(unknown) err = %v, want ErrNotFound", err)
	}
	if _, err := s.FingerprintStats(ctx, model.FingerprintQuery{Hash: ""}); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("FingerprintStats(empty) err = %v, want ErrInvalid", err)
	}
	if _, err := s.FingerprintStats(ctx, model.FingerprintQuery{Hash: "x", Kind: "ja4; DROP TABLE captures"}); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("FingerprintStats(bad kind) err = %v, want ErrInvalid", err)
	}
	if _, err := s.TopFingerprints(ctx, "user_agent", model.TimeWindow{}, 10); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("TopFingerprints(bad kind) err = %v, want ErrInvalid", err)
	}
	got, err := s.CapturesByVisit(ctx, "no-such-visit")
	if err != nil || len(got) != 0 {
		t.Errorf("CapturesByVisit(unknown) = %d captures, %v; want none", len(got), err)
	}
}

func testByVisit(t *testing.T, s model.Store) {
	mk := func(id, visit string, at time.Duration) model.Capture {
		return model.Capture{ID: id, CreatedAt: base.Add(at), VisitKey: visit, Initiator: model.InitiatorNavigate, UserAgent: "ua"}
	}
	// Inserted out of order; b2 and b3 share a timestamp (tie broken by id).
	batch := []model.Capture{
		mk("b3", "visit-b", 2*time.Second), mk("a1", "visit-a", 0), mk("b1", "visit-b", 0),
		mk("b2", "visit-b", 2*time.Second), mk("b0", "visit-b", -time.Second), mk("n1", "", 0),
	}
	mustInsert(t, s, batch, int64(len(batch)))
	got, err := s.CapturesByVisit(ctxT(t), "visit-b")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range got {
		ids = append(ids, c.ID)
	}
	if want := []string{"b0", "b1", "b2", "b3"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("CapturesByVisit order %v, want %v", ids, want)
	}
	if _, err := s.CapturesByVisit(ctxT(t), ""); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("CapturesByVisit(\"\") err = %v, want ErrInvalid", err)
	}
}

// testByVisitBounded checks that CapturesByVisit returns at most
// model.MaxVisitCaptures captures, the earliest ones, however many a visit has.
func testByVisitBounded(t *testing.T, s model.Store) {
	n := model.MaxVisitCaptures + 50
	batch := make([]model.Capture, n)
	for i := range batch {
		batch[i] = model.Capture{ID: fmt.Sprintf("v%04d", i), CreatedAt: base.Add(time.Duration(n-i) * time.Millisecond),
			VisitKey: "big-visit", Initiator: model.InitiatorFetch}
	}
	mustInsert(t, s, batch, int64(n))
	got, err := s.CapturesByVisit(ctxT(t), "big-visit")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != model.MaxVisitCaptures {
		t.Fatalf("CapturesByVisit returned %d captures, want %d", len(got), model.MaxVisitCaptures)
	}
	// The latest inserted are the earliest in time.
	if got[0].ID != fmt.Sprintf("v%04d", n-1) || got[len(got)-1].ID != fmt.Sprintf("v%04d", n-model.MaxVisitCaptures) {
		t.Errorf("CapturesByVisit returned %s..%s, want the earliest", got[0].ID, got[len(got)-1].ID)
	}
}

// kindCaptures stores one capture per fingerprint kind, each value unique to its kind.
func kindCaptures(t *testing.T, s model.Store) map[model.FingerprintKind]string {
	t.Helper()
	values := map[model.FingerprintKind]string{}
	var batch []model.Capture
	for i, k := range model.Kinds() {
		c := model.Capture{ID: fmt.Sprintf("k%d", i), CreatedAt: base.Add(time.Duration(i) * time.Second), Initiator: model.InitiatorAPI, UserAgent: "ua"}
		v := "value-for-" + string(k)
		switch k {
		case model.KindJA4:
			c.JA4 = v
		case model.KindJA4R:
			c.JA4R = v
		case model.KindJA3Hash:
			c.JA3Hash = v
		case model.KindJA3NHash:
			c.JA3NHash = v
		case model.KindAkamaiHash:
			c.AkamaiHash = v
		case model.KindPeetPrintHash:
			c.PeetPrintHash = v
		case model.KindHeaderOrderHash:
			c.HeaderOrderHash = v
		case model.KindQUICTPHash:
			c.QUICTPHash = v
		}
		if c.Value(k) != v {
			t.Fatalf("Capture.Value(%s) does not read the field set for it", k)
		}
		values[k] = v
		batch = append(batch, c)
	}
	mustInsert(t, s, batch, int64(len(batch)))
	return values
}

func testFingerprintLookup(t *testing.T, s model.Store) {
	ctx := ctxT(t)
	values := kindCaptures(t, s)
	for _, k := range model.Kinds() {
		cs, kind, err := s.CapturesByFingerprint(ctx, model.FingerprintQuery{Hash: values[k]})
		if err != nil {
			t.Errorf("lookup %s: %v", k, err)
			continue
		}
		if kind != k || len(cs) != 1 || cs[0].Value(k) != values[k] {
			t.Errorf("lookup %s: kind %s, %d captures", k, kind, len(cs))
		}
		// Restricting to another kind finds nothing.
		other := model.KindJA4
		if k == model.KindJA4 {
			other = model.KindJA4R
		}
		if _, _, err := s.CapturesByFingerprint(ctx, model.FingerprintQuery{Hash: values[k], Kind: other}); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("lookup %s as %s: err = %v, want ErrNotFound", k, other, err)
		}
	}

	// A value present under two kinds resolves to the earlier kind in Kinds().
	both := model.Capture{ID: "both", CreatedAt: base, Initiator: model.InitiatorAPI, JA3Hash: "same", JA3NHash: "same"}
	mustInsert(t, s, []model.Capture{both}, 1)
	if _, kind, err := s.CapturesByFingerprint(ctx, model.FingerprintQuery{Hash: "same"}); err != nil || kind != model.KindJA3Hash {
		t.Errorf("ambiguous value resolved to %q (%v), want ja3_hash", kind, err)
	}
	if _, kind, err := s.CapturesByFingerprint(ctx, model.FingerprintQuery{Hash: "same", Kind: model.KindJA3NHash}); err != nil || kind != model.KindJA3NHash {
		t.Errorf("explicit kind: got %q (%v)", kind, err)
	}

	// Paging: newest first, ties by id descending, Before is exclusive.
	var page []model.Capture
	for i := 0; i < 7; i++ {
		page = append(page, model.Capture{ID: fmt.Sprintf("p%d", i), CreatedAt: base.Add(time.Duration(i/2) * time.Minute), Initiator: model.InitiatorAPI, JA4: "paged"})
	}
	mustInsert(t, s, page, 7)
	first, _, err := s.CapturesByFingerprint(ctx, model.FingerprintQuery{Hash: "paged", Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(first); !reflect.DeepEqual(got, []string{"p6", "p5", "p4"}) {
		t.Errorf("first page %v, want [p6 p5 p4]", got)
	}
	rest, _, err := s.CapturesByFingerprint(ctx, model.FingerprintQuery{Hash: "paged", Limit: 10, Before: first[len(first)-1].CreatedAt})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(rest); !reflect.DeepEqual(got, []string{"p3", "p2", "p1", "p0"}) {
		t.Errorf("second page %v, want [p3 p2 p1 p0]", got)
	}
	// Empty values are never matched.
	if _, err := s.FingerprintStats(ctx, model.FingerprintQuery{Hash: "x", Kind: model.KindAkamaiHash}); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("unknown akamai hash: err = %v", err)
	}
}

func ids(cs []model.Capture) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func testFingerprintStats(t *testing.T, s model.Store) {
	ctx := ctxT(t)
	var batch []model.Capture
	add := func(ua, visit string, at time.Duration) {
		batch = append(batch, model.Capture{
			ID: fmt.Sprintf("s%d", len(batch)), CreatedAt: base.Add(at), Initiator: model.InitiatorNavigate,
			UserAgent: ua, VisitKey: visit, JA4: "t13d1516h2_8daaf6152771_e5627efa2ab1", AkamaiHash: "ak1",
		})
	}
	for i := 0; i < 5; i++ {
		add("Chrome", fmt.Sprintf("v%d", i%3), time.Duration(i)*time.Hour)
	}
	add("Firefox", "v9", 10*time.Hour)
	add("Firefox", "", -time.Hour)
	add("Brave", "", 3*time.Hour)
	add("Arc", "", 4*time.Hour)
	add("", "", 5*time.Hour) // counted, but no user agent to rank
	// Noise with other values.
	batch = append(batch, model.Capture{ID: "noise", CreatedAt: base.Add(100 * time.Hour), Initiator: model.InitiatorAPI, UserAgent: "Chrome", JA4: "other"})
	mustInsert(t, s, batch, int64(len(batch)))

	st, err := s.FingerprintStats(ctx, model.FingerprintQuery{Hash: "t13d1516h2_8daaf6152771_e5627efa2ab1", Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if st.Kind != model.KindJA4 || st.Count != 10 || st.Visits != 4 {
		t.Errorf("stats kind=%s count=%d visits=%d, want ja4 10 4", st.Kind, st.Count, st.Visits)
	}
	if !st.FirstSeen.Equal(base.Add(-time.Hour)) || !st.LastSeen.Equal(base.Add(10*time.Hour)) {
		t.Errorf("first/last seen %v / %v", st.FirstSeen, st.LastSeen)
	}
	want := []model.UserAgentCount{{UserAgent: "Chrome", Count: 5}, {UserAgent: "Firefox", Count: 2}, {UserAgent: "Arc", Count: 1}}
	if !reflect.DeepEqual(st.TopUserAgents, want) {
		t.Errorf("top user agents %+v, want %+v", st.TopUserAgents, want)
	}
	ak, err := s.FingerprintStats(ctx, model.FingerprintQuery{Hash: "ak1"})
	if err != nil || ak.Kind != model.KindAkamaiHash || ak.Count != 10 || len(ak.TopUserAgents) != 4 {
		t.Errorf("akamai stats %+v, %v", ak, err)
	}
	wantDays := map[time.Time]int64{}
	for _, c := range batch[:10] {
		wantDays[c.CreatedAt.UTC().Truncate(24*time.Hour)]++
	}
	checkDays(t, "ja4", st.Days, wantDays)

	// Per-day counts cover the StatsDays days up to the last one.
	last := time.Date(2026, 3, 20, 15, 0, 0, 0, time.UTC)
	var spread []model.Capture
	wantDays = map[time.Time]int64{}
	for i, back := range []int{0, 0, 1, 5, 89, 90, 200} {
		at := last.AddDate(0, 0, -back).Add(-time.Duration(i) * time.Minute)
		spread = append(spread, model.Capture{ID: fmt.Sprintf("d%d", i), CreatedAt: at, Initiator: model.InitiatorAPI, JA4: "t13d0000h2_000000000000_days00000000"})
		if back < model.StatsDays {
			wantDays[at.Truncate(24*time.Hour)]++
		}
	}
	mustInsert(t, s, spread, int64(len(spread)))
	ds, err := s.FingerprintStats(ctx, model.FingerprintQuery{Hash: "t13d0000h2_000000000000_days00000000", Kind: model.KindJA4})
	if err != nil || ds.Count != 7 {
		t.Fatalf("spread stats %+v, %v", ds, err)
	}
	checkDays(t, "spread", ds.Days, wantDays)
}

// checkDays compares FingerprintStats.Days with want (day -> count).
func checkDays(t *testing.T, what string, got []model.DayCount, want map[time.Time]int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d days %+v, want %d %v", what, len(got), got, len(want), want)
		return
	}
	for i, d := range got {
		if i > 0 && !got[i-1].Day.Before(d.Day) {
			t.Errorf("%s: days not oldest first: %+v", what, got)
		}
		if want[d.Day] != d.Count || d.Day.Location() != time.UTC {
			t.Errorf("%s: day %v count %d, want %d", what, d.Day, d.Count, want[d.Day])
		}
	}
}

func testTopFingerprints(t *testing.T, s model.Store) {
	ctx := ctxT(t)
	var batch []model.Capture
	add := func(ja4 string, at time.Duration) {
		batch = append(batch, model.Capture{ID: fmt.Sprintf("t%d", len(batch)), CreatedAt: base.Add(at), Initiator: model.InitiatorNavigate, JA4: ja4, UserAgent: "ua"})
	}
	for i := 0; i < 4; i++ {
		add("aaa", time.Duration(i)*time.Minute)
	}
	for i := 0; i < 3; i++ {
		add("bbb", time.Duration(i)*time.Minute)
	}
	for i := 0; i < 3; i++ {
		add("abb", time.Duration(i)*time.Minute) // ties with bbb: ordered by value
	}
	add("ccc", 0)
	add("", 0) // empty values are not counted
	for i := 0; i < 10; i++ {
		add("old", -48*time.Hour) // outside the window
	}
	add("aaa", time.Hour) // at Until: excluded (half-open)
	mustInsert(t, s, batch, int64(len(batch)))

	w := model.TimeWindow{Since: base, Until: base.Add(time.Hour)}
	top, err := s.TopFingerprints(ctx, model.KindJA4, w, 3)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Hash  string
		Count int64
	}
	var got []row
	for _, f := range top {
		got = append(got, row{f.Hash, f.Count})
	}
	if want := []row{{"aaa", 4}, {"abb", 3}, {"bbb", 3}}; !reflect.DeepEqual(got, want) {
		t.Errorf("top fingerprints %v, want %v", got, want)
	}
	if len(top) > 0 && (!top[0].FirstSeen.Equal(base) || !top[0].LastSeen.Equal(base.Add(3*time.Minute))) {
		t.Errorf("aaa first/last %v / %v", top[0].FirstSeen, top[0].LastSeen)
	}
	all, err := s.TopFingerprints(ctx, model.KindJA4, model.TimeWindow{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 5 || all[0].Hash != "old" || all[0].Count != 10 || all[1].Count != 5 {
		t.Errorf("unbounded top fingerprints %+v", all)
	}
	none, err := s.TopFingerprints(ctx, model.KindAkamaiHash, w, 10)
	if err != nil || len(none) != 0 {
		t.Errorf("top akamai (all empty) = %+v, %v", none, err)
	}
}

func testTopUserAgents(t *testing.T, s model.Store) {
	var batch []model.Capture
	add := func(ua string, at time.Duration) {
		batch = append(batch, model.Capture{ID: fmt.Sprintf("u%d", len(batch)), CreatedAt: base.Add(at), Initiator: model.InitiatorNavigate, UserAgent: ua})
	}
	add("B", 0)
	add("B", 0)
	add("A", 0)
	add("A", 0)
	add("C", time.Second)
	add("", 0)
	add("Z", -time.Second)
	mustInsert(t, s, batch, int64(len(batch)))
	got, err := s.TopUserAgents(ctxT(t), model.TimeWindow{Since: base}, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []model.UserAgentCount{{UserAgent: "A", Count: 2}, {UserAgent: "B", Count: 2}, {UserAgent: "C", Count: 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("TopUserAgents = %+v, want %+v", got, want)
	}
}

func testProfiles(t *testing.T, s model.Store) {
	ctx := ctxT(t)
	doc := json.RawMessage(`{"format":1,"name":"chrome-156-linux","h1":{"navigate":[["Host",""],["User-Agent","x"]]},"z":0,"a":1}`)
	p := model.Profile{Name: "chrome-156-linux", Browser: "chrome", Version: "156", Platform: "linux", JSON: doc, UpdatedAt: base.Add(999 * time.Nanosecond)}
	if err := s.UpsertProfile(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, err := s.Profile(ctx, p.Name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.JSON, doc) || got.Browser != "chrome" || got.Version != "156" || got.Platform != "linux" || !got.UpdatedAt.Equal(base) {
		t.Errorf("Profile = %+v (json %s)", got, got.JSON)
	}
	// Upsert replaces.
	doc2 := json.RawMessage(`{"format":1,"name":"chrome-156-linux","v":2}`)
	p.Version, p.JSON, p.UpdatedAt = "156.1", doc2, time.Time{}
	before := time.Now().Add(-time.Second)
	if err := s.UpsertProfile(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, err = s.Profile(ctx, p.Name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.JSON, doc2) || got.Version != "156.1" || got.UpdatedAt.Before(before) {
		t.Errorf("after upsert: %+v (json %s)", got, got.JSON)
	}
	for _, n := range []string{"zeta", "alpha", "Émile"} {
		if err := s.UpsertProfile(ctx, model.Profile{Name: n, Browser: "firefox", JSON: json.RawMessage(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.ListProfiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range list {
		names = append(names, p.Name)
	}
	// Byte order (the C collation) in both backends.
	if want := []string{"alpha", "chrome-156-linux", "zeta", "Émile"}; !reflect.DeepEqual(names, want) {
		t.Errorf("ListProfiles order %q, want %q", names, want)
	}
	for name, bad := range map[string]model.Profile{
		"empty name":   {JSON: json.RawMessage(`{}`)},
		"invalid json": {Name: "x", JSON: json.RawMessage(`{`)},
		"no json":      {Name: "x"},
		"long name":    {Name: strings.Repeat("n", model.MaxProfileNameLen+1), JSON: json.RawMessage(`{}`)},
	} {
		if err := s.UpsertProfile(ctx, bad); !errors.Is(err, model.ErrInvalid) {
			t.Errorf("UpsertProfile(%s) err = %v, want ErrInvalid", name, err)
		}
	}
}

func testRetention(t *testing.T, s model.Store) {
	ctx := ctxT(t)
	g := NewGenerator(3, base.Add(-10*24*time.Hour), time.Second)
	old := g.Batch(340) // 340 s starting 10 days ago
	recent := NewGenerator(4, base, time.Second).Batch(60)
	mustInsert(t, s, append(old, recent...), 400)
	cutoff := base.Add(-24 * time.Hour)
	n, err := s.DeleteCapturesBefore(ctx, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	if n != 340 {
		t.Errorf("deleted %d, want 340", n)
	}
	if total := countAll(t, s); total != 60 {
		t.Errorf("%d captures left, want 60", total)
	}
	if _, err := s.Capture(ctx, old[0].ID); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("old capture still readable: %v", err)
	}
	mustGet(t, s, recent[0].ID)
	// The cutoff is exclusive.
	n, err = s.DeleteCapturesBefore(ctx, recent[10].CreatedAt)
	if err != nil || n != 10 {
		t.Errorf("second delete = %d, %v; want 10", n, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.DeleteCapturesBefore(cctx, base.Add(time.Hour)); err == nil {
		t.Error("DeleteCapturesBefore with a cancelled context succeeded")
	}
}

func testConcurrentInserts(t *testing.T, s model.Store) {
	g := NewGenerator(5, base, time.Millisecond)
	all := g.Batch(600)
	// Four writers insert overlapping windows of the same captures at once.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var inserted int64
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			lo := w * 100
			for off := lo; off < lo+300; off += 50 {
				n, err := s.InsertCaptures(ctxT(t), all[off:off+50])
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				inserted += n
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent insert: %v", err)
	}
	if inserted != 600 {
		t.Errorf("writers report %d inserted, want 600", inserted)
	}
	if total := countAll(t, s); total != 600 {
		t.Errorf("stored %d, want 600", total)
	}
}

func testPing(t *testing.T, s model.Store) {
	if err := s.Ping(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

// testCaptureTotals: captures, distinct connections and distinct visits,
// within a window and overall.
func testCaptureTotals(t *testing.T, s model.Store) {
	ctx := context.Background()
	base := time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)
	g := NewGenerator(41, base, time.Minute)
	a := g.Next()
	a.VisitKey = "visit-a"
	b := g.Next()
	b.VisitKey = ""
	var cs []model.Capture
	cs = append(cs, KeepAlive(a, 3, time.Second)...) // one connection, one visit
	cs = append(cs, KeepAlive(b, 2, time.Second)...) // another, no visit
	c := g.Next()                                    // a third, later, its own visit
	c.CreatedAt = base.Add(time.Hour)
	c.VisitKey = "visit-c"
	cs = append(cs, c)
	if _, err := s.InsertCaptures(ctx, cs); err != nil {
		t.Fatal(err)
	}
	got, err := s.CaptureTotals(ctx, model.TimeWindow{})
	if err != nil {
		t.Fatal(err)
	}
	if want := (model.Totals{Captures: 6, Connections: 3, Visits: 2}); got != want {
		t.Errorf("totals = %+v, want %+v", got, want)
	}
	got, err = s.CaptureTotals(ctx, model.TimeWindow{Since: base.Add(30 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if want := (model.Totals{Captures: 1, Connections: 1, Visits: 1}); got != want {
		t.Errorf("totals since +30m = %+v, want %+v", got, want)
	}
	got, err = s.CaptureTotals(ctx, model.TimeWindow{Until: base})
	if err != nil || got != (model.Totals{}) {
		t.Errorf("totals before the first = %+v, %v", got, err)
	}
}
