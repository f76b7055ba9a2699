package emulation

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/fingerprint"
)

// The built-in profiles were captured by cmd/profilegen from the Debian
// chromium 156 and firefox-esr 153 on Linux.
func TestCatalogue(t *testing.T) {
	all, err := Catalogue()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*Profile{}
	imported := 0
	for i, p := range all {
		if i > 0 && all[i-1].Name >= p.Name {
			t.Errorf("catalogue not sorted by name: %s before %s", all[i-1].Name, p.Name)
		}
		byName[p.Name] = p
		if p.H1 == nil || p.H2 == nil {
			t.Errorf("%s: lacks HTTP/1.1 or HTTP/2 lists", p.Name)
			continue
		}
		for _, in := range Initiators() {
			if len(p.H1.Headers[in]) == 0 || len(p.H2.Headers[in]) == 0 {
				t.Errorf("%s: no %s headers for both protocols", p.Name, in)
			}
			// Chromium and Firefox send a priority on every HEADERS frame
			// (Safari's records carry none).
			if _, ok := p.H2.HeadersPriority[in]; !ok && (Family(p.Browser) == "chromium" || p.Browser == "firefox" || p.Browser == "tor") {
				t.Errorf("%s: no HEADERS priority for %s", p.Name, in)
			}
		}
		// HTTP/1.1 lists name the host first, in the engine's casing.
		if h := p.H1.Headers[Navigate]; len(h) == 0 || h[0].Name != "Host" {
			t.Errorf("%s: HTTP/1.1 navigation does not start with Host: %v", p.Name, h)
		}
		for _, h := range p.H2.Headers[Navigate] {
			if h.Name != strings.ToLower(h.Name) {
				t.Errorf("%s: HTTP/2 header %q is not lower case", p.Name, h.Name)
			}
		}
		if o := p.Source.Origin; o != nil {
			if o.Project == "" || o.File == "" || o.Record == "" || o.Licence == "" || o.Commit == "" {
				t.Errorf("%s: incomplete provenance %+v", p.Name, o)
			}
			imported++
		}
		ch, err := fingerprint.ParseClientHello(p.TLS.ClientHello)
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		if fp := ch.Fingerprints(); fp.JA4 != p.Expected.JA4 || fp.JA4R != p.Expected.JA4R {
			t.Errorf("%s: hello gives %s, expected %s", p.Name, fp.JA4, p.Expected.JA4)
		}
		ak := fingerprint.AkamaiString(p.H2.Settings, p.H2.WindowUpdate, p.H2.PriorityFrames, p.H2.PseudoOrder)
		if ak.Text != p.Expected.Akamai || ak.Hash != p.Expected.AkamaiHash {
			t.Errorf("%s: akamai %s, expected %s", p.Name, ak.Text, p.Expected.Akamai)
		}
		if !strings.HasPrefix(p.Expected.JA4, "t13d") || !strings.Contains(p.Expected.JA4, "h2_") {
			t.Errorf("%s: JA4 %s is not a TLS 1.3 hello with SNI offering h2", p.Name, p.Expected.JA4)
		}
	}
	// The published data (third_party/profile-sources) gives 68 convertible
	// records (cmd/genprofiles, REFUSED.txt lists the others) covering these
	// browsers and platforms.
	if imported < 60 {
		t.Errorf("%d imported profiles in the catalogue", imported)
	}
	covered := map[string]bool{}
	for _, p := range all {
		covered[p.Browser+"/"+p.Platform] = true
	}
	for _, want := range []string{"chrome/windows", "chrome/macos", "chrome/android", "chrome/linux", "edge/windows",
		"safari/macos", "safari/ios", "firefox/windows", "firefox/macos", "firefox/linux", "tor/macos"} {
		if !covered[want] {
			t.Errorf("no %s profile in the catalogue", want)
		}
	}
	chromium, firefox := byName["chromium-156-linux"], byName["firefox-153-linux"]
	if chromium == nil || firefox == nil {
		t.Fatalf("catalogue %v lacks chromium-156-linux or firefox-153-linux", keys(byName))
	}
	if !chromium.ShuffleExtensions || firefox.ShuffleExtensions {
		t.Error("only Chromium permutes its extensions")
	}
	if !strings.Contains(chromium.UserAgent, "Chrome/156.") || strings.Contains(chromium.UserAgent, "Headless") {
		t.Errorf("chromium user agent %q", chromium.UserAgent)
	}
	if !strings.Contains(firefox.UserAgent, "Firefox/153.") {
		t.Errorf("firefox user agent %q", firefox.UserAgent)
	}
	// Chromium's pseudo-header order and Firefox's differ (m,a,s,p and m,p,a,s).
	if strings.Join(chromium.H2.PseudoOrder, ",") != ":method,:authority,:scheme,:path" ||
		strings.Join(firefox.H2.PseudoOrder, ",") != ":method,:path,:authority,:scheme" {
		t.Errorf("pseudo orders: chromium %v, firefox %v", chromium.H2.PseudoOrder, firefox.H2.PseudoOrder)
	}
	// The navigation is the first one (a site that asked for no client
	// hints): only the low-entropy hints.
	for _, h := range chromium.H2.Headers[Navigate] {
		if strings.HasPrefix(h.Name, "sec-ch-ua-") && !lowEntropyHints[h.Name] {
			t.Errorf("chromium navigation carries high-entropy hint %s", h.Name)
		}
	}
	// Caller-only slots are kept without values.
	for _, p := range all {
		for _, list := range [][]Header{p.H1.Headers[Fetch], p.H2.Headers[Fetch], p.H1.Headers[Navigate], p.H2.Headers[Navigate]} {
			for _, h := range list {
				if IsCallerOnly(h.Name) && h.Value != "" {
					t.Errorf("%s: caller-only %s has value %q", p.Name, h.Name, h.Value)
				}
			}
		}
	}
}

