package emulation

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// Request shapes as real clients send them (values from chromium 156,
// firefox-esr 153 and curl 8 captures).
const (
	chromeNavAccept   = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
	chromeImageAccept = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
	firefoxNavAccept  = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	firefoxImage      = "image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"
	firefoxFont       = "application/font-woff2;q=1.0,application/font-woff;q=0.9,*/*;q=0.8"
	firefoxMedia      = "video/webm,video/ogg,video/*;q=0.9,application/ogg;q=0.7,audio/*;q=0.6,*/*;q=0.5"
)

func TestClassifyRequest(t *testing.T) {
	fetchMeta := func(dest, mode string, extra ...string) []string {
		return append([]string{"Sec-Fetch-Dest", dest, "Sec-Fetch-Mode", mode, "Sec-Fetch-Site", "same-origin", "Priority", "u=1, i"}, extra...)
	}
	tests := []struct {
		name, method, url string
		header            []string
		want              RequestKind
	}{
		// Chromium and Firefox state their fetch metadata.
		{"chromium navigation", "GET", "https://a.example/", append(fetchMeta("document", "navigate", "Sec-Fetch-User", "?1"), "Accept", chromeNavAccept),
			RequestKind{Navigate, "document", "navigate", true, true}},
		{"chromium reload (no user activation)", "GET", "https://a.example/", append(fetchMeta("document", "navigate"), "Accept", chromeNavAccept),
			RequestKind{Navigate, "document", "navigate", true, false}},
		{"chromium iframe", "GET", "https://a.example/frame", append(fetchMeta("iframe", "navigate"), "Accept", chromeNavAccept),
			RequestKind{Iframe, "iframe", "navigate", true, false}},
		{"legacy frame", "GET", "https://a.example/frame", fetchMeta("frame", "navigate"),
			RequestKind{Iframe, "frame", "navigate", true, false}},
		{"chromium stylesheet", "GET", "https://a.example/s", append(fetchMeta("style", "no-cors"), "Accept", "text/css,*/*;q=0.1"),
			RequestKind{Style, "style", "no-cors", true, false}},
		{"chromium classic script", "GET", "https://a.example/a.js", append(fetchMeta("script", "no-cors"), "Accept", "*/*"),
			RequestKind{Script, "script", "no-cors", true, false}},
		{"chromium module script", "GET", "https://a.example/m.mjs", append(fetchMeta("script", "cors"), "Accept", "*/*", "Origin", "https://a.example"),
			RequestKind{Script, "script", "cors", true, false}},
		{"chromium image", "GET", "https://a.example/i", append(fetchMeta("image", "no-cors"), "Accept", chromeImageAccept),
			RequestKind{Image, "image", "no-cors", true, false}},
		{"chromium favicon", "GET", "https://a.example/favicon.ico", append(fetchMeta("image", "no-cors"), "Accept", chromeImageAccept),
			RequestKind{Image, "image", "no-cors", true, false}},
		{"chromium font", "GET", "https://a.example/f", append(fetchMeta("font", "cors"), "Accept", "*/*", "Origin", "https://a.example"),
			RequestKind{Font, "font", "cors", true, false}},
		{"chromium video", "GET", "https://a.example/v", append(fetchMeta("video", "no-cors"), "Accept", "*/*", "Range", "bytes=0-", "Accept-Encoding", "identity"),
			RequestKind{Media, "video", "no-cors", true, false}},
		{"chromium audio", "GET", "https://a.example/a", append(fetchMeta("audio", "no-cors"), "Range", "bytes=0-"),
			RequestKind{Media, "audio", "no-cors", true, false}},
		{"chromium manifest", "GET", "https://a.example/m", append(fetchMeta("manifest", "cors"), "Accept", "*/*"),
			RequestKind{Manifest, "manifest", "cors", true, false}},
		{"chromium fetch", "POST", "https://a.example/api", append(fetchMeta("empty", "cors"), "Accept", "*/*", "Content-Type", "text/plain;charset=UTF-8"),
			RequestKind{Fetch, "empty", "cors", true, false}},
		{"fetch posting a form body stays fetch", "POST", "https://a.example/api", append(fetchMeta("empty", "cors"), "Content-Type", "application/x-www-form-urlencoded"),
			RequestKind{Fetch, "empty", "cors", true, false}},
		{"same-origin mode fetch", "GET", "https://a.example/api", fetchMeta("empty", "same-origin"),
			RequestKind{Fetch, "empty", "same-origin", true, false}},
		{"jquery xhr", "GET", "https://a.example/api", append(fetchMeta("empty", "cors"), "X-Requested-With", "XMLHttpRequest"),
			RequestKind{XHR, "empty", "cors", true, false}},
		{"chromium form submission", "POST", "https://a.example/f", append(fetchMeta("document", "navigate", "Sec-Fetch-User", "?1"), "Content-Type", "application/x-www-form-urlencoded"),
			RequestKind{Form, "document", "navigate", true, true}},
		{"form submitted into an iframe", "POST", "https://a.example/f", append(fetchMeta("iframe", "navigate"), "Content-Type", "multipart/form-data; boundary=x"),
			RequestKind{Form, "iframe", "navigate", true, false}},
		{"websocket handshake (HTTP/1.1 upgrade)", "GET", "https://a.example/ws", append(fetchMeta("empty", "websocket"), "Upgrade", "websocket", "Connection", "Upgrade"),
			RequestKind{WebSocket, "empty", "websocket", false, false}},
		{"service worker script", "GET", "https://a.example/sw.js", fetchMeta("serviceworker", "same-origin"),
			RequestKind{Script, "serviceworker", "same-origin", true, false}},
		{"report (no profile list)", "POST", "https://a.example/r", append(fetchMeta("report", "no-cors"), "Content-Type", "application/reports+json"),
			RequestKind{Fetch, "report", "no-cors", true, false}},
		{"embed", "GET", "https://a.example/x.swf", fetchMeta("embed", "no-cors"),
			RequestKind{Fetch, "embed", "no-cors", true, false}},
		{"mode only", "GET", "https://a.example/", []string{"Sec-Fetch-Mode", "navigate"},
			RequestKind{Navigate, "document", "navigate", true, false}},
		{"fetch metadata wins over the extension", "GET", "https://a.example/x.png", append(fetchMeta("document", "navigate"), "Accept", chromeNavAccept),
			RequestKind{Navigate, "document", "navigate", true, false}},
		{"firefox fetch (Priority: u=4)", "POST", "https://a.example/p", append(fetchMeta("empty", "cors"), "Accept", "*/*"),
			RequestKind{Fetch, "empty", "cors", true, false}},
		{"firefox XMLHttpRequest (no Priority)", "POST", "https://a.example/p", []string{"Sec-Fetch-Dest", "empty", "Sec-Fetch-Mode", "cors", "Accept", "*/*"},
			RequestKind{XHR, "empty", "cors", true, false}},
		{"firefox navigation", "GET", "https://a.example/", append(fetchMeta("document", "navigate", "Sec-Fetch-User", "?1"), "Accept", firefoxNavAccept),
			RequestKind{Navigate, "document", "navigate", true, true}},
		{"firefox image", "GET", "https://a.example/i", append(fetchMeta("image", "no-cors"), "Accept", firefoxImage),
			RequestKind{Image, "image", "no-cors", true, false}},
		{"firefox font", "GET", "https://a.example/f", append(fetchMeta("font", "cors"), "Accept", firefoxFont),
			RequestKind{Font, "font", "cors", true, false}},
		{"firefox video", "GET", "https://a.example/v", append(fetchMeta("video", "no-cors"), "Accept", firefoxMedia, "Range", "bytes=0-"),
			RequestKind{Media, "video", "no-cors", true, false}},
		{"upper-case metadata values", "GET", "https://a.example/", []string{"Sec-Fetch-Dest", "Style", "Sec-Fetch-Mode", "No-CORS"},
			RequestKind{Style, "style", "no-cors", true, false}},

		// Over plain http browsers send no fetch metadata: Accept tells.
		{"plain-http chromium navigation", "GET", "http://a.example/", []string{"Accept", chromeNavAccept, "Upgrade-Insecure-Requests", "1"},
			RequestKind{Navigate, "document", "navigate", false, false}},
		{"plain-http stylesheet", "GET", "http://a.example/s", []string{"Accept", "text/css,*/*;q=0.1"}, DefaultKind(Style)},
		{"plain-http chromium image", "GET", "http://a.example/i", []string{"Accept", chromeImageAccept}, DefaultKind(Image)},
		{"plain-http firefox image", "GET", "http://a.example/i", []string{"Accept", firefoxImage}, DefaultKind(Image)},
		{"plain-http firefox font", "GET", "http://a.example/f", []string{"Accept", firefoxFont}, DefaultKind(Font)},
		{"plain-http firefox video", "GET", "http://a.example/v", []string{"Accept", firefoxMedia}, DefaultKind(Media)},
		{"font/* accept", "GET", "http://a.example/f", []string{"Accept", "font/woff2"}, DefaultKind(Font)},
		{"manifest accept", "GET", "http://a.example/m", []string{"Accept", "application/manifest+json"}, DefaultKind(Manifest)},
		{"plain-http script: */* and .js", "GET", "http://a.example/app.js?v=3", []string{"Accept", "*/*"}, DefaultKind(Script)},

		// curl and other tools: */*, so the path and method tell.
		{"curl /", "GET", "https://a.example/", []string{"Accept", "*/*", "User-Agent", "curl/8.14.1"}, DefaultKind(Navigate)},
		{"no accept at all", "GET", "https://a.example/page", nil, DefaultKind(Navigate)},
		{"curl .css", "GET", "https://a.example/static/site.css", []string{"Accept", "*/*"}, DefaultKind(Style)},
		{"curl .js", "GET", "https://a.example/app.js", []string{"Accept", "*/*"}, DefaultKind(Script)},
		{"curl .mjs", "GET", "https://a.example/mod.mjs", []string{"Accept", "*/*"}, DefaultKind(Script)},
		{"curl .png", "GET", "https://a.example/logo.png", []string{"Accept", "*/*"}, DefaultKind(Image)},
		{"curl .JPG", "GET", "https://a.example/PHOTO.JPG", []string{"Accept", "*/*"}, DefaultKind(Image)},
		{"curl .jpeg", "GET", "https://a.example/a.jpeg", []string{"Accept", "*/*"}, DefaultKind(Image)},
		{"curl .gif", "GET", "https://a.example/a.gif", []string{"Accept", "*/*"}, DefaultKind(Image)},
		{"curl .webp", "GET", "https://a.example/a.webp", []string{"Accept", "*/*"}, DefaultKind(Image)},
		{"curl .svg", "GET", "https://a.example/icon.svg", []string{"Accept", "*/*"}, DefaultKind(Image)},
		{"curl favicon.ico", "HEAD", "https://a.example/favicon.ico", []string{"Accept", "*/*"}, DefaultKind(Image)},
		{"curl .woff2", "GET", "https://a.example/f.woff2", []string{"Accept", "*/*"}, DefaultKind(Font)},
		{"curl .woff", "GET", "https://a.example/f.woff", nil, DefaultKind(Font)},
		{"curl .ttf", "GET", "https://a.example/f.ttf", nil, DefaultKind(Font)},
		{"curl .mp4", "GET", "https://a.example/v.mp4", []string{"Accept", "*/*", "Range", "bytes=0-"}, DefaultKind(Media)},
		{"curl .webm", "GET", "https://a.example/v.webm", nil, DefaultKind(Media)},
		{"curl .webmanifest", "GET", "https://a.example/site.webmanifest", nil, DefaultKind(Manifest)},
		{"curl manifest.json", "GET", "https://a.example/app/manifest.json", nil, DefaultKind(Manifest)},
		{"curl other .json", "GET", "https://a.example/data.json", nil, DefaultKind(Fetch)},
		{"curl directory named like a file", "GET", "https://a.example/a.css/", nil, DefaultKind(Navigate)},
		{"curl asking for JSON", "GET", "https://a.example/api/items", []string{"Accept", "application/json"}, DefaultKind(Fetch)},
		{"curl asking for HTML on an image path", "GET", "https://a.example/x.png", []string{"Accept", "text/html"}, DefaultKind(Navigate)},
		{"curl -d (form)", "POST", "https://a.example/login", []string{"Content-Type", "application/x-www-form-urlencoded"}, DefaultKind(Form)},
		{"curl -F (multipart form)", "POST", "https://a.example/up", []string{"Content-Type", "multipart/form-data; boundary=----x"}, DefaultKind(Form)},
		{"curl JSON POST", "POST", "https://a.example/api", []string{"Content-Type", "application/json"}, DefaultKind(Fetch)},
		{"curl PUT of a form type", "PUT", "https://a.example/api", []string{"Content-Type", "application/x-www-form-urlencoded"}, DefaultKind(Fetch)},
		{"curl DELETE", "DELETE", "https://a.example/api/1", nil, DefaultKind(Fetch)},
		{"curl GET with X-Requested-With", "GET", "https://a.example/api", []string{"X-Requested-With", "XMLHttpRequest"}, DefaultKind(XHR)},
		{"curl POST with X-Requested-With", "POST", "https://a.example/api", []string{"X-Requested-With", "xmlhttprequest", "Content-Type", "application/x-www-form-urlencoded"}, DefaultKind(XHR)},
		{"curl websocket", "GET", "https://a.example/ws", []string{"Upgrade", "websocket", "Connection", "keep-alive, Upgrade", "Sec-WebSocket-Version", "13"}, DefaultKind(WebSocket)},
		{"Upgrade without Connection: upgrade is no handshake", "GET", "https://a.example/ws", []string{"Upgrade", "websocket"}, DefaultKind(Navigate)},

		// The caller's X-Guanaco-Initiator decides (not for a handshake).
		{"stated initiator", "GET", "https://a.example/", []string{"X-Guanaco-Initiator", "fetch"}, DefaultKind(Fetch)},
		{"stated sub-resource", "GET", "https://a.example/", []string{"X-Guanaco-Initiator", " Style "}, DefaultKind(Style)},
		{"stated initiator beats fetch metadata", "GET", "https://a.example/", append(fetchMeta("image", "no-cors"), "X-Guanaco-Initiator", "iframe"), DefaultKind(Iframe)},
		{"unknown stated initiator is ignored", "GET", "https://a.example/a.css", []string{"X-Guanaco-Initiator", "echo"}, DefaultKind(Style)},
		{"a handshake stays websocket", "GET", "https://a.example/ws", []string{"X-Guanaco-Initiator", "navigate", "Upgrade", "websocket", "Connection", "Upgrade"}, DefaultKind(WebSocket)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.url, nil)
			req.Header = http.Header{}
			for i := 0; i+1 < len(tc.header); i += 2 {
				req.Header.Add(tc.header[i], tc.header[i+1])
			}
			if got := ClassifyRequest(req); got != tc.want {
				t.Errorf("ClassifyRequest = %+v, want %+v", got, tc.want)
			}
			if got := InitiatorOf(req); got != tc.want.Initiator {
				t.Errorf("InitiatorOf = %s, want %s", got, tc.want.Initiator)
			}
		})
	}
}

