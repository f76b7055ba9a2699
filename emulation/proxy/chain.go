package proxy

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/guanaco-fp/guanaco/emulation/transport"
	"github.com/guanaco-fp/guanaco/emulation/upstream"
)

// DirectUpstream is the upstream label that bypasses Options.Upstream for
// one request ("user+upstream=direct").
const DirectUpstream = "direct"

// route is how a request leaves the proxy: directly, or through an
// upstream proxy dialled with the egress policy applied to the proxy's
// own address.
type route struct {
	px   *upstream.Proxy // nil = direct
	dial upstream.DialFunc
}

// name is the route's label in logs and flows; "" when direct.
func (rt route) name() string {
	if rt.px == nil {
		return ""
	}
	return rt.px.Name
}

// newRoutes prepares the dialers of the default and the named upstreams.
func (p *Proxy) newRoutes() error {
	if p.o.Upstream != nil {
		p.defaultRoute = route{px: p.o.Upstream, dial: p.o.Upstream.Dialer(p.egress.DialContext)}
	}
	p.routes = map[string]route{}
	for label, px := range p.o.Upstreams {
		if label == "" || label == DirectUpstream || strings.ContainsAny(label, "+:") {
			return fmt.Errorf("proxy: upstream label %q: want a name without '+' or ':', other than %q", label, DirectUpstream)
		}
		if px == nil {
			return fmt.Errorf("proxy: upstream %q: no proxy", label)
		}
		named := *px
		named.Name = label
		p.routes[label] = route{px: &named, dial: named.Dialer(p.egress.DialContext)}
	}
	return nil
}

// routeFor returns the route of a client's requests: its upstream label
// (Options.Upstreams, or DirectUpstream), else Options.Upstream, else
// direct. An unknown label is an error listing the known ones.
func (p *Proxy) routeFor(user ProxyUser) (route, error) {
	if user.Upstream == "" {
		return p.defaultRoute, nil
	}
	if user.Upstream == DirectUpstream {
		return route{}, nil
	}
	if rt, ok := p.routes[user.Upstream]; ok {
		return rt, nil
	}
	labels := []string{DirectUpstream}
	for l := range p.routes {
		labels = append(labels, l)
	}
	slices.Sort(labels)
	return route{}, fmt.Errorf("unknown upstream %q (valid: %s; name them in emuproxy serve -upstreams-file)", user.Upstream, strings.Join(labels, ", "))
}

// admitVia is admit's check for a request sent through an upstream
// proxy: the proxy resolves the destination, so only an IP-literal
// destination is checked here (the proxy's own address is checked when
// it is dialled).
func (p *Proxy) admitVia(host string) error {
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil || p.o.AllowPrivate {
		return nil
	}
	if ok, why := ClassifyAddr(a); !ok {
		return &EgressError{Host: host, Addr: a, Block: why}
	}
	return nil
}

// withRoute returns ctx for the transport: the route's dialer, pooled
// under the route's name.
func withRoute(ctx context.Context, rt route) context.Context {
	if rt.px == nil {
		return ctx
	}
	return transport.WithDialer(ctx, "upstream:"+rt.px.Name, func(ctx context.Context, network, addr string) (net.Conn, error) {
		return rt.dial(ctx, network, addr)
	})
}
