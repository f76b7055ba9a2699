package emulation

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/fingerprint"
)

func golden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../fingerprint/testdata/golden/" + name + ".hello")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const chromiumUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"

func h(pairs ...string) []Header {
	var out []Header
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, Header{Name: pairs[i], Value: pairs[i+1]})
	}
	return out
}

func chromiumVisit(t *testing.T) []VisitCapture {
	hello := golden(t, "chromium")
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	conn := func(prio *Priority) *VisitH2 {
		return &VisitH2{
			Settings:        []Setting{{ID: 1, Value: 65536}, {ID: 2, Value: 0}, {ID: 4, Value: 6291456}, {ID: 6, Value: 262144}},
			WindowUpdate:    15663105,
			HeadersPriority: prio,
		}
	}
	nav := h(":method", "GET", ":authority", "localhost:8443", ":scheme", "https", ":path", "/",
		"sec-ch-ua", `"Chromium";v="156", "Not-A.Brand";v="24"`, "sec-ch-ua-mobile", "?0", "sec-ch-ua-platform", `"Linux"`,
		"sec-ch-ua-arch", `"x86"`, "sec-ch-ua-full-version-list", `"Chromium";v="156.0.8078.108"`,
		"upgrade-insecure-requests", "1", "user-agent", chromiumUA, "accept", "text/html", "sec-fetch-site", "none",
		"sec-fetch-mode", "navigate", "sec-fetch-user", "?1", "sec-fetch-dest", "document", "accept-encoding", "gzip, deflate, br, zstd",
		"accept-language", "en-US,en;q=0.9", "cookie", "gv=abc", "priority", "u=0, i")
	fetch := h(":method", "POST", ":authority", "localhost:8443", ":scheme", "https", ":path", "/probe/fetch",
		"content-length", "2", "sec-ch-ua-platform", `"Linux"`, "user-agent", chromiumUA, "content-type", "text/plain",
		"accept", "*/*", "origin", "https://localhost:8443", "sec-fetch-site", "same-origin", "cookie", "gv=abc", "priority", "u=1, i")
	h1nav := h("Host", "localhost:8444", "Connection", "keep-alive", "sec-ch-ua", `"Chromium";v="156"`, "User-Agent", chromiumUA, "Cookie", "gv=abc")
	return []VisitCapture{
		{ID: "c3", CreatedAt: t0.Add(2 * time.Second), Initiator: Navigate, HTTPVersion: "1.1", ClientHello: hello, UserAgent: chromiumUA, Headers: h1nav},
		{ID: "c1", CreatedAt: t0, Initiator: Navigate, HTTPVersion: "2", ClientHello: hello, UserAgent: chromiumUA, Headers: nav,
			H2: conn(&Priority{StreamID: 1, Exclusive: true, DependsOn: 0, Weight: 256})},
		{ID: "c2", CreatedAt: t0.Add(time.Second), Initiator: Fetch, HTTPVersion: "2", ClientHello: hello, UserAgent: chromiumUA, Headers: fetch,
			H2: conn(&Priority{StreamID: 3, Exclusive: true, DependsOn: 0, Weight: 220})},
	}
}

