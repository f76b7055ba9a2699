package emulation

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// catalogueFS holds the built-in profiles, one NAME.json per profile,
// captured from real browsers by cmd/profilegen (`make profiles`).
//
//go:embed catalogue/*.json
var catalogueFS embed.FS

// ErrUnknownProfile is returned by Lookup for a name the catalogue lacks.
var ErrUnknownProfile = errors.New("emulation: unknown profile")

// Catalogue returns the built-in profiles, each decoded and validated
// afresh (callers may modify them), sorted by name, with source kind
// SourceBuiltin unless the file names another. A file whose name is not
// its profile's name plus ".json" is an error, as is any invalid profile.
func Catalogue() ([]*Profile, error) {
	entries, err := fs.Glob(catalogueFS, "catalogue/*.json")
	if err != nil {
		return nil, fmt.Errorf("emulation: listing the catalogue: %w", err)
	}
	slices.Sort(entries)
	out := make([]*Profile, 0, len(entries))
	for _, name := range entries {
		b, err := catalogueFS.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("emulation: reading %s: %w", name, err)
		}
		p, err := Unmarshal(b)
		if err != nil {
			return nil, fmt.Errorf("emulation: built-in %s: %w", name, err)
		}
		if want := strings.TrimSuffix(path.Base(name), ".json"); p.Name != want {
			return nil, fmt.Errorf("emulation: built-in %s holds profile %q", name, p.Name)
		}
		if p.Source.Kind == "" {
			p.Source.Kind = SourceBuiltin
		}
		out = append(out, p)
	}
	// File order is not name order ("a-b.json" sorts after "a.json" but
	// "a" before "a-b").
	slices.SortFunc(out, func(a, b *Profile) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Lookup returns the built-in profile called name, or an error wrapping
// ErrUnknownProfile.
func Lookup(name string) (*Profile, error) {
	all, err := Catalogue()
	if err != nil {
		return nil, err
	}
	for _, p := range all {
		if p.Name == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownProfile, name)
}

// Match returns the profile of profiles closest to the browser userAgent
// names (DESIGN §4.5 step 3), or nil when none is of the same browser
// family (Chromium-based, Firefox, Safari) or the user agent names no
// known browser. Closeness within the family, in order: the same platform,
// a version not above the client's (an older profile claims nothing the
// client's browser cannot do), the smallest distance between major
// versions, then between minor versions (Safari's minor releases differ),
// a fresh profile before a stale one (Source.Stale), the same browser (a
// user agent alone cannot tell Chromium from Google Chrome, so this only
// breaks ties), the newer version, the most recently corroborated profile
// (Source.LastSeen, else Source.BuiltAt) and finally the name, so the
// result is deterministic.
func Match(profiles []*Profile, userAgent string) *Profile {
	browser, version, platform := identify(userAgent, nil)
	if browser == "unknown" {
		return nil
	}
	cv := versionParts(version)
	abs := func(n int) int {
		if n < 0 {
			return -n
		}
		return n
	}
	var best *Profile
	var bestKey [10]int
	for _, p := range profiles {
		if p == nil || family(p.Browser) != family(browser) {
			continue
		}
		pv := versionParts(p.Version)
		key := [10]int{b2i(p.Platform != platform), b2i(slices.Compare(pv[:], cv[:]) > 0), abs(cv[0] - pv[0]), abs(cv[1] - pv[1]),
			b2i(p.Source.Stale), b2i(p.Browser != browser), -pv[0], -pv[1], -pv[2]}
		if best == nil {
			best, bestKey = p, key
			continue
		}
		c := slices.Compare(key[:], bestKey[:])
		if c == 0 {
			c = seenAt(best).Compare(seenAt(p)) // later first
		}
		if c == 0 {
			c = strings.Compare(p.Name, best.Name)
		}
		if c < 0 {
			best, bestKey = p, key
		}
	}
	return best
}

// versionParts is the first three numbers of a dotted version ("17.4.1" ->
// 17, 4, 1; missing or non-numeric parts are 0).
func versionParts(v string) [3]int {
	var out [3]int
	for i, part := range strings.SplitN(v, ".", 4) {
		if i == len(out) {
			break
		}
		out[i], _ = strconv.Atoi(part)
	}
	return out
}

// seenAt is when p was last known to match a real browser: the latest
// corroborating visit of a curated profile, else when it was built.
func seenAt(p *Profile) time.Time {
	if !p.Source.LastSeen.IsZero() {
		return p.Source.LastSeen
	}
	return p.Source.BuiltAt
}

// Family is the engine family of a profile's browser: chromium for the
// Chromium-based browsers (Chrome, Chromium, Edge, Opera, Brave), else the
// browser itself (firefox, safari, ...).
func Family(browser string) string { return family(browser) }

// family groups browsers that share an engine and TLS/HTTP stack.
func family(browser string) string {
	if chromiumFamily(browser) {
		return "chromium"
	}
	return browser
}

// majorOf is the major version number of v ("156.0.0.0" -> 156), 0 when v
// does not start with a number.
func majorOf(v string) int {
	m, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(m)
	if err != nil {
		return 0
	}
	return n
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
