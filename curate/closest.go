package curate

import (
	"strings"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/fingerprint"
)

// Comparison is a client compared with the known profile closest to the
// browser its User-Agent names.
type Comparison struct {
	// Profile is the closest profile's name; empty when no known profile
	// is of the claimed browser family.
	Profile string `json:"profile,omitempty"`
	// Differences are the fields where the client differs from it
	// (claimed = the profile's value, observed = the client's).
	Differences []Difference `json:"differences,omitempty"`
}

// Closest compares o, a request of initiator in, with the profile of
// profiles that emulation.Match picks for its User-Agent: JA4 (shuffle
// independent), the HTTP/2 Akamai string, the header name order of that
// initiator over the same HTTP version, and the User-Agent itself. The
// profiles must be valid (emulation.Profile.Validate): a profile's
// expected JA4, when set, is taken as its hello's without computing it
// again.
func Closest(o Observation, in emulation.Initiator, profiles []*emulation.Profile) Comparison {
	p := emulation.Match(profiles, o.UserAgent)
	if p == nil {
		return Comparison{}
	}
	c := Comparison{Profile: p.Name}
	add := func(field, claimed, observed string) {
		if claimed != observed {
			c.Differences = append(c.Differences, Difference{Field: field, Claimed: claimed, Observed: observed})
		}
	}
	add("user_agent", p.UserAgent, o.UserAgent)
	if got := o.firstJA4(); got != "" {
		add("ja4", expectedJA4(p), got)
	}
	h2 := len(o.PseudoOrder) > 0
	if h2 && o.H2 != nil && p.H2 != nil {
		got := fingerprint.AkamaiString(o.H2.Settings, o.H2.WindowUpdate, o.H2.Priorities, o.PseudoOrder)
		want := fingerprint.AkamaiString(p.H2.Settings, p.H2.WindowUpdate, p.H2.PriorityFrames, p.H2.PseudoOrder)
		add("akamai", want.Text, got.Text)
	}
	var list []fingerprint.Header
	var ok bool
	switch {
	case h2 && p.H2 != nil:
		list, ok = p.H2.Headers[in]
	case !h2 && p.H1 != nil:
		list, ok = p.H1.Headers[in]
	}
	if ok {
		var got []fingerprint.Header
		for _, h := range o.Headers {
			if !strings.HasPrefix(h.Name, ":") && !skippedInCompare(h.Name) {
				got = append(got, h)
			}
		}
		var want []fingerprint.Header
		for _, h := range list {
			if !skippedInCompare(h.Name) {
				want = append(want, h)
			}
		}
		add("header_order."+string(in), names(want), names(got))
	}
	return c
}

// skippedInCompare are headers whose presence depends on the visit, not
// the browser: caller-only headers (cookie, referer, ...) and the client
// hints a site asked for.
func skippedInCompare(name string) bool {
	n := strings.ToLower(name)
	if emulation.IsCallerOnly(n) {
		return true
	}
	if strings.HasPrefix(n, "sec-ch-") {
		switch n {
		case "sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform":
			return false
		}
		return true
	}
	return false
}

// firstJA4 is the JA4 of o's first hello: o.JA4 when set, else computed;
// "" when o has no hello or it does not parse.
func (o Observation) firstJA4() string {
	if len(o.Hellos) == 0 {
		return ""
	}
	if o.JA4 != "" {
		return o.JA4
	}
	ch, err := o.hello(0)
	if err != nil {
		return ""
	}
	return ch.Fingerprints().JA4
}

// expectedJA4 is the JA4 of p's hello: its expected one when set (a valid
// profile's are equal), else computed; "" when it does not parse.
func expectedJA4(p *emulation.Profile) string {
	if p.Expected.JA4 != "" {
		return p.Expected.JA4
	}
	ch, err := fingerprint.ParseClientHello(p.TLS.ClientHello)
	if err != nil {
		return ""
	}
	return ch.Fingerprints().JA4
}
