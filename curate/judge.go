package curate

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/fingerprint"
)

// Observation is what a client showed: the claims (User-Agent, client
// hints) and the wire (ClientHellos, HTTP/2 connection preface). For a
// whole visit it holds every distinct ClientHello of the visit's
// connections; for a single request, that request's.
type Observation struct {
	UserAgent string
	// Headers are the request's headers as sent (for a visit, the
	// navigation's); client hints are read from them.
	Headers []fingerprint.Header
	// Hellos are the raw ClientHello records of the connections, in the
	// order they were seen; nil over plain HTTP.
	Hellos [][]byte
	// H2 is the HTTP/2 connection preface and PseudoOrder the pseudo-header
	// order of the (navigation) request; nil and empty over HTTP/1.
	H2          *emulation.VisitH2
	PseudoOrder []string

	// Parsed optionally holds Hellos parsed (fingerprint.ParseClientHello),
	// index for index, nil where one is not: Judge and Closest parse only
	// the records without one. (A live connection's hello was parsed when
	// it arrived.)
	Parsed []*fingerprint.ClientHello
	// JA4 optionally holds the JA4 fingerprint of Hellos[0], which Closest
	// then does not compute.
	JA4 string
}

// hello returns Hellos[i] parsed: Parsed[i] when set.
func (o Observation) hello(i int) (*fingerprint.ClientHello, error) {
	if i < len(o.Parsed) && o.Parsed[i] != nil {
		return o.Parsed[i], nil
	}
	return fingerprint.ParseClientHello(o.Hellos[i])
}

// Difference is one field where a client's wire disagrees with what its
// claimed browser sends.
type Difference struct {
	Field    string `json:"field"`
	Claimed  string `json:"claimed"`
	Observed string `json:"observed"`
}

// Judgement is the verdict on an Observation: whether the client's TLS and
// HTTP stack fit the browser its User-Agent names.
type Judgement struct {
	// Identity is what the User-Agent and client hints claim.
	Identity emulation.Identity `json:"-"`
	// Consistent: the client looks like the browser it claims to be.
	Consistent bool `json:"consistent"`
	// Reason is a one-sentence summary when not Consistent.
	Reason string `json:"reason,omitempty"`
	// Markers are signs of a non-browser or automation client found in the
	// claims (curl, python-requests, HeadlessChrome, ...).
	Markers []string `json:"markers,omitempty"`
	// Differences are the wire fields that contradict the claimed browser
	// family.
	Differences []Difference `json:"differences,omitempty"`
}

// markers finds the signs of non-browser clients in User-Agents
// (immutable once built).
var markers = newMarkerFinder()

// Judge decides whether o looks like the browser its User-Agent names. It
// refuses: User-Agents of tools, libraries and automation; names of no
// known browser; client hints that contradict the User-Agent; and TLS or
// HTTP/2 traits that the claimed browser family never has (GREASE,
// TLS 1.3 cipher order, ALPS, certificate compression, record size limit,
// pseudo-header order, and for Chromium 110+ an extension order that does
// not change between connections).
func Judge(o Observation) Judgement {
	j := Judgement{Identity: emulation.Identify(o.UserAgent, o.Headers)}
	ua := strings.TrimSpace(o.UserAgent)
	if ua == "" {
		return j.refuse("no User-Agent")
	}
	if m := markers.find(ua); len(m) > 0 {
		for _, s := range m {
			j.Markers = appendUnique(j.Markers, strings.ToLower(strings.TrimRight(s, "/ (")))
		}
	}
	brands := header(o.Headers, "sec-ch-ua")
	if strings.Contains(brands, "HeadlessChrome") {
		j.Markers = appendUnique(j.Markers, "headlesschrome")
	}
	if len(j.Markers) > 0 {
		return j.refuse("not a browser: the User-Agent names " + strings.Join(j.Markers, ", "))
	}
	id := j.Identity
	if !id.Known() {
		return j.refuse("the User-Agent names no known browser")
	}
	j.checkHints(o, brands)
	j.checkTLS(o)
	j.checkH2(o)
	if len(j.Differences) > 0 {
		fields := make([]string, 0, len(j.Differences))
		for _, d := range j.Differences {
			fields = appendUnique(fields, d.Field)
		}
		return j.refuse(fmt.Sprintf("the User-Agent claims %s %d but the client's %s do not fit %s",
			id.Browser, id.Major(), strings.Join(fields, ", "), familyName(id.Family())))
	}
	j.Consistent = true
	return j
}

