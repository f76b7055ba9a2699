package web

import (
	"image/png"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/guanaco-fp/guanaco/store"
)

// TestSubresourceProbes: the fingerprint page references every
// sub-resource probe (the manifest with the visit key), and each probe is
// captured under its destination in the visit of the cookie (the
// manifest's: of its query), answered with its type and never cached.
func TestSubresourceProbes(t *testing.T) {
	e := newEnv(t, nil)
	w := e.do("GET", "https://fp.example/", nil, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("GET / = %d", w.Code)
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies = %v", cookies)
	}
	key := cookies[0].Value
	page := w.Body.String()
	for _, want := range []string{
		`<link rel="stylesheet" href="` + ProbeStylePath + `">`,
		`<link rel="manifest" href="` + ProbeManifestPath + `?visit=` + key + `">`,
		`<script src="` + ProbeScriptPath + `"></script>`,
		`<img src="` + ProbeImagePath + `"`,
		`<iframe src="` + ProbeFramePath + `"`,
		`<video src="` + ProbeMediaPath + `"`,
		`class="probe-font"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	withCookie := func(r *http.Request) { r.AddCookie(&http.Cookie{Name: visitCookie, Value: key}) }
	for _, p := range []struct {
		path, initiator, contentType string
		cookie                       bool
	}{
		{ProbeStylePath, store.InitiatorStyle, "text/css", true},
		{ProbeScriptPath, store.InitiatorScript, "text/javascript", true},
		{ProbeImagePath, store.InitiatorImage, "image/png", true},
		{ProbeFontPath, store.InitiatorFont, "font/woff2", true},
		{ProbeFramePath, store.InitiatorIframe, "text/html", true},
		{ProbeMediaPath, store.InitiatorMedia, "video/webm", true},
		{ProbeManifestPath + "?visit=" + url.QueryEscape(key), store.InitiatorManifest, "application/manifest+json", false},
	} {
		mod := withCookie
		if !p.cookie {
			mod = nil
		}
		w := e.do("GET", "https://fp.example"+p.path, nil, mod)
		if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), p.contentType) ||
			w.Header().Get("Cache-Control") != "no-store" || w.Body.Len() == 0 {
			t.Errorf("GET %s = %d, %q, cache %q, %d bytes", p.path, w.Code, w.Header().Get("Content-Type"), w.Header().Get("Cache-Control"), w.Body.Len())
		}
		c := e.sink.last(t)
		if c.Initiator != p.initiator || c.VisitKey != key {
			t.Errorf("%s capture: initiator %q visit %q, want %q %q", p.path, c.Initiator, c.VisitKey, p.initiator, key)
		}
	}
	// The query names a visit only for the manifest, and only a valid key.
	e.do("GET", "https://fp.example"+ProbeStylePath+"?visit="+key, nil, nil)
	if c := e.sink.last(t); c.VisitKey != "" {
		t.Errorf("style probe took the visit %q from its query", c.VisitKey)
	}
	e.do("GET", "https://fp.example"+ProbeManifestPath+"?visit=nope", nil, nil)
	if c := e.sink.last(t); c.VisitKey != "" || c.Initiator != store.InitiatorManifest {
		t.Errorf("manifest probe with a bad key: visit %q initiator %q", c.VisitKey, c.Initiator)
	}
}

// TestTransparentPNG: the image probe answers a PNG that decodes.
func TestTransparentPNG(t *testing.T) {
	img, err := png.Decode(strings.NewReader(transparentPNG))
	if err != nil || img.Bounds().Dx() != 1 || img.Bounds().Dy() != 1 {
		t.Fatalf("image probe body: %v, %v", img, err)
	}
}
