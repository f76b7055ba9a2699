package transport

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/emulation"
)

// hintRecorder is a handler that answers with the Accept-CH/Critical-CH its
// routes name and records every request's path and client hint headers.
type hintRecorder struct {
	mu   sync.Mutex
	seen []hintRequest
}

type hintRequest struct {
	path  string
	hints map[string]string // lower-case sec-ch-* name -> value
}

func (h *hintRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hr := hintRequest{path: r.URL.Path, hints: map[string]string{}}
	for name, vs := range r.Header {
		if l := strings.ToLower(name); strings.HasPrefix(l, "sec-ch-") {
			hr.hints[l] = vs[0]
		}
	}
	h.mu.Lock()
	h.seen = append(h.seen, hr)
	n := len(h.seen)
	h.mu.Unlock()
	switch r.URL.Path {
	case "/critical":
		w.Header().Set("Accept-CH", "Sec-CH-UA-Arch, Sec-CH-UA-Full-Version-List, Sec-CH-Unknown")
		w.Header().Set("Critical-CH", "Sec-CH-UA-Arch")
	case "/accept":
		w.Header().Set("Accept-CH", "sec-ch-ua-model")
	case "/clear":
		w.Header()["Accept-Ch"] = []string{""}
	}
	fmt.Fprintf(w, "answer %d", n)
}

func (h *hintRecorder) take() []hintRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.seen
	h.seen = nil
	return out
}

