package emulation

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

func hs(pairs ...string) []Header {
	out := make([]Header, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, Header{Name: pairs[i], Value: pairs[i+1]})
	}
	return out
}

// rewriteProfile is a small Chromium-like profile; its lists are the
// fixtures every rule below is checked against.
func rewriteProfile() *Profile {
	return &Profile{
		Name: "test", Browser: "chromium", Version: "156.0.0.0", Platform: "linux",
		H1: &H1{Headers: map[Initiator][]Header{
			Navigate: hs("Host", "", "Connection", "keep-alive", "sec-ch-ua", `"Chromium";v="156"`,
				"User-Agent", "UA/1", "Accept", "text/html", "Sec-Fetch-Site", "none",
				"Accept-Encoding", "gzip, br", "Accept-Language", "en-US", "Cookie", ""),
		}},
		H2: &H2{Headers: map[Initiator][]Header{
			Navigate: hs("sec-ch-ua", `"Chromium";v="156"`, "sec-ch-ua-mobile", "?0", "sec-ch-ua-platform", `"Linux"`,
				"sec-ch-ua-arch", `"x86"`, "upgrade-insecure-requests", "1", "user-agent", "UA/1",
				"accept", "text/html", "sec-fetch-site", "none", "sec-fetch-mode", "navigate",
				"sec-fetch-dest", "document", "accept-encoding", "gzip, br", "accept-language", "en-US",
				"cookie", "", "priority", "u=0, i"),
			Fetch: hs("content-length", "", "pragma", "no-cache", "user-agent", "UA/1", "content-type", "",
				"accept", "*/*", "origin", "", "sec-fetch-site", "same-origin", "sec-fetch-mode", "cors",
				"referer", "", "accept-encoding", "gzip, br", "accept-language", "en-US", "cookie", "", "priority", "u=1, i"),
		}},
	}
}

// withWebSocketLists returns a copy of p with websocket lists shaped like
// Chromium's HTTP/1.1 handshake and Firefox's HTTP/2 extended CONNECT, as
// the builder writes them (caller-only values blank).
func withWebSocketLists(p *Profile) *Profile {
	c := *p
	h1 := *p.H1
	h1.Headers = map[Initiator][]Header{}
	for k, v := range p.H1.Headers {
		h1.Headers[k] = v
	}
	h1.Headers[WebSocket] = hs("Host", "", "Connection", "Upgrade", "Pragma", "no-cache", "Cache-Control", "no-cache",
		"User-Agent", "UA/1", "Upgrade", "websocket", "Origin", "", "Sec-WebSocket-Version", "13",
		"Accept-Encoding", "gzip, br", "Accept-Language", "en-US", "Cookie", "", "Sec-WebSocket-Key", "",
		"Sec-WebSocket-Extensions", "", "Sec-WebSocket-Protocol", "")
	h2 := *p.H2
	h2.Headers = map[Initiator][]Header{}
	for k, v := range p.H2.Headers {
		h2.Headers[k] = v
	}
	h2.Headers[WebSocket] = hs("user-agent", "UA/1", "accept", "*/*", "accept-language", "en-US", "accept-encoding", "gzip, br",
		"sec-websocket-version", "13", "origin", "", "sec-websocket-extensions", "", "cookie", "",
		"sec-fetch-dest", "empty", "sec-fetch-mode", "websocket", "sec-fetch-site", "same-origin", "pragma", "no-cache", "cache-control", "no-cache")
	c.H1, c.H2 = &h1, &h2
	return &c
}

func names(h []Header) string {
	var b strings.Builder
	for i, x := range h {
		if i > 0 {
			b.WriteString("|")
		}
		b.WriteString(x.Name + "=" + x.Value)
	}
	return b.String()
}

