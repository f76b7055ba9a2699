package web

import "net/http"

// Response header values set on (nearly) every answer are assigned as
// prebuilt one-element slices under their canonical keys instead of through
// Header.Set, which canonicalises the key and allocates a new slice per call.
// The slices are shared by every response and never modified: net/http only
// reads a handler's header values (it copies the map when the header is
// written), and an Add to one of these names appends past the slice's
// capacity (len = cap = 1), so it copies. Code in this package must not
// write into a header value slice in place.

// sharedValue returns v as a header value slice of length and capacity 1.
func sharedValue(v string) []string { return []string{v} }

// Content types of the JSON and HTML answers.
const (
	jsonContentType = "application/json; charset=utf-8"
	htmlContentType = "text/html; charset=utf-8"
)

// sharedHeaders are the prebuilt values of the headers the handlers set.
type sharedHeaders struct {
	noStore, jsonType, htmlType []string
}

func newSharedHeaders() sharedHeaders {
	return sharedHeaders{
		noStore:  sharedValue("no-store"),
		jsonType: sharedValue(jsonContentType),
		htmlType: sharedValue(htmlContentType),
	}
}

// noStore sets Cache-Control: no-store on w, as
// w.Header().Set("Cache-Control", "no-store") does.
func (h *handler) noStore(w http.ResponseWriter) {
	w.Header()["Cache-Control"] = h.hdr.noStore
}

// setContentType sets hd's Content-Type to ct, as hd.Set("Content-Type", ct)
// does.
func (h *handler) setContentType(hd http.Header, ct string) {
	switch ct {
	case jsonContentType:
		hd["Content-Type"] = h.hdr.jsonType
	case htmlContentType:
		hd["Content-Type"] = h.hdr.htmlType
	default:
		hd.Set("Content-Type", ct)
	}
}