func (j Judgement) refuse(reason string) Judgement {
	j.Consistent = false
	j.Reason = reason
	return j
}

func (j *Judgement) differ(field, claimed, observed string) {
	j.Differences = append(j.Differences, Difference{Field: field, Claimed: claimed, Observed: observed})
}

func familyName(f string) string {
	switch f {
	case "chromium":
		return "a Chromium-based browser"
	case "firefox":
		return "Firefox"
	case "safari":
		return "Safari"
	}
	return f
}

// checkHints compares the low-entropy client hints with the User-Agent.
// Chromium-family browsers send Sec-CH-UA on every secure request; Firefox
// and Safari never do.
func (j *Judgement) checkHints(o Observation, brands string) {
	id := j.Identity
	secure := len(o.Hellos) > 0
	if id.Family() != "chromium" {
		if brands != "" {
			j.differ("client hints", "none ("+id.Browser+" sends no Sec-CH-UA)", brands)
		}
		return
	}
	if brands == "" {
		if secure && id.Major() >= 90 {
			j.differ("client hints", "Sec-CH-UA", "absent")
		}
		return
	}
	if v, ok := brandMajor(brands); ok && v != id.Major() {
		j.differ("client hints", "Sec-CH-UA version "+strconv.Itoa(id.Major()), "version "+strconv.Itoa(v))
	}
	if p := header(o.Headers, "sec-ch-ua-platform"); p != "" {
		if want := hintPlatform(id.Platform); want != "" && !strings.EqualFold(strings.Trim(p, `" `), want) {
			j.differ("client hints", `Sec-CH-UA-Platform "`+want+`"`, p)
		}
	}
}

var reBrandVersion = regexp.MustCompile(`"([^"]+)";v="([0-9]+)`)

// brandMajor is the major version of the Chromium (or Chrome) brand in a
// Sec-CH-UA list.
func brandMajor(brands string) (int, bool) {
	for _, m := range reBrandVersion.FindAllStringSubmatch(brands, -1) {
		if m[1] == "Chromium" || m[1] == "Google Chrome" || m[1] == "Microsoft Edge" {
			n, err := strconv.Atoi(m[2])
			return n, err == nil
		}
	}
	return 0, false
}

func hintPlatform(p string) string {
	switch p {
	case "windows":
		return "Windows"
	case "macos":
		return "macOS"
	case "linux":
		return "Linux"
	case "android":
		return "Android"
	case "chromeos":
		return "Chrome OS"
	case "ios":
		return "iOS"
	}
	return ""
}

// familyTLS are the traits every ClientHello of a family has.
type familyTLS struct {
	grease      bool     // GREASE values in cipher suites and extensions
	tls13Order  []uint16 // relative order of the three TLS 1.3 AES/ChaCha suites
	alps        int      // 1 required, -1 forbidden, 0 either
	compressCrt int      // compress_certificate: 1 required, -1 forbidden, 0 either
	recordLimit int      // record_size_limit: 1 required, -1 forbidden, 0 either
	shuffleFrom int      // major version from which extensions are permuted per connection; 0 never
}

var familyTraits = map[string]familyTLS{
	"chromium": {grease: true, tls13Order: []uint16{0x1301, 0x1302, 0x1303}, alps: 1, compressCrt: 1, recordLimit: -1, shuffleFrom: 110},
	"firefox":  {grease: false, tls13Order: []uint16{0x1301, 0x1303, 0x1302}, alps: -1, recordLimit: 1},
	"safari":   {grease: true, tls13Order: []uint16{0x1301, 0x1302, 0x1303}, alps: -1, recordLimit: -1},
}