func TestRequestHeaders(t *testing.T) {
	p := rewriteProfile()
	const h2Nav = `sec-ch-ua="Chromium";v="156"|sec-ch-ua-mobile=?0|sec-ch-ua-platform="Linux"|upgrade-insecure-requests=1|user-agent=UA/1|accept=text/html|sec-fetch-site=none|sec-fetch-mode=navigate|sec-fetch-dest=document|accept-encoding=gzip, br|accept-language=en-US`
	tests := []struct {
		name   string
		method string
		url    string
		body   string
		header []string
		order  []string
		in     Initiator // "" = InitiatorOf
		h2     bool
		noH1   bool // use the profile without its HTTP/1.1 lists
		ws     bool // use the profile with websocket lists (withWebSocketLists)
		want   string
	}{
		{name: "navigate from the profile; high-entropy hint and empty caller-only slots dropped",
			url: "https://example.com/", h2: true, want: h2Nav + `|priority=u=0, i`},
		{name: "navigation: the profile's accept whatever the client sent, the caller's accept-language; caller user-agent, encoding and hints do not win",
			url: "https://example.com/", h2: true,
			header: []string{"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "Accept-Language", "de", "User-Agent", "curl/8",
				"Accept-Encoding", "identity", "Sec-Ch-Ua-Arch", `"arm"`, "Priority", "u=7"},
			want: `sec-ch-ua="Chromium";v="156"|sec-ch-ua-mobile=?0|sec-ch-ua-platform="Linux"|upgrade-insecure-requests=1|user-agent=UA/1|accept=text/html|sec-fetch-site=none|sec-fetch-mode=navigate|sec-fetch-dest=document|accept-encoding=gzip, br|accept-language=de|priority=u=0, i`},
		{name: "fetch: the caller's accept (page script sets it) and stated fetch metadata",
			url: "https://example.com/api", h2: true,
			header: []string{"Accept", "application/json", "Accept-Language", "de", "Sec-Fetch-Mode", "cors", "Sec-Fetch-Dest", "empty", "Priority", "u=7"},
			want:   `pragma=no-cache|user-agent=UA/1|accept=application/json|sec-fetch-site=same-origin|sec-fetch-mode=cors|accept-encoding=gzip, br|accept-language=de|priority=u=1, i`},
		{name: "cookies at the profile's slot, joined",
			url: "https://example.com/", h2: true, header: []string{"Cookie", "a=1", "Cookie", "b=2"},
			want: h2Nav + `|cookie=a=1; b=2|priority=u=0, i`},
		{name: "plain http: no client hints, no fetch metadata",
			url: "http://example.com/", h2: true,
			want: `upgrade-insecure-requests=1|user-agent=UA/1|accept=text/html|accept-encoding=gzip, br|accept-language=en-US|priority=u=0, i`},
		{name: "same-origin referer", url: "https://example.com/x", h2: true, header: []string{"Referer", "https://example.com/a"},
			want: strings.Replace(h2Nav, "sec-fetch-site=none", "sec-fetch-site=same-origin", 1) + `|priority=u=0, i|referer=https://example.com/a`},
		{name: "HTTP/1.1: host first from the request, profile casing, hop-by-hop and internal headers dropped",
			url: "https://example.com:8443/p",
			header: []string{"Connection", "close", "Proxy-Authorization", "Basic eA==", "Keep-Alive", "300",
				"X-Guanaco-Profile", "x", "X-Guanaco-Initiator", "navigate", "Transfer-Encoding", "chunked",
				"Upgrade", "h2c", "Te", "gzip", "Proxy-Connection", "keep-alive"},
			want: `Host=example.com:8443|Connection=keep-alive|sec-ch-ua="Chromium";v="156"|User-Agent=UA/1|Accept=text/html|Sec-Fetch-Site=none|Accept-Encoding=gzip, br|Accept-Language=en-US`},
		{name: "HTTP/1.1 cookie at its slot with the profile's casing",
			url: "https://example.com/", header: []string{"cookie", "a=1"},
			want: `Host=example.com|Connection=keep-alive|sec-ch-ua="Chromium";v="156"|User-Agent=UA/1|Accept=text/html|Sec-Fetch-Site=none|Accept-Encoding=gzip, br|Accept-Language=en-US|Cookie=a=1`},
		{name: "other caller headers after the profile's, in name order without a recorded order",
			url: "https://example.com/", h2: true, header: []string{"X-B", "2", "X-A", "1", "Authorization", "Bearer t"},
			want: h2Nav + `|priority=u=0, i|authorization=Bearer t|x-a=1|x-b=2`},
		{name: "other caller headers in the recorded order",
			url: "https://example.com/", h2: true, header: []string{"X-B", "2", "X-A", "1", "Authorization", "Bearer t"},
			order: []string{"x-b", "Authorization", "X-A"},
			want:  h2Nav + `|priority=u=0, i|x-b=2|authorization=Bearer t|x-a=1`},
		{name: "POST fetch: content-length, content-type and origin at the profile's slots; TE trailers kept",
			method: "POST", url: "https://api.example.com/v1", body: `{"a":1}`, h2: true,
			header: []string{"Content-Type", "application/json", "Origin", "https://www.example.com",
				"Referer", "https://www.example.com/page", "Te", "trailers"},
			want: `content-length=7|pragma=no-cache|user-agent=UA/1|content-type=application/json|accept=*/*|origin=https://www.example.com|sec-fetch-site=same-site|sec-fetch-mode=cors|referer=https://www.example.com/page|accept-encoding=gzip, br|accept-language=en-US|priority=u=1, i|te=trailers`},
		{name: "caller overrides a plain profile header (pragma)",
			method: "PUT", url: "https://example.com/", h2: true, header: []string{"Pragma", "x"},
			want: `content-length=0|pragma=x|user-agent=UA/1|accept=*/*|sec-fetch-site=same-origin|sec-fetch-mode=cors|accept-encoding=gzip, br|accept-language=en-US|priority=u=1, i`},
		{name: "xhr the profile lacks falls back to fetch",
			url: "https://example.com/", h2: true, header: []string{"X-Requested-With", "XMLHttpRequest"},
			want: `pragma=no-cache|user-agent=UA/1|accept=*/*|sec-fetch-site=same-origin|sec-fetch-mode=cors|accept-encoding=gzip, br|accept-language=en-US|priority=u=1, i|x-requested-with=XMLHttpRequest`},
		{name: "form the profile lacks falls back to navigate",
			method: "POST", url: "https://example.com/", h2: true, body: "a=1", header: []string{"Content-Type", "application/x-www-form-urlencoded"},
			want: `sec-ch-ua="Chromium";v="156"|sec-ch-ua-mobile=?0|sec-ch-ua-platform="Linux"|upgrade-insecure-requests=1|user-agent=UA/1|accept=text/html|sec-fetch-site=same-origin|sec-fetch-mode=navigate|sec-fetch-dest=document|accept-encoding=gzip, br|accept-language=en-US|priority=u=0, i|content-length=3|content-type=application/x-www-form-urlencoded`},
		{name: "HTTP/1.1 initiator the profile lacks falls back to the HTTP/1.1 navigate list",
			method: "POST", url: "https://example.com/", body: "x", in: Fetch,
			want: `Host=example.com|Connection=keep-alive|sec-ch-ua="Chromium";v="156"|User-Agent=UA/1|Accept=text/html|Sec-Fetch-Site=same-origin|Accept-Encoding=gzip, br|Accept-Language=en-US|Content-Length=1`},
		{name: "protocol the profile lacks falls back to the other list",
			method: "POST", url: "https://example.com/", body: "x", in: Fetch, noH1: true,
			want: `Host=example.com|content-length=1|pragma=no-cache|user-agent=UA/1|accept=*/*|sec-fetch-site=same-origin|sec-fetch-mode=cors|accept-encoding=gzip, br|accept-language=en-US|priority=u=1, i`},
		{name: "headers named in Connection are hop-by-hop",
			url: "https://example.com/", h2: true, header: []string{"Connection", "X-Secret, close", "X-Secret", "1", "X-Kept", "2"},
			want: h2Nav + `|priority=u=0, i|x-kept=2`},
		{name: "WebSocket over HTTP/1.1 keeps Upgrade and Connection: Upgrade",
			url: "https://example.com/ws",
			header: []string{"Upgrade", "websocket", "Connection", "Upgrade", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==",
				"Sec-WebSocket-Version", "13"},
			order: []string{"Sec-WebSocket-Version", "Sec-WebSocket-Key", "Upgrade"},
			want:  `Host=example.com|Connection=Upgrade|sec-ch-ua="Chromium";v="156"|User-Agent=UA/1|Accept=text/html|Sec-Fetch-Site=same-origin|Accept-Encoding=gzip, br|Accept-Language=en-US|Sec-WebSocket-Version=13|Sec-WebSocket-Key=dGhlIHNhbXBsZSBub25jZQ==|Upgrade=websocket`},
		{name: "WebSocket handshake follows the profile's websocket list; key, protocol, origin and cookie from the caller",
			url: "https://example.com/ws", ws: true,
			header: []string{"Upgrade", "websocket", "Connection", "Upgrade", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==",
				"Sec-WebSocket-Version", "13", "Sec-WebSocket-Protocol", "chat", "Origin", "https://example.com",
				"Cookie", "a=1", "User-Agent", "curl/8", "X-Extra", "1"},
			order: []string{"Sec-WebSocket-Protocol", "Sec-WebSocket-Key", "Upgrade", "X-Extra"},
			want:  `Host=example.com|Connection=Upgrade|Pragma=no-cache|Cache-Control=no-cache|User-Agent=UA/1|Upgrade=websocket|Origin=https://example.com|Sec-WebSocket-Version=13|Accept-Encoding=gzip, br|Accept-Language=en-US|Cookie=a=1|Sec-WebSocket-Key=dGhlIHNhbXBsZSBub25jZQ==|Sec-WebSocket-Protocol=chat|X-Extra=1`},
		{name: "WebSocket extensions only as the caller offers them",
			url: "https://example.com/ws", ws: true,
			header: []string{"Upgrade", "websocket", "Connection", "Upgrade", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==",
				"Sec-WebSocket-Version", "13", "Sec-WebSocket-Extensions", "permessage-deflate"},
			want: `Host=example.com|Connection=Upgrade|Pragma=no-cache|Cache-Control=no-cache|User-Agent=UA/1|Upgrade=websocket|Sec-WebSocket-Version=13|Accept-Encoding=gzip, br|Accept-Language=en-US|Sec-WebSocket-Key=dGhlIHNhbXBsZSBub25jZQ==|Sec-WebSocket-Extensions=permessage-deflate`},
		{name: "a WebSocket handshake takes the websocket list whatever initiator is asked for",
			url: "https://example.com/ws", ws: true, in: Navigate,
			header: []string{"Upgrade", "websocket", "Connection", "Upgrade", "Sec-WebSocket-Key", "k", "Sec-WebSocket-Version", "13"},
			want:   `Host=example.com|Connection=Upgrade|Pragma=no-cache|Cache-Control=no-cache|User-Agent=UA/1|Upgrade=websocket|Sec-WebSocket-Version=13|Accept-Encoding=gzip, br|Accept-Language=en-US|Sec-WebSocket-Key=k`},
		{name: "HTTP/2 websocket list for the websocket initiator (extended CONNECT)",
			url: "https://example.com/ws", ws: true, in: WebSocket, h2: true,
			header: []string{"Sec-WebSocket-Version", "13", "Origin", "https://example.com"},
			want:   `user-agent=UA/1|accept=*/*|accept-language=en-US|accept-encoding=gzip, br|sec-websocket-version=13|origin=https://example.com|sec-fetch-dest=empty|sec-fetch-mode=websocket|sec-fetch-site=same-origin|pragma=no-cache|cache-control=no-cache`},
		{name: "an ordinary request keeps the navigate list of a profile with websocket lists",
			url: "https://example.com/", ws: true,
			want: `Host=example.com|Connection=keep-alive|sec-ch-ua="Chromium";v="156"|User-Agent=UA/1|Accept=text/html|Sec-Fetch-Site=none|Accept-Encoding=gzip, br|Accept-Language=en-US`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req := httptest.NewRequest(method, tc.url, body)
			req.Header = http.Header{}
			for i := 0; i+1 < len(tc.header); i += 2 {
				req.Header.Add(tc.header[i], tc.header[i+1])
			}
			if tc.order != nil {
				req = req.WithContext(WithHeaderOrder(context.Background(), tc.order))
			}
			p := p
			if tc.noH1 {
				c := *p
				c.H1 = nil
				p = &c
			}
			if tc.ws {
				p = withWebSocketLists(p)
			}
			var got []Header
			if tc.in != "" {
				got = RequestHeadersFor(p, req, tc.in, tc.h2)
			} else {
				got = RequestHeaders(p, req, tc.h2)
			}
			if g := names(got); g != tc.want {
				t.Errorf("got\n  %s\nwant\n  %s", g, tc.want)
			}
			if tc.h2 {
				for _, h := range got {
					if strings.HasPrefix(h.Name, ":") {
						t.Errorf("pseudo header %q in the regular list", h.Name)
					}
				}
			}
		})
	}
}

