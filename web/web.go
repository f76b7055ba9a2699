// Package web is fpserver's HTTP surface: the chi router, the HTML pages
// (package web/templates), the JSON API, the probe endpoints that the page
// script calls, and the middleware around them (security headers, metrics,
// panic recovery).
//
// Routes (DESIGN.md §4.3; the first group is fingerprinted, i.e. every
// request is turned into a capture and offered to Deps.Captures):
//
//	GET  /                         HTML: this request's fingerprint and the initiator probes
//	GET  /api                      JSON: the API's endpoints; /api/openapi.json its OpenAPI 3 document
//	GET  /api/fingerprint          JSON: this request's fingerprint
//	GET  /api/clean                JSON: only this request's fingerprint hashes
//	ANY  /api/echo, /api/echo/*    JSON: echo of method, path, query, body plus the fingerprint
//	POST /probe/fetch, /probe/xhr  JSON: fingerprint of the page script's fetch / XHR
//	GET|POST /probe/form           HTML: fingerprint of the page's form submission
//	GET|CONNECT /probe/ws          WebSocket: the handshake's fingerprint as one text message
//	                               (HTTP/1.1 upgrade, or HTTP/2 extended CONNECT; see websocket.go)
//	GET  /probe/style.css, script.js, image.png, font.woff2, frame, manifest.webmanifest, media.webm
//	                               sub-resource probes the page loads (see subresources.go)
//
//	GET  /captures/{id}            HTML: a stored capture and what curation made of its visit
//	GET  /api/captures/{id}        JSON: a stored capture, with "curation" when it has a visit
//	GET  /fingerprints/{hash}      HTML: population view of a fingerprint value (?kind= optional)
//	GET  /api/fingerprints/{hash}  JSON: the same
//	GET  /stats                    HTML: top fingerprints and user agents (?window=1h|24h|7d|30d|all)
//	GET  /api/stats                JSON: the same
//	GET  /profiles                 HTML: the stored profiles, 50 a page (?page=, ?browser=, ?platform=, ?source=)
//	GET  /profiles/{name}          HTML: one stored profile: fingerprints, freshness, header lists, HTTP/2 preface
//	GET  /api/profiles             JSON: {"count", "page", "pages", "page_size", "profiles": [documents], "summaries": [...]}
//	GET  /api/profiles/{name}      JSON: one stored profile document, byte for byte (?download=1: as an attachment)
//	GET  /api/profiles/visit/{key} JSON: a profile built from one visit's captures (not stored)
//	GET  /healthz, /readyz         liveness (always 200), readiness (503 when Deps.Ready fails)
//	GET  /static/*                 embedded assets
//	GET  /favicon.ico              the SVG icon, for clients that ask for it by that name
//
// HEAD is answered by the GET handlers.
//
// Unknown routes are 404s: an HTML page, or for /api/ and /probe/ paths the
// JSON error shape {"error": {"code": ..., "message": ...}} that every JSON
// error uses. /metrics is not served here: the collectors are registered on
// Deps.Registry and cmd/fpserver serves them on its debug listener.
package web

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/guanaco-fp/guanaco/capture"
	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/static"
	"github.com/guanaco-fp/guanaco/store"
)

// CaptureSink receives the captures of fingerprinted requests. Offer must
// not block; it returns false when the capture was dropped (store writer
// full and spool unavailable). *writer.Writer implements it.
type CaptureSink interface {
	Offer(store.Capture) bool
}

// CaptureQueuer is a CaptureSink that says why it dropped a capture: Queue
// returns nil when the capture was queued, else an error whose chain holds a
// value with a DropReason() string method (*writer.DropError does: queue_full,
// closed, invalid). A queued capture is the queuer's: the caller must not
// change it, its slices included, afterwards (web keeps reading it for the
// recent captures). *writer.Writer implements it; web uses it when the sink
// does.
type CaptureQueuer interface {
	Queue(*store.Capture) error
}

// Values of the live report's "stored" field, and web's own drop reasons.
const (
	StoredQueued  = "queued"
	StoredDropped = "dropped"
	// DropEncoding: no capture record could be built from the request.
	DropEncoding = "encoding"
	// DropUnknown: the sink dropped the capture without saying why.
	DropUnknown = "unknown"
)

