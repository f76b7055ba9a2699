package importer

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/guanaco-fp/guanaco/emulation"
)

// withoutSubresources is a copy of p whose source states only the request
// initiators and websocket, as an imported record with every request list
// does.
func withoutSubresources(p *emulation.Profile, name, version string) *emulation.Profile {
	c := *p
	c.Name, c.Version = name, version
	h1, h2 := *p.H1, *p.H2
	h1.Headers = maps.Clone(p.H1.Headers)
	h2.Headers = maps.Clone(p.H2.Headers)
	h2.HeadersPriority = maps.Clone(p.H2.HeadersPriority)
	for _, in := range emulation.Subresources() {
		delete(h1.Headers, in)
		delete(h2.Headers, in)
		delete(h2.HeadersPriority, in)
	}
	c.H1, c.H2 = &h1, &h2
	return &c
}

// TestCompleteSubresources: a record states no sub-resource lists; they
// come from the family's built-in captured profile even when a nearer
// template with every request list lacks them, with the record's identity
// values, marked derived, the HEADERS priorities with them.
func TestCompleteSubresources(t *testing.T) {
	for _, tc := range []struct{ builtin, nearer, record, version string }{
		{"chromium-156-linux", "chrome-152-linux", "chrome-151-linux", "151.0.0.0"},
		{"firefox-153-linux", "firefox-152-linux", "firefox-151-linux", "151.0"},
	} {
		tpl, err := emulation.Lookup(tc.builtin)
		if err != nil {
			t.Fatal(err)
		}
		nearer := withoutSubresources(tpl, tc.nearer, strings.Replace(tc.version, "151", "152", 1))
		p := withoutSubresources(tpl, tc.record, tc.version)
		p.UserAgent = strings.Replace(tpl.UserAgent, strings.Split(tpl.Version, ".")[0]+".0", "151.0", 1)
		for i, h := range p.H2.Headers[emulation.Navigate] {
			if h.Name == "user-agent" {
				p.H2.Headers[emulation.Navigate] = slices.Clone(p.H2.Headers[emulation.Navigate])
				p.H2.Headers[emulation.Navigate][i].Value = p.UserAgent
			}
		}
		p.Source = emulation.Source{}
		got := Complete(p, []*emulation.Profile{nearer, tpl})
		for _, in := range []emulation.Initiator{emulation.Iframe, emulation.Style, emulation.Script, emulation.Image, emulation.Font} {
			for _, want := range []string{"h2 " + string(in), "h1 " + string(in), "priority " + string(in)} {
				if !slices.Contains(got, want) || !slices.Contains(p.Source.Derived, want) {
					t.Errorf("%s: %s not derived: %v", tc.record, want, got)
				}
			}
			if names(p.H2.Headers[in]) != names(tpl.H2.Headers[in]) {
				t.Errorf("%s %s: list %s, want the template's %s", tc.record, in, names(p.H2.Headers[in]), names(tpl.H2.Headers[in]))
			}
			if p.H2.HeadersPriority[in] != tpl.H2.HeadersPriority[in] {
				t.Errorf("%s %s: priority %+v", tc.record, in, p.H2.HeadersPriority[in])
			}
			for _, h := range p.H2.Headers[in] {
				if h.Name == "user-agent" && h.Value != p.UserAgent {
					t.Errorf("%s %s: user-agent %q, want the record's", tc.record, in, h.Value)
				}
			}
		}
		if !strings.Contains(p.Source.Note, "sub-resources from "+tc.builtin) {
			t.Errorf("%s: note %q does not name %s", tc.record, p.Source.Note, tc.builtin)
		}
		if slices.ContainsFunc(got, func(s string) bool { return strings.HasSuffix(s, " navigate") || strings.HasSuffix(s, " fetch") }) {
			t.Errorf("%s: stated lists derived: %v", tc.record, got)
		}
		if _, err := emulation.Unmarshal(mustMarshal(t, p)); err != nil {
			t.Errorf("%s: completed profile invalid: %v", tc.record, err)
		}
		// A completed profile is never a template.
		if HasSubresourceLists(p) {
			t.Errorf("%s: a profile with derived lists counts as a sub-resource template", tc.record)
		}
	}
}

func mustMarshal(t *testing.T, p *emulation.Profile) []byte {
	t.Helper()
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