func keys(m map[string]*Profile) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestLookup(t *testing.T) {
	p, err := Lookup("firefox-153-linux")
	if err != nil || p.Browser != "firefox" {
		t.Fatalf("Lookup(firefox-153-linux) = %v, %v", p, err)
	}
	// Each call decodes afresh: changing one result leaves the next alone.
	p.UserAgent = "changed"
	if q, _ := Lookup("firefox-153-linux"); q.UserAgent == "changed" {
		t.Error("Lookup returns shared profiles")
	}
	if _, err := Lookup("netscape-4-linux"); !errors.Is(err, ErrUnknownProfile) {
		t.Errorf("unknown profile: err = %v", err)
	}
}

func TestMatch(t *testing.T) {
	mk := func(name, browser, version, platform string) *Profile {
		return &Profile{Name: name, Browser: browser, Version: version, Platform: platform}
	}
	set := []*Profile{
		mk("chromium-156-linux", "chromium", "156.0.0.0", "linux"),
		mk("chrome-150-windows", "chrome", "150.0.0.0", "windows"),
		mk("chrome-150-macos", "chrome", "150.0.7000.1", "macos"),
		mk("firefox-153-linux", "firefox", "153.0", "linux"),
		mk("firefox-140-windows", "firefox", "140.0", "windows"),
	}
	const (
		chromeWin   = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/151.0.0.0 Safari/537.36"
		chromeMac   = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/149.0.0.0 Safari/537.36"
		chromeLinux = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
		edgeWin     = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36 Edg/156.0.0.0"
		ffLinux     = "Mozilla/5.0 (X11; Linux x86_64; rv:152.0) Gecko/20100101 Firefox/152.0"
		ffWin       = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:141.0) Gecko/20100101 Firefox/141.0"
		safari      = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.0 Safari/605.1.15"
	)
	tests := []struct{ ua, want string }{
		{chromeWin, "chrome-150-windows"},
		{chromeMac, "chrome-150-macos"},
		{chromeLinux, "chromium-156-linux"}, // version and platform before the exact browser
		{edgeWin, "chrome-150-windows"},     // another Chromium browser: the same platform first
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/150.0.0.0 Safari/537.36", "chromium-156-linux"},           // the same platform before the version
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/149.0.0.0 Safari/537.36", "chrome-150-windows"}, // only a newer one on the platform
		{ffLinux, "firefox-153-linux"},
		{ffWin, "firefox-140-windows"},
		{safari, ""},
		{"curl/8.5.0", ""},
		{"", ""},
	}
	for _, tc := range tests {
		got := Match(set, tc.ua)
		name := ""
		if got != nil {
			name = got.Name
		}
		if name != tc.want {
			t.Errorf("Match(%q) = %q, want %q", tc.ua, name, tc.want)
		}
	}
	if Match(nil, chromeWin) != nil {
		t.Error("Match of no profiles is not nil")
	}
	// Ties go to the newer version, then the name.
	tie := []*Profile{mk("b", "firefox", "150.0", "linux"), mk("a", "firefox", "150.0", "linux"), mk("c", "firefox", "148.0", "linux")}
	if got := Match(tie, "Mozilla/5.0 (X11; Linux x86_64; rv:151.0) Gecko/20100101 Firefox/151.0"); got.Name != "a" {
		t.Errorf("tie break chose %s", got.Name)
	}
	// The nearest version not above the client's, before a closer newer one.
	if got := Match(tie, "Mozilla/5.0 (X11; Linux x86_64; rv:149.0) Gecko/20100101 Firefox/149.0"); got.Name != "c" {
		t.Errorf("version not above the client's: chose %s, want c", got.Name)
	}
	for _, p := range catalogueOrFatal(t) {
		if p.Source.Kind != SourceBuiltin {
			t.Errorf("built-in %s has source kind %q", p.Name, p.Source.Kind)
		}
	}
	all, err := Catalogue()
	if err != nil {
		t.Fatal(err)
	}
	if got := Match(all, ffLinux); got == nil || got.Name != "firefox-153-linux" {
		t.Errorf("Match(catalogue, firefox 152) = %v", got)
	}
}

