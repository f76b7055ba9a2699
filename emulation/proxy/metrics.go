package proxy

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the proxy's Prometheus collectors.
type metrics struct {
	requests   *prometheus.CounterVec // profile, upstream_proto, status
	handshakes *prometheus.CounterVec // side (client|upstream)
	leafCache  *prometheus.CounterVec // result (hit|miss)
	tunnels    prometheus.Gauge
	refused    *prometheus.CounterVec // reason
	pools      prometheus.GaugeFunc   // upstream connection pools
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "emuproxy_requests_total",
			Help: "Requests forwarded upstream, by profile, upstream protocol (h2, http/1.1, none when no response) and status code (0 when none).",
		}, []string{"profile", "upstream_proto", "status"}),
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "emuproxy_tls_handshake_failures_total",
			Help: "Failed TLS handshakes, with the client inside a CONNECT tunnel or with the upstream server.",
		}, []string{"side"}),
		leafCache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "emuproxy_leaf_cache_lookups_total",
			Help: "Leaf certificate lookups by result (hit, miss).",
		}, []string{"result"}),
		tunnels: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "emuproxy_tunnels_open",
			Help: "CONNECT tunnels currently open.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "emuproxy_refused_total",
			Help: "Requests refused by the proxy, by reason (auth, egress, port, bad_request).",
		}, []string{"reason"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.handshakes, m.leafCache, m.tunnels, m.refused} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("proxy: registering metrics: %w", err)
		}
	}
	return m, nil
}

// registerPools creates (and registers, when reg is set) the gauge of
// upstream connection pools, read from pools at every scrape.
func (m *metrics) registerPools(reg prometheus.Registerer, pools func() int) error {
	m.pools = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "emuproxy_upstream_pools",
		Help: "Upstream connection pools held, one per (profile, scheme, host:port) with connections or requests in flight.",
	}, func() float64 { return float64(pools()) })
	if reg == nil {
		return nil
	}
	if err := reg.Register(m.pools); err != nil {
		return fmt.Errorf("proxy: registering metrics: %w", err)
	}
	return nil
}
