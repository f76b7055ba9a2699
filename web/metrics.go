package web

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the web collectors. Labels are bounded: route is a chi route
// pattern (or "unmatched"), code an HTTP status code, result one of two
// values.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	offers   *prometheus.CounterVec
	// statsComputations counts stats query runs (single-flight, cached).
	statsComputations prometheus.Counter
	// capped counts captures not stored because of a storage cap, by
	// reason (DropConnectionCap, DropClientRate).
	capped *prometheus.CounterVec
	// byRoute caches the resolved collectors per routeKey.
	byRoute sync.Map
	// queued and dropped are offers' counters, resolved once.
	queued, dropped prometheus.Counter
}

// newMetrics creates the collectors and registers them on reg (when not
// nil).
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "fpserver",
			Subsystem: "http",
			Name:      "requests_total",
			Help:      "HTTP requests served, by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "fpserver",
			Subsystem: "http",
			Name:      "request_duration_seconds",
			Help:      "Time to serve HTTP requests, by route pattern.",
			Buckets:   []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		offers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "fpserver",
			Subsystem: "web",
			Name:      "captures_offered_total",
			Help:      "Captures offered to the store writer, by result (queued or dropped).",
		}, []string{"result"}),
		statsComputations: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "fpserver",
			Subsystem: "web",
			Name:      "stats_computations_total",
			Help:      "Runs of the /stats queries (one per window and cache interval, shared by concurrent requests).",
		}),
		capped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "fpserver",
			Subsystem: "web",
			Name:      "captures_capped_total",
			Help:      "Requests served but not stored because their connection or client address passed a storage cap, by reason.",
		}, []string{"reason"}),
	}
	m.queued, m.dropped = m.offers.WithLabelValues("queued"), m.offers.WithLabelValues("dropped")
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.offers, m.statsComputations, m.capped} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("web: registering metrics: %w", err)
		}
	}
	return m, nil
}

// offered counts one capture offer.
func (m *metrics) offered(queued bool) {
	if queued {
		m.queued.Inc()
	} else {
		m.dropped.Inc()
	}
}

// instrument is the outermost middleware: it records the request count and
// latency by route pattern, and turns a handler panic into a logged 500
// (when nothing was written yet). http.ErrAbortHandler is re-raised for
// net/http to handle.
func (h *handler) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		defer func() {
			if v := recover(); v != nil {
				if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					h.observe(r, ww, start)
					panic(v)
				}
				h.log.LogAttrs(r.Context(), slog.LevelError, "web: handler panic",
					slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("panic", v))
				if ww.Status() == 0 && ww.BytesWritten() == 0 {
					h.fail(ww, r, fmt.Errorf("web: handler panic: %v", v))
				}
			}
			h.observe(r, ww, start)
		}()
		next.ServeHTTP(ww, r)
	})
}

// observe records one served request.
func (h *handler) observe(r *http.Request, ww middleware.WrapResponseWriter, start time.Time) {
	route := "unmatched"
	if rc := chi.RouteContext(r.Context()); rc != nil {
		if p := rc.RoutePattern(); p != "" {
			route = p
		}
	}
	code := ww.Status()
	if code == 0 {
		code = http.StatusOK // nothing written: net/http sends 200
	}
	o := h.metrics.routeObservers(route, code)
	o.requests.Inc()
	o.duration.Observe(time.Since(start).Seconds())
}

// routeKey names one route pattern and status code.
type routeKey struct {
	route string
	code  int
}

// routeMetrics are a route's collectors with their labels resolved.
type routeMetrics struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// routeObservers returns the collectors of route and code, resolving their
// labels once (a vector's label lookup hashes the values and takes a lock
// on every call). The cache is bounded like the labels: route patterns and
// status codes.
func (m *metrics) routeObservers(route string, code int) *routeMetrics {
	k := routeKey{route, code}
	if v, ok := m.byRoute.Load(k); ok {
		return v.(*routeMetrics)
	}
	v, _ := m.byRoute.LoadOrStore(k, &routeMetrics{
		requests: m.requests.WithLabelValues(route, strconv.Itoa(code)),
		duration: m.duration.WithLabelValues(route),
	})
	return v.(*routeMetrics)
}
