package web

import (
	"net/http"
	"strings"
	"testing"
)

// fingerprintStored sends n GETs of /api/fingerprint on e's one emulated
// connection and returns the "stored_reason" of each ("" when queued).
func fingerprintStored(t *testing.T, e *env, n int, mod func(*http.Request)) []string {
	t.Helper()
	var out []string
	for i := 0; i < n; i++ {
		w := e.do("GET", "https://fp.example/api/fingerprint", nil, mod)
		if w.Code != http.StatusOK {
			t.Fatalf("request %d: %d, want 200 (a capped request is still served)", i, w.Code)
		}
		var rep struct {
			Stored       string `json:"stored"`
			StoredReason string `json:"stored_reason"`
		}
		decodeJSON(t, w, &rep)
		if (rep.Stored == StoredQueued) != (rep.StoredReason == "") {
			t.Errorf("request %d: stored %q with reason %q", i, rep.Stored, rep.StoredReason)
		}
		out = append(out, rep.StoredReason)
	}
	return out
}

// TestStorageCaps checks the per-connection and per-client-minute caps:
// requests past them are served, not stored, say why, and are counted.
func TestStorageCaps(t *testing.T) {
	t.Run("per connection", func(t *testing.T) {
		e := newEnv(t, func(d *Deps) { d.MaxCapturesPerConn, d.MaxCapturesPerMinute = 3, -1 })
		got := fingerprintStored(t, e, 5, nil)
		want := []string{"", "", "", DropConnectionCap, DropConnectionCap}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("reasons %q, want %q", got, want)
		}
		if n := len(e.sink.captures(t)); n != 3 {
			t.Errorf("%d captures offered to the writer, want 3", n)
		}
		if v := testutilCounter(t, e.reg, "fpserver_web_captures_capped_total", DropConnectionCap); v != 2 {
			t.Errorf("capped counter %v, want 2", v)
		}
	})
	t.Run("per client and minute", func(t *testing.T) {
		e := newEnv(t, func(d *Deps) { d.MaxCapturesPerConn, d.MaxCapturesPerMinute = -1, 2 })
		got := fingerprintStored(t, e, 4, nil)
		want := []string{"", "", DropClientRate, DropClientRate}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("reasons %q, want %q", got, want)
		}
		// Another address is not affected.
		other := fingerprintStored(t, e, 1, func(r *http.Request) { r.RemoteAddr = "198.51.100.7:4000" })
		if other[0] != "" {
			t.Errorf("another address was capped: %q", other[0])
		}
	})
}

// TestStoredHeaderValueCapped checks that a long header value is stored cut
// to MaxStoredHeaderValue with a marker, while the live answer shows it whole
// and the header order is unchanged.
func TestStoredHeaderValueCapped(t *testing.T) {
	e := newEnv(t, nil)
	long := strings.Repeat("x", 3*MaxStoredHeaderValue)
	fingerprintStored(t, e, 1, func(r *http.Request) { r.Header.Set("X-Long", long) })
	last := e.sink.last(t)
	found := false
	for _, h := range last.Headers {
		if strings.EqualFold(h.Name, "x-long") {
			found = true
			if !strings.HasPrefix(h.Value, long[:MaxStoredHeaderValue]) || len(h.Value) > MaxStoredHeaderValue+64 || !strings.Contains(h.Value, "[cut 8192 bytes]") {
				t.Errorf("stored value of %d bytes (%q…), want %d bytes and the cut marker", len(h.Value), h.Value[len(h.Value)-20:], MaxStoredHeaderValue)
			}
		}
	}
	if !found {
		t.Error("the long header was not stored at all")
	}
}
