package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/guanaco-fp/guanaco/internal/testenv"
)

// phoneLayoutJS reports what does not fit a phone's viewport: horizontal
// overflow of the page, Copy buttons outside the viewport or with their
// label cut, and elements wider than the viewport.
const phoneLayoutJS = `(() => {
  const out = [];
  const de = document.documentElement;
  const vw = de.clientWidth;
  if (de.scrollWidth > de.clientWidth) out.push("page scrolls sideways: " + de.scrollWidth + " > " + de.clientWidth);
  for (const b of document.querySelectorAll("button.copy")) {
    const r = b.getBoundingClientRect();
    if (r.width === 0) continue;
    if (r.left < 0 || r.right > vw + 0.5) out.push("Copy button outside the viewport at " + Math.round(r.left) + ".." + Math.round(r.right));
    if (b.scrollWidth > b.clientWidth + 1) out.push("Copy button label cut: " + JSON.stringify(b.textContent));
  }
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > vw + 1 && getComputedStyle(el).position !== "fixed") {
      let clipped = false;
      for (let p = el.parentElement; p; p = p.parentElement) {
        const s = getComputedStyle(p);
        if (s.overflowX === "auto" || s.overflowX === "scroll" || s.overflowX === "hidden") { clipped = true; break; }
      }
      if (!clipped) { out.push("wider than the viewport: <" + el.tagName.toLowerCase() + " class=" + el.className + "> right " + Math.round(r.right)); if (out.length > 12) break; }
    }
  }
  return out;
})()`

// TestE2EPhoneLayout loads every page in a headed Chromium with a 360 px
// wide phone viewport and checks that none scrolls sideways, that every
// Copy button is inside the viewport with its whole label, and that nothing
// but scrollable containers is wider than the screen.
func TestE2EPhoneLayout(t *testing.T) {
	skipBrowserShort(t)
	chromium := testenv.RequireTool(t, chromiumName)
	display := testenv.StartXvfb(t)
	s := startServer(t, "-public-captures")
	browserCtx := startChromium(t, chromium, display)

	// A capture and its fingerprint to show.
	rep, _ := getReport(t, plainClient(), s.url(t, lnHTTP, "/api/fingerprint"))
	stored := s.waitCapture(t, rep.CaptureID)
	pages := []string{"/", "/captures/" + rep.CaptureID, "/stats", "/profiles", "/profiles/chromium-156-linux"}
	if h := stored.Fingerprints["ja3_hash"]; h != "" {
		pages = append(pages, "/fingerprints/"+h)
	}
	for _, path := range pages {
		t.Run(strings.ReplaceAll(path, "/", "_"), func(t *testing.T) {
			tabCtx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
			defer cancel()
			ctx, cancelT := context.WithTimeout(tabCtx, 30*time.Second)
			defer cancelT()
			err := chromedp.Do(ctx,
				chromedp.EmulateViewport(360, 740, chromedp.EmulateScale(2), chromedp.EmulateMobile),
				chromedp.Navigate(s.url(t, lnHTTPS, path)),
				chromedp.WaitReady("body"),
				chromedp.Sleep(300*time.Millisecond),
			)
			if err != nil {
				t.Fatal(err)
			}
			problems, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](phoneLayoutJS))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				t.Errorf("%s at 360 px: %s", path, p)
			}
		})
	}
}
