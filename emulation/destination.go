package emulation

import (
	"mime"
	"net/http"
	"path"
	"strings"
)

// RequestKind is what a request is, as far as a browser's headers depend on
// it: the initiator whose header list and HTTP/2 priority it is sent with,
// and its fetch metadata (Sec-Fetch-Dest and Sec-Fetch-Mode values).
type RequestKind struct {
	Initiator Initiator
	// Dest is the Sec-Fetch-Dest value: document, iframe, empty, style,
	// script, image, font, video, audio, manifest, websocket, ...
	Dest string
	// Mode is the Sec-Fetch-Mode value: navigate, cors, no-cors,
	// same-origin or websocket.
	Mode string
	// Stated: the client sent Sec-Fetch-Dest or Sec-Fetch-Mode itself (a
	// browser); User then tells whether it sent Sec-Fetch-User: ?1.
	Stated bool
	User   bool
}

// DefaultKind is the fetch metadata a browser sends for initiator in when
// nothing else is known: navigate and form are top-level documents, iframe
// a nested one, a websocket is (empty, websocket), fetch and xhr are
// script requests (empty, cors), style, script, image and media (video)
// are no-cors loads, font and manifest cors loads. An unknown initiator
// is fetch.
func DefaultKind(in Initiator) RequestKind {
	k := RequestKind{Initiator: in}
	switch in {
	case Navigate, Form:
		k.Dest, k.Mode = "document", "navigate"
	case Iframe:
		k.Dest, k.Mode = "iframe", "navigate"
	case WebSocket:
		k.Dest, k.Mode = "empty", "websocket"
	case Style, Script, Image:
		k.Dest, k.Mode = string(in), "no-cors"
	case Media:
		k.Dest, k.Mode = "video", "no-cors"
	case Font, Manifest:
		k.Dest, k.Mode = string(in), "cors"
	default:
		k.Initiator, k.Dest, k.Mode = Fetch, "empty", "cors"
		if in == XHR {
			k.Initiator = XHR
		}
	}
	return k
}

// destInitiators maps a client's Sec-Fetch-Dest to the initiator whose
// lists are sent (workers take the script lists). Destinations not listed
// (object, embed, report, ...) are sent as fetch with their own Dest.
var destInitiators = map[string]Initiator{
	"document": Navigate, "iframe": Iframe, "frame": Iframe,
	"style": Style, "script": Script, "image": Image, "font": Font,
	"video": Media, "audio": Media, "track": Media, "manifest": Manifest,
	"websocket": WebSocket, "empty": Fetch,
	"worker": Script, "sharedworker": Script, "serviceworker": Script,
}

// extensionInitiators maps a path's extension to the sub-resource it
// names, for clients that state neither fetch metadata nor a telling
// Accept (curl, scripts: "*/*").
var extensionInitiators = map[string]Initiator{
	".css": Style,
	".js":  Script, ".mjs": Script,
	".png": Image, ".jpg": Image, ".jpeg": Image, ".gif": Image, ".webp": Image, ".avif": Image,
	".svg": Image, ".ico": Image, ".bmp": Image,
	".woff2": Font, ".woff": Font, ".ttf": Font, ".otf": Font,
	".mp4": Media, ".webm": Media, ".ogv": Media, ".ogg": Media, ".mp3": Media, ".m4a": Media, ".wav": Media,
	".webmanifest": Manifest,
	".json":        Fetch,
}