func TestBuildFromVisit(t *testing.T) {
	p, err := Build("visit1", "", chromiumVisit(t), time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "chromium-156-linux" || p.Browser != "chromium" || p.Platform != "linux" || p.Version != "156.0.0.0" {
		t.Errorf("identity: %s %s %s %s", p.Name, p.Browser, p.Version, p.Platform)
	}
	if !p.ShuffleExtensions {
		t.Error("chromium must shuffle extensions")
	}
	if got := p.Expected.Akamai; got != "1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p" {
		t.Errorf("akamai %q", got)
	}
	want, _ := fingerprint.ParseClientHello(golden(t, "chromium"))
	if p.Expected.JA4 != want.Fingerprints().JA4 {
		t.Errorf("ja4 %s", p.Expected.JA4)
	}
	nav := p.H2.Headers[Navigate]
	if nav[0].Name != "sec-ch-ua" || strings.HasPrefix(nav[0].Name, ":") {
		t.Errorf("h2 navigate headers must be regular headers in order: %v", nav)
	}
	for _, hd := range nav {
		if hd.Name == "sec-ch-ua-arch" || hd.Name == "sec-ch-ua-full-version-list" {
			t.Errorf("requested (high-entropy) hint %s kept in the profile", hd.Name)
		}
	}
	if len(nav) != 14 {
		t.Errorf("navigate keeps %d headers, want the 16 captured regular headers minus 2 requested hints: %v", len(nav), nav)
	}
	for _, hd := range append(nav, p.H2.Headers[Fetch]...) {
		if IsCallerOnly(hd.Name) && hd.Value != "" {
			t.Errorf("caller-only header %s kept its captured value %q", hd.Name, hd.Value)
		}
	}
	if pr := p.H2.HeadersPriority[Fetch]; pr.Weight != 220 || !pr.Exclusive || pr.StreamID != 0 {
		t.Errorf("fetch HEADERS priority %+v", pr)
	}
	if p.H1 == nil || p.H1.Headers[Navigate][0].Name != "Host" {
		t.Errorf("h1 navigate headers missing or reordered: %+v", p.H1)
	}
	if strings.Join(p.Source.Captures, ",") != "c3,c1,c2" {
		t.Errorf("source captures %v", p.Source.Captures)
	}
	// The JSON round trip keeps everything and validates.
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	q, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := q.Marshal()
	if string(b) != string(b2) {
		t.Errorf("JSON round trip differs:\n%s\n%s", b, b2)
	}
}

func TestBuildErrors(t *testing.T) {
	if _, err := Build("v", "", nil, time.Now()); err == nil {
		t.Error("empty visit accepted")
	}
	caps := chromiumVisit(t)
	var noNav []VisitCapture
	for _, c := range caps {
		if c.Initiator != Navigate {
			noNav = append(noNav, c)
		}
	}
	if _, err := Build("v", "", noNav, time.Now()); err == nil || !strings.Contains(err.Error(), "navigation") {
		t.Errorf("visit without navigation: %v", err)
	}
	bad := chromiumVisit(t)
	for i := range bad {
		bad[i].ClientHello = []byte("GET / HTTP/1.1\r\n\r\n")
	}
	if _, err := Build("v", "", bad, time.Now()); err == nil {
		t.Error("visit with no parseable hello accepted")
	}
}

func TestUnmarshalRejects(t *testing.T) {
	p, err := Build("visit1", "", chromiumVisit(t), time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := p.Marshal()
	cases := map[string]string{
		"unknown field":  strings.Replace(string(b), `"format": 1`, `"format": 1, "bogus": true`, 1),
		"wrong format":   strings.Replace(string(b), `"format": 1`, `"format": 2`, 1),
		"bad name":       strings.Replace(string(b), `"name": "chromium-156-linux"`, `"name": "Bad Name"`, 1),
		"bad pseudo":     strings.Replace(string(b), `":path"`, `":bogus"`, 1),
		"bad hello":      strings.Replace(string(b), `"client_hello": "`, `"client_hello": "AAAA`, 1),
		"expected drift": strings.Replace(string(b), p.Expected.JA4, "t13d0000h2_000000000000_000000000000", 1),
	}
	for name, in := range cases {
		if in == string(b) {
			t.Fatalf("%s: replacement did not apply", name)
		}
		if _, err := Unmarshal([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestIdentify(t *testing.T) {
	cases := []struct{ ua, brands, browser, version, platform string }{
		{chromiumUA, `"Chromium";v="156", "Not-A.Brand";v="24"`, "chromium", "156.0.0.0", "linux"},
		{chromiumUA, `"Google Chrome";v="156", "Chromium";v="156"`, "chrome", "156.0.0.0", "linux"},
		{"Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0", "", "firefox", "153.0", "linux"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36 Edg/142.0.0.0", "", "edge", "142.0.0.0", "windows"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.0 Safari/605.1.15", "", "safari", "26.0", "macos"},
		{"curl/7.88.1", "", "unknown", "0", "unknown"},
	}
	for _, c := range cases {
		var hs []Header
		if c.brands != "" {
			hs = h("sec-ch-ua", c.brands)
		}
		b, v, p := identify(c.ua, hs)
		if b != c.browser || v != c.version || p != c.platform {
			t.Errorf("%s: got %s %s %s", c.ua, b, v, p)
		}
	}
}

func hdrs(names ...string) []Header {
	var out []Header
	for _, n := range names {
		out = append(out, Header{Name: n, Value: "v-" + n})
	}
	return out
}

func joinNames(hs []Header) string {
	var n []string
	for _, h := range hs {
		n = append(n, h.Name+"="+h.Value)
	}
	return strings.Join(n, ",")
}

func TestMergeCallerSlots(t *testing.T) {
	tests := []struct {
		name      string
		list      []Header
		repeat    []Header
		want      string
		wantAdded string
	}{
		{"chromium h2: cookie after accept-language",
			hdrs("sec-ch-ua", "accept", "accept-language", "priority"),
			hdrs(":method", ":path", "accept", "sec-ch-ua", "sec-ch-ua-arch", "accept-language", "cookie", "priority"),
			"sec-ch-ua=v-sec-ch-ua,accept=v-accept,accept-language=v-accept-language,cookie=,priority=v-priority", "cookie"},
		{"chromium h1: Cookie last",
			hdrs("Host", "Accept-Language"),
			hdrs("Host", "Upgrade-Insecure-Requests", "Accept-Language", "Cookie"),
			"Host=v-Host,Accept-Language=v-Accept-Language,Cookie=", "Cookie"},
		{"no shared predecessor: front",
			hdrs("accept"),
			hdrs(":method", "referer", "accept"),
			"referer=,accept=v-accept", "referer"},
		{"present slots and non-caller-only headers are left alone",
			hdrs("accept", "cookie"),
			hdrs("accept", "sec-ch-ua-model", "cookie", "x-new"),
			"accept=v-accept,cookie=v-cookie", ""},
	}
	for _, tc := range tests {
		got, added := mergeCallerSlots(tc.list, tc.repeat)
		if joinNames(got) != tc.want || strings.Join(added, ",") != tc.wantAdded {
			t.Errorf("%s:\n got %s (added %v)\nwant %s (added %s)", tc.name, joinNames(got), added, tc.want, tc.wantAdded)
		}
	}
}

func TestAddCallerSlotsUsesRepeatsOnly(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &Profile{
		H2: &H2{Headers: map[Initiator][]Header{Navigate: hdrs("accept", "priority")}},
		H1: &H1{Headers: map[Initiator][]Header{Navigate: hdrs("Host", "Accept")}},
	}
	caps := []VisitCapture{
		// Out of time order on purpose: the earliest is the builder's.
		{CreatedAt: t0.Add(time.Second), Initiator: Navigate, HTTPVersion: "2", Headers: hdrs("accept", "cookie", "priority")},
		{CreatedAt: t0, Initiator: Navigate, HTTPVersion: "2", Headers: hdrs("accept", "priority")},
		{CreatedAt: t0, Initiator: Navigate, HTTPVersion: "1.1", Headers: hdrs("Host", "Accept", "Cookie")},
	}
	added := addCallerSlots(p, caps)
	if strings.Join(added, ",") != "h2/navigate:cookie" {
		t.Errorf("added %v", added)
	}
	if got := joinNames(p.H2.Headers[Navigate]); got != "accept=v-accept,cookie=,priority=v-priority" {
		t.Errorf("h2 navigate %s", got)
	}
	if got := joinNames(p.H1.Headers[Navigate]); got != "Host=v-Host,Accept=v-Accept" {
		t.Errorf("h1 navigate changed without a repeat: %s", got)
	}
}

// TestBuildWebSocketLists: a visit with WebSocket handshakes (an HTTP/2
// extended CONNECT and an HTTP/1.1 Upgrade) gives h2.headers.websocket,
// its HEADERS priority and h1.headers.websocket, in the handshakes' order
// without pseudo headers, with the key, extensions, origin and cookie
// values blanked; the
// profile validates and survives a JSON round trip.
func TestBuildWebSocketLists(t *testing.T) {
	hello := golden(t, "chromium")
	t0 := time.Date(2026, 11, 27, 12, 0, 10, 0, time.UTC)
	h2ws := h(":method", "CONNECT", ":authority", "localhost:8443", ":scheme", "https", ":path", "/probe/ws", ":protocol", "websocket",
		"pragma", "no-cache", "cache-control", "no-cache", "user-agent", chromiumUA, "origin", "https://localhost:8443",
		"sec-websocket-version", "13", "accept-encoding", "gzip, deflate, br, zstd", "accept-language", "en-US,en;q=0.9",
		"cookie", "gv=abc", "sec-websocket-extensions", "permessage-deflate; client_max_window_bits")
	h1ws := h("Host", "localhost:8444", "Connection", "Upgrade", "Pragma", "no-cache", "Cache-Control", "no-cache",
		"User-Agent", chromiumUA, "Upgrade", "websocket", "Origin", "https://localhost:8444", "Sec-WebSocket-Version", "13",
		"Accept-Encoding", "gzip, deflate, br, zstd", "Accept-Language", "en-US,en;q=0.9", "Cookie", "gv=abc",
		"Sec-WebSocket-Key", "jJhJJlVqgaAsiKbWcVNG7Q==", "Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")
	caps := append(chromiumVisit(t),
		VisitCapture{ID: "ws2", CreatedAt: t0, Initiator: WebSocket, HTTPVersion: "2", ClientHello: hello, UserAgent: chromiumUA, Headers: h2ws,
			H2: &VisitH2{Settings: []Setting{{ID: 1, Value: 65536}}, HeadersPriority: &Priority{StreamID: 9, Exclusive: true, Weight: 256}}},
		VisitCapture{ID: "ws1", CreatedAt: t0.Add(time.Second), Initiator: WebSocket, HTTPVersion: "1.1", ClientHello: hello, UserAgent: chromiumUA, Headers: h1ws},
	)
	p, err := Build("visit1", "", caps, t0)
	if err != nil {
		t.Fatal(err)
	}
	const wantH2 = "pragma=no-cache,cache-control=no-cache,user-agent=" + chromiumUA + ",origin=,sec-websocket-version=13," +
		"accept-encoding=gzip, deflate, br, zstd,accept-language=en-US,en;q=0.9,cookie=,sec-websocket-extensions="
	if got := joinNames(p.H2.Headers[WebSocket]); got != wantH2 {
		t.Errorf("h2 websocket list\n got %s\nwant %s", got, wantH2)
	}
	if pr, ok := p.H2.HeadersPriority[WebSocket]; !ok || pr != (Priority{Exclusive: true, Weight: 256}) {
		t.Errorf("h2 websocket HEADERS priority %+v, %v", pr, ok)
	}
	const wantH1 = "Host=,Connection=Upgrade,Pragma=no-cache,Cache-Control=no-cache,User-Agent=" + chromiumUA +
		",Upgrade=websocket,Origin=,Sec-WebSocket-Version=13,Accept-Encoding=gzip, deflate, br, zstd,Accept-Language=en-US,en;q=0.9," +
		"Cookie=,Sec-WebSocket-Key=,Sec-WebSocket-Extensions="
	if got := joinNames(p.H1.Headers[WebSocket]); got != wantH1 {
		t.Errorf("h1 websocket list\n got %s\nwant %s", got, wantH1)
	}
	if got := strings.Join(p.Source.Captures, ","); !strings.Contains(got, "ws1") || !strings.Contains(got, "ws2") {
		t.Errorf("source captures %s lack the handshakes", got)
	}
	// The navigation still gives the pseudo order (no :protocol).
	if got := strings.Join(p.H2.PseudoOrder, ","); got != ":method,:authority,:scheme,:path" {
		t.Errorf("pseudo order %s", got)
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, b); err != nil {
		t.Fatal(err)
	}
	if js := compact.String(); !strings.Contains(js, `"websocket":[["pragma","no-cache"]`) || !strings.Contains(js, `"websocket":[["Host",""]`) {
		t.Errorf("profile JSON lacks the websocket lists: %s", js)
	}
	back, err := Unmarshal(b)
	if err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if joinNames(back.H1.Headers[WebSocket]) != wantH1 || joinNames(back.H2.Headers[WebSocket]) != wantH2 {
		t.Error("websocket lists lost in the JSON round trip")
	}

	// An HTTP/1.1 handshake without an HTTP/1.1 navigation (the browser
	// fell back from the HTTP/2 page) adds no h1 lists.
	var h2only []VisitCapture
	for _, c := range caps {
		if c.HTTPVersion == "2" || c.Initiator == WebSocket {
			h2only = append(h2only, c)
		}
	}
	p, err = Build("visit2", "", h2only, t0)
	if err != nil {
		t.Fatal(err)
	}
	if p.H1 != nil {
		t.Errorf("h1 lists from a lone HTTP/1.1 handshake: %v", p.H1.Headers)
	}
	if len(p.H2.Headers[WebSocket]) == 0 {
		t.Error("h2 websocket list missing")
	}
	if strings.Contains(strings.Join(p.Source.Captures, ","), "ws1") {
		t.Errorf("source names the unused handshake: %v", p.Source.Captures)
	}
}

// TestInitiatorLists: the request initiators leave WebSocket out, the full
// list and Valid take it.
func TestInitiatorLists(t *testing.T) {
	for _, in := range Initiators() {
		if in == WebSocket {
			t.Error("Initiators() lists websocket: loops that send one request per initiator would send a handshake")
		}
	}
	all := AllInitiators()
	if len(all) != len(Initiators())+1+len(Subresources()) || all[len(Initiators())] != WebSocket || !WebSocket.Valid() {
		t.Errorf("AllInitiators() = %v", all)
	}
	for _, in := range Subresources() {
		if !in.Valid() || !in.IsSubresource() || slices.Contains(Initiators(), in) {
			t.Errorf("sub-resource %s: Valid %v, IsSubresource %v, in Initiators()", in, in.Valid(), in.IsSubresource())
		}
	}
	if Initiator("echo").Valid() {
		t.Error("echo is not a profile initiator")
	}
}

// TestBuildNoAcceptCHVisit: with captures of a second visit to an origin
// that never sent Accept-CH, the ordinary lists are that visit's (its own
// low-entropy hint positions, not the Accept-CH lists with hints removed),
// client_hints keeps the Accept-CH visit's lists, and the ClientHello,
// user agent and profile name stay the Accept-CH visit's.
func TestBuildNoAcceptCHVisit(t *testing.T) {
	caps := chromiumVisit(t)
	t0 := caps[1].CreatedAt
	// The Accept-CH visit's fetch carries requested hints.
	caps[2].Headers = h(":method", "POST", ":authority", "localhost:8443", ":scheme", "https", ":path", "/probe/fetch",
		"sec-ch-ua-full-version-list", `"Chromium";v="156.0.8078.108"`, "sec-ch-ua-platform", `"Linux"`, "sec-ch-ua", `"Chromium";v="156"`,
		"sec-ch-ua-arch", `"x86"`, "user-agent", chromiumUA, "accept", "*/*", "cookie", "gv=abc", "priority", "u=1, i")
	plainNav := h(":method", "GET", ":authority", "plain.localhost:8443", ":scheme", "https", ":path", "/",
		"sec-ch-ua-platform", `"Linux"`, "sec-ch-ua", `"Chromium";v="156"`, "sec-ch-ua-mobile", "?0",
		"upgrade-insecure-requests", "1", "user-agent", chromiumUA, "accept", "text/html", "priority", "u=0, i")
	plainFetch := h(":method", "POST", ":authority", "plain.localhost:8443", ":scheme", "https", ":path", "/probe/fetch",
		"sec-ch-ua-platform", `"Linux"`, "user-agent", chromiumUA, "sec-ch-ua", `"Chromium";v="156"`, "accept", "*/*",
		"sec-ch-ua-mobile", "?0", "cookie", "gv=def", "priority", "u=1, i")
	otherHello := golden(t, "firefox_esr")
	h2 := func() *VisitH2 {
		return &VisitH2{Settings: []Setting{{ID: 1, Value: 65536}}, WindowUpdate: 15663105,
			HeadersPriority: &Priority{StreamID: 1, Exclusive: true, Weight: 147}}
	}
	caps = append(caps,
		VisitCapture{ID: "p1", CreatedAt: t0.Add(10 * time.Second), Initiator: Navigate, HTTPVersion: "2", ClientHello: otherHello,
			UserAgent: "plain-visit-agent", Headers: plainNav, H2: h2(), NoAcceptCH: true},
		VisitCapture{ID: "p2", CreatedAt: t0.Add(11 * time.Second), Initiator: Fetch, HTTPVersion: "2", ClientHello: otherHello,
			UserAgent: "plain-visit-agent", Headers: plainFetch, H2: h2(), NoAcceptCH: true})
	p, err := Build("k", "", caps, t0)
	if err != nil {
		t.Fatal(err)
	}
	// The cookie slot comes from the Accept-CH visit's navigation.
	wantNav := "sec-ch-ua-platform=\"Linux\",sec-ch-ua=\"Chromium\";v=\"156\",sec-ch-ua-mobile=?0,upgrade-insecure-requests=1,user-agent=" +
		chromiumUA + ",accept=text/html,cookie=,priority=u=0, i"
	if got := joinNames(p.H2.Headers[Navigate]); got != wantNav {
		t.Errorf("h2 navigate %s\nwant %s", got, wantNav)
	}
	wantFetch := "sec-ch-ua-platform=\"Linux\",user-agent=" + chromiumUA + ",sec-ch-ua=\"Chromium\";v=\"156\",accept=*/*,sec-ch-ua-mobile=?0,cookie=,priority=u=1, i"
	if got := joinNames(p.H2.Headers[Fetch]); got != wantFetch {
		t.Errorf("h2 fetch %s\nwant %s", got, wantFetch)
	}
	if p.H2.HeadersPriority[Fetch].Weight != 147 {
		t.Errorf("h2 fetch priority %+v, want the no-Accept-CH request's", p.H2.HeadersPriority[Fetch])
	}
	if p.ClientHints == nil || len(p.ClientHints.H2[Fetch]) == 0 || p.ClientHints.H2[Fetch][0].Name != "sec-ch-ua-full-version-list" {
		t.Fatalf("client_hints fetch: %+v", p.ClientHints)
	}
	if p.UserAgent != chromiumUA || !bytes.Equal(p.TLS.ClientHello, golden(t, "chromium")) || p.Name != "chromium-156-linux" {
		t.Errorf("identity from the wrong visit: ua %q name %q", p.UserAgent, p.Name)
	}
	if !slices.Contains(p.Source.Captures, "p2") {
		t.Errorf("source captures %v lack the no-Accept-CH fetch", p.Source.Captures)
	}
}

// TestHintedListNoFallback: after Accept-CH, an initiator the profile has
// no client_hints list for (Chromium sends no hints on its WebSocket
// handshake) gets its ordinary list, not the navigation's hinted one.
func TestHintedListNoFallback(t *testing.T) {
	p, err := Lookup("chromium-156-linux")
	if err != nil {
		t.Fatal(err)
	}
	if p.ClientHints == nil || len(p.ClientHints.H1[WebSocket]) != 0 || len(p.H1.Headers[WebSocket]) == 0 {
		t.Fatal("the built-in chromium profile should have an h1 websocket list and no hinted one")
	}
	req, err := http.NewRequestWithContext(WithClientHints(context.Background(), p.HintNames()), http.MethodGet, "https://example.com/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Origin", "https://example.com")
	var got, want []string
	for _, h := range RequestHeadersFor(p, req, WebSocket, false) {
		got = append(got, h.Name)
	}
	for _, h := range p.H1.Headers[WebSocket] {
		if h.Name != "Cookie" && h.Name != "Sec-WebSocket-Extensions" {
			want = append(want, h.Name)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("websocket after Accept-CH: %q, want the ordinary list %q", got, want)
	}
	// A fetch still gets its hinted list.
	freq, _ := http.NewRequestWithContext(WithClientHints(context.Background(), p.HintNames()), http.MethodGet, "https://example.com/a", nil)
	if hs := RequestHeadersFor(p, freq, Fetch, true); !slices.ContainsFunc(hs, func(h Header) bool { return h.Name == "sec-ch-ua-arch" }) {
		t.Errorf("fetch after Accept-CH lacks sec-ch-ua-arch: %v", hs)
	}
}
