package main

import (
	"encoding/json"
	"net"
	"testing"

	"github.com/guanaco-fp/guanaco/emulation"
	"github.com/guanaco-fp/guanaco/internal/proxytest"
)

// TestFingerprintsThroughUpstreams: an upstream proxy changes nothing
// fpserver sees: `emuproxy get -x` and `emuproxy serve -upstream` through
// a CONNECT proxy and a SOCKS5 server give every built-in profile's JA4,
// Akamai fingerprint and user agent.
func TestFingerprintsThroughUpstreams(t *testing.T) {
	s := startFPServer(t)
	profiles, err := emulation.Catalogue()
	if err != nil {
		t.Fatal(err)
	}
	proxies := map[string]*proxytest.Server{"http": proxytest.StartConnect(t, "u", "p"), "socks5": proxytest.StartSOCKS5(t, "u", "p")}
	env := map[string]string{"EMUPROXY_CACERT": s.ca, "EMUPROXY_PROFILES_DIR": t.TempDir()}
	check := func(t *testing.T, p *emulation.Profile, r report) {
		t.Helper()
		if r.Fingerprints.JA4 != p.Expected.JA4 || r.Fingerprints.Akamai != p.Expected.Akamai || r.UserAgent != p.UserAgent || r.HTTP.Version != "2" {
			t.Errorf("fpserver saw JA4 %s Akamai %s UA %q HTTP/%s; profile expects %s %s %q HTTP/2",
				r.Fingerprints.JA4, r.Fingerprints.Akamai, r.UserAgent, r.HTTP.Version, p.Expected.JA4, p.Expected.Akamai, p.UserAgent)
		}
	}
	for scheme, px := range proxies {
		for _, p := range profiles {
			t.Run("get/"+scheme+"/"+p.Name, func(t *testing.T) {
				before := len(px.Targets())
				r, _ := getReport(t, env, "-x", scheme+"://u:p@"+px.Addr, "-profile", p.Name, "https://"+s.h2+"/api/fingerprint")
				check(t, p, r)
				if len(px.Targets()) != before+1 {
					t.Errorf("the request did not go through the %s proxy", scheme)
				}
			})
		}
	}
	_, port, _ := net.SplitHostPort(s.h2)
	for scheme, px := range proxies {
		rp := startProxy(t, "-cacert", s.ca, "-allow-private", "-ports", port, "-upstream", scheme+"://u:p@"+px.Addr, "-no-ua-match")
		for _, p := range profiles {
			t.Run("serve/"+scheme+"/"+p.Name, func(t *testing.T) {
				body, _ := curlThrough(t, rp, "-H", "X-Guanaco-Profile: "+p.Name, "https://"+s.h2+"/api/fingerprint")
				var r report
				if err := json.Unmarshal([]byte(body), &r); err != nil {
					t.Fatalf("%v: %s", err, body)
				}
				check(t, p, r)
			})
		}
	}
}
