package importer

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/guanaco-fp/guanaco/emulation"
)

// identityHeaders are the headers whose values describe the browser itself
// (the same on every request it sends): a derived list takes their values
// from the record's own navigation; every other value comes from the
// template, because it depends on the kind of request (accept,
// sec-fetch-*, priority, content-type, ...).
var identityHeaders = map[string]bool{
	"user-agent": true, "sec-ch-ua": true, "sec-ch-ua-mobile": true, "sec-ch-ua-platform": true,
	"accept-language": true, "accept-encoding": true,
}

// templateFamily is the family whose captured lists fill a record's gaps:
// the engine family, with Tor Browser counted as Firefox.
func templateFamily(browser string) string {
	if browser == "tor" {
		return "firefox"
	}
	return emulation.Family(browser)
}

// derived reports whether any of p's derived parts starts with one of
// prefixes.
func derived(p *emulation.Profile, prefixes ...string) bool {
	for _, d := range p.Source.Derived {
		for _, pre := range prefixes {
			if strings.HasPrefix(d, pre) {
				return true
			}
		}
	}
	return false
}

// HasAllLists reports whether p's source states a header list for every
// initiator over both protocols (none derived): the profiles Complete takes
// lists from.
func HasAllLists(p *emulation.Profile) bool {
	if p.H1 == nil || p.H2 == nil || derived(p, "h1 ", "h2 ") {
		return false
	}
	for _, in := range emulation.Initiators() {
		if len(p.H1.Headers[in]) == 0 || len(p.H2.Headers[in]) == 0 {
			return false
		}
	}
	return true
}

// requiredSubresources are the destinations every browser's page load
// captures (manifest and media depend on the browser).
var requiredSubresources = []emulation.Initiator{emulation.Iframe, emulation.Style, emulation.Script, emulation.Image, emulation.Font}

// HasSubresourceLists reports whether p's source states HTTP/2 header
// lists and HEADERS priorities for the sub-resource destinations a page
// load captures (iframe, style, script, image, font; none derived): the
// profiles Complete takes sub-resource lists from.
func HasSubresourceLists(p *emulation.Profile) bool {
	if p.H2 == nil || derived(p, "h1 ", "h2 ", "priority ") {
		return false
	}
	for _, in := range requiredSubresources {
		if len(p.H2.Headers[in]) == 0 {
			return false
		}
		if _, ok := p.H2.HeadersPriority[in]; !ok {
			return false
		}
	}
	return true
}

// nearest picks, among templates accepted by ok, the profile of p's engine
// family nearest to p: the same platform first, then the nearest major
// version, then the name. Nil when none fits.
func nearest(p *emulation.Profile, templates []*emulation.Profile, ok func(*emulation.Profile) bool) *emulation.Profile {
	fam := templateFamily(p.Browser)
	major := majorOf(p.Version)
	var best *emulation.Profile
	score := func(t *emulation.Profile) (int, int) {
		d := majorOf(t.Version) - major
		if d < 0 {
			d = -d
		}
		same := 1
		if t.Platform == p.Platform {
			same = 0
		}
		return same, d
	}
	for _, t := range templates {
		if t == p || templateFamily(t.Browser) != fam || !ok(t) {
			continue
		}
		if best == nil {
			best = t
			continue
		}
		s1, d1 := score(t)
		s2, d2 := score(best)
		if s1 < s2 || s1 == s2 && (d1 < d2 || d1 == d2 && t.Name < best.Name) {
			best = t
		}
	}
	return best
}

