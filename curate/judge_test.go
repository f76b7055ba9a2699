package curate

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/fingerprint"
)

const (
	uaChrome  = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
	uaFirefox = "Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0"
	uaSafari  = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15"
)

func golden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "fingerprint", "testdata", "golden", name+".hello"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func catalogue(t testing.TB, name string) *emulation.Profile {
	t.Helper()
	p, err := emulation.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// chromeHints are the low-entropy client hints Chromium 156 on Linux sends.
var chromeHints = []fingerprint.Header{
	{Name: "sec-ch-ua", Value: `"Not:A-Brand";v="8", "Chromium";v="156"`},
	{Name: "sec-ch-ua-mobile", Value: "?0"},
	{Name: "sec-ch-ua-platform", Value: `"Linux"`},
}

func fields(j Judgement) []string {
	var out []string
	for _, d := range j.Differences {
		out = append(out, d.Field)
	}
	return out
}

func TestJudgeRealBrowsersConsistent(t *testing.T) {
	chromium := catalogue(t, "chromium-156-linux")
	firefox := catalogue(t, "firefox-153-linux")
	for _, tc := range []struct {
		name string
		o    Observation
	}{
		{"chromium golden", Observation{UserAgent: uaChrome, Headers: chromeHints, Hellos: [][]byte{golden(t, "chromium")}, PseudoOrder: []string{":method", ":authority", ":scheme", ":path"}}},
		{"chromium catalogue", Observation{UserAgent: chromium.UserAgent, Headers: chromium.H2.Headers[emulation.Navigate], Hellos: [][]byte{chromium.TLS.ClientHello}, PseudoOrder: chromium.H2.PseudoOrder}},
		{"chromium two shuffled connections", Observation{UserAgent: uaChrome, Headers: chromeHints, Hellos: [][]byte{golden(t, "chromium"), chromium.TLS.ClientHello}}},
		{"firefox golden", Observation{UserAgent: uaFirefox, Hellos: [][]byte{golden(t, "firefox_esr"), golden(t, "firefox_esr")}, PseudoOrder: []string{":method", ":path", ":authority", ":scheme"}}},
		{"firefox catalogue", Observation{UserAgent: firefox.UserAgent, Headers: firefox.H2.Headers[emulation.Navigate], Hellos: [][]byte{firefox.TLS.ClientHello}, PseudoOrder: firefox.H2.PseudoOrder}},
		{"safari parrot", Observation{UserAgent: uaSafari, Hellos: [][]byte{golden(t, "utls_safari_auto")}}},
		{"plain http chrome", Observation{UserAgent: uaChrome}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := Judge(tc.o)
			if !j.Consistent {
				t.Fatalf("refused: %s (differences %+v, markers %v)", j.Reason, j.Differences, j.Markers)
			}
		})
	}
}

func TestJudgeRefusesLiars(t *testing.T) {
	for _, tc := range []struct {
		name       string
		o          Observation
		wantFields []string // every one must be among the differences
		wantReason string   // substring
	}{
		{"curl as chrome", Observation{UserAgent: uaChrome, Headers: chromeHints, Hellos: [][]byte{golden(t, "curl")}},
			[]string{"GREASE", "TLS 1.3 cipher order", "ALPS extension"}, "do not fit a Chromium-based browser"},
		{"go as chrome", Observation{UserAgent: uaChrome, Headers: chromeHints, Hellos: [][]byte{golden(t, "go_crypto_tls")}},
			[]string{"GREASE", "ALPS extension"}, "claims chromium 156"},
		{"chromium hello as firefox", Observation{UserAgent: uaFirefox, Hellos: [][]byte{golden(t, "chromium")}},
			[]string{"GREASE", "TLS 1.3 cipher order", "ALPS extension", "record_size_limit extension"}, "do not fit Firefox"},
		{"firefox hello as chrome", Observation{UserAgent: uaChrome, Headers: chromeHints, Hellos: [][]byte{golden(t, "firefox_esr")}},
			[]string{"GREASE", "TLS 1.3 cipher order"}, ""},
		{"chrome parrot without shuffle", Observation{UserAgent: uaChrome, Headers: chromeHints, Hellos: [][]byte{golden(t, "chromium"), golden(t, "chromium")}},
			[]string{"extension order"}, ""},
		{"chrome ua without client hints over tls", Observation{UserAgent: uaChrome, Hellos: [][]byte{golden(t, "chromium")}},
			[]string{"client hints"}, ""},
		{"hints contradict ua version", Observation{UserAgent: uaChrome, Headers: []fingerprint.Header{{Name: "sec-ch-ua", Value: `"Chromium";v="120"`}}, Hellos: [][]byte{golden(t, "chromium")}},
			[]string{"client hints"}, ""},
		{"hints contradict ua platform", Observation{UserAgent: uaChrome, Headers: append(slices.Clone(chromeHints[:2]), fingerprint.Header{Name: "sec-ch-ua-platform", Value: `"Windows"`}), Hellos: [][]byte{golden(t, "chromium")}},
			[]string{"client hints"}, ""},
		{"firefox with client hints", Observation{UserAgent: uaFirefox, Headers: chromeHints, Hellos: [][]byte{golden(t, "firefox_esr")}},
			[]string{"client hints"}, ""},
		{"chrome with firefox pseudo order", Observation{UserAgent: uaChrome, Headers: chromeHints, Hellos: [][]byte{golden(t, "chromium")}, PseudoOrder: []string{":method", ":path", ":authority", ":scheme"}},
			[]string{"HTTP/2 pseudo-header order"}, ""},
		{"curl ua", Observation{UserAgent: "curl/7.88.1", Hellos: [][]byte{golden(t, "curl")}}, nil, "names curl"},
		{"python", Observation{UserAgent: "python-requests/2.31.0"}, nil, "python-requests"},
		{"go default", Observation{UserAgent: "Go-http-client/2.0"}, nil, "go-http-client"},
		{"headless chrome", Observation{UserAgent: strings.Replace(uaChrome, "Chrome/", "HeadlessChrome/", 1), Headers: chromeHints, Hellos: [][]byte{golden(t, "chromium")}}, nil, "headlesschrome"},
		{"unknown", Observation{UserAgent: "Mozilla/5.0 (compatible; Foo/1.0)"}, nil, "no known browser"},
		{"empty", Observation{}, nil, "no User-Agent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := Judge(tc.o)
			if j.Consistent {
				t.Fatalf("accepted a lying client")
			}
			got := fields(j)
			for _, f := range tc.wantFields {
				if !slices.Contains(got, f) {
					t.Errorf("differences %v lack %q", got, f)
				}
			}
			if tc.wantReason != "" && !strings.Contains(j.Reason, tc.wantReason) {
				t.Errorf("reason %q lacks %q", j.Reason, tc.wantReason)
			}
		})
	}
}