func TestFetchSite(t *testing.T) {
	tests := []struct{ url, referer, want string }{
		{"https://example.com/", "", SiteNone},
		{"https://example.com/", "not a url", SiteNone},
		{"https://example.com/", "/relative", SiteNone},
		{"https://example.com/a", "https://example.com/b", SiteSameOrigin},
		{"https://example.com:443/a", "https://EXAMPLE.com/b", SiteSameOrigin},
		{"https://example.com:8443/a", "https://example.com/b", SiteSameSite},
		{"https://a.example.co.uk/", "https://b.example.co.uk/", SiteSameSite},
		{"https://example.co.uk/", "https://other.co.uk/", SiteCrossSite},
		{"https://alice.github.io/", "https://bob.github.io/", SiteCrossSite},
		{"https://example.com/", "https://example.org/", SiteCrossSite},
		{"https://example.com/", "http://example.com/", SiteCrossSite},
		{"https://127.0.0.1:8443/", "https://127.0.0.1:9443/", SiteSameSite},
		{"https://127.0.0.1/", "https://127.0.0.2/", SiteCrossSite},
		{"https://localhost:1/", "https://localhost:2/", SiteSameSite},
		{"https://[::1]:1/", "https://[::1]:1/x", SiteSameOrigin},
	}
	for _, tc := range tests {
		req := httptest.NewRequest("GET", tc.url, nil)
		if tc.referer != "" {
			req.Header.Set("Referer", tc.referer)
		}
		if got := FetchSite(req); got != tc.want {
			t.Errorf("FetchSite(%s, Referer %q) = %s, want %s", tc.url, tc.referer, got, tc.want)
		}
	}
	// Without a Referer the Origin names the initiator (a WebSocket
	// handshake, a no-referrer policy); the Referer wins when both exist.
	for _, tc := range []struct{ url, referer, origin, want string }{
		{"https://example.com/ws", "", "https://example.com", SiteSameOrigin},
		{"https://a.example.com/ws", "", "https://b.example.com", SiteSameSite},
		{"https://example.com/ws", "", "https://example.org", SiteCrossSite},
		{"https://example.com/ws", "", "null", SiteCrossSite},
		{"https://example.com/", "https://example.org/", "https://example.com", SiteCrossSite},
	} {
		req := httptest.NewRequest("GET", tc.url, nil)
		req.Header.Set("Origin", tc.origin)
		if tc.referer != "" {
			req.Header.Set("Referer", tc.referer)
		}
		if got := FetchSite(req); got != tc.want {
			t.Errorf("FetchSite(%s, Referer %q, Origin %q) = %s, want %s", tc.url, tc.referer, tc.origin, got, tc.want)
		}
	}
}

