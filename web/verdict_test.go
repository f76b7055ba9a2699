package web

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/guanaco-fp/guanaco/capture"
	"github.com/guanaco-fp/guanaco/curate"
	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/fingerprint"
)

// verdictJSON is the "verdict" object of /api/fingerprint.
type verdictJSON struct {
	Claimed            string              `json:"claimed"`
	Consistent         bool                `json:"consistent"`
	Reason             string              `json:"reason"`
	Markers            []string            `json:"markers"`
	Differences        []curate.Difference `json:"differences"`
	ClosestProfile     string              `json:"closest_profile"`
	ProfileDifferences []curate.Difference `json:"profile_differences"`
}

func catalogueProfiles(context.Context) []*emulation.Profile {
	ps, err := emulation.Catalogue()
	if err != nil {
		panic(err)
	}
	return ps
}

func TestVerdict(t *testing.T) {
	// Chromium's hello, preface and headers: consistent, closest profile
	// the built-in Chromium one.
	e := newEnv(t, func(d *Deps) { d.KnownProfiles = catalogueProfiles })
	var got struct {
		Verdict *verdictJSON `json:"verdict"`
	}
	decodeJSON(t, e.do(http.MethodGet, "/api/fingerprint", nil, nil), &got)
	v := got.Verdict
	if v == nil || !v.Consistent || v.Claimed != "chromium 156.0.0.0 on linux" || v.ClosestProfile != "chromium-156-linux" {
		t.Fatalf("chromium verdict %+v", v)
	}
	for _, d := range v.ProfileDifferences {
		if d.Field == "ja4" || d.Field == "akamai" {
			t.Errorf("chromium differs from its own profile on %s: %+v", d.Field, d)
		}
	}
	// The page shows it.
	page := e.do(http.MethodGet, "/", nil, nil).Body.String()
	if !strings.Contains(page, `id="verdict"`) || !strings.Contains(page, "consistent") || !strings.Contains(page, "/profiles/chromium-156-linux") {
		t.Errorf("the page shows no verdict box")
	}

	// curl's hello under a Chrome User-Agent: inconsistent, with the
	// fields that give it away and the differences from the profile.
	e = newEnv(t, func(d *Deps) { d.KnownProfiles = catalogueProfiles; d.CaptureOf = curlH1Capture(t, false) })
	got.Verdict = nil
	decodeJSON(t, e.do(http.MethodGet, "/api/fingerprint", nil, func(r *http.Request) {
		r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36")
	}), &got)
	v = got.Verdict
	if v == nil || v.Consistent || !strings.Contains(v.Reason, "do not fit a Chromium-based browser") || v.ClosestProfile != "chromium-156-linux" {
		t.Fatalf("curl-as-chrome verdict %+v", v)
	}
	fields := map[string]bool{}
	for _, d := range v.Differences {
		fields[d.Field] = true
	}
	for _, f := range []string{"GREASE", "TLS 1.3 cipher order", "client hints"} {
		if !fields[f] {
			t.Errorf("differences %+v lack %s", v.Differences, f)
		}
	}
	ja4Differs := false
	for _, d := range v.ProfileDifferences {
		ja4Differs = ja4Differs || d.Field == "ja4"
	}
	if !ja4Differs {
		t.Errorf("profile differences %+v lack ja4", v.ProfileDifferences)
	}
	// Plain curl: refused as a tool, no closest profile.
	got.Verdict = nil
	decodeJSON(t, e.do(http.MethodGet, "/api/fingerprint", nil, nil), &got)
	if v := got.Verdict; v == nil || v.Consistent || !strings.Contains(v.Reason, "curl") || v.ClosestProfile != "" {
		t.Errorf("curl verdict %+v", v)
	}
	// /api/clean carries no verdict (it is the cheap endpoint).
	if body := e.do(http.MethodGet, "/api/clean", nil, nil).Body.String(); strings.Contains(body, `"verdict"`) {
		t.Errorf("/api/clean has a verdict")
	}
}