// Complete fills the header lists a record does not state (the HTTP/1.1
// lists of a source that recorded only HTTP/2, the initiators other than
// the navigation) from the nearest profile of templates with every list
// (same engine family, then platform, then major version), and for the
// Chromium and Firefox families the HEADERS priorities from the nearest
// template that states them for every initiator; the HPACK encoding
// (indexing per header, Huffman policy, opening table size update) from the
// nearest template that recorded it; then the sub-resource destinations'
// lists and priorities from the nearest template that captured them
// (HasSubresourceLists: the family's built-in profile). It returns what it
// filled, which is also noted
// in p.Source.Derived and, with the templates' names, in p.Source.Note.
// Profiles with derived parts are never templates (no chains). A filled list is the
// template's list for that initiator and protocol (its order and casing:
// the browser engine's), keeping only the headers the record's own
// navigation also sends (a navigation header the template's browser sends
// and this version does not is left out), with the record's values for the
// identity headers (User-Agent, client hints, Accept-Language,
// Accept-Encoding). Lists and priorities the record states are never
// changed.
func Complete(p *emulation.Profile, templates []*emulation.Profile) []string {
	if p.H2 == nil || len(p.H2.Headers[emulation.Navigate]) == 0 {
		return nil
	}
	var filled, from []string
	if t := nearest(p, templates, HasAllLists); t != nil {
		if f := completeLists(p, t, emulation.AllInitiators()); len(f) > 0 {
			filled = append(filled, f...)
			from = append(from, "lists from "+t.Name)
		}
	}
	if fam := templateFamily(p.Browser); fam == "chromium" || fam == "firefox" {
		t := nearest(p, templates, func(t *emulation.Profile) bool {
			if t.H2 == nil || derived(t, "priority ") {
				return false
			}
			for _, in := range emulation.Initiators() {
				if _, ok := t.H2.HeadersPriority[in]; !ok {
					return false
				}
			}
			return true
		})
		if t != nil {
			if f := completePriorities(p, t, emulation.AllInitiators()); len(f) > 0 {
				filled = append(filled, f...)
				from = append(from, "HEADERS priorities from "+t.Name)
			}
		}
		t = nearest(p, templates, func(t *emulation.Profile) bool {
			return t.H2 != nil && len(t.H2.HPACKIndexing) > 0 && !derived(t, "hpack")
		})
		if t != nil && len(p.H2.HPACKIndexing) == 0 {
			p.H2.HPACKIndexing = maps.Clone(t.H2.HPACKIndexing)
			p.H2.HuffmanAlways, p.H2.TableSizeUpdate = t.H2.HuffmanAlways, t.H2.TableSizeUpdate
			filled = append(filled, "hpack encoding")
			from = append(from, "HPACK encoding from "+t.Name)
		}
	}
	// Sub-resource destinations: published records state none, and the
	// templates with every request list may lack them too (imported
	// ones); they come from the nearest profile that captured them (the
	// family's built-in one).
	if t := nearest(p, templates, HasSubresourceLists); t != nil {
		f := completeLists(p, t, emulation.Subresources())
		if fam := templateFamily(p.Browser); fam == "chromium" || fam == "firefox" {
			f = append(f, completePriorities(p, t, emulation.Subresources())...)
		}
		if len(f) > 0 {
			filled = append(filled, f...)
			from = append(from, "sub-resources from "+t.Name)
		}
	}
	if len(filled) > 0 {
		slices.Sort(filled)
		p.Source.Derived = append(p.Source.Derived, filled...)
		note := fmt.Sprintf("not in the source, derived (%s): %s", strings.Join(from, "; "), strings.Join(filled, ", "))
		if p.Source.Note != "" {
			p.Source.Note += "; " + note
		} else {
			p.Source.Note = note
		}
	}
	return filled
}

// completeLists fills p's missing header lists of the initiators ins from
// template (see Complete).
func completeLists(p, template *emulation.Profile, ins []emulation.Initiator) []string {
	own := p.H2.Headers[emulation.Navigate]
	ownNames := map[string]string{}
	for _, h := range own {
		ownNames[strings.ToLower(h.Name)] = h.Value
	}
	tplNav := map[string]bool{}
	for _, h := range template.H2.Headers[emulation.Navigate] {
		tplNav[strings.ToLower(h.Name)] = true
	}
	derive := func(list []emulation.Header) []emulation.Header {
		var out []emulation.Header
		for _, h := range list {
			name := strings.ToLower(h.Name)
			v, sent := ownNames[name]
			if tplNav[name] && !sent {
				// A navigation header of the template's browser this
				// version does not send.
				continue
			}
			if identityHeaders[name] && sent {
				h.Value = v
			}
			out = append(out, h)
		}
		return out
	}
	var filled []string
	if p.H1 == nil {
		p.H1 = &emulation.H1{}
	}
	if p.H1.Headers == nil {
		p.H1.Headers = map[emulation.Initiator][]emulation.Header{}
	}
	if p.H2.Headers == nil {
		p.H2.Headers = map[emulation.Initiator][]emulation.Header{}
	}
	for _, in := range ins {
		if len(p.H2.Headers[in]) == 0 && len(template.H2.Headers[in]) > 0 {
			if in != emulation.WebSocket || len(p.H1.Headers[in]) == 0 {
				p.H2.Headers[in] = derive(template.H2.Headers[in])
				filled = append(filled, "h2 "+string(in))
			}
		}
		if len(p.H1.Headers[in]) == 0 && template.H1 != nil && len(template.H1.Headers[in]) > 0 {
			p.H1.Headers[in] = derive(template.H1.Headers[in])
			filled = append(filled, "h1 "+string(in))
		}
	}
	return filled
}

// completePriorities fills the HEADERS priorities p lacks for those of the
// initiators ins it has HTTP/2 lists for from template (see Complete).
func completePriorities(p, template *emulation.Profile, ins []emulation.Initiator) []string {
	var filled []string
	if p.H2.HeadersPriority == nil {
		p.H2.HeadersPriority = map[emulation.Initiator]emulation.Priority{}
	}
	for _, in := range ins {
		if _, ok := p.H2.HeadersPriority[in]; ok {
			continue
		}
		if pr, ok := template.H2.HeadersPriority[in]; ok && len(p.H2.Headers[in]) > 0 {
			p.H2.HeadersPriority[in] = pr
			filled = append(filled, "priority "+string(in))
		}
	}
	return filled
}