// visitOf makes a visit's captures from a profile, as fpserver would
// store them for a browser that loads the page over HTTP/2 (navigate,
// fetch, xhr) from one connection with hello.
func visitOf(p *emulation.Profile, hello []byte, at time.Time) []emulation.VisitCapture {
	var caps []emulation.VisitCapture
	for i, in := range []emulation.Initiator{emulation.Navigate, emulation.Fetch, emulation.XHR} {
		hs := []fingerprint.Header{}
		for _, ps := range p.H2.PseudoOrder {
			hs = append(hs, fingerprint.Header{Name: ps, Value: "x"})
		}
		hs = append(hs, p.H2.Headers[in]...)
		var hp *fingerprint.H2Priority
		if pr, ok := p.H2.HeadersPriority[in]; ok {
			pr.StreamID = uint32(1 + 2*i)
			hp = &pr
		}
		caps = append(caps, emulation.VisitCapture{
			ID: "c" + string(in), CreatedAt: at.Add(time.Duration(i) * time.Second), Initiator: in, HTTPVersion: "2",
			ClientHello: hello, UserAgent: p.UserAgent, Headers: hs,
			H2: &emulation.VisitH2{Settings: p.H2.Settings, WindowUpdate: p.H2.WindowUpdate, Priorities: p.H2.PriorityFrames, HeadersPriority: hp},
		})
	}
	return caps
}

func TestEvaluateVisit(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	chromium := catalogue(t, "chromium-156-linux")
	firefox := catalogue(t, "firefox-153-linux")

	a := EvaluateVisit("v1", visitOf(chromium, chromium.TLS.ClientHello, now), now)
	if !a.Accepted {
		t.Fatalf("chromium visit refused: %s", a.Reason)
	}
	if a.BrowserKey != "chromium/156/linux/desktop" {
		t.Errorf("browser key %q", a.BrowserKey)
	}
	// Another connection of the same browser: another extension order and
	// random, same wire identity.
	b := EvaluateVisit("v2", visitOf(chromium, golden(t, "chromium"), now), now)
	if !b.Accepted || b.WireKey != a.WireKey {
		wa, _ := WireIdentity(a.Profile)
		wb, _ := WireIdentity(b.Profile)
		t.Errorf("same browser, wire keys differ or refused (%s):\n%s\n---\n%s", b.Reason, wa, wb)
	}
	f := EvaluateVisit("v3", visitOf(firefox, firefox.TLS.ClientHello, now), now)
	if !f.Accepted || f.WireKey == a.WireKey || f.BrowserKey != "firefox/153/linux/desktop" {
		t.Errorf("firefox visit: accepted %v (%s), key %s", f.Accepted, f.Reason, f.BrowserKey)
	}
	// A different HTTP/2 SETTINGS order is another wire identity.
	alt := *chromium
	h2 := *chromium.H2
	h2.Settings = slices.Clone(h2.Settings)
	slices.Reverse(h2.Settings)
	alt.H2 = &h2
	c := EvaluateVisit("v4", visitOf(&alt, chromium.TLS.ClientHello, now), now)
	if !c.Accepted || c.WireKey == a.WireKey || c.BrowserKey != a.BrowserKey {
		t.Errorf("reordered SETTINGS: accepted %v, same wire key %v", c.Accepted, c.WireKey == a.WireKey)
	}

	// No script probes: refused.
	nav := visitOf(chromium, chromium.TLS.ClientHello, now)[:1]
	if e := EvaluateVisit("v5", nav, now); e.Accepted || !strings.Contains(e.Reason, "script did not run") {
		t.Errorf("navigation only: accepted %v reason %q", e.Accepted, e.Reason)
	}
	// No navigation: refused.
	if e := EvaluateVisit("v6", visitOf(chromium, chromium.TLS.ClientHello, now)[1:], now); e.Accepted || !strings.Contains(e.Reason, "no page navigation") {
		t.Errorf("probes only: accepted %v reason %q", e.Accepted, e.Reason)
	}
	// curl's hello under Chromium's claims: refused with the differences.
	e := EvaluateVisit("v7", visitOf(chromium, golden(t, "curl"), now), now)
	if e.Accepted || e.Details()["differences"] == nil {
		t.Errorf("curl hello accepted (%v) or no differences in %v", e.Accepted, e.Details())
	}
}

