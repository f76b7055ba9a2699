package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/fingerprint"
	"github.com/guanaco-fp/guanaco/store"
)

// TestReadYourWrite: a capture answered as queued is readable at its URL
// before the writer has stored it.
func TestReadYourWrite(t *testing.T) {
	e := newEnv(t, nil)
	e.sink.hold = true
	w := e.do("GET", "https://fp.example/api/fingerprint", nil, nil)
	var rep struct {
		CaptureID string `json:"capture_id"`
		Stored    string `json:"stored"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &rep); err != nil || rep.Stored != StoredQueued {
		t.Fatalf("live answer: %+v, %v", rep, err)
	}
	if _, err := e.st.Capture(t.Context(), rep.CaptureID); err == nil {
		t.Fatal("the held capture is in the store")
	}
	for _, path := range []string{"/api/captures/", "/captures/"} {
		if w := e.do("GET", "https://fp.example"+path+rep.CaptureID, nil, nil); w.Code != http.StatusOK {
			t.Errorf("GET %s%s before the flush = %d", path, rep.CaptureID, w.Code)
		}
	}
	// The API says it is not stored yet.
	w = e.do("GET", "https://fp.example/api/captures/"+rep.CaptureID, nil, nil)
	var got struct {
		Stored string `json:"stored"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.Stored != StoredQueued {
		t.Errorf("stored = %q, %v; want queued", got.Stored, err)
	}
}

// TestRecentCapturesBounded: the cache forgets the oldest past its size and
// everything past its age.
func TestRecentCapturesBounded(t *testing.T) {
	rc := newRecentCaptures(3, time.Minute)
	now := time.Unix(1_800_000_000, 0)
	for i := range 5 {
		rc.add(&store.Capture{ID: fmt.Sprint("c", i)}, now)
	}
	for i := range 5 {
		_, ok := rc.get(fmt.Sprint("c", i), now)
		if ok != (i >= 2) {
			t.Errorf("c%d kept: %v", i, ok)
		}
	}
	if _, ok := rc.get("c4", now.Add(2*time.Minute)); ok {
		t.Error("an expired capture was served")
	}
	if rc.n != 0 {
		t.Errorf("expired entries kept: %d", rc.n)
	}
	for i, r := range rc.ring {
		if r.c != nil {
			t.Errorf("slot %d still references capture %s", i, r.c.ID)
		}
	}
	// The ring wraps: many more adds than slots keep the newest max.
	for i := range 10 {
		rc.add(&store.Capture{ID: fmt.Sprint("w", i)}, now)
	}
	for i := range 10 {
		if _, ok := rc.get(fmt.Sprint("w", i), now); ok != (i >= 7) {
			t.Errorf("w%d kept: %v", i, ok)
		}
	}
	// Ages are checked oldest first across the wrap.
	rc.add(&store.Capture{ID: "late"}, now.Add(90*time.Second))
	if _, ok := rc.get("w9", now.Add(90*time.Second)); ok {
		t.Error("w9 outlived its age")
	}
	if _, ok := rc.get("late", now.Add(90*time.Second)); !ok || rc.n != 1 {
		t.Errorf("late kept %v, %d entries", ok, rc.n)
	}
}

// TestHTTP1Link: the page seen over HTTP/2 links to the HTTP/1.1-only
// listener (same host, its port) and explains the Critical-CH reload; no
// link without such a listener.
func TestHTTP1Link(t *testing.T) {
	e := newEnv(t, func(d *Deps) { d.HTTP1Port = func() int { return 8444 } })
	body := e.do("GET", "https://fp.example/", nil, nil).Body.String()
	if !strings.Contains(body, `href="https://fp.example:8444/"`) || !strings.Contains(body, "Critical-CH") {
		t.Error("the HTTP/2 page does not link to the HTTP/1.1-only listener")
	}
	e = newEnv(t, func(d *Deps) { d.HTTP1Port = func() int { return 0 } })
	if strings.Contains(e.do("GET", "https://fp.example/", nil, nil).Body.String(), "HTTP/1.1-only listener") {
		t.Error("a link without a listener")
	}
}

// TestStatsLabels: the statistics chart JA3N too, label each value with the
// browser most often seen with it, leave the placeholder header order of
// requests without headers out, and show the Clients chart's User-Agents
// by a short name with the full string on hover.
func TestStatsLabels(t *testing.T) {
	e := newEnv(t, nil)
	for range 3 {
		e.do("GET", "https://fp.example/api/fingerprint", nil, nil)
	}
	// Many requests without captured headers: the placeholder header order.
	placeholder := fingerprint.HeaderOrderOf().Hash
	var cs []store.Capture
	for i := range 20 {
		cs = append(cs, store.Capture{ID: fmt.Sprint("p", i), CreatedAt: time.Now(), Initiator: store.InitiatorAPI,
			UserAgent: "curl/8.0", HeaderOrder: "", HeaderOrderHash: placeholder})
	}
	if _, err := e.st.InsertCaptures(t.Context(), cs); err != nil {
		t.Fatal(err)
	}
	w := e.do("GET", "https://fp.example/api/stats?window=24h", nil, nil)
	var res struct {
		Totals       store.Totals `json:"totals"`
		Fingerprints []struct {
			Kind   string       `json:"kind"`
			Values []statsValue `json:"values"`
		} `json:"fingerprints"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if res.Totals.Captures != 23 || res.Totals.Connections < 2 || res.Totals.Visits != 0 {
		t.Errorf("totals %+v, want 23 captures (3 live, 20 stored)", res.Totals)
	}
	kinds := map[string][]statsValue{}
	for _, f := range res.Fingerprints {
		kinds[f.Kind] = f.Values
	}
	if len(kinds["ja3n_hash"]) == 0 || !strings.HasPrefix(kinds["ja3n_hash"][0].Client, "Chrom") {
		t.Errorf("ja3n values %+v", kinds["ja3n_hash"])
	}
	for _, v := range kinds["header_order_hash"] {
		if v.Hash == placeholder {
			t.Error("the placeholder header order is listed")
		}
	}
	page := e.do("GET", "https://fp.example/stats?window=24h", nil, nil).Body.String()
	ua := "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
	if !strings.Contains(page, "23 captures") {
		t.Error("the page does not show the totals")
	}
	if !strings.Contains(page, "Chrome 156 on Linux") || !strings.Contains(page, `title="`+ua+`"`) {
		t.Errorf("the Clients chart does not show a short name with the full User-Agent on hover")
	}
}

// TestFingerprintDays: the population view counts captures per day (JSON
// "days") and draws them as one SVG column per day with captures.
func TestFingerprintDays(t *testing.T) {
	e := newEnv(t, nil)
	last := time.Now().UTC()
	var cs []store.Capture
	for i, back := range []int{0, 0, 0, 2, 30} {
		cs = append(cs, store.Capture{ID: fmt.Sprint("day", i), CreatedAt: last.AddDate(0, 0, -back), Initiator: store.InitiatorAPI,
			JA3Hash: "0123456789abcdef0123456789abcdef", UserAgent: "curl/8"})
	}
	if _, err := e.st.InsertCaptures(t.Context(), cs); err != nil {
		t.Fatal(err)
	}
	w := e.do("GET", "https://fp.example/api/fingerprints/0123456789abcdef0123456789abcdef", nil, nil)
	var pop struct {
		Days []struct {
			Day   string `json:"day"`
			Count int64  `json:"count"`
		} `json:"days"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &pop); err != nil {
		t.Fatal(err)
	}
	if len(pop.Days) != 3 || pop.Days[2].Count != 3 || pop.Days[2].Day != last.Format(time.DateOnly) {
		t.Errorf("days %+v", pop.Days)
	}
	page := e.do("GET", "https://fp.example/fingerprints/0123456789abcdef0123456789abcdef", nil, nil).Body.String()
	_, svg, _ := strings.Cut(page, `<svg class="days"`)
	svg, _, _ = strings.Cut(svg, "</svg>")
	if !strings.Contains(page, "Captures per day") || strings.Count(svg, "<rect ") != 3 || !strings.Contains(page, "at most 3 a day") {
		t.Errorf("the page lacks the per-day chart (%d columns)", strings.Count(svg, "<rect "))
	}
}

// TestRecentCapturesGrow: the ring grows in steps and keeps the newest
// captures, oldest expiring first, across growth and wrapping.
func TestRecentCapturesGrow(t *testing.T) {
	rc := newRecentCaptures(200, time.Minute)
	now := time.Unix(1_800_000_000, 0)
	for i := range 150 {
		rc.add(&store.Capture{ID: fmt.Sprint("a", i)}, now.Add(time.Duration(i)*time.Millisecond))
	}
	// Expire the first 100 (older than a minute at the time of the next add).
	later := now.Add(time.Minute + 100*time.Millisecond)
	for i := range 300 {
		rc.add(&store.Capture{ID: fmt.Sprint("b", i)}, later)
	}
	if rc.n != 200 || len(rc.ring) != 200 {
		t.Fatalf("%d captures in %d slots, want 200 in 200", rc.n, len(rc.ring))
	}
	for i := range 150 {
		if _, ok := rc.get(fmt.Sprint("a", i), later); ok {
			t.Errorf("a%d kept", i)
		}
	}
	for i := range 300 {
		c, ok := rc.get(fmt.Sprint("b", i), later)
		if ok != (i >= 100) || (ok && c.ID != fmt.Sprint("b", i)) {
			t.Errorf("b%d: kept %v as %q", i, ok, c.ID)
		}
	}
}
