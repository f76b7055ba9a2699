package curate

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// nonBrowserToken is a sign of an HTTP library, tool, crawler or
// automation framework in a User-Agent: lower-case text that starts a word
// and, with wordEnd, also ends one.
type nonBrowserToken struct {
	text    string
	wordEnd bool
}

// nonBrowserTokens are the markers Judge looks for, in the order they are
// tried at a position (the first that matches is taken).
var nonBrowserTokens = []nonBrowserToken{
	{text: "curl"}, {text: "wget"}, {text: "go-http-client"}, {text: "python-requests"},
	{text: "python-urllib"}, {text: "python-httpx"}, {text: "aiohttp"}, {text: "httpie"},
	{text: "okhttp"}, {text: "java/"}, {text: "apache-httpclient"}, {text: "libwww-perl"},
	{text: "lwp::"}, {text: "node-fetch"}, {text: "axios"}, {text: "undici"}, {text: "got ("},
	{text: "postmanruntime"}, {text: "insomnia"}, {text: "powershell"}, {text: "winhttp"},
	{text: "scrapy"}, {text: "bot", wordEnd: true}, {text: "crawler"}, {text: "spider"},
	{text: "headlesschrome"}, {text: "phantomjs"}, {text: "slimerjs"}, {text: "electron/"},
	{text: "puppeteer"}, {text: "playwright"}, {text: "selenium"}, {text: "webdriver"},
	{text: "cypress"},
}

// nonBrowserRegexp is nonBrowserTokens as a regular expression: each token
// at an ASCII word boundary, ASCII letters in any case (and, as Go's case
// folding has it, the Kelvin sign for k and the long s for s).
func nonBrowserRegexp() *regexp.Regexp {
	alts := make([]string, len(nonBrowserTokens))
	for i, t := range nonBrowserTokens {
		alts[i] = regexp.QuoteMeta(t.text)
		if t.wordEnd {
			alts[i] += `\b`
		}
	}
	return regexp.MustCompile(`(?i)\b(` + strings.Join(alts, "|") + `)`)
}

// markerFinder finds nonBrowserTokens in User-Agents.
type markerFinder struct {
	// re serves the User-Agents holding non-ASCII bytes, where case
	// folding reaches beyond ASCII.
	re *regexp.Regexp
	// first marks the bytes a token can start with, in either case.
	first [256]bool
}

func newMarkerFinder() *markerFinder {
	f := &markerFinder{re: nonBrowserRegexp()}
	for _, t := range nonBrowserTokens {
		c := t.text[0]
		f.first[c] = true
		f.first[c-'a'+'A'] = true // every token starts with a lower-case letter
	}
	return f
}

// find returns what nonBrowserRegexp().FindAllString(ua, -1) returns: the
// non-overlapping markers in ua from left to right, as written there, and
// at each position the first token of nonBrowserTokens that matches. An
// ASCII User-Agent is scanned directly (the regular expression's
// backtracking costs ~20 µs on a browser's User-Agent, the scan ~1).
func (f *markerFinder) find(ua string) []string {
	for i := 0; i < len(ua); i++ {
		if ua[i] >= utf8.RuneSelf {
			return f.re.FindAllString(ua, -1)
		}
	}
	var out []string
	for i := 0; i < len(ua); {
		if !f.first[ua[i]] || (i > 0 && isWordByte(ua[i-1])) {
			i++
			continue
		}
		n := matchToken(ua[i:])
		if n == 0 {
			i++
			continue
		}
		out = append(out, ua[i:i+n])
		i += n
	}
	return out
}

// matchToken returns the length of the first token of nonBrowserTokens
// that s starts with (ASCII letters in any case), or 0.
func matchToken(s string) int {
	for _, t := range nonBrowserTokens {
		n := len(t.text)
		if len(s) < n || !equalFoldASCII(s[:n], t.text) {
			continue
		}
		if t.wordEnd && n < len(s) && isWordByte(s[n]) {
			continue
		}
		return n
	}
	return 0
}

// equalFoldASCII reports whether s equals the lower-case lower with ASCII
// letters of s in either case.
func equalFoldASCII(s, lower string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// isWordByte reports whether c is an ASCII word character (\w).
func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}