func TestInitiatorOf(t *testing.T) {
	tests := []struct {
		method string
		header []string
		want   Initiator
	}{
		{"GET", nil, Navigate},
		{"HEAD", nil, Navigate},
		{"GET", []string{"X-Requested-With", "XMLHttpRequest"}, XHR},
		{"GET", []string{"X-Requested-With", "xmlhttprequest"}, XHR},
		{"POST", []string{"Content-Type", "application/x-www-form-urlencoded"}, Form},
		{"POST", []string{"Content-Type", "multipart/form-data; boundary=x"}, Form},
		{"POST", []string{"Content-Type", "application/json"}, Fetch},
		{"POST", nil, Fetch},
		{"PUT", []string{"Content-Type", "application/x-www-form-urlencoded"}, Fetch},
		{"DELETE", nil, Fetch},
		{"GET", []string{"X-Guanaco-Initiator", "fetch"}, Fetch},
		{"POST", []string{"X-Guanaco-Initiator", " XHR "}, XHR},
		{"GET", []string{"X-Guanaco-Initiator", "bogus"}, Navigate},
		{"GET", []string{"Upgrade", "websocket", "Connection", "Upgrade"}, WebSocket},
		{"GET", []string{"Upgrade", "WebSocket", "Connection", "keep-alive, Upgrade", "X-Guanaco-Initiator", "fetch"}, WebSocket},
		{"GET", []string{"Upgrade", "websocket", "Connection", "keep-alive"}, Navigate},
		{"GET", []string{"Upgrade", "h2c", "Connection", "Upgrade"}, Navigate},
		{"GET", []string{"X-Guanaco-Initiator", "websocket"}, Navigate},
	}
	for _, tc := range tests {
		req := httptest.NewRequest(tc.method, "https://example.com/", nil)
		for i := 0; i+1 < len(tc.header); i += 2 {
			req.Header.Set(tc.header[i], tc.header[i+1])
		}
		if got := InitiatorOf(req); got != tc.want {
			t.Errorf("InitiatorOf(%s %v) = %s, want %s", tc.method, tc.header, got, tc.want)
		}
	}
}