// checkTLS compares every ClientHello with its family's traits.
func (j *Judgement) checkTLS(o Observation) {
	tr, ok := familyTraits[j.Identity.Family()]
	if !ok || len(o.Hellos) == 0 {
		return
	}
	var parsed []*fingerprint.ClientHello
	for i := range o.Hellos {
		ch, err := o.hello(i)
		if err != nil {
			j.differ("ClientHello", "a well-formed ClientHello", err.Error())
			continue
		}
		parsed = append(parsed, ch)
	}
	if len(parsed) == 0 {
		return
	}
	ch := parsed[0]
	if g := hasGREASE(ch); g != tr.grease {
		j.differ("GREASE", yesNo(tr.grease), yesNo(g))
	}
	if got := tls13Order(ch.CipherSuites); len(got) == 3 && !slices.Equal(got, tr.tls13Order) {
		j.differ("TLS 1.3 cipher order", hexList(tr.tls13Order), hexList(got))
	}
	alps := ch.HasExtension(fingerprint.ExtApplicationSettings) || ch.HasExtension(fingerprint.ExtApplicationSettingsOld)
	checkExt := func(field string, rule int, have bool) {
		if rule == 1 && !have {
			j.differ(field, "present", "absent")
		}
		if rule == -1 && have {
			j.differ(field, "absent", "present")
		}
	}
	checkExt("ALPS extension", tr.alps, alps)
	checkExt("compress_certificate extension", tr.compressCrt, ch.HasExtension(fingerprint.ExtCompressCertificate))
	checkExt("record_size_limit extension", tr.recordLimit, ch.HasExtension(fingerprint.ExtRecordSizeLimit))
	if tr.shuffleFrom > 0 && j.Identity.Major() >= tr.shuffleFrom {
		if same, n := sameOrder(parsed); n >= 2 && same {
			j.differ("extension order", "permuted on every connection", fmt.Sprintf("identical on %d connections", n))
		}
	}
}

// sameOrder reports whether the hellos that share an extension set all
// list their extensions in one order, and how many such hellos there are.
func sameOrder(hs []*fingerprint.ClientHello) (bool, int) {
	groups := map[string][]string{}
	for _, ch := range hs {
		types := nonGREASE(ch.ExtensionTypes())
		order := fmt.Sprint(types)
		sorted := slices.Clone(types)
		slices.Sort(sorted)
		k := fmt.Sprint(sorted)
		groups[k] = append(groups[k], order)
	}
	best, n := true, 0
	for _, orders := range groups {
		if len(orders) < 2 || len(orders) < n {
			continue
		}
		same := true
		for _, o := range orders[1:] {
			if o != orders[0] {
				same = false
			}
		}
		best, n = same, len(orders)
	}
	return best, n
}

// checkH2 compares the pseudo-header order with the family's.
func (j *Judgement) checkH2(o Observation) {
	if len(o.PseudoOrder) == 0 {
		return
	}
	got := pseudoLetters(o.PseudoOrder)
	var want []string
	switch j.Identity.Family() {
	case "chromium":
		want = []string{"masp"}
	case "firefox":
		want = []string{"mpas"}
	case "safari":
		want = []string{"mspa", "msap"}
	default:
		return
	}
	if !slices.Contains(want, got) {
		j.differ("HTTP/2 pseudo-header order", strings.Join(want, " or "), got)
	}
}

func pseudoLetters(order []string) string {
	var b strings.Builder
	for _, p := range order {
		if len(p) > 1 && p[0] == ':' {
			b.WriteByte(p[1])
		}
	}
	return b.String()
}

func hasGREASE(ch *fingerprint.ClientHello) bool {
	for _, c := range ch.CipherSuites {
		if fingerprint.IsGREASE(c) {
			return true
		}
	}
	for _, t := range ch.ExtensionTypes() {
		if fingerprint.IsGREASE(t) {
			return true
		}
	}
	return false
}

func tls13Order(cs []uint16) []uint16 {
	var out []uint16
	for _, c := range cs {
		if c == 0x1301 || c == 0x1302 || c == 0x1303 {
			out = append(out, c)
		}
	}
	return out
}

func nonGREASE(l []uint16) []uint16 {
	out := make([]uint16, 0, len(l))
	for _, v := range l {
		if !fingerprint.IsGREASE(v) {
			out = append(out, v)
		}
	}
	return out
}

func hexList(l []uint16) string {
	s := make([]string, len(l))
	for i, v := range l {
		s[i] = fmt.Sprintf("0x%04x", v)
	}
	return strings.Join(s, ",")
}

func yesNo(b bool) string {
	if b {
		return "present"
	}
	return "absent"
}

func header(hs []fingerprint.Header, name string) string {
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

func appendUnique(l []string, s string) []string {
	if slices.Contains(l, s) {
		return l
	}
	return append(l, s)
}