// TestJudgeConnReuse: a connection's judgement is reused only for the same
// User-Agent, header list and pseudo-header order; anything else is judged
// afresh and equals curate.Judge's.
func TestJudgeConnReuse(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "fingerprint", "testdata", "golden", "chromium.hello"))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := fingerprint.ParseClientHello(raw)
	if err != nil {
		t.Fatal(err)
	}
	info := &capture.TLSInfo{Raw: raw, Hello: ch}
	chrome := "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
	obs := func(ua, platform string, pseudo ...string) curate.Observation {
		// The header list leaves the User-Agent out, so a change of
		// User-Agent alone must be noticed.
		return curate.Observation{UserAgent: ua, Hellos: [][]byte{raw}, PseudoOrder: pseudo, Headers: []fingerprint.Header{
			{Name: "sec-ch-ua-platform", Value: platform}}}
	}
	for i, o := range []curate.Observation{
		obs(chrome, `"Linux"`, ":method", ":authority", ":scheme", ":path"),
		obs(chrome, `"Linux"`, ":method", ":authority", ":scheme", ":path"), // reused
		obs("curl/8.11.1", `"Linux"`, ":method", ":authority", ":scheme", ":path"),
		obs(chrome, `"Windows"`, ":method", ":authority", ":scheme", ":path"),
		obs(chrome, `"Windows"`, ":method", ":path", ":authority", ":scheme"),
		obs(chrome, `"Linux"`, ":method", ":authority", ":scheme", ":path"),
	} {
		got, want := judgeConn(connMemoOf(info), o), curate.Judge(o)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("request %d: judgement %+v, want %+v", i, got, want)
		}
	}
}

// TestClosestConnReuse: a connection's closest profile is reused only for
// the same User-Agent, header list, pseudo-header order, initiator and
// profile set; anything else is compared afresh and equals
// curate.Closest's.
func TestClosestConnReuse(t *testing.T) {
	all, err := emulation.Catalogue()
	if err != nil {
		t.Fatal(err)
	}
	var chromium *emulation.Profile
	var others []*emulation.Profile
	for _, p := range all {
		if p.Name == "chromium-156-linux" {
			chromium = p
		} else {
			others = append(others, p)
		}
	}
	if chromium == nil {
		t.Fatal("no chromium-156-linux in the catalogue")
	}
	info := &capture.TLSInfo{Raw: chromium.TLS.ClientHello}
	conn := connMemoOf(info)
	obs := func(ua string, headers []fingerprint.Header, pseudo ...string) curate.Observation {
		return curate.Observation{UserAgent: ua, Hellos: [][]byte{chromium.TLS.ClientHello}, PseudoOrder: pseudo, Headers: headers,
			H2: &emulation.VisitH2{Settings: chromium.H2.Settings, WindowUpdate: chromium.H2.WindowUpdate, Priorities: chromium.H2.PriorityFrames}}
	}
	own := chromium.H2.Headers[emulation.Navigate]
	swapped := slices.Clone(own)
	swapped[0], swapped[1] = swapped[1], swapped[0]
	pseudo := chromium.H2.PseudoOrder
	steps := []struct {
		o        curate.Observation
		in       emulation.Initiator
		profiles []*emulation.Profile
	}{
		{obs(chromium.UserAgent, own, pseudo...), emulation.Navigate, all},
		{obs(chromium.UserAgent, own, pseudo...), emulation.Navigate, all}, // reused
		{obs(chromium.UserAgent, own, pseudo...), emulation.Fetch, all},
		{obs(chromium.UserAgent, swapped, pseudo...), emulation.Navigate, all},
		{obs(chromium.UserAgent, own, ":method", ":path", ":authority", ":scheme"), emulation.Navigate, all},
		{obs(strings.Replace(chromium.UserAgent, "156", "150", 1), own, pseudo...), emulation.Navigate, all},
		{obs(chromium.UserAgent, own, pseudo...), emulation.Navigate, others}, // another profile set
		{obs(chromium.UserAgent, own, pseudo...), emulation.Navigate, all},
	}
	distinct := map[string]bool{}
	for i, s := range steps {
		got, want := closestConn(conn, s.o, s.in, s.profiles), curate.Closest(s.o, s.in, s.profiles)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("request %d: closest %+v, want %+v", i, got, want)
		}
		distinct[fmt.Sprint(want)] = true
	}
	// Every change above changes the comparison, so a memo that ignored
	// one would fail.
	if len(distinct) != len(steps)-2 {
		t.Errorf("%d distinct comparisons over %d requests: some change went untested", len(distinct), len(steps))
	}
}
