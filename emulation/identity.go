package emulation

import (
	"fmt"
	"strings"
)

// Identity is a browser identity: what a User-Agent and the low-entropy
// client hints claim the client is. Curation groups visits by it.
type Identity struct {
	// Browser is the lower-case family as profiles name it: chrome,
	// chromium, edge, opera, brave, firefox, safari, or unknown.
	Browser string
	// Version is the full version from the User-Agent ("0" when unknown).
	Version string
	// Platform is windows, macos, linux, chromeos, android, ios or unknown.
	Platform string
	// Mobile: the User-Agent says Mobile (or the client hint
	// sec-ch-ua-mobile is ?1).
	Mobile bool
}

// Identify reads a browser identity from a User-Agent and, when present,
// the request's Sec-CH-UA (which tells Chromium from Google Chrome, Opera
// and Brave) and Sec-CH-UA-Mobile headers.
func Identify(userAgent string, headers []Header) Identity {
	b, v, p := identify(userAgent, headers)
	id := Identity{Browser: b, Version: v, Platform: p}
	id.Mobile = strings.Contains(userAgent, "Mobile") || p == "android" && !strings.Contains(userAgent, "Tablet")
	for _, h := range headers {
		if strings.EqualFold(h.Name, "sec-ch-ua-mobile") {
			id.Mobile = strings.TrimSpace(h.Value) == "?1"
		}
	}
	return id
}

// Major is the major version number (0 when unknown).
func (id Identity) Major() int { return majorOf(id.Version) }

// Family is the engine family: chromium (Chrome, Chromium, Edge, Opera,
// Brave), firefox, safari, or the browser itself.
func (id Identity) Family() string { return family(id.Browser) }

// Known reports whether the User-Agent named a browser this package knows.
func (id Identity) Known() bool { return id.Browser != "unknown" && id.Browser != "" }

// Key is the identity as one string, "chrome/156/windows/desktop": the
// browser identity curation groups visits by.
func (id Identity) Key() string {
	form := "desktop"
	if id.Mobile {
		form = "mobile"
	}
	return fmt.Sprintf("%s/%d/%s/%s", id.Browser, id.Major(), id.Platform, form)
}

// ProfileName is the base name of a profile of this identity:
// browser-major-platform.
func (id Identity) ProfileName() string {
	return strings.ToLower(fmt.Sprintf("%s-%d-%s", id.Browser, id.Major(), id.Platform))
}
