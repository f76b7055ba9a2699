package web

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"golang.org/x/net/http/httpguts"
)

// echoAllow is the Allow header of /api/echo: it answers every method (an
// extension method such as PROPFIND or FOO too; the header can only list
// the registered ones). CONNECT never reaches it: its request target is a
// host, not a path.
const echoAllow = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE"

// isEchoPath reports whether p is /api/echo or below it.
func isEchoPath(p string) bool { return p == "/api/echo" || strings.HasPrefix(p, "/api/echo/") }

// echoAnyMethod serves /api/echo and /api/echo/* for any method, including
// those chi does not know (it would answer 405), and says so in Allow.
func (h *handler) echoAnyMethod(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isEchoPath(r.URL.Path) || isPreflight(r) {
			next.ServeHTTP(w, r)
			return
		}
		if rc := chi.RouteContext(r.Context()); rc != nil {
			pattern := "/api/echo"
			if r.URL.Path != pattern {
				pattern = "/api/echo/*"
			}
			rc.RoutePatterns = append(rc.RoutePatterns, pattern)
		}
		w.Header().Set("Allow", echoAllow)
		h.echo(w, r)
	})
}

// isPreflight reports whether r is a CORS preflight request.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != ""
}

// apiCORS lets pages on any origin call the JSON API (/api/...): every
// answer carries Access-Control-Allow-Origin: *, and a preflight is
// answered at once (204) allowing the method and headers it asks for. The
// API reads no cookie-bound secret a foreign page could abuse:
// credentials are not allowed (no Access-Control-Allow-Credentials).
func apiCORS(next http.Handler) http.Handler {
	anyOrigin := sharedValue("*") // see headers.go
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isAPIPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		hd := w.Header()
		hd["Access-Control-Allow-Origin"] = anyOrigin
		if isPreflight(r) {
			if m := r.Header.Get("Access-Control-Request-Method"); isToken(m) {
				hd.Set("Access-Control-Allow-Methods", m)
			}
			if h := r.Header.Get("Access-Control-Request-Headers"); len(h) <= 1024 && !strings.ContainsAny(h, "\r\n") {
				hd.Set("Access-Control-Allow-Headers", h)
			}
			hd.Set("Access-Control-Max-Age", "600")
			hd.Add("Vary", "Access-Control-Request-Method, Access-Control-Request-Headers")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isToken reports whether s is an RFC 9110 token of at most 32 bytes (a
// method name).
func isToken(s string) bool { return len(s) <= 32 && httpguts.ValidHeaderFieldName(s) }
