package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/guanaco-fp/guanaco/store"
	"github.com/guanaco-fp/guanaco/web/templates"
)

// Error codes of the JSON error shape.
const (
	codeNotFound         = "not_found"
	codeMethodNotAllowed = "method_not_allowed"
	codeInvalid          = "invalid_request"
	codeTooLarge         = "payload_too_large"
	codeNotReady         = "not_ready"
	codeNotImplemented   = "not_implemented"
	codeTimeout          = "timeout"
	codeCanceled         = "canceled"
	codeInternal         = "internal"
)

// httpError is an error with a chosen status, code and client message.
// Handlers create them for request validation; errorStatus passes them
// through unchanged.
type httpError struct {
	status  int
	code    string
	message string
	err     error // optional cause, for logs and errors.Is
}

var _ error = (*httpError)(nil)

func (e *httpError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("web: %s: %s: %v", e.code, e.message, e.err)
	}
	return fmt.Sprintf("web: %s: %s", e.code, e.message)
}

func (e *httpError) Unwrap() error { return e.err }

// badRequest is a 400 with message shown to the client.
func badRequest(format string, args ...any) error {
	return &httpError{status: http.StatusBadRequest, code: codeInvalid, message: fmt.Sprintf(format, shortArgs(args)...)}
}

// maxQuoted bounds how much of a client's input an error message repeats.
const maxQuoted = 64

// cutUTF8 returns the longest prefix of s of at most n bytes that does not
// end inside a UTF-8 sequence.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// shortArgs cuts string arguments longer than maxQuoted bytes (at a rune
// boundary) and says how long they were, so an error never echoes a
// 5,000-character input back.
func shortArgs(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		s, ok := a.(string)
		if !ok || len(s) <= maxQuoted {
			out[i] = a
			continue
		}
		out[i] = fmt.Sprintf("%s… (%d bytes)", cutUTF8(s, maxQuoted), len(s))
	}
	return out
}

// notFound is a 404 with message shown to the client.
func notFoundError(format string, args ...any) error {
	return &httpError{status: http.StatusNotFound, code: codeNotFound, message: fmt.Sprintf(format, shortArgs(args)...)}
}

// errorStatus is the one mapping from errors to responses:
//
//	*httpError                    its own status, code and message
//	store.ErrNotFound             404 not_found
//	store.ErrInvalid              400 invalid_request
//	*http.MaxBytesError           413 payload_too_large
//	context.DeadlineExceeded      503 timeout
//	context.Canceled              503 canceled (the client went away)
//	anything else                 500 internal, with a generic message
//
// internal reports whether the error must be logged as a server fault.
func errorStatus(err error) (status int, code, message string, internal bool) {
	var he *httpError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		return he.status, he.code, he.message, he.status >= 500
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, codeNotFound, "not found", false
	case errors.Is(err, store.ErrInvalid):
		return http.StatusBadRequest, codeInvalid, invalidMessage(err), false
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, codeTooLarge,
			fmt.Sprintf("request body larger than %d bytes", mbe.Limit), false
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, codeTimeout, "the request took too long", true
	case errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable, codeCanceled, "the request was canceled", false
	}
	return http.StatusInternalServerError, codeInternal, "internal server error", true
}

// invalidMessage extracts the validation detail of a store.ErrInvalid
// error: the text after the "store: invalid value: " prefix, which names
// the offending field and never carries server internals.
func invalidMessage(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, store.ErrInvalid.Error()+": "); i >= 0 {
		return msg[i+len(store.ErrInvalid.Error())+2:]
	}
	return "invalid request"
}

// wantsJSON reports whether errors on r's path are answered in JSON: the
// API and the script probes. Everything else gets an HTML page.
func wantsJSON(r *http.Request) bool {
	p := r.URL.Path
	return strings.HasPrefix(p, "/api/") || p == "/api" || strings.HasPrefix(p, "/probe/") ||
		p == "/healthz" || p == "/readyz"
}

// fail answers r with the response errorStatus maps err to, in JSON or
// HTML (see wantsJSON), and logs server faults.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code, message, internal := errorStatus(err)
	if internal {
		h.log.LogAttrs(r.Context(), slog.LevelError, "web: request failed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", status), slog.String("error", err.Error()))
	}
	h.writeError(w, r, status, code, message)
}

// writeError writes an error response with the given status, code and
// client message.
func (h *handler) writeError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	h.noStore(w)
	if wantsJSON(r) {
		h.writeJSON(w, r, status, errorBody{Error: errorDetail{Code: code, Message: message}})
		return
	}
	h.render(w, r, status, templates.ErrorView(templates.ErrorPage{
		Page:    h.page(http.StatusText(status), ""),
		Status:  status,
		Heading: http.StatusText(status),
		Message: message,
	}))
}

// errorBody is the one JSON error shape.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// notFound answers unknown routes.
func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.writeError(w, r, http.StatusNotFound, codeNotFound, "no such page: "+r.URL.Path)
}

// allowMethods are the methods the Allow header may list.
func allowMethods() []string {
	return []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions}
}

// methodNotAllowed answers known routes asked with another method, with
// the Allow header listing the methods the path accepts.
func (h *handler) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range allowMethods() {
		if h.router.Match(chi.NewRouteContext(), m, r.URL.Path) {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
	}
	h.writeError(w, r, http.StatusMethodNotAllowed, codeMethodNotAllowed,
		"method "+r.Method+" is not allowed on "+r.URL.Path)
}