// Defaults for the optional Deps fields.
const (
	DefaultMaxEchoBody    = 64 << 10
	DefaultMaxRequestBody = 1 << 20
	DefaultStoreTimeout   = 5 * time.Second
)

// Deps are the dependencies of the handler. Store and Captures are
// required; every other field has a default.
type Deps struct {
	// Store serves the read routes: captures, fingerprint statistics,
	// profiles, and (unless Ready is set) readiness.
	Store store.Store
	// Captures receives a capture for every fingerprinted request.
	Captures CaptureSink
	// BuildProfile builds an emulation profile from the captures of one
	// visit, for GET /api/profiles/visit/{key}. It should return an error
	// wrapping store.ErrNotFound when the visit has no captures and one
	// wrapping store.ErrInvalid when the captures cannot make a profile.
	// Nil: the route answers 501.
	BuildProfile func(ctx context.Context, visitKey string) (*emulation.Profile, error)
	// KnownProfiles returns the profiles a visitor is compared with in the
	// verdict of GET / and /api/fingerprint (curate.Known.Profiles). Nil:
	// the verdict names no closest profile.
	KnownProfiles func(context.Context) []*emulation.Profile
	// CaptureOf returns the capture of a request. Default: the capture
	// claimed from the request's connection (capture.Claim) as the request
	// enters the handler, so the handler needs no capture.Middleware (one
	// around it is fine: its capture is taken). Tests set it to inject
	// captures.
	CaptureOf func(*http.Request) (*capture.Request, bool)
	// Logger receives error logs (5xx, panics). Default: discard.
	Logger *slog.Logger
	// Registry receives the web collectors (request counter and latency by
	// route pattern, capture offers). Nil: metrics are not registered.
	Registry prometheus.Registerer
	// Now is the clock; default time.Now.
	Now func() time.Time
	// StoreFullIP stores client addresses whole; otherwise IPv4 addresses
	// are truncated to /24 and IPv6 addresses to /48.
	StoreFullIP bool
	// RedactKey keys the hashes that stand in for the Cookie, Authorization
	// and Proxy-Authorization values of stored captures (the values are
	// never stored; the live response shows the visitor their own). Empty: a
	// random key per process.
	RedactKey []byte
	// PublicCaptures lists recent capture ids (links to other visitors'
	// captures) in the population views /fingerprints/{hash} and
	// /api/fingerprints/{hash}. Off: those views show counts, user agents
	// and profiles only, and recent_captures is empty.
	PublicCaptures bool
	// MaxCapturesPerConn caps the captures stored per TLS connection
	// (default DefaultMaxCapturesPerConn; negative: no cap).
	MaxCapturesPerConn int
	// MaxCapturesPerMinute caps the captures stored per client address
	// (IPv6: per /64) and minute (default DefaultMaxCapturesPerMinute;
	// negative: no cap).
	MaxCapturesPerMinute int
	// HTTP1Port returns the port of the listener that offers only
	// HTTP/1.1 (fpserver's -https-h1), 0 when there is none; the page seen
	// over HTTP/2 links to it, where the browser's HTTP/1 header order shows.
	// Nil: no link.
	HTTP1Port func() int
	// NoClientHintsHosts are host names (no port, any case) on which "/"
	// does not send Accept-CH and Critical-CH: an origin that never asks
	// for client hints, where a browser's visit shows what it sends to
	// such sites (its low-entropy hints at their own positions). A second
	// DNS name for the same listener is enough. Empty: every host asks.
	NoClientHintsHosts []string
	// MaxEchoBody is how many body bytes the echo API returns; longer
	// bodies are truncated and flagged. Default DefaultMaxEchoBody.
	MaxEchoBody int64
	// MaxRequestBody is the largest request body read at all; a larger one
	// is answered 413. Default DefaultMaxRequestBody, raised to MaxEchoBody
	// when smaller.
	MaxRequestBody int64
	// StoreTimeout bounds each store call made while serving a request.
	// Default DefaultStoreTimeout.
	StoreTimeout time.Duration
	// Ready reports readiness for /readyz; default Store.Ping.
	Ready func(context.Context) error
	// ExpensiveRate (requests per second) and ExpensiveBurst limit each
	// client (IPv4 address, IPv6 /64) on the expensive routes: /stats,
	// /api/stats, /fingerprints/{hash}, /api/fingerprints/{hash} and
	// /api/profiles/visit/{key}; beyond it they answer 429 with
	// Retry-After. ExpensiveRate 0 disables the limit.
	ExpensiveRate  float64
	ExpensiveBurst int
}

