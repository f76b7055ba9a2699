package main

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/guanaco-fp/guanaco/curate"
	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/emulation/transport"
	"github.com/guanaco-fp/guanaco/internal/testenv"
	"github.com/guanaco-fp/guanaco/store"
)

// hintProbes are the requests compared between the origin that never sent
// Accept-CH and the one that did.
var hintProbes = []emulation.Initiator{emulation.Navigate, emulation.Fetch, emulation.XHR, emulation.Form}

// withoutHints is names without the requested client hints and without
// caller-only headers (whose presence depends on the visit).
func withoutHints(names []string) []string {
	return slices.DeleteFunc(slices.Clone(names), func(n string) bool {
		return emulation.IsRequestedHint(n) || emulation.IsCallerOnly(n)
	})
}

// TestE2EChromiumNoAcceptCH loads the fingerprint page in headed Chromium on
// two names of fpserver's HTTP/2 listener, and then of its HTTP/1.1-only
// listener, each in a fresh browser context:
// localhost, named by -no-client-hints-host so its page sends no Accept-CH,
// and 127.0.0.1, whose page asks for every hint. It logs both visits'
// navigate, fetch, xhr and form header orders and checks that:
//
//   - the no-Accept-CH origin received no requested hint, and its fetch and
//     xhr lists differ from the Accept-CH ones with the hints removed (the
//     low-entropy hints sit elsewhere: what the builder used to assume);
//   - a profile built from both visits (the localhost captures marked
//     NoAcceptCH), through one transport, sends the no-Accept-CH origin
//     exactly the browser's lists there and the Accept-CH origin, after its
//     page, exactly the browser's lists there, pseudo headers included;
//   - the Critical-CH retry of the navigation the transport makes is the
//     browser's: both navigations of "/" as fpserver stored them.
func TestE2EChromiumNoAcceptCH(t *testing.T) {
	skipBrowserShort(t)
	chromium := testenv.RequireTool(t, chromiumName)
	display := testenv.StartXvfb(t)
	s := startServer(t, "-no-client-hints-host", "localhost")
	browserCtx := startChromium(t, chromium, display)
	for _, tc := range []struct {
		name, lst, version string
	}{
		{"h2", lnHTTPS, "2"},
		{"http1.1", lnHTTPSH1, "1.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, port, err := net.SplitHostPort(s.addr(t, tc.lst))
			if err != nil {
				t.Fatal(err)
			}
			plainBase, askedBase := "https://localhost:"+port, "https://127.0.0.1:"+port

			// fpserver asks on one name only.
			hc := &http.Client{Timeout: requestTimeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.roots}}}
			for base, want := range map[string]bool{plainBase: false, askedBase: true} {
				resp, err := hc.Get(base + "/")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if got := resp.Header.Get("Accept-CH") != "" && resp.Header.Get("Critical-CH") != ""; got != want {
					t.Fatalf("%s/: Accept-CH and Critical-CH sent: %v, want %v", base, got, want)
				}
			}

			visit := func(base string) (pageState, visitCaptures) {
				tabCtx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
				defer cancel()
				return loadVisit(t, s, tabCtx, base+"/")
			}
			// The Accept-CH visit first: its captures are the earlier ones, so
			// the profile's lists come from the no-Accept-CH visit only because
			// its captures are marked so.
			askedPage, asked := visit(askedBase)
			plainPage, plain := visit(plainBase)

			for _, in := range hintProbes {
				p, a := plain[string(in)].headerNames(), asked[string(in)].headerNames()
				t.Logf("%s without Accept-CH: %s", in, strings.Join(p, ","))
				t.Logf("%s after Accept-CH:   %s", in, strings.Join(a, ","))
				if i := slices.IndexFunc(p, emulation.IsRequestedHint); i >= 0 {
					t.Errorf("%s to the origin without Accept-CH carries %s", in, p[i])
				}
				same := slices.Equal(withoutHints(p), withoutHints(a))
				t.Logf("%s: no-Accept-CH list = Accept-CH list without its hints: %v", in, same)
				if (in == emulation.Fetch || in == emulation.XHR) && same {
					t.Errorf("%s: the browser's list without Accept-CH equals the Accept-CH one with the hints removed", in)
				}
			}

			// One profile from both visits, as profilegen builds it.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			st, err := store.Open(ctx, filepath.Join(s.dataDir, "fpserver.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			visitCaps := func(key string, noAcceptCH bool) []emulation.VisitCapture {
				rows, err := st.CapturesByVisit(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				caps, err := curate.VisitCaptures(rows)
				if err != nil {
					t.Fatal(err)
				}
				for i := range caps {
					caps[i].NoAcceptCH = noAcceptCH
				}
				return caps
			}
			askedCaps := visitCaps(askedPage.VisitKey, false)
			p, err := emulation.Build(askedPage.VisitKey, "", append(askedCaps, visitCaps(plainPage.VisitKey, true)...), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if p.ClientHints == nil {
				t.Fatal("the profile has no client_hints lists")
			}

			tr := transport.New(transport.Options{Profile: p, RootCAs: s.roots})
			defer tr.CloseIdleConnections()
			emuKey := strings.Repeat("e1", 16)
			// send makes the request the browser's capture real shows through the
			// transport, with real's caller-only headers, and returns fpserver's
			// record of it (nil for "/", which answers with the page).
			send := func(base string, in emulation.Initiator, path string, real *reportJSON) *reportJSON {
				t.Helper()
				method := real.Method
				if path == "" {
					path = "/api/fingerprint"
					if method == http.MethodPost {
						path = "/api/echo"
					}
				}
				var body io.Reader
				if method == http.MethodPost {
					body = strings.NewReader("a=1")
				}
				rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
				defer rcancel()
				req, err := http.NewRequestWithContext(transport.WithInitiator(rctx, in), method, base+path, body)
				if err != nil {
					t.Fatal(err)
				}
				for _, h := range real.HTTP.Headers {
					switch n := strings.ToLower(h[0]); {
					case n == "cookie":
						req.Header.Set("Cookie", "gv="+emuKey)
					case n == "origin" || n == "referer":
						req.Header.Set(h[0], strings.Replace(h[1], "://"+hostOf(h[1]), "://"+hostOf(base), 1))
					case n == "content-type":
						req.Header.Set(h[0], h[1])
					}
				}
				resp, err := tr.RoundTrip(req)
				if err != nil {
					t.Fatalf("emulated %s %s%s: %v", in, base, path, err)
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				if path == "/" {
					return nil
				}
				rep, err := decodeReport(b)
				if err != nil {
					t.Fatalf("emulated %s %s%s: %v: %.200s", in, base, path, err, b)
				}
				return rep
			}
			compare := func(origin string, in emulation.Initiator, real, emu *reportJSON) {
				t.Helper()
				want, got := real.headerNames(), emu.headerNames()
				if !slices.Equal(got, want) {
					t.Errorf("%s %s:\n emulation %s\n chromium  %s", origin, in, strings.Join(got, ","), strings.Join(want, ","))
					return
				}
				for _, h := range emu.HTTP.Headers {
					if strings.HasPrefix(strings.ToLower(h[0]), "sec-ch-") {
						if v, _ := real.header(h[0]); v != h[1] {
							t.Errorf("%s %s: %s = %q, chromium sent %q", origin, in, h[0], h[1], v)
						}
					}
				}
				t.Logf("%s %s: emulation = chromium (%d headers)", origin, in, len(got))
			}
			// The origin without Accept-CH: its page teaches the transport nothing.
			send(plainBase, emulation.Navigate, "/", plain["navigate"])
			for _, in := range hintProbes {
				compare("without Accept-CH", in, plain[string(in)], send(plainBase, in, "", plain[string(in)]))
			}
			// The Accept-CH origin, through the same transport: its page asks.
			send(askedBase, emulation.Navigate, "/", asked["navigate"])
			for _, in := range hintProbes {
				compare("after Accept-CH", in, asked[string(in)], send(askedBase, in, "", asked[string(in)]))
			}
			// And the first origin is still sent its own lists.
			compare("without Accept-CH, again", emulation.Fetch, plain["fetch"], send(plainBase, emulation.Fetch, "", plain["fetch"]))

			// The Critical-CH retry: the browser's two navigations of "/" on the
			// Accept-CH origin and the transport's, as fpserver stored them.
			// navsOf is the visit's HTTP/tc.version navigations of "/", oldest first.
			navsOf := func(key string) []emulation.VisitCapture {
				rows, err := st.CapturesByVisit(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				rows = slices.DeleteFunc(rows, func(r store.Capture) bool {
					return r.Initiator != store.InitiatorNavigate || r.HTTPVersion != tc.version || r.Path != "/"
				})
				caps, err := curate.VisitCaptures(rows)
				if err != nil {
					t.Fatal(err)
				}
				slices.SortStableFunc(caps, func(a, b emulation.VisitCapture) int { return a.CreatedAt.Compare(b.CreatedAt) })
				return caps
			}
			realNavs := navsOf(askedPage.VisitKey)
			var emuNavs []emulation.VisitCapture
			waitFor(t, 20*time.Second, "the emulated navigations of /", func() (bool, error) {
				emuNavs = navsOf(emuKey)
				// Two of "/" on the Accept-CH origin, one on the other.
				emuNavs = slices.DeleteFunc(emuNavs, func(c emulation.VisitCapture) bool { return authorityOf(c.Headers) != hostOf(askedBase) })
				return len(emuNavs) >= 2, nil
			})
			if len(realNavs) != 2 || len(emuNavs) != 2 {
				t.Fatalf("navigations of / after Accept-CH and Critical-CH: chromium %d, emulation %d; want 2 each (the retry)", len(realNavs), len(emuNavs))
			}
			for i, label := range []string{"first navigation", "Critical-CH retry"} {
				want, got := headerNamesOf(realNavs[i].Headers), headerNamesOf(emuNavs[i].Headers)
				if i == 0 { // the browser's first navigation carries no cookie yet
					got = slices.DeleteFunc(got, func(n string) bool { return strings.EqualFold(n, "cookie") })
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s of /:\n emulation %s\n chromium  %s", label, strings.Join(got, ","), strings.Join(want, ","))
				} else {
					t.Logf("%s of /: emulation = chromium: %s", label, strings.Join(got, ","))
				}
			}
		})
	}
}

// hostOf is the host:port of an absolute URL.
func hostOf(u string) string {
	_, rest, _ := strings.Cut(u, "://")
	host, _, _ := strings.Cut(rest, "/")
	return host
}

// authorityOf is the :authority (HTTP/2) or Host (HTTP/1.1) of a request.
func authorityOf(hs []emulation.Header) string {
	for _, h := range hs {
		if h.Name == ":authority" || strings.EqualFold(h.Name, "host") {
			return h.Value
		}
	}
	return ""
}

func headerNamesOf(hs []emulation.Header) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.Name
	}
	return out
}