func catalogueOrFatal(t *testing.T) []*Profile {
	t.Helper()
	all, err := Catalogue()
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// TestMatchFreshness: among otherwise equally close profiles, a fresh one
// beats a stale one, then the latest corroborated (last_seen, else
// built_at) wins; the name only breaks the remaining ties.
func TestMatchFreshness(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 11, d, 12, 0, 0, 0, time.UTC) }
	mk := func(name string, stale bool, lastSeen, builtAt time.Time) *Profile {
		return &Profile{Name: name, Browser: "chrome", Version: "156.0.0.0", Platform: "windows",
			Source: Source{Kind: SourceCurated, Stale: stale, LastSeen: lastSeen, BuiltAt: builtAt}}
	}
	const ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
	name := func(p *Profile) string {
		if p == nil {
			return "<nil>"
		}
		return p.Name
	}
	for _, tc := range []struct {
		what string
		set  []*Profile
		want string
	}{
		{"fresh beats stale, even when the stale one was seen later and sorts first",
			[]*Profile{mk("a-stale", true, day(20), day(1)), mk("b-fresh", false, day(10), day(1))}, "b-fresh"},
		{"fresh beats stale in the other order too",
			[]*Profile{mk("b-fresh", false, day(10), day(1)), mk("a-stale", true, day(20), day(1))}, "b-fresh"},
		{"two fresh: the latest last_seen",
			[]*Profile{mk("a-old", false, day(10), day(1)), mk("b-new", false, day(20), day(1)), mk("c-mid", false, day(15), day(1))}, "b-new"},
		{"without last_seen the latest built_at counts",
			[]*Profile{mk("a", false, time.Time{}, day(2)), mk("b", false, time.Time{}, day(5))}, "b"},
		{"last_seen is preferred to an older built_at",
			[]*Profile{mk("a", false, time.Time{}, day(15)), mk("b", false, day(20), day(1))}, "b"},
		{"two stale: the latest last_seen",
			[]*Profile{mk("a", true, day(3), day(1)), mk("b", true, day(4), day(1))}, "b"},
		{"equal freshness: the name",
			[]*Profile{mk("b", false, day(3), day(1)), mk("a", false, day(3), day(1))}, "a"},
		{"a stale profile is still chosen when it is the only one of the family",
			[]*Profile{mk("only", true, day(3), day(1)), {Name: "ff", Browser: "firefox", Version: "153.0", Platform: "windows"}}, "only"},
		{"version closeness comes before freshness",
			[]*Profile{mk("exact-stale", true, day(3), day(1)), {Name: "older-fresh", Browser: "chrome", Version: "150.0.0.0", Platform: "windows"}}, "exact-stale"},
		{"freshness comes before the exact browser (Chromium and Chrome look alike)",
			[]*Profile{mk("chrome-stale", true, day(3), day(1)), {Name: "chromium-fresh", Browser: "chromium", Version: "156.0.0.0", Platform: "windows"}}, "chromium-fresh"},
	} {
		if got := Match(tc.set, ua); name(got) != tc.want {
			t.Errorf("%s: Match = %s, want %s", tc.what, name(got), tc.want)
		}
		// Deterministic: the input order does not matter.
		rev := slices.Clone(tc.set)
		slices.Reverse(rev)
		if got := Match(rev, ua); name(got) != tc.want {
			t.Errorf("%s (reversed input): Match = %s, want %s", tc.what, name(got), tc.want)
		}
	}
}