// TestClientHintState checks the per-origin client hint state against Go
// test servers: a navigation answered with Critical-CH is sent again once,
// with the hints; later requests of any initiator to that origin carry the
// hints the origin asked for (the profile's values, only those asked for);
// Accept-CH without Critical-CH takes effect from the next request; other
// origins get only the low-entropy hints; an empty Accept-CH forgets the
// origin; a Firefox profile sends no hints and never retries.
func TestClientHintState(t *testing.T) {
	ca := newTestCA(t)
	chromium, err := emulation.Lookup("chromium-156-linux")
	if err != nil {
		t.Fatal(err)
	}
	firefox, err := emulation.Lookup("firefox-153-linux")
	if err != nil {
		t.Fatal(err)
	}
	value := func(name string) string {
		for _, h := range chromium.ClientHints.H2[emulation.Navigate] {
			if h.Name == name {
				return h.Value
			}
		}
		t.Fatalf("the profile has no %s", name)
		return ""
	}
	rec := &hintRecorder{}
	a, _ := startGoServer(t, ca, true, rec)
	b, _ := startGoServer(t, ca, true, rec)
	urlOf := func(s string, path string) string {
		return "https://localhost:" + portOf(s) + path
	}
	aAddr, bAddr := a.Listener.Addr().String(), b.Listener.Addr().String()
	tr := New(Options{Profile: chromium, RootCAs: ca.pool})
	defer tr.CloseIdleConnections()
	send := func(in emulation.Initiator, method, url string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var body io.Reader
		if method == http.MethodPost {
			body = strings.NewReader("x=1")
		}
		req, err := http.NewRequestWithContext(WithInitiator(ctx, in), method, url, body)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	lowOnly := func(where string, r hintRequest) {
		t.Helper()
		for name := range r.hints {
			if emulation.IsRequestedHint(name) {
				t.Errorf("%s: sent %s", where, name)
			}
		}
		if r.hints["sec-ch-ua"] == "" {
			t.Errorf("%s: no low-entropy hints: %v", where, r.hints)
		}
	}
	want := map[string]string{"sec-ch-ua-arch": value("sec-ch-ua-arch"), "sec-ch-ua-full-version-list": value("sec-ch-ua-full-version-list")}
	asked := func(where string, r hintRequest) {
		t.Helper()
		for name, v := range want {
			if r.hints[name] != v {
				t.Errorf("%s: %s = %q, want %q", where, name, r.hints[name], v)
			}
		}
		for name := range r.hints {
			if emulation.IsRequestedHint(name) && want[name] == "" {
				t.Errorf("%s: sent %s, which the origin did not ask for", where, name)
			}
		}
	}

	// Critical-CH: the navigation goes twice, the answer is the second's.
	if got := send(emulation.Navigate, http.MethodGet, urlOf(aAddr, "/critical")); got != "answer 2" {
		t.Errorf("navigation answered %q, want the retry's answer", got)
	}
	seen := rec.take()
	if len(seen) != 2 {
		t.Fatalf("%d requests for a Critical-CH navigation, want 2", len(seen))
	}
	lowOnly("first navigation", seen[0])
	asked("Critical-CH retry", seen[1])
	// The origin keeps its hints: a fetch and a navigation that answers
	// Critical-CH again (already satisfied: no retry).
	send(emulation.Fetch, http.MethodPost, urlOf(aAddr, "/api"))
	send(emulation.Navigate, http.MethodGet, urlOf(aAddr, "/critical"))
	seen = rec.take()
	if len(seen) != 2 {
		t.Fatalf("%d requests, want 2 (no retry once the hints are sent)", len(seen))
	}
	asked("fetch", seen[0])
	asked("second navigation", seen[1])

	// Another origin (same host, other port) has asked for nothing.
	send(emulation.XHR, http.MethodGet, urlOf(bAddr, "/x"))
	lowOnly("other origin", rec.take()[0])
	// Accept-CH without Critical-CH: no retry; the next request has it.
	send(emulation.Navigate, http.MethodGet, urlOf(bAddr, "/accept"))
	send(emulation.Fetch, http.MethodPost, urlOf(bAddr, "/api"))
	seen = rec.take()
	if len(seen) != 2 {
		t.Fatalf("%d requests, want 2 (no Critical-CH, no retry)", len(seen))
	}
	lowOnly("navigation learning Accept-CH", seen[0])
	if seen[1].hints["sec-ch-ua-model"] != value("sec-ch-ua-model") || seen[1].hints["sec-ch-ua-arch"] != "" {
		t.Errorf("after Accept-CH: sec-ch-ua-model: %v", seen[1].hints)
	}
	// An empty Accept-CH on a navigation forgets the origin's hints.
	send(emulation.Navigate, http.MethodGet, urlOf(aAddr, "/clear"))
	send(emulation.Fetch, http.MethodPost, urlOf(aAddr, "/api"))
	seen = rec.take()
	asked("navigation before clearing", seen[0])
	lowOnly("after an empty Accept-CH", seen[1])
	// A fetch's Accept-CH is not the origin's: only navigations count.
	send(emulation.Fetch, http.MethodPost, urlOf(aAddr, "/critical"))
	send(emulation.Fetch, http.MethodPost, urlOf(aAddr, "/api"))
	seen = rec.take()
	if len(seen) != 2 {
		t.Fatalf("%d requests, want 2", len(seen))
	}
	lowOnly("after a fetch's Accept-CH", seen[1])

	// Firefox sends no client hints and does not retry.
	ff := New(Options{Profile: firefox, RootCAs: ca.pool})
	defer ff.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := get(t, ff, WithInitiator(ctx, emulation.Navigate), urlOf(aAddr, "/critical"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = get(t, ff, WithInitiator(ctx, emulation.Navigate), urlOf(aAddr, "/x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	seen = rec.take()
	if len(seen) != 2 || len(seen[0].hints)+len(seen[1].hints) != 0 {
		t.Errorf("firefox: %+v, want two requests without hints", seen)
	}
}

// TestClientHintsAgainstChromium: against fpserver, whose page asks for the
// high-entropy hints with Accept-CH and Critical-CH, the chromium profile
// navigates to the page (the transport retries it with the hints), then
// sends a navigation and a fetch to the same origin. fpserver's records of
// the two must list the headers in the order real Chromium 156 sent them
// after that page's Accept-CH (the profile's client_hints, captured from
// the real browser by make profiles), hints with the browser's values; the
// cookie, which this caller does not send, is the only header left out.
func TestClientHintsAgainstChromium(t *testing.T) {
	srv := startFPServer(t)
	p, err := emulation.Lookup("chromium-156-linux")
	if err != nil {
		t.Fatal(err)
	}
	if p.ClientHints == nil || len(p.ClientHints.H2[emulation.Navigate]) == 0 || len(p.ClientHints.H2[emulation.Fetch]) == 0 {
		t.Fatal("the built-in chromium profile has no client_hints lists (run make profiles)")
	}
	_, port, _ := net.SplitHostPort(srv.h2Addr)
	base := "https://localhost:" + port
	tr := New(Options{Profile: p, RootCAs: srv.roots})
	defer tr.CloseIdleConnections()
	do := func(in emulation.Initiator, method, path string, body io.Reader) [][2]string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(WithInitiator(ctx, in), method, base+path, body)
		if err != nil {
			t.Fatal(err)
		}
		if body != nil {
			req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
			req.Header.Set("Origin", base)
			req.Header.Set("Referer", base+"/")
		}
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if path == "/" {
			return nil
		}
		var rep fpReport
		if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return rep.HTTP.Headers
	}
	do(emulation.Navigate, http.MethodGet, "/", nil)
	got := map[emulation.Initiator][][2]string{
		emulation.Navigate: do(emulation.Navigate, http.MethodGet, "/api/fingerprint", nil),
		emulation.Fetch:    do(emulation.Fetch, http.MethodPost, "/api/echo", strings.NewReader("{}")),
	}
	for _, in := range []emulation.Initiator{emulation.Navigate, emulation.Fetch} {
		var want, have []string
		values := map[string]string{}
		for _, h := range p.ClientHints.H2[in] {
			if h.Name != "cookie" {
				want = append(want, h.Name)
				values[h.Name] = h.Value
			}
		}
		for _, h := range got[in] {
			if strings.HasPrefix(h[0], ":") {
				continue
			}
			have = append(have, h[0])
			if emulation.IsRequestedHint(h[0]) && h[1] != values[h[0]] {
				t.Errorf("%s: %s = %q, real chromium sent %q", in, h[0], h[1], values[h[0]])
			}
		}
		if !slices.Equal(have, want) {
			t.Errorf("%s after Accept-CH:\n emulation %v\n chromium  %v", in, have, want)
		}
		t.Logf("%s after Accept-CH, emulation = real chromium: %v", in, slices.Equal(have, want))
	}
}

// TestCriticalCHRetryCarriesCookies: the Critical-CH retry carries the
// cookies the first answer set, after the request's own (as Chromium's
// retry does), and the caller gets the first answer's Set-Cookie with the
// retry's answer.
func TestCriticalCHRetryCarriesCookies(t *testing.T) {
	ca := newTestCA(t)
	chromium, err := emulation.Lookup("chromium-156-linux")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var cookies []string
	srv, _ := startGoServer(t, ca, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		cookies = append(cookies, r.Header.Get("Cookie"))
		mu.Unlock()
		if _, err := r.Cookie("gv"); err != nil {
			http.SetCookie(w, &http.Cookie{Name: "gv", Value: "k1", Path: "/"})
			http.SetCookie(w, &http.Cookie{Name: "old", Value: "", MaxAge: -1})
		}
		w.Header().Set("Accept-CH", "Sec-CH-UA-Arch")
		w.Header().Set("Critical-CH", "Sec-CH-UA-Arch")
	}))
	tr := New(Options{Profile: chromium, RootCAs: ca.pool})
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(WithInitiator(ctx, emulation.Navigate), http.MethodGet, "https://localhost:"+portOf(srv.Listener.Addr().String())+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Cookie", "pre=0; old=1")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := []string{"pre=0; old=1", "pre=0; gv=k1"}; !slices.Equal(cookies, want) {
		t.Errorf("Cookie of the navigation and its retry %q, want %q", cookies, want)
	}
	var got []string
	for _, c := range resp.Cookies() {
		got = append(got, c.Name+"="+c.Value)
	}
	if want := []string{"gv=k1", "old="}; !slices.Equal(got, want) {
		t.Errorf("Set-Cookie on the answer %q, want the first answer's %q", got, want)
	}
}
