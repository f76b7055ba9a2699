package web

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/guanaco-fp/guanaco/curate"
	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/fingerprint"
	"github.com/guanaco-fp/guanaco/web/templates"
)

// verdictReport is the "verdict" object of GET / and GET /api/fingerprint:
// does the client's TLS and HTTP stack fit the browser its User-Agent
// names, and how does it differ from the closest known profile?
//
//	{
//	  "claimed": "chrome 156 on windows",
//	  "consistent": true|false,
//	  "reason": "...",                          when not consistent
//	  "markers": ["curl"],                      tools and automation named in the claims
//	  "differences": [{"field", "claimed", "observed"}],   contradictions with the browser family
//	  "closest_profile": "chrome-156-windows",  the known profile picked for the User-Agent
//	  "profile_differences": [{"field", "claimed", "observed"}]  fields that differ from it
//	}
type verdictReport struct {
	Claimed            string              `json:"claimed"`
	Consistent         bool                `json:"consistent"`
	Reason             string              `json:"reason,omitempty"`
	Markers            []string            `json:"markers,omitempty"`
	Differences        []curate.Difference `json:"differences"`
	ClosestProfile     string              `json:"closest_profile,omitempty"`
	ProfileDifferences []curate.Difference `json:"profile_differences"`
}

// verdictOf judges a live report (see curate.Judge and curate.Closest).
func (h *handler) verdictOf(ctx context.Context, rep *report) *verdictReport {
	o := curate.Observation{UserAgent: rep.UserAgent, Headers: rep.HTTP.Headers}
	if rep.conn != nil && len(rep.conn.info.Raw) > 0 && rep.QUIC == nil {
		// A QUIC hello differs from the browser's TCP hello by design (its
		// own cipher list, transport parameters): the stacks Judge knows are
		// TCP ones, so over HTTP/3 only the headers are judged.
		o.Hellos = [][]byte{rep.conn.info.Raw}
		if ch := rep.conn.info.Hello; ch != nil {
			// Parsed from Raw on arrival, its fingerprints with it.
			o.Parsed, o.JA4 = []*fingerprint.ClientHello{ch}, rep.conn.info.Fingerprints.JA4
		}
	}
	if s := rep.HTTP.H2; s != nil {
		o.H2 = &emulation.VisitH2{Settings: s.Settings, WindowUpdate: s.WindowUpdate, Priorities: s.PriorityFrames, HeadersPriority: s.HeadersPriority}
		o.PseudoOrder = s.PseudoOrder
	}
	j := judgeConn(rep.conn, o)
	v := &verdictReport{Consistent: j.Consistent, Reason: j.Reason, Markers: j.Markers,
		Differences: j.Differences, ProfileDifferences: []curate.Difference{}}
	if v.Differences == nil {
		v.Differences = []curate.Difference{}
	}
	if id := j.Identity; id.Known() {
		v.Claimed = id.Browser + " " + id.Version + " on " + id.Platform
		if id.Mobile {
			v.Claimed += " (mobile)"
		}
	} else {
		v.Claimed = "no known browser"
	}
	if h.d.KnownProfiles != nil {
		// A page load, or an API address typed into the address bar, is
		// a navigation; a script's request says so in Sec-Fetch-Mode.
		in := emulation.Navigate
		for _, hd := range rep.HTTP.Headers {
			if strings.EqualFold(hd.Name, "sec-fetch-mode") && !strings.EqualFold(hd.Value, "navigate") {
				in = emulation.Fetch
			}
		}
		c := closestConn(rep.conn, o, in, h.d.KnownProfiles(ctx))
		v.ClosestProfile = c.Profile
		if c.Differences != nil {
			v.ProfileDifferences = c.Differences
		}
	}
	return v
}

// verdictView is the page form of v.
func verdictView(v *verdictReport) *templates.VerdictView {
	if v == nil {
		return nil
	}
	rows := func(ds []curate.Difference) []templates.DiffRow {
		out := make([]templates.DiffRow, len(ds))
		for i, d := range ds {
			out[i] = templates.DiffRow{Field: d.Field, Claimed: d.Claimed, Observed: d.Observed}
		}
		return out
	}
	vv := &templates.VerdictView{Claimed: v.Claimed, Consistent: v.Consistent, Reason: v.Reason, Markers: v.Markers,
		Differences: rows(v.Differences), Closest: v.ClosestProfile, ProfileDiffs: rows(v.ProfileDifferences)}
	if v.ClosestProfile != "" {
		vv.ClosestURL = "/profiles/" + url.PathEscape(v.ClosestProfile)
	}
	return vv
}

// judgeMemo is a connection's last judgement and closest profile and the
// observation they were made from. curate.Judge and curate.Closest read the
// User-Agent, the header list, the connection's hello and HTTP/2 preface
// (fixed for the connection) and the pseudo-header order; the requests of
// a connection usually repeat all of them. Closest also reads the
// initiator and the profile set (Known's, the same slice until it is read
// again).
type judgeMemo struct {
	mu sync.Mutex
	// The observation both were made from; a request with another one
	// drops both.
	ua      string
	headers []fingerprint.Header
	pseudo  []string

	j      curate.Judgement
	judged bool

	closestIn       emulation.Initiator
	closestProfiles []*emulation.Profile
	closest         curate.Comparison
	compared        bool
}

// observe makes o the memo's observation, dropping what was made from
// another one. The caller holds m.mu.
func (m *judgeMemo) observe(o curate.Observation) {
	if (m.judged || m.compared) && m.ua == o.UserAgent && slices.Equal(m.headers, o.Headers) && slices.Equal(m.pseudo, o.PseudoOrder) {
		return
	}
	m.ua, m.headers, m.pseudo = o.UserAgent, slices.Clone(o.Headers), slices.Clone(o.PseudoOrder)
	m.judged, m.compared = false, false
}

// judgeConn is curate.Judge(o), reused from the connection's previous
// request when o is the same (conn nil: no connection, judged afresh). The
// judgement's slices are shared by the requests that reuse it and only read.
func judgeConn(conn *connMemo, o curate.Observation) curate.Judgement {
	if conn == nil {
		return curate.Judge(o)
	}
	m := &conn.judge
	m.mu.Lock()
	defer m.mu.Unlock()
	m.observe(o)
	if !m.judged {
		m.j, m.judged = curate.Judge(o), true
	}
	return m.j
}

// closestConn is curate.Closest(o, in, profiles), reused from the
// connection's previous request when o, in and profiles are the same
// (conn nil: compared afresh). The comparison's slices are shared by the
// requests that reuse it and only read.
func closestConn(conn *connMemo, o curate.Observation, in emulation.Initiator, profiles []*emulation.Profile) curate.Comparison {
	if conn == nil {
		return curate.Closest(o, in, profiles)
	}
	m := &conn.judge
	m.mu.Lock()
	defer m.mu.Unlock()
	m.observe(o)
	if !m.compared || m.closestIn != in || !sameSlice(m.closestProfiles, profiles) {
		m.closestIn, m.closestProfiles = in, profiles
		m.closest, m.compared = curate.Closest(o, in, profiles), true
	}
	return m.closest
}

// sameSlice reports whether a and b are the same slice (same array, same
// length), not merely equal.
func sameSlice[E any](a, b []E) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}