// TestDefaultKind: every initiator has fetch metadata, and the media and
// websocket values are the browsers' own.
func TestDefaultKind(t *testing.T) {
	for _, in := range AllInitiators() {
		k := DefaultKind(in)
		if k.Initiator != in || k.Dest == "" || k.Mode == "" || k.Stated {
			t.Errorf("DefaultKind(%s) = %+v", in, k)
		}
	}
	if k := DefaultKind(Media); k.Dest != "video" {
		t.Errorf("media dest %q", k.Dest)
	}
	if k := DefaultKind("bogus"); k.Initiator != Fetch {
		t.Errorf("DefaultKind(bogus) = %+v, want fetch", k)
	}
}

// FuzzClassifyRequest: any header values give a valid initiator with fetch
// metadata.
func FuzzClassifyRequest(f *testing.F) {
	f.Add("GET", "/a.css", "*/*", "", "", "", "")
	f.Add("POST", "/", "", "document", "navigate", "application/x-www-form-urlencoded", "")
	f.Add("GET", "/ws", "", "empty", "websocket", "", "websocket")
	f.Add("GET", "/manifest.json", "image/png", "VIDEO", "", "", "")
	f.Fuzz(func(t *testing.T, method, path, accept, dest, mode, ct, upgrade string) {
		req := &http.Request{Method: method, Header: http.Header{}}
		req.URL = &url.URL{Path: path}
		for k, v := range map[string]string{"Accept": accept, "Sec-Fetch-Dest": dest, "Sec-Fetch-Mode": mode, "Content-Type": ct, "Upgrade": upgrade} {
			if v != "" {
				req.Header.Set(k, v)
			}
		}
		if upgrade != "" {
			req.Header.Set("Connection", "upgrade")
		}
		k := ClassifyRequest(req)
		if !k.Initiator.Valid() || k.Dest == "" && k.Mode == "" {
			t.Fatalf("ClassifyRequest = %+v", k)
		}
		if strings.ContainsAny(k.Dest+k.Mode, "\r\n") && !strings.ContainsAny(dest+mode, "\r\n") {
			t.Fatalf("metadata %+v not from the request", k)
		}
	})
}

