package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/guanaco-fp/guanaco/emulation"
)

// testEnv is a running Proxy on a loopback listener plus a CA the
// upstream origins use.
type testEnv struct {
	p        *Proxy
	addr     string
	ca       *CA // the proxy's MITM CA
	originCA *CA // issues the origins' certificates
	reg      *prometheus.Registry
}

// staticResolver maps names to fixed addresses; other names go to the
// system resolver.
type staticResolver map[string][]netip.Addr

func (r staticResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if a, ok := r[host]; ok {
		return a, nil
	}
	return net.DefaultResolver.LookupNetIP(ctx, network, host)
}

func catalogue(t testing.TB) []*emulation.Profile {
	t.Helper()
	ps, err := emulation.Catalogue()
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// profileNamed returns the profile called name in ps.
func profileNamed(t testing.TB, ps []*emulation.Profile, name string) *emulation.Profile {
	t.Helper()
	for _, p := range ps {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no profile %s", name)
	return nil
}

// startProxy runs a Proxy with o (Profiles, DefaultProfile, CA, RootCAs,
// Registerer filled in when unset).
func startProxy(t testing.TB, o Options) *testEnv {
	t.Helper()
	ca, err := NewCA("test MITM CA")
	if err != nil {
		t.Fatal(err)
	}
	originCA, err := NewCA("test origin CA")
	if err != nil {
		t.Fatal(err)
	}
	env := &testEnv{ca: ca, originCA: originCA, reg: prometheus.NewRegistry()}
	ps := catalogue(t)
	if o.Profiles == nil {
		o.Profiles = func() []*emulation.Profile { return ps }
	}
	if o.DefaultProfile == "" {
		o.DefaultProfile = "chromium-156-linux"
	}
	if o.CA == nil {
		o.CA = ca
	}
	env.ca = o.CA
	if o.RootCAs == nil {
		o.RootCAs = x509.NewCertPool()
		o.RootCAs.AddCert(originCA.Cert)
	}
	if o.Registerer == nil {
		o.Registerer = env.reg
	}
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	env.p, env.addr = p, ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- p.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return env
}

// client returns an http.Client that uses the proxy and trusts its CA;
// user, when set, is sent as proxy credentials.
func (e *testEnv) client(user *url.Userinfo) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(e.ca.Cert)
	u := &url.URL{Scheme: "http", Host: e.addr, User: user}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:             http.ProxyURL(u),
			TLSClientConfig:   &tls.Config{RootCAs: pool},
			ForceAttemptHTTP2: true,
		},
		Timeout: 20 * time.Second,
	}
}

// startOrigin starts an HTTPS origin (h2 and http/1.1) with a certificate
// for localhost and 127.0.0.1 issued by issuer.
func startOrigin(t testing.TB, issuer *CA, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	leaf, err := issuer.Issue("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*leaf}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// allowPort opens the port of origin (a URL or host:port) in the proxy's
// port policy.
func (e *testEnv) allowPort(t testing.TB, origin string) {
	t.Helper()
	if u, err := url.Parse(origin); err == nil && u.Host != "" {
		origin = u.Host
	}
	e.p.ports = append(e.p.ports, portOf(t, origin))
}

func portOf(t testing.TB, hostport string) int {
	t.Helper()
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		t.Fatal(err)
	}
	return int(ap.Port())
}
