package web

import (
	"net/http"

	"github.com/guanaco-fp/guanaco/store"
)

// Sub-resource probes. The fingerprint page loads each of these from the
// server the way pages load their resources (a stylesheet and a manifest in
// <head>, a script, an image, an iframe and a video in the body, a web font
// from the stylesheet), so one visit captures the header list and the
// HTTP/2 priority a browser sends for every fetch destination. Every
// answer is "no-store": a reload captures them again.
//
// The manifest is fetched without credentials (no visit cookie), so its URL
// carries the visit key in the "visit" query parameter; the other probes
// carry the cookie like any same-origin request.
const (
	ProbeStylePath    = "/probe/style.css"
	ProbeScriptPath   = "/probe/script.js"
	ProbeImagePath    = "/probe/image.png"
	ProbeFontPath     = "/probe/font.woff2"
	ProbeFramePath    = "/probe/frame"
	ProbeManifestPath = "/probe/manifest.webmanifest"
	ProbeMediaPath    = "/probe/media.webm"
)

// subresource is one probe: its initiator and its answer.
type subresource struct {
	initiator   string
	contentType string
	body        []byte
}

// transparentPNG is a 1x1 transparent PNG.
const transparentPNG = "\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x01\x00\x00\x00\x01\x08\x04\x00\x00\x00\xb5\x1c\x0c\x02\x00\x00\x00\x0b\x49\x44\x41\x54\x78\xda\x63\x64\x60\x00\x00\x00\x06\x00\x02\x30\x81\xd0\x2f\x00\x00\x00\x00\x49\x45\x4e\x44\xae\x42\x60\x82"

// subresources are the probes by path. The font and the video are not
// decodable (a font or video signature and nothing else): the browser
// requests them, which is all the capture needs, and then drops them.
func subresources() map[string]subresource {
	return map[string]subresource{
		ProbeStylePath: {store.InitiatorStyle, "text/css; charset=utf-8", []byte(
			"/* guanaco sub-resource probe: the font below is the font probe */\n" +
				"@font-face { font-family: \"guanaco-probe\"; src: url(\"" + ProbeFontPath + "\") format(\"woff2\"); }\n" +
				".probe-font { font-family: \"guanaco-probe\", sans-serif; }\n")},
		ProbeScriptPath: {store.InitiatorScript, "text/javascript; charset=utf-8", []byte(
			"// guanaco sub-resource probe\ndocument.documentElement.setAttribute(\"data-script-probe\", \"loaded\");\n")},
		ProbeImagePath:    {store.InitiatorImage, "image/png", []byte(transparentPNG)},
		ProbeFontPath:     {store.InitiatorFont, "font/woff2", []byte("wOF2\x00\x01\x00\x00")},
		ProbeFramePath:    {store.InitiatorIframe, "text/html; charset=utf-8", []byte("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>iframe probe</title></head><body><p>iframe probe</p></body></html>\n")},
		ProbeManifestPath: {store.InitiatorManifest, "application/manifest+json", []byte(`{"name":"guanaco","short_name":"guanaco","start_url":"/","display":"browser"}` + "\n")},
		ProbeMediaPath:    {store.InitiatorMedia, "video/webm", []byte("\x1a\x45\xdf\xa3")},
	}
}

// probeSubresource serves one sub-resource probe: the request is captured
// under the probe's initiator in the visit of its cookie (the manifest's:
// of its "visit" query parameter), and answered with a small body of the
// probe's type.
func (h *handler) probeSubresource(p subresource) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := visitKeyOf(r)
		if key == "" && p.initiator == store.InitiatorManifest {
			if k := r.URL.Query().Get("visit"); validVisitKey(k) {
				key = k
			}
		}
		var rep report // only stored, not answered: kept on the stack
		h.fingerprintInto(&rep, r, h.captureOf(r), p.initiator, key)
		h.noStore(w)
		h.writeBody(w, http.StatusOK, p.contentType, p.body)
	}
}