// ClassifyRequest infers what req is from what the client sent, first
// rule that applies:
//
//  1. a WebSocket opening handshake (Upgrade: websocket, Connection:
//     upgrade) is websocket;
//  2. X-Guanaco-Initiator naming one of AllInitiators (not websocket)
//     decides, with that initiator's DefaultKind;
//  3. the client's own Sec-Fetch-Dest (and Sec-Fetch-Mode, Sec-Fetch-User)
//     are kept and pick the lists: document is navigate, iframe and frame
//     iframe, style, script, image, font and manifest themselves, video,
//     audio and track media, workers script, empty fetch (xhr with
//     X-Requested-With: XMLHttpRequest, or without a Priority header:
//     Firefox sends one on fetch() and none on XMLHttpRequest, Chromium
//     one on both), any other destination fetch; a
//     navigation (document or iframe) that POSTs a form content type is
//     form;
//  4. without fetch metadata: X-Requested-With: XMLHttpRequest is xhr; a
//     POST with a form content type is form; any other method but GET and
//     HEAD is fetch;
//  5. a GET or HEAD is classified by its Accept: text/html (or
//     application/xhtml+xml) is navigate, text/css style, image/* image,
//     font/* and application/font-* font, video/* and audio/* media,
//     application/manifest+json manifest, any other specific type (JSON,
//     say) fetch;
//  6. with Accept absent or */*, by the path's extension (.css, .js/.mjs,
//     images, fonts, video and audio, .webmanifest and manifest.json,
//     .json as fetch);
//  7. anything else is a navigation (curl's "*/*" on "/").
func ClassifyRequest(req *http.Request) RequestKind {
	if isWebSocketUpgrade(req) {
		return DefaultKind(WebSocket)
	}
	if in := Initiator(strings.ToLower(strings.TrimSpace(req.Header.Get(InitiatorHeader)))); in.Valid() && in != WebSocket {
		return DefaultKind(in)
	}
	xrw := strings.EqualFold(strings.TrimSpace(req.Header.Get("X-Requested-With")), "XMLHttpRequest")
	formPost := req.Method == http.MethodPost && isFormType(req.Header.Get("Content-Type"))
	dest := strings.ToLower(strings.TrimSpace(req.Header.Get("Sec-Fetch-Dest")))
	mode := strings.ToLower(strings.TrimSpace(req.Header.Get("Sec-Fetch-Mode")))
	if dest != "" || mode != "" {
		in, ok := destInitiators[dest]
		switch {
		case dest == "" && mode == "navigate":
			in = Navigate
		case !ok:
			in = Fetch
		}
		if in == Fetch && dest == "empty" && (xrw || len(req.Header.Values("Priority")) == 0) {
			// Firefox sends Priority on fetch() but not on
			// XMLHttpRequest; Chromium sends it on both, whose lists
			// are the same.
			in = XHR
		}
		if formPost && (in == Navigate || in == Iframe) {
			in = Form
		}
		k := DefaultKind(in)
		if dest != "" {
			k.Dest = dest
		}
		if mode != "" {
			k.Mode = mode
		}
		k.Stated = true
		k.User = strings.TrimSpace(req.Header.Get("Sec-Fetch-User")) == "?1"
		return k
	}
	switch req.Method {
	case "", http.MethodGet, http.MethodHead:
	default:
		switch {
		case xrw:
			return DefaultKind(XHR)
		case formPost:
			return DefaultKind(Form)
		}
		return DefaultKind(Fetch)
	}
	if xrw {
		return DefaultKind(XHR)
	}
	if in, ok := acceptInitiator(req.Header.Get("Accept")); ok {
		return DefaultKind(in)
	}
	if in, ok := pathInitiator(req); ok {
		return DefaultKind(in)
	}
	return DefaultKind(Navigate)
}

// acceptInitiator classifies an Accept header by its first media range
// (browsers put the kind of resource first); false when it tells nothing
// (absent, or */* first).
func acceptInitiator(accept string) (Initiator, bool) {
	first, _, _ := strings.Cut(accept, ",")
	first, _, _ = strings.Cut(first, ";")
	first = strings.ToLower(strings.TrimSpace(first))
	switch {
	case first == "" || first == "*/*":
		return "", false
	case first == "text/html" || first == "application/xhtml+xml":
		return Navigate, true
	case first == "text/css":
		return Style, true
	case strings.HasPrefix(first, "image/"):
		return Image, true
	case strings.HasPrefix(first, "font/") || strings.HasPrefix(first, "application/font-") || first == "application/x-font-woff":
		return Font, true
	case strings.HasPrefix(first, "video/") || strings.HasPrefix(first, "audio/"):
		return Media, true
	case first == "application/manifest+json":
		return Manifest, true
	}
	return Fetch, true
}

// pathInitiator classifies req by its path's extension.
func pathInitiator(req *http.Request) (Initiator, bool) {
	if req.URL == nil || strings.HasSuffix(req.URL.Path, "/") {
		return "", false // a directory
	}
	base := strings.ToLower(path.Base(req.URL.Path))
	if base == "manifest.json" {
		return Manifest, true
	}
	in, ok := extensionInitiators[path.Ext(base)]
	return in, ok
}

func isFormType(ct string) bool {
	mt, _, _ := mime.ParseMediaType(ct)
	return mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data"
}
