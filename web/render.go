package web

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/a-h/templ"

	"github.com/guanaco-fp/guanaco/web/templates"
)

// encodeJSONIndent encodes v as one line, or indented when pretty is set,
// with a trailing newline. HTML characters are escaped (\u003c ...), so the
// output is also safe inside HTML attributes and script data blocks.
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

// encodeReport is encodeJSONIndent(rep, false) by the reflection-free appenders (see
// jsonenc.go), with the TLS object, encoded once per connection, spliced in.
func encodeReport(rep *report) ([]byte, error) {
	return appendReport(make([]byte, 0, 4096), rep)
}

// jsonBufs recycles the answer buffers of the live routes: net/http copies a
// body into its own buffers during Write.
var jsonBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooledJSON bounds the buffers kept in jsonBufs.
const maxPooledJSON = 64 << 10

// wantsPretty reports whether the client asked for indented JSON with a
// ?pretty query parameter (any value but 0 or false).
func wantsPretty(r *http.Request) bool {
	if !strings.Contains(r.URL.RawQuery, "pretty") {
		return false // no query to parse
	}
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
	var pooled *[]byte
	switch v := v.(type) {
	case *report:
		if !pretty {
			pooled = jsonBufs.Get().(*[]byte)
			b, err = appendReport((*pooled)[:0], v)
		}
	case *cleanReport:
		if !pretty {
			pooled = jsonBufs.Get().(*[]byte)
			b = appendCleanReport((*pooled)[:0], v)
		}
	}
	if pooled != nil {
		defer func(buf []byte) {
			if cap(buf) <= maxPooledJSON {
				*pooled = buf[:0]
				jsonBufs.Put(pooled)
			}
		}(b)
	} else {
		b, err = encodeJSONIndent(v, pretty)
	}
	if err != nil {
		h.log.LogAttrs(r.Context(), slog.LevelError, "web: encoding JSON response",
			slog.String("path", r.URL.Path), slog.String("error", err.Error()))
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"internal server error"}}` + "\n")
	}
	h.writeBody(w, status, jsonContentType, b)
}

// writeClean writes the answer of GET /api/clean: writeJSON(w, r, status, c)
// without c escaping to the heap (only the ?pretty path, through
// encoding/json, copies it there).
func (h *handler) writeClean(w http.ResponseWriter, r *http.Request, c *cleanReport) {
	if wantsPretty(r) {
		cp := *c
		h.writeJSON(w, r, http.StatusOK, &cp)
		return
	}
	pooled := jsonBufs.Get().(*[]byte)
	b := appendCleanReport((*pooled)[:0], c)
	h.writeBody(w, http.StatusOK, jsonContentType, b)
	if cap(b) <= maxPooledJSON {
		*pooled = b[:0]
		jsonBufs.Put(pooled)
	}
}

// writeRawJSON writes an already encoded JSON document.
func (h *handler) writeRawJSON(w http.ResponseWriter, status int, b []byte) {
	h.writeBody(w, status, jsonContentType, b)
}

func (h *handler) writeBody(w http.ResponseWriter, status int, contentType string, b []byte) {
	hd := w.Header()
	h.setContentType(hd, contentType)
	hd["Content-Length"] = []string{strconv.Itoa(len(b))} // canonical key: Set's work without its check
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
	h.writeBody(w, status, htmlContentType, buf.Bytes())
}

// page is the layout props of a page.
func (h *handler) page(title, nav string) templates.Page {
	return templates.Page{Title: title, Nav: nav, AssetVersion: h.assetVersion}
}
