package web

import (
	"context"
	"net/http"
	"sync"

	"github.com/go-chi/chi/v5"

	"github.com/guanaco-fp/guanaco/capture"
)

// requestContext is the context of a request inside the router: the
// request's own context, chi's routing context and the request's capture in
// one value, so a request costs one copy of the *http.Request and one small
// allocation where chi.Mux and capture.Middleware made a copy and a context
// each.
type requestContext struct {
	context.Context
	route *chi.Context
	// capture is the request's capture claimed when the request entered
	// the handler (Deps.CaptureOf unset), nil when there is none.
	capture *capture.Request
}

// requestContextKey finds a request's *requestContext.
type requestContextKey struct{}

// Value answers chi's routing-context key and web's own; every other key
// is the request context's.
func (c *requestContext) Value(key any) any {
	switch key {
	case chi.RouteCtxKey:
		return c.route
	case requestContextKey{}:
		return c
	}
	return c.Context.Value(key)
}

// routeContexts recycles chi routing contexts, as chi.Mux does with its own.
type routeContexts struct{ pool sync.Pool }

func (p *routeContexts) get() *chi.Context {
	if c, ok := p.pool.Get().(*chi.Context); ok {
		return c
	}
	return chi.NewRouteContext()
}

func (p *routeContexts) put(c *chi.Context) {
	c.Reset()
	p.pool.Put(c)
}

// serveRouted is the handler's entry: it claims the request's capture (when
// Deps.CaptureOf is unset; see capture.Claim: every request, whatever its
// route, so no parsed head stays pending on its connection) and serves the
// request on mux under a requestContext, where chi finds its routing
// context already in place and captureOf finds the capture.
func (h *handler) serveRouted(mux *chi.Mux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rcx := &requestContext{Context: r.Context(), route: h.routeCtxs.get()}
		rcx.route.Routes = mux
		if h.d.CaptureOf == nil {
			rcx.capture, _ = capture.Claim(r)
		}
		mux.ServeHTTP(w, r.WithContext(rcx))
		h.routeCtxs.put(rcx.route)
	})
}

// claimedCapture returns the capture serveRouted claimed for r, nil when
// there is none.
func claimedCapture(r *http.Request) *capture.Request {
	if c, ok := r.Context().Value(requestContextKey{}).(*requestContext); ok {
		return c.capture
	}
	return nil
}