func TestCallerAccepts(t *testing.T) {
	tests := []struct {
		accept []string
		coding string
		want   bool
	}{
		{nil, "gzip", false},
		{nil, "identity", true},
		{[]string{"gzip, deflate"}, "gzip", true},
		{[]string{"gzip, deflate"}, "br", false},
		{[]string{"gzip;q=0"}, "gzip", false},
		{[]string{"gzip; q=0.5"}, "gzip", true},
		{[]string{"*"}, "zstd", true},
		{[]string{"*, br;q=0"}, "br", false},
		{[]string{"x-gzip"}, "gzip", true},
		{[]string{"deflate", "BR"}, "br", true},
	}
	for _, tc := range tests {
		req := httptest.NewRequest("GET", "https://example.com/", nil)
		for _, v := range tc.accept {
			req.Header.Add("Accept-Encoding", v)
		}
		if got := CallerAccepts(req, tc.coding); got != tc.want {
			t.Errorf("CallerAccepts(%q, %s) = %v, want %v", tc.accept, tc.coding, got, tc.want)
		}
	}
}

// encode applies codings in order (as a server lists them in
// Content-Encoding).
func encode(t testing.TB, data []byte, codings ...string) []byte {
	t.Helper()
	for _, c := range codings {
		var b bytes.Buffer
		var w io.WriteCloser
		switch c {
		case "gzip":
			w = gzip.NewWriter(&b)
		case "deflate":
			w = zlib.NewWriter(&b)
		case "rawdeflate":
			w, _ = flate.NewWriter(&b, flate.DefaultCompression)
		case "br":
			w = brotli.NewWriter(&b)
		case "zstd":
			zw, err := zstd.NewWriter(&b)
			if err != nil {
				t.Fatal(err)
			}
			w = zw
		default:
			t.Fatalf("no encoder for %s", c)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		data = b.Bytes()
	}
	return data
}

func response(req *http.Request, contentEncoding string, body []byte) *http.Response {
	h := http.Header{}
	if contentEncoding != "" {
		h.Set("Content-Encoding", contentEncoding)
	}
	h.Set("Content-Length", "999")
	return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: req}
}

