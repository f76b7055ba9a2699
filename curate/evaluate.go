package curate

import (
	"bytes"
	"strings"
	"time"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/fingerprint"
)

// Evaluation is the judgement of one visit and, when it is accepted, the
// profile built from it and the identities it is grouped by.
type Evaluation struct {
	// Navigation is the visit's first navigation (HTTP/2 preferred); nil
	// when the visit has none.
	Navigation *emulation.VisitCapture
	Judgement  Judgement
	// Missing lists the page-script probes the visit lacks.
	Missing    []string
	Accepted   bool
	Reason     string
	BrowserKey string
	WireKey    string
	// Profile is built from the visit (nil when refused before building or
	// when building failed). Its name is the base name; the curator
	// renames it when it publishes.
	Profile *emulation.Profile
}

// scriptProbes are the captures the fingerprint page's script makes on
// every load; a visit without them did not run the script.
var scriptProbes = []emulation.Initiator{emulation.Fetch, emulation.XHR}

// EvaluateVisit judges one visit's captures (see Judge), checks that the
// page script ran (fetch and XHR probes present), builds its profile and
// computes its browser and wire identities.
func EvaluateVisit(visitKey string, caps []emulation.VisitCapture, now time.Time) Evaluation {
	var e Evaluation
	e.Navigation = navigation(caps)
	if e.Navigation == nil {
		e.Reason = "the visit has no page navigation"
		return e
	}
	if e.Navigation.HTTPVersion != "2" && offersH2(e.Navigation.ClientHello) {
		e.Reason = "the visit loaded only the HTTP/1.1-only page of a browser that speaks HTTP/2: its HTTP/2 profile is unknown (load the main page first, in the same browser session)"
		return e
	}
	e.Judgement = Judge(VisitObservation(caps, e.Navigation))
	e.BrowserKey = e.Judgement.Identity.Key()
	if !e.Judgement.Consistent {
		e.Reason = e.Judgement.Reason
		return e
	}
	for _, in := range scriptProbes {
		found := false
		for _, c := range caps {
			found = found || c.Initiator == in
		}
		if !found {
			e.Missing = append(e.Missing, string(in))
		}
	}
	if len(e.Missing) > 0 {
		e.Reason = "the page's script did not run (no " + strings.Join(e.Missing, ", ") + " probe): not a browser, or scripting is off"
		return e
	}
	p, err := emulation.Build(visitKey, "", caps, now)
	if err != nil {
		e.Reason = "no profile can be built from the visit: " + err.Error()
		return e
	}
	e.Profile = p
	wk, err := WireKey(p)
	if err != nil {
		e.Reason = err.Error()
		return e
	}
	e.WireKey = wk
	e.Accepted = true
	return e
}

// Details is the evidence stored with a verdict: markers, differences and
// missing probes, omitted when empty.
func (e Evaluation) Details() map[string]any {
	d := map[string]any{}
	if len(e.Judgement.Markers) > 0 {
		d["markers"] = e.Judgement.Markers
	}
	if len(e.Judgement.Differences) > 0 {
		d["differences"] = e.Judgement.Differences
	}
	if len(e.Missing) > 0 {
		d["missing_probes"] = e.Missing
	}
	return d
}

// navigation returns the first navigation capture, over HTTP/2 when the
// visit has one.
func navigation(caps []emulation.VisitCapture) *emulation.VisitCapture {
	var first *emulation.VisitCapture
	for i := range caps {
		c := &caps[i]
		if c.Initiator != emulation.Navigate || c.HTTPVersion == "3" {
			continue // HTTP/3: a QUIC hello, not the TCP stack judged here
		}
		if c.HTTPVersion == "2" && (first == nil || first.HTTPVersion != "2" || c.CreatedAt.Before(first.CreatedAt)) {
			first = c
		} else if first == nil || first.HTTPVersion != "2" && c.CreatedAt.Before(first.CreatedAt) {
			first = c
		}
	}
	return first
}

// VisitObservation is what a visit showed: the navigation's claims and
// HTTP/2 preface, and every distinct ClientHello of the visit.
func VisitObservation(caps []emulation.VisitCapture, nav *emulation.VisitCapture) Observation {
	o := Observation{UserAgent: nav.UserAgent, Headers: nav.Headers, H2: nav.H2}
	if nav.HTTPVersion == "2" {
		o.PseudoOrder = pseudoOrder(nav.Headers)
	}
	for _, c := range caps {
		if len(c.ClientHello) == 0 || c.HTTPVersion == "3" {
			continue // a QUIC hello differs from the browser's TCP one by design
		}
		dup := false
		for _, h := range o.Hellos {
			dup = dup || bytes.Equal(h, c.ClientHello)
		}
		if !dup {
			o.Hellos = append(o.Hellos, c.ClientHello)
		}
	}
	return o
}

func pseudoOrder(hs []fingerprint.Header) []string {
	var out []string
	for _, h := range hs {
		if strings.HasPrefix(h.Name, ":") {
			out = append(out, h.Name)
		}
	}
	return out
}

// offersH2 reports whether a ClientHello offers h2 in ALPN.
func offersH2(hello []byte) bool {
	if len(hello) == 0 {
		return false
	}
	ch, err := fingerprint.ParseClientHello(hello)
	if err != nil {
		return false
	}
	for _, p := range ch.ALPN() {
		if p == "h2" {
			return true
		}
	}
	return false
}

// completeness ranks profiles built from different visits of one group:
// a profile with HTTP/1.1 and HTTP/2 lists for more initiators is the
// better representative.
func completeness(p *emulation.Profile) int {
	n := 0
	if p.H1 != nil {
		n += 100 + len(p.H1.Headers)
	}
	if p.H2 != nil {
		n += 100 + len(p.H2.Headers)
	}
	return n
}