// TestRequestHeadersPerDestination: a browser's sub-resource requests go
// out with the profile's own list for their destination (Accept, fetch
// metadata, priority), whichever browser sent them, and a profile without
// a destination's list falls back to fetch with the destination's own
// metadata.
func TestRequestHeadersPerDestination(t *testing.T) {
	firefox, err := Lookup("firefox-153-linux")
	if err != nil {
		t.Fatal(err)
	}
	chromium, err := Lookup("chromium-156-linux")
	if err != nil {
		t.Fatal(err)
	}
	value := func(hs []Header, name string) (string, bool) {
		for _, h := range hs {
			if strings.EqualFold(h.Name, name) {
				return h.Value, true
			}
		}
		return "", false
	}
	chromeReq := func(target, dest, mode, accept string) *http.Request {
		req := httptest.NewRequest("GET", target, nil)
		req.Header = http.Header{}
		req.Header.Set("Accept", accept)
		req.Header.Set("Sec-Fetch-Dest", dest)
		req.Header.Set("Sec-Fetch-Mode", mode)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.Header.Set("Referer", "https://a.example/")
		req.Header.Set("Priority", "u=1, i")
		return req
	}
	for _, p := range []*Profile{firefox, chromium} {
		for _, tc := range []struct {
			in                 Initiator
			dest, mode, accept string
		}{
			{Image, "image", "no-cors", chromeImageAccept},
			{Style, "style", "no-cors", "text/css,*/*;q=0.1"},
			{Script, "script", "no-cors", "*/*"},
			{Font, "font", "cors", "*/*"},
			{Iframe, "iframe", "navigate", chromeNavAccept},
			{Media, "video", "no-cors", "*/*"},
		} {
			req := chromeReq("https://a.example/x", tc.dest, tc.mode, tc.accept)
			got := RequestHeaders(p, req, true)
			want := p.H2.Headers[tc.in]
			if len(want) == 0 {
				t.Fatalf("%s has no h2 %s list", p.Name, tc.in)
			}
			for _, name := range []string{"accept", "priority", "sec-fetch-dest", "sec-fetch-mode", "user-agent"} {
				w, inProfile := value(want, name)
				g, sent := value(got, name)
				if inProfile != sent || g != w {
					t.Errorf("%s %s: %s = %q (sent %v), want the profile's %q (listed %v)", p.Name, tc.in, name, g, sent, w, inProfile)
				}
			}
			if _, ok := value(got, "sec-fetch-user"); ok {
				t.Errorf("%s %s: sec-fetch-user sent for a sub-resource", p.Name, tc.in)
			}
			if v, _ := value(got, "sec-fetch-site"); v != SiteSameOrigin {
				t.Errorf("%s %s: sec-fetch-site %q", p.Name, tc.in, v)
			}
			// The names go out in the profile's order.
			var gotNames, wantNames []string
			for _, h := range got {
				gotNames = append(gotNames, h.Name)
			}
			for _, h := range want {
				if _, ok := value(got, h.Name); ok {
					wantNames = append(wantNames, h.Name)
				}
			}
			if strings.Join(gotNames[:len(wantNames)], ",") != strings.Join(wantNames, ",") {
				t.Errorf("%s %s: order\n got %v\nwant %v", p.Name, tc.in, gotNames, wantNames)
			}
			if pr, ok := HeadersPriorityFor(p, tc.in); !ok || pr != p.H2.HeadersPriority[tc.in] {
				t.Errorf("%s %s: HEADERS priority %+v %v", p.Name, tc.in, pr, ok)
			}
		}
	}

	// curl fetching a stylesheet through the Firefox profile.
	req := httptest.NewRequest("GET", "https://a.example/site.css", nil)
	req.Header = http.Header{"Accept": {"*/*"}, "User-Agent": {"curl/8"}}
	got := RequestHeaders(firefox, req, true)
	if v, _ := value(got, "accept"); v != "text/css,*/*;q=0.1" {
		t.Errorf("curl .css through firefox: accept %q", v)
	}
	if v, _ := value(got, "sec-fetch-dest"); v != "style" {
		t.Errorf("curl .css through firefox: sec-fetch-dest %q", v)
	}

	// A profile without sub-resource lists: the fetch list with the
	// destination's own metadata and the fetch priority.
	old := *firefox
	h2 := *firefox.H2
	h2.Headers = map[Initiator][]Header{Navigate: firefox.H2.Headers[Navigate], Fetch: firefox.H2.Headers[Fetch]}
	h2.HeadersPriority = map[Initiator]Priority{Navigate: firefox.H2.HeadersPriority[Navigate], Fetch: firefox.H2.HeadersPriority[Fetch]}
	old.H2, old.H1 = &h2, nil
	for _, tc := range []struct {
		in         Initiator
		dest, mode string
		from       Initiator
	}{
		{Image, "image", "no-cors", Fetch}, {Font, "font", "cors", Fetch}, {Iframe, "iframe", "navigate", Navigate},
	} {
		req := httptest.NewRequest("GET", "https://a.example/x", nil)
		req.Header = http.Header{"X-Guanaco-Initiator": {string(tc.in)}}
		got := RequestHeaders(&old, req, true)
		if v, _ := value(got, "sec-fetch-dest"); v != tc.dest {
			t.Errorf("fallback %s: sec-fetch-dest %q", tc.in, v)
		}
		if v, _ := value(got, "sec-fetch-mode"); v != tc.mode {
			t.Errorf("fallback %s: sec-fetch-mode %q", tc.in, v)
		}
		if _, ok := value(got, "sec-fetch-user"); ok {
			t.Errorf("fallback %s: sec-fetch-user sent", tc.in)
		}
		want, _ := value(old.H2.Headers[tc.from], "accept")
		if v, _ := value(got, "accept"); v != want {
			t.Errorf("fallback %s: accept %q, want %s's %q", tc.in, v, tc.from, want)
		}
		if pr, ok := HeadersPriorityFor(&old, tc.in); !ok || pr != old.H2.HeadersPriority[tc.from] {
			t.Errorf("fallback %s: HEADERS priority %+v %v, want %s's", tc.in, pr, ok, tc.from)
		}
	}
}