func TestDecodeBody(t *testing.T) {
	plain := bytes.Repeat([]byte("guanaco emulation body "), 200)
	noAccept := httptest.NewRequest("GET", "https://example.com/", nil)
	acceptsGzip := httptest.NewRequest("GET", "https://example.com/", nil)
	acceptsGzip.Header.Set("Accept-Encoding", "gzip")
	tests := []struct {
		name    string
		req     *http.Request
		ce      string
		codings []string
		decoded bool
	}{
		{"gzip", noAccept, "gzip", []string{"gzip"}, true},
		{"x-gzip", noAccept, "x-gzip", []string{"gzip"}, true},
		{"deflate zlib", noAccept, "deflate", []string{"deflate"}, true},
		{"deflate raw", noAccept, "deflate", []string{"rawdeflate"}, true},
		{"br", noAccept, "br", []string{"br"}, true},
		{"zstd", noAccept, "zstd", []string{"zstd"}, true},
		{"chain", noAccept, "gzip, br", []string{"gzip", "br"}, true},
		{"no request decodes", nil, "br", []string{"br"}, true},
		{"caller accepts gzip", acceptsGzip, "gzip", []string{"gzip"}, false},
		{"caller accepts only part of a chain", acceptsGzip, "gzip, zstd", []string{"gzip", "zstd"}, true},
		{"identity", noAccept, "identity", nil, false},
		{"none", noAccept, "", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wire := encode(t, plain, tc.codings...)
			resp := response(tc.req, tc.ce, wire)
			if err := DecodeBody(resp); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if err := resp.Body.Close(); err != nil {
				t.Fatal(err)
			}
			want := wire
			if tc.decoded {
				want = plain
			}
			if !bytes.Equal(got, want) {
				t.Errorf("body: got %d bytes, want %d", len(got), len(want))
			}
			if tc.decoded {
				if resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("Content-Length") != "" || resp.ContentLength != -1 || !resp.Uncompressed {
					t.Errorf("decoded response keeps coding metadata: %v, length %d", resp.Header, resp.ContentLength)
				}
			} else if resp.Header.Get("Content-Length") != "999" || resp.Uncompressed {
				t.Errorf("untouched response was modified: %v", resp.Header)
			}
		})
	}
}