// TestMatchCatalogue checks the User-Agent match over the whole built-in
// catalogue: the same family and platform first, then the nearest version
// not above the client's (major, then minor), the same browser on ties.
func TestMatchCatalogue(t *testing.T) {
	all, err := Catalogue()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ ua, want string }{
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/151.0.0.0 Safari/537.36", "chrome-151-windows"},
		// Newer than every profile: the newest of its platform.
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/152.0.0.0 Safari/537.36", "chrome-151-windows"},
		// Between profiles: the nearest one below, not the nearest above (142).
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36", "chrome-136-macos"},
		{"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/148.0.0.0 Mobile Safari/537.36", "chrome-145-android"},
		// Edge before Chrome of the same version.
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/150.0.0.0 Safari/537.36 Edg/150.0.0.0", "edge-150-windows"},
		// Safari's minor versions count: 17.3 gets 17.2, not 17.3.1 or 17.5.
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Mobile/15E148 Safari/604.1", "safari-17.2-ios"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:152.0) Gecko/20100101 Firefox/152.0", "firefox-152-windows"},
		// The platform comes before the version.
		{"Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0", "firefox-153-linux"},
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36", "chromium-156-linux"},
	} {
		if p := Match(all, tc.ua); p == nil || p.Name != tc.want {
			t.Errorf("%s: matched %v, want %s", tc.ua, p, tc.want)
		}
	}
}

// TestValidateRefusesAnomalousHello: the parser tolerates malformed
// extension contents, but a profile (replayed through utls) must not carry
// them.
func TestValidateRefusesAnomalousHello(t *testing.T) {
	p, err := Lookup("firefox-153-linux")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("catalogue profile invalid: %v", err)
	}
	raw, err := os.ReadFile("../fingerprint/testdata/anomalies/ec_point_formats_empty.hello")
	if err != nil {
		t.Fatal(err)
	}
	p.TLS.ClientHello = raw
	p.Expected.JA4 = ""
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "ec_point_formats") || !strings.Contains(err.Error(), "malformed") {
		t.Errorf("Validate = %v, want the malformed ec_point_formats named", err)
	}
}
