package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/a-h/templ"

	"github.com/guanaco-fp/guanaco/web/templates"
)

// encodeJSON encodes v indented, with a trailing newline. HTML characters
// are escaped (\u003c ...), so the output is also safe inside HTML
// attributes and script data blocks.
func encodeJSON(v any) ([]byte, error) {
	return encodeJSONIndent(v, false)
}

// encodeJSONIndent encodes v as one line, or indented when pretty is set.
func encodeJSONIndent(v any, pretty bool) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	if pretty {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// tlsNull is how a report without its TLS object encodes that field: the
// first occurrence in the encoding is the field itself (a quote inside a
// JSON string is always escaped, and the fields before "tls" are strings,
// a time and a bool).
var tlsNull = []byte(`"tls":null`)

// encodeReport is encodeJSONIndent(rep, false) with the TLS object, the
// bulk of the answer and encoded once per connection (tlsReport.MarshalJSON),
// spliced in as it is: encoding/json would validate and compact a
// Marshaler's output again on every request.
func encodeReport(rep *report) ([]byte, error) {
	t := rep.TLS
	if t == nil {
		return encodeJSONIndent(rep, false)
	}
	tb, err := t.MarshalJSON()
	if err != nil {
		return nil, err
	}
	rep.TLS = nil
	b, err := encodeJSONIndent(rep, false)
	rep.TLS = t
	if err != nil {
		return nil, err
	}
	i := bytes.Index(b, tlsNull)
	if i < 0 {
		return nil, errors.New("web: encoding report: no tls field")
	}
	out := make([]byte, 0, len(b)+len(tb))
	out = append(out, b[:i+len(`"tls":`)]...)
	out = append(out, tb...)
	return append(out, b[i+len(tlsNull):]...), nil
}

// wantsPretty reports whether the client asked for indented JSON with a
// ?pretty query parameter (any value but 0 or false).
func wantsPretty(r *http.Request) bool {
	q := r.URL.Query()
	if !q.Has("pretty") {
		return false
	}
	v := q.Get("pretty")
	return v != "0" && v != "false"
}

// writeJSON encodes v completely before writing, so an encoding failure
// becomes a clean 500 instead of a truncated body.
func (h *handler) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	pretty := wantsPretty(r)
	var b []byte
	var err error
	if rep, ok := v.(*report); ok && !pretty {
		b, err = encodeReport(rep)
	} else {
		b, err = encodeJSONIndent(v, pretty)
	}
	if err != nil {
		h.log.LogAttrs(r.Context(), slog.LevelError, "web: encoding JSON response",
			slog.String("path", r.URL.Path), slog.String("error", err.Error()))
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"internal server error"}}` + "\n")
	}
	h.writeBody(w, status, "application/json; charset=utf-8", b)
}

// writeRawJSON writes an already encoded JSON document.
func (h *handler) writeRawJSON(w http.ResponseWriter, status int, b []byte) {
	h.writeBody(w, status, "application/json; charset=utf-8", b)
}

func (h *handler) writeBody(w http.ResponseWriter, status int, contentType string, b []byte) {
	hd := w.Header()
	hd.Set("Content-Type", contentType)
	hd.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// render renders an HTML component into a buffer, then writes it with
// status. A render failure becomes a plain 500.
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
		h.log.LogAttrs(r.Context(), slog.LevelError, "web: rendering page",
			slog.String("path", r.URL.Path), slog.String("error", err.Error()))
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	h.writeBody(w, status, "text/html; charset=utf-8", buf.Bytes())
}

// page is the layout props of a page.
func (h *handler) page(title, nav string) templates.Page {
	return templates.Page{Title: title, Nav: nav, AssetVersion: h.assetVersion}
}