// handler holds the validated dependencies shared by all routes.
type handler struct {
	d            Deps
	log          *slog.Logger
	metrics      *metrics
	assetVersion string
	stats        statsCache
	statsFlight  singleflight.Group // one stats computation per window at a time
	limiter      *clientLimiter     // expensive routes; nil: unlimited
	redact       redactor           // stands in for credentials in stored captures
	storeRate    *clientLimiter     // captures stored per client and minute; nil: no cap
	recent       *recentCaptures    // queued captures readable before the writer flushes them
	hdr          sharedHeaders      // prebuilt header values (see headers.go)
	routeCtxs    routeContexts      // chi routing contexts for serveRouted
	// router is set once by routes; methodNotAllowed asks it which
	// methods a path accepts.
	router chi.Routes
}

// New validates d, registers the collectors on d.Registry and returns the
// fpserver handler. It fails when a required dependency is missing or a
// collector cannot be registered (e.g. New called twice on one registry).
//
// Unless d.CaptureOf is set, the returned handler claims each request's
// capture from its connection itself (capture.Claim), so it serves a server
// whose connections come from a capture.Listener (or an H3Server) as it is.
func New(d Deps) (http.Handler, error) {
	if d.Store == nil {
		return nil, errors.New("web: new handler: Deps.Store is nil")
	}
	if d.Captures == nil {
		return nil, errors.New("web: new handler: Deps.Captures is nil")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.MaxEchoBody <= 0 {
		d.MaxEchoBody = DefaultMaxEchoBody
	}
	if d.MaxRequestBody <= 0 {
		d.MaxRequestBody = DefaultMaxRequestBody
	}
	if d.MaxRequestBody < d.MaxEchoBody {
		d.MaxRequestBody = d.MaxEchoBody
	}
	if d.MaxCapturesPerConn == 0 {
		d.MaxCapturesPerConn = DefaultMaxCapturesPerConn
	}
	if d.MaxCapturesPerMinute == 0 {
		d.MaxCapturesPerMinute = DefaultMaxCapturesPerMinute
	}
	if d.StoreTimeout <= 0 {
		d.StoreTimeout = DefaultStoreTimeout
	}
	if d.Ready == nil {
		d.Ready = d.Store.Ping
	}
	m, err := newMetrics(d.Registry)
	if err != nil {
		return nil, err
	}
	version, err := static.Version()
	if err != nil {
		return nil, fmt.Errorf("web: new handler: %w", err)
	}
	h := &handler{d: d, log: d.Logger, metrics: m, assetVersion: version, redact: newRedactor(d.RedactKey),
		recent: newRecentCaptures(recentMax, recentTTL), hdr: newSharedHeaders()}
	if d.MaxCapturesPerMinute > 0 {
		h.storeRate = newClientLimiter(float64(d.MaxCapturesPerMinute)/60, d.MaxCapturesPerMinute, maxLimitedClients)
	}
	if d.ExpensiveRate > 0 {
		h.limiter = newClientLimiter(d.ExpensiveRate, d.ExpensiveBurst, maxLimitedClients)
	}
	return h.routes(), nil
}

// routes builds the router.
func (h *handler) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(h.instrument, securityHeaders, apiCORS, middleware.GetHead, h.echoAnyMethod)
	r.NotFound(h.notFound)
	r.MethodNotAllowed(h.methodNotAllowed)

	// Fingerprinted routes.
	r.Get("/", h.index)
	r.Get("/api", h.apiIndex)
	r.Get("/api/openapi.json", h.apiDocument)
	r.Get("/api/fingerprint", h.apiFingerprint)
	r.Get("/api/clean", h.apiClean)
	r.HandleFunc("/api/echo", h.echo)
	r.HandleFunc("/api/echo/*", h.echo)
	r.Post("/probe/fetch", h.probe(store.InitiatorFetch))
	r.Post("/probe/xhr", h.probe(store.InitiatorXHR))
	r.Get("/probe/form", h.probeForm)
	r.Post("/probe/form", h.probeForm)
	r.Get("/probe/ws", h.probeWebSocket)
	for path, p := range subresources() {
		r.Get(path, h.probeSubresource(p))
	}
	r.Connect("/probe/ws", h.probeWebSocket)

	// Stored data.
	r.Get("/captures/{id}", h.capturePage)
	r.Get("/api/captures/{id}", h.captureAPI)
	r.With(h.expensive).Get("/fingerprints/{hash}", h.fingerprintPage)
	r.With(h.expensive).Get("/api/fingerprints/{hash}", h.fingerprintAPI)
	r.With(h.expensive).Get("/stats", h.statsPage)
	r.With(h.expensive).Get("/api/stats", h.statsAPI)
	r.Get("/profiles", h.profilesPage)
	r.Get("/profiles/{name}", h.profileDetail)
	r.Get("/api/profiles", h.profiles)
	r.Get("/api/profiles/{name}", h.profile)
	r.With(h.expensive).Get("/api/profiles/visit/{key}", h.visitProfile)

	// Operations.
	r.Get("/healthz", h.healthz)
	r.Get("/readyz", h.readyz)

	r.Get("/static/*", h.staticFiles())
	r.Get("/favicon.ico", h.favicon)
	h.router = r
	return h.serveRouted(r)
}