func TestClosest(t *testing.T) {
	chromium := catalogue(t, "chromium-156-linux")
	firefox := catalogue(t, "firefox-153-linux")
	ps := []*emulation.Profile{chromium, firefox}
	caps := visitOf(chromium, chromium.TLS.ClientHello, time.Now())
	o := VisitObservation(caps, &caps[0])
	c := Closest(o, emulation.Navigate, ps)
	if c.Profile != chromium.Name || len(c.Differences) != 0 {
		t.Errorf("the profile's own visit: %+v", c)
	}
	o.Hellos = [][]byte{golden(t, "curl")}
	c = Closest(o, emulation.Navigate, ps)
	if c.Profile != chromium.Name || len(c.Differences) != 1 || c.Differences[0].Field != "ja4" {
		t.Errorf("curl hello: %+v", c)
	}
	if c := Closest(Observation{UserAgent: "curl/8"}, emulation.Navigate, ps); c.Profile != "" {
		t.Errorf("curl matched %s", c.Profile)
	}
}

// benchObservation is a Chromium navigation as fpserver judges a live
// request: the catalogue profile's own hello, preface and headers.
func benchObservation(b *testing.B) (Observation, []*emulation.Profile) {
	ps, err := emulation.Catalogue()
	if err != nil {
		b.Fatal(err)
	}
	chromium := catalogue(b, "chromium-156-linux")
	caps := visitOf(chromium, chromium.TLS.ClientHello, time.Now())
	return VisitObservation(caps, &caps[0]), ps
}

// BenchmarkJudge is curate.Judge on a Chromium navigation: what a new
// connection's first /api/fingerprint or page view costs for its verdict.
func BenchmarkJudge(b *testing.B) {
	o, _ := benchObservation(b)
	for b.Loop() {
		if j := Judge(o); !j.Consistent {
			b.Fatal(j.Reason)
		}
	}
}

// BenchmarkClosest is curate.Closest against the whole built-in catalogue
// on a Chromium navigation: what every /api/fingerprint request and page
// view of a browser costs for its closest profile.
func BenchmarkClosest(b *testing.B) {
	o, ps := benchObservation(b)
	for b.Loop() {
		if c := Closest(o, emulation.Navigate, ps); c.Profile == "" {
			b.Fatal("no profile")
		}
	}
}

// TestObservationParsed: Judge and Closest give the same answers when the
// caller hands them the hellos already parsed (and the first one's JA4) as
// when they parse the records themselves.
func TestObservationParsed(t *testing.T) {
	ps, err := emulation.Catalogue()
	if err != nil {
		t.Fatal(err)
	}
	uas := []string{
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
		"Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0",
		uaSafari, "curl/8.14.1",
	}
	compared := 0
	for _, name := range []string{"chromium", "firefox_esr", "curl", "go_crypto_tls", "utls_safari_auto"} {
		raw := golden(t, name)
		ch, err := fingerprint.ParseClientHello(raw)
		if err != nil {
			t.Fatal(err)
		}
		for _, ua := range uas {
			plain := Observation{UserAgent: ua, Headers: chromeHints, Hellos: [][]byte{raw, raw}}
			parsed := plain
			parsed.Parsed, parsed.JA4 = []*fingerprint.ClientHello{ch, nil}, ch.Fingerprints().JA4
			if got, want := Judge(parsed), Judge(plain); !reflect.DeepEqual(got, want) {
				t.Errorf("%s as %q: judgement from parsed hellos %+v, from records %+v", name, ua, got, want)
			}
			got, want := Closest(parsed, emulation.Navigate, ps), Closest(plain, emulation.Navigate, ps)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s as %q: closest from parsed hellos %+v, from records %+v", name, ua, got, want)
			}
			if len(want.Differences) > 0 {
				compared++
			}
		}
	}
	if compared == 0 {
		t.Fatal("no comparison found a difference: the JA4 went unchecked")
	}
}
