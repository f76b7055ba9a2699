package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestStoredCredentialsRedacted checks that the Cookie, Authorization and
// Proxy-Authorization values a visitor sends are shown to that visitor in the
// live answer but stored only as a stand-in (length and keyed hash), with the
// header names, casing and order intact, and that equal values under one key
// give equal stand-ins.
func TestStoredCredentialsRedacted(t *testing.T) {
	const cookie, auth = "session=s3cr3t-value", "Bearer abc.def.ghi"
	e := newEnv(t, func(d *Deps) { d.RedactKey = []byte("test key") })
	w := e.do("GET", "https://fp.example/api/fingerprint", nil, func(r *http.Request) {
		r.Header.Set("Cookie", cookie)
		r.Header.Set("Authorization", auth)
		r.Header.Set("X-Other", "kept")
	})
	if w.Code != http.StatusOK {
		t.Fatalf("GET /api/fingerprint = %d", w.Code)
	}
	var rep struct {
		CaptureID string `json:"capture_id"`
		HTTP      struct {
			Headers [][2]string `json:"headers"`
		} `json:"http"`
	}
	decodeJSON(t, w, &rep)
	live := map[string]string{}
	for _, h := range rep.HTTP.Headers {
		live[strings.ToLower(h[0])] = h[1]
	}
	if live["cookie"] != cookie || live["authorization"] != auth || live["x-other"] != "kept" {
		t.Errorf("the live answer does not show the visitor's own values: %v", rep.HTTP.Headers)
	}

	stored, err := e.st.Capture(context.Background(), rep.CaptureID)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored.Headers) != len(rep.HTTP.Headers) {
		t.Fatalf("stored %d headers, sent %d", len(stored.Headers), len(rep.HTTP.Headers))
	}
	r := newRedactor([]byte("test key"))
	redacted := 0
	for i, h := range stored.Headers {
		if h.Name != rep.HTTP.Headers[i][0] {
			t.Errorf("header %d stored as %q, sent as %q: order or casing changed", i, h.Name, rep.HTTP.Headers[i][0])
		}
		switch strings.ToLower(h.Name) {
		case "cookie", "authorization":
			sent := rep.HTTP.Headers[i][1]
			if strings.Contains(h.Value, sent) || h.Value != r.value(sent) {
				t.Errorf("%s stored as %q, want the stand-in %q", h.Name, h.Value, r.value(sent))
			}
			redacted++
			if !strings.Contains(h.Value, "len="+strconv.Itoa(len(sent))) {
				t.Errorf("%s stand-in %q lacks the length", h.Name, h.Value)
			}
		case "x-other":
			if h.Value != "kept" {
				t.Errorf("X-Other stored as %q", h.Value)
			}
		}
	}
	if redacted != 2 {
		t.Errorf("%d credential headers stored redacted, want 2", redacted)
	}
	if r.value(cookie) == newRedactor([]byte("other key")).value(cookie) {
		t.Error("the stand-in does not depend on the key")
	}
	if a, b := newRedactor(nil), newRedactor(nil); a.value(cookie) == b.value(cookie) {
		t.Error("two random keys gave the same stand-in")
	}
}

// TestPopulationHidesCaptureIDs checks that without PublicCaptures the
// population views count captures but name none of them (no id, no link to
// another visitor's capture), and that with it they list them.
func TestPopulationHidesCaptureIDs(t *testing.T) {
	for _, public := range []bool{false, true} {
		e := newEnv(t, func(d *Deps) { d.PublicCaptures = public })
		var ids []string
		for i := 0; i < 3; i++ {
			w := e.do("GET", "https://fp.example/api/fingerprint", nil, nil)
			var rep struct {
				CaptureID string `json:"capture_id"`
			}
			decodeJSON(t, w, &rep)
			ids = append(ids, rep.CaptureID)
		}
		ja4 := e.sink.last(t).JA4
		for _, target := range []string{"https://fp.example/api/fingerprints/" + ja4, "https://fp.example/fingerprints/" + ja4} {
			w := e.do("GET", target, nil, nil)
			if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "3") {
				t.Fatalf("public=%v GET %s = %d", public, target, w.Code)
			}
			for _, id := range ids {
				if shown := strings.Contains(w.Body.String(), id); shown != public {
					t.Errorf("public=%v: %s shows capture %s: %v", public, target, id, shown)
				}
			}
		}
	}
}

// TestSecretHeaderNames pins secretHeader's length-first comparison to the
// plain rule: the lower-cased name is cookie, authorization or
// proxy-authorization.
func TestSecretHeaderNames(t *testing.T) {
	for _, name := range []string{"cookie", "Cookie", "COOKIE", "cookiE", "cookies", "cooki", "Cookie2",
		"authorization", "Authorization", "AUTHORIZATION", "authorizatioN", "authorisation",
		"proxy-authorization", "Proxy-Authorization", "proxy_authorization", "proxy-authorizatio",
		"set-cookie", "user-agent", "", ":authority", "x-forwarded-for", "accept-language"} {
		l := strings.ToLower(name)
		want := l == "cookie" || l == "authorization" || l == "proxy-authorization"
		if got := secretHeader(name); got != want {
			t.Errorf("secretHeader(%q) = %v, want %v", name, got, want)
		}
	}
}