// storeCtx bounds a store call made for r.
func (h *handler) storeCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), h.d.StoreTimeout)
}

// staticFiles serves the embedded assets. Asset URLs carry a content
// version, so they may be cached for a long time.
func (h *handler) staticFiles() http.HandlerFunc {
	fs := http.StripPrefix("/static/", http.FileServerFS(static.FS()))
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("v") == h.assetVersion {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "public, max-age=300")
		}
		fs.ServeHTTP(w, r)
	}
}

// favicon serves the icon under the name clients ask for by default.
func (h *handler) favicon(w http.ResponseWriter, r *http.Request) {
	b, err := fs.ReadFile(static.FS(), "favicon.svg")
	if err != nil {
		h.fail(w, r, fmt.Errorf("web: reading favicon: %w", err))
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=86400")
	h.writeBody(w, http.StatusOK, "image/svg+xml", b)
}

// securityHeaders sets the security headers of every response. Pages and
// assets get the document set: a CSP allowing only same-origin scripts,
// styles, images, frames and form targets (no inline script or style exists
// on any page), nosniff, a same-origin referrer policy, SAMEORIGIN framing
// and a same-origin opener policy. The JSON API (/api and /api/...) gets the
// set recommended for REST answers (OWASP): a CSP that allows nothing and
// no framing, nosniff and DENY; a referrer or opener policy means nothing
// for a document that is never navigated to. The API set is also three
// headers shorter on the hottest path: with its other headers an API answer
// stays within eight, the size of a Go map that never grows, and HTTP/2's
// HPACK encoder does not hash the page CSP's 250 bytes for every answer.
//
// The values are prebuilt shared slices (see headers.go).
func securityHeaders(next http.Handler) http.Handler {
	const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'self'; " +
		"base-uri 'none'; object-src 'none'"
	one := sharedValue
	var (
		cspV      = one(csp)
		apiCSP    = one("default-src 'none'; frame-ancestors 'none'")
		nosniff   = one("nosniff")
		sameOrig  = one("same-origin")
		frameOpts = one("SAMEORIGIN")
		deny      = one("DENY")
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd["X-Content-Type-Options"] = nosniff
		if isAPIPath(r.URL.Path) {
			hd["Content-Security-Policy"] = apiCSP
			hd["X-Frame-Options"] = deny
		} else {
			hd["Content-Security-Policy"] = cspV
			hd["Referrer-Policy"] = sameOrig
			hd["X-Frame-Options"] = frameOpts
			hd["Cross-Origin-Opener-Policy"] = sameOrig
		}
		next.ServeHTTP(w, r)
	})
}

// isAPIPath reports whether path is the JSON API's: /api or under /api/.
func isAPIPath(path string) bool {
	return path == "/api" || strings.HasPrefix(path, "/api/")
}