func TestDecodeBodyErrors(t *testing.T) {
	req := httptest.NewRequest("GET", "https://example.com/", nil)
	resp := response(req, "compress", []byte("x"))
	body := resp.Body
	if err := DecodeBody(resp); err == nil || !strings.Contains(err.Error(), "compress") {
		t.Errorf("unsupported coding: err = %v", err)
	}
	if resp.Body != body || resp.Header.Get("Content-Encoding") != "compress" {
		t.Error("a failed DecodeBody changed the response")
	}
	resp = response(req, "gzip", []byte("not gzip at all"))
	if err := DecodeBody(resp); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Error("reading a corrupt gzip body succeeded")
	}
}

func FuzzDecodeBody(f *testing.F) {
	plain := []byte("hello, guanaco")
	for _, c := range []string{"gzip", "deflate", "br", "zstd"} {
		f.Add(c, encode(f, plain, c))
	}
	f.Add("deflate", encode(f, plain, "rawdeflate"))
	f.Add("gzip, br", encode(f, plain, "gzip", "br"))
	f.Add("zstd", []byte{0x28, 0xb5, 0x2f, 0xfd, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, ce string, wire []byte) {
		resp := response(nil, ce, wire)
		if err := DecodeBody(resp); err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		if err := resp.Body.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzRequestHeaders(f *testing.F) {
	f.Add("https://example.com/a", "https://www.example.com/", "a=1", "X-Foo", "bar", "Connection", "x-foo")
	f.Add("http://127.0.0.1:8080/", "https://[::1]/", "", "Te", "trailers", "Upgrade", "websocket")
	f.Fuzz(func(t *testing.T, target, referer, cookie, k1, v1, k2, v2 string) {
		req, err := http.NewRequest("GET", target, nil)
		if err != nil || req.URL.Host == "" {
			return
		}
		for _, kv := range [][2]string{{"Referer", referer}, {"Cookie", cookie}, {k1, v1}, {k2, v2}} {
			if kv[0] != "" {
				req.Header.Add(kv[0], kv[1])
			}
		}
		p := rewriteProfile()
		for _, h2 := range []bool{false, true} {
			got := RequestHeaders(p, req, h2)
			seen := map[string]int{}
			for _, h := range got {
				l := strings.ToLower(h.Name)
				seen[l]++
				if isInternal(l) || l == "proxy-authorization" || l == "keep-alive" || l == "transfer-encoding" {
					t.Fatalf("forwarded %q", h.Name)
				}
				if h2 && h.Name != l {
					t.Fatalf("HTTP/2 header %q not lower-case", h.Name)
				}
				if l == "user-agent" && h.Value != "UA/1" {
					t.Fatalf("user agent %q not the profile's", h.Value)
				}
			}
			if !h2 && (len(got) == 0 || got[0].Name != "Host" || seen["host"] != 1) {
				t.Fatalf("HTTP/1.1 list without a leading single Host: %v", got)
			}
			if site := FetchSite(req); site != SiteNone && site != SiteSameOrigin && site != SiteSameSite && site != SiteCrossSite {
				t.Fatalf("FetchSite = %q", site)
			}
		}
	})
}

func TestFetchSiteOverrideAndSiteOf(t *testing.T) {
	req := httptest.NewRequest(http.MethodGet, "https://b.example/", nil)
	req.Header.Set("Referer", "https://b.example/x")
	if got := FetchSite(req); got != SiteSameOrigin {
		t.Fatalf("from the Referer: %s", got)
	}
	req = req.WithContext(WithFetchSite(req.Context(), SiteCrossSite))
	if got := FetchSite(req); got != SiteCrossSite {
		t.Errorf("override: %s, want cross-site", got)
	}
	u := func(s string) *url.URL { x, _ := url.Parse(s); return x }
	for _, c := range []struct{ a, b, want string }{
		{"https://a.example/", "https://a.example:443/p", SiteSameOrigin},
		{"https://a.example/", "https://www.a.example/", SiteSameSite},
		{"https://a.example/", "http://a.example/", SiteCrossSite},
		{"https://a.example/", "https://b.example/", SiteCrossSite},
	} {
		if got := SiteOf(u(c.a), u(c.b)); got != c.want {
			t.Errorf("SiteOf(%s, %s) = %s, want %s", c.a, c.b, got, c.want)
		}
	}
}

// TestCookiePosition checks where a navigation's cookie goes when the
// profile's navigation (a first visit) has no cookie slot: Firefox puts it
// after Accept-Encoding over HTTP/2 and after Connection over HTTP/1.1 (the
// place its form submissions show); Chromium's navigation has its own slot
// (after Accept-Language).
func TestCookiePosition(t *testing.T) {
	for _, tc := range []struct {
		profile string
		h2      bool
		after   string
	}{
		{"firefox-153-linux", true, "accept-encoding"},
		{"firefox-153-linux", false, "Connection"},
		{"chromium-156-linux", true, "accept-language"},
		{"chromium-156-linux", false, "Accept-Language"},
	} {
		p, err := Lookup(tc.profile)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest("GET", "https://example.com/", nil)
		req.Header.Set("Cookie", "a=1")
		hs := RequestHeadersFor(p, req, Navigate, tc.h2)
		i := slices.IndexFunc(hs, func(h Header) bool { return strings.EqualFold(h.Name, "cookie") })
		if i <= 0 || hs[i-1].Name != tc.after || hs[i].Value != "a=1" {
			var names []string
			for _, h := range hs {
				names = append(names, h.Name)
			}
			t.Errorf("%s h2=%v: cookie at %d in %v, want after %s", tc.profile, tc.h2, i, names, tc.after)
		}
		// Without a cookie nothing is added.
		req.Header.Del("Cookie")
		for _, h := range RequestHeadersFor(p, req, Navigate, tc.h2) {
			if strings.EqualFold(h.Name, "cookie") {
				t.Errorf("%s: a cookie header without a cookie", tc.profile)
			}
		}
	}
}
