package importer

import (
	"slices"
	"strings"
	"testing"

	"github.com/guanaco-fp/guanaco/emulation"
)

func names(hs []emulation.Header) string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return strings.Join(out, ",")
}

// TestComplete fills a record that states only its HTTP/2 navigation from
// the captured Chromium profile and checks the rules: the template's order
// and casing, the record's identity values, the template's navigation
// headers the record does not send left out, stated lists untouched, what
// was derived recorded, derived profiles never used as templates.
func TestComplete(t *testing.T) {
	tpl, err := emulation.Lookup("chromium-156-linux")
	if err != nil {
		t.Fatal(err)
	}
	const ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Safari/537.36"
	var nav []emulation.Header
	for _, h := range tpl.H2.Headers[emulation.Navigate] {
		switch h.Name {
		case "priority": // Chrome 118 did not send it yet
			continue
		case "user-agent":
			h.Value = ua
		case "sec-ch-ua":
			h.Value = `"Chromium";v="118"`
		}
		nav = append(nav, h)
	}
	p := &emulation.Profile{Name: "chrome-118-linux", Browser: "chrome", Version: "118.0.0.0", Platform: "linux",
		H2: &emulation.H2{Headers: map[emulation.Initiator][]emulation.Header{emulation.Navigate: nav}}}
	got := Complete(p, []*emulation.Profile{tpl})
	for _, want := range []string{"h1 navigate", "h1 fetch", "h2 fetch", "h2 xhr", "priority navigate", "priority fetch"} {
		if !slices.Contains(got, want) || !slices.Contains(p.Source.Derived, want) {
			t.Errorf("%s not derived: %v / %v", want, got, p.Source.Derived)
		}
	}
	if slices.Contains(got, "h2 navigate") || names(p.H2.Headers[emulation.Navigate]) != names(nav) {
		t.Error("the stated HTTP/2 navigation was changed")
	}
	if !strings.Contains(p.Source.Note, "chromium-156-linux") {
		t.Errorf("note %q does not name the template", p.Source.Note)
	}
	h1 := p.H1.Headers[emulation.Navigate]
	if len(h1) == 0 || h1[0].Name != "Host" {
		t.Fatalf("derived HTTP/1.1 navigation %v", h1)
	}
	for in, list := range map[string][]emulation.Header{"h1 navigate": h1, "h2 fetch": p.H2.Headers[emulation.Fetch]} {
		var sawUA bool
		for _, h := range list {
			if strings.EqualFold(h.Name, "priority") {
				t.Errorf("%s carries priority, which the record's navigation does not send", in)
			}
			if strings.EqualFold(h.Name, "user-agent") {
				sawUA = true
				if h.Value != ua {
					t.Errorf("%s: user agent %q", in, h.Value)
				}
			}
			if strings.EqualFold(h.Name, "sec-ch-ua") && h.Value != `"Chromium";v="118"` {
				t.Errorf("%s: sec-ch-ua %q", in, h.Value)
			}
		}
		if !sawUA {
			t.Errorf("%s has no user agent", in)
		}
	}
	// The fetch keeps the template's request-specific values.
	for _, h := range p.H2.Headers[emulation.Fetch] {
		if h.Name == "sec-fetch-mode" && h.Value != "cors" {
			t.Errorf("fetch sec-fetch-mode %q", h.Value)
		}
	}
	// A completed profile lends no lists: another record gets nothing from it.
	q := &emulation.Profile{Name: "chrome-117-linux", Browser: "chrome", Version: "117.0.0.0", Platform: "linux",
		H2: &emulation.H2{Headers: map[emulation.Initiator][]emulation.Header{emulation.Navigate: nav}}}
	if got := Complete(q, []*emulation.Profile{p}); len(got) != 0 {
		t.Errorf("lists derived from a derived profile: %v", got)
	}
	// Another family lends nothing either.
	ff, err := emulation.Lookup("firefox-153-linux")
	if err != nil {
		t.Fatal(err)
	}
	if got := Complete(q, []*emulation.Profile{ff}); len(got) != 0 {
		t.Errorf("lists derived from another family: %v", got)
	}
}
