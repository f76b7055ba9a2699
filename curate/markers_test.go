package curate

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// nonBrowserPattern is the expression Judge matched User-Agents with
// before markerFinder: the token list must keep meaning exactly this.
const nonBrowserPattern = `(?i)\b(curl|wget|go-http-client|python-requests|python-urllib|python-httpx|aiohttp|httpie|okhttp|java/|apache-httpclient|libwww-perl|lwp::|node-fetch|axios|undici|got \(|postmanruntime|insomnia|powershell|winhttp|scrapy|bot\b|crawler|spider|headlesschrome|phantomjs|slimerjs|electron/|puppeteer|playwright|selenium|webdriver|cypress)`

func TestNonBrowserRegexpUnchanged(t *testing.T) {
	if got := nonBrowserRegexp().String(); got != nonBrowserPattern {
		t.Fatalf("token list gives\n%s\nwant\n%s", got, nonBrowserPattern)
	}
}

// markerUAs are User-Agents of browsers, tools and crawlers, with markers
// at and off word boundaries.
var markerUAs = []string{
	"",
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
	"Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Safari/605.1.15",
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36",
	"curl/8.14.1", "Wget/1.21.3", "Go-http-client/2.0", "python-requests/2.32.3", "Python-urllib/3.11",
	"python-httpx/0.28.1", "Python/3.11 aiohttp/3.9.5", "HTTPie/3.2.4", "okhttp/4.12.0", "Java/17.0.15",
	"Apache-HttpClient/4.5.14 (Java/17.0.15)", "libwww-perl/6.77", "LWP::Simple/6.00", "node-fetch/1.0",
	"axios/1.7.9", "undici", "got (https://github.com/sindresorhus/got)", "PostmanRuntime/7.43.0",
	"insomnia/10.3.0", "Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1",
	"WinHTTP", "Scrapy/2.12.0 (+https://scrapy.org)", "Googlebot/2.1 (+http://www.google.com/bot.html)",
	"Mozilla/5.0 (compatible; bingbot/2.0)", "Mozilla/5.0 (compatible; Bot)", "robot", "bot_", "bot-x", "Bot9",
	"a crawler", "webcrawler", "Spider", "PhantomJS/2.1.1", "SlimerJS", "Electron/36.0.0", "Electron",
	"Puppeteer", "Playwright/1.50", "Selenium", "WebDriver", "Cypress/14.0", "xcurl curlx curl",
	"curlcurl", "curl/curl", "go-http-clientgo-http-client", "python-requestspython", "got(", "got  (",
	"ſcrapy", "oKhttp", "Mozilla/5.0 ſcrapy curl", "Ünicode curl/8", "curl\x00wget", "\xffcurl",
}

func TestMarkerFinderMatchesRegexp(t *testing.T) {
	f := newMarkerFinder()
	re := nonBrowserRegexp()
	check := func(ua string) {
		t.Helper()
		if got, want := f.find(ua), re.FindAllString(ua, -1); !slices.Equal(got, want) {
			t.Fatalf("find(%q) = %q, the expression finds %q", ua, got, want)
		}
	}
	for _, ua := range markerUAs {
		check(ua)
	}
	// Generated: tokens in random case between random separators, cut
	// short, run together, and next to word characters.
	rng := rand.New(rand.NewPCG(3, 5))
	pieces := []string{" ", "/", "(", ")", ";", "_", "-", "x", "9", "ſ", "K", ".", "::"}
	matched := 0
	for range 20000 {
		var b strings.Builder
		for range 1 + rng.IntN(6) {
			if rng.IntN(2) == 0 {
				b.WriteString(pieces[rng.IntN(len(pieces))])
				continue
			}
			tok := nonBrowserTokens[rng.IntN(len(nonBrowserTokens))].text
			if rng.IntN(5) == 0 {
				tok = tok[:rng.IntN(len(tok))]
			}
			for _, c := range []byte(tok) {
				if rng.IntN(2) == 0 && 'a' <= c && c <= 'z' {
					c -= 'a' - 'A'
				}
				b.WriteByte(c)
			}
		}
		ua := b.String()
		if len(re.FindAllString(ua, -1)) > 0 {
			matched++
		}
		check(ua)
	}
	if matched < 5000 {
		t.Fatalf("only %d generated User-Agents held a marker", matched)
	}
}

func FuzzMarkerFinder(f *testing.F) {
	for _, ua := range markerUAs {
		f.Add(ua)
	}
	finder := newMarkerFinder()
	re := nonBrowserRegexp()
	f.Fuzz(func(t *testing.T, ua string) {
		if got, want := finder.find(ua), re.FindAllString(ua, -1); !slices.Equal(got, want) {
			t.Fatalf("find(%q) = %q, the expression finds %q", ua, got, want)
		}
	})
}

func BenchmarkMarkerFinder(b *testing.B) {
	f := newMarkerFinder()
	ua := markerUAs[1]
	for b.Loop() {
		if m := f.find(ua); m != nil {
			b.Fatal(m)
		}
	}
}

func BenchmarkMarkerRegexp(b *testing.B) {
	re := nonBrowserRegexp()
	ua := markerUAs[1]
	for b.Loop() {
		if m := re.FindAllString(ua, -1); m != nil {
			b.Fatal(m)
		}
	}
}