// TestRequestHeadersBrowserCache: Cache-Control and Pragma that a browser
// adds itself (a form resubmission's max-age=0) follow the profile's list
// outside fetch and xhr, where script may set them.
func TestRequestHeadersBrowserCache(t *testing.T) {
	firefox, err := Lookup("firefox-153-linux")
	if err != nil {
		t.Fatal(err)
	}
	chromium, err := Lookup("chromium-156-linux")
	if err != nil {
		t.Fatal(err)
	}
	send := func(p *Profile, method, dest, mode, ct string) map[string]string {
		req := httptest.NewRequest(method, "https://a.example/f", strings.NewReader("a=1"))
		req.Header = http.Header{"Sec-Fetch-Dest": {dest}, "Sec-Fetch-Mode": {mode}, "Cache-Control": {"max-age=0"},
			"Pragma": {"no-cache"}, "Content-Type": {ct}, "Priority": {"u=0, i"}}
		out := map[string]string{}
		for _, h := range RequestHeaders(p, req, true) {
			out[h.Name] = h.Value
		}
		return out
	}
	form := "application/x-www-form-urlencoded"
	if got := send(firefox, "POST", "iframe", "navigate", form); got["cache-control"] != "" || got["pragma"] != "" {
		t.Errorf("firefox form: cache-control %q pragma %q, want neither (Firefox sends none)", got["cache-control"], got["pragma"])
	}
	wantCC, _ := func() (string, bool) {
		for _, h := range chromium.H2.Headers[Form] {
			if h.Name == "cache-control" {
				return h.Value, true
			}
		}
		return "", false
	}()
	if got := send(chromium, "POST", "iframe", "navigate", form); got["cache-control"] != wantCC || got["pragma"] != "" {
		t.Errorf("chromium form: cache-control %q pragma %q, want the profile's %q and no pragma", got["cache-control"], got["pragma"], wantCC)
	}
	if got := send(firefox, "POST", "empty", "cors", "text/plain"); got["cache-control"] != "max-age=0" || got["pragma"] != "no-cache" {
		t.Errorf("firefox fetch: cache-control %q pragma %q, want the script's", got["cache-control"], got["pragma"])
	}
}

// TestFetchSiteFor: without a Referer or Origin only a navigation is
// "none"; a client's own valid Sec-Fetch-Site stands; a Referer decides
// whatever the client says.
func TestFetchSiteFor(t *testing.T) {
	for _, tc := range []struct {
		in           Initiator
		referer, own string
		want         string
	}{
		{Navigate, "", "", SiteNone},
		{Style, "", "", SiteSameOrigin},
		{Fetch, "", "", SiteSameOrigin},
		{Image, "", "cross-site", SiteCrossSite},
		{Navigate, "", "same-origin", SiteSameOrigin},
		{Image, "", "bogus", SiteSameOrigin},
		{Image, "https://other.example/", "same-origin", SiteCrossSite},
	} {
		req := httptest.NewRequest("GET", "https://a.example/x", nil)
		if tc.referer != "" {
			req.Header.Set("Referer", tc.referer)
		}
		if tc.own != "" {
			req.Header.Set("Sec-Fetch-Site", tc.own)
		}
		if got := fetchSiteFor(req, tc.in); got != tc.want {
			t.Errorf("%s, Referer %q, own %q: %s, want %s", tc.in, tc.referer, tc.own, got, tc.want)
		}
	}
}
