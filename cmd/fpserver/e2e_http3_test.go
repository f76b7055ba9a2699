package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/quic-go/quic-go/http3"
)

// h3Client returns an HTTP/3 client (quic-go) trusting the server.
func (s *e2eServer) h3Client(t testing.TB) *http.Client {
	tr := &http3.Transport{TLSClientConfig: s.tlsConfig()}
	t.Cleanup(func() { tr.Close() })
	return &http.Client{Transport: tr, Timeout: requestTimeout}
}

// TestE2EHTTP3QuicGo: fpserver serves HTTP/3 on the -https port (UDP) and
// advertises it with Alt-Svc over TCP; a quic-go client's /api/fingerprint
// shows its QUIC hello (JA4 with q), transport parameters, SETTINGS in
// wire order and header order; the stored capture reads back the same.
func TestE2EHTTP3QuicGo(t *testing.T) {
	s := startServer(t)
	if got, want := s.port(t, lnHTTP3), s.port(t, lnHTTPS); got != want {
		t.Fatalf("http3 port %d, https port %d", got, want)
	}
	_, resp := getReport(t, s.client(true), s.url(t, lnHTTPS, "/api/fingerprint"))
	if alt := resp.Header.Get("Alt-Svc"); !strings.HasPrefix(alt, `h3=":`+s.addrPort(t, lnHTTPS)+`"`) {
		t.Errorf("Alt-Svc %q", alt)
	}
	c := s.h3Client(t)
	live, resp := getReport(t, c, s.url(t, lnHTTPS, "/api/fingerprint"))
	if resp.ProtoMajor != 3 || resp.Header.Get("Alt-Svc") != "" {
		t.Errorf("proto %s, Alt-Svc %q over HTTP/3", resp.Proto, resp.Header.Get("Alt-Svc"))
	}
	if live.HTTP.Version != "3" || !live.Complete || live.HTTP.H3 == nil || live.QUIC == nil || live.TLS == nil {
		t.Fatalf("report %+v", live)
	}
	if ja4 := live.Fingerprints["ja4"]; !strings.HasPrefix(ja4, "q13i") { // SNI is an IP: none sent
		t.Errorf("ja4 %s", ja4)
	}
	if live.QUIC.Version != "0x00000001" || len(live.QUIC.TransportParameters) < 5 || live.QUIC.QUICTPHash == "" ||
		live.Fingerprints["quic_tp_hash"] != live.QUIC.QUICTPHash {
		t.Errorf("quic %+v", live.QUIC)
	}
	h3 := live.HTTP.H3
	if !h3.SettingsSeen || len(h3.Settings) == 0 || h3.Settings[0].ID != 0x06 {
		t.Errorf("h3 settings %+v", h3)
	}
	if strings.Join(h3.PseudoOrder, ",") != ":authority,:method,:path,:scheme" || !strings.HasPrefix(live.HTTP.HeaderOrder, ":authority,:method,:path,:scheme,") {
		t.Errorf("pseudo order %v header order %s", h3.PseudoOrder, live.HTTP.HeaderOrder)
	}

	if n := s.metricValue(t, "fpserver_quic_hellos_total", nil); n < 1 {
		t.Errorf("fpserver_quic_hellos_total %v", n)
	}
	stored := s.waitCapture(t, live.CaptureID)
	if stored.HTTP.Version != "3" || stored.HTTP.H3 == nil || stored.QUIC == nil {
		t.Fatalf("stored %+v", stored)
	}
	if stored.Fingerprints["ja4"] != live.Fingerprints["ja4"] || stored.QUIC.QUICTPHash != live.QUIC.QUICTPHash ||
		stored.QUIC.Version != live.QUIC.Version || len(stored.QUIC.TransportParameters) != len(live.QUIC.TransportParameters) {
		t.Errorf("stored quic %+v fingerprints %v, live %+v", stored.QUIC, stored.Fingerprints, live.QUIC)
	}
	if len(stored.HTTP.H3.Settings) != len(h3.Settings) || stored.HTTP.HeaderOrder != live.HTTP.HeaderOrder || stored.HTTP.H3.StreamID != h3.StreamID {
		t.Errorf("stored h3 %+v order %s", stored.HTTP.H3, stored.HTTP.HeaderOrder)
	}
	checkStoredTLS(t, live, stored)

	// Population lookups by the QUIC JA4 and by the transport-parameters
	// fingerprint find the capture (recent captures are listed only with
	// -public-captures).
	for _, q := range []struct{ hash, kind string }{
		{live.Fingerprints["ja4"], "ja4"}, {live.QUIC.QUICTPHash, "quic_tp_hash"},
	} {
		code, body := get(t, s.client(true), s.url(t, lnHTTPS, "/api/fingerprints/"+url.PathEscape(q.hash)))
		var pop struct {
			Kind          string `json:"kind"`
			Count         int64  `json:"count"`
			TopUserAgents []struct {
				UserAgent string `json:"user_agent"`
			} `json:"top_user_agents"`
		}
		if err := json.Unmarshal(body, &pop); err != nil || code != http.StatusOK {
			t.Fatalf("population of %s: %d %s", q.hash, code, body)
		}
		if pop.Kind != q.kind || pop.Count != 1 || len(pop.TopUserAgents) != 1 || pop.TopUserAgents[0].UserAgent != live.UserAgent {
			t.Errorf("population of %s: %s", q.hash, body)
		}
	}

	// The pages: the fingerprint page over HTTP/3 and the stored capture's
	// page over TCP show the QUIC and HTTP/3 card.
	for _, page := range []struct {
		c   *http.Client
		url string
	}{{c, s.url(t, lnHTTPS, "/")}, {s.client(true), s.url(t, lnHTTPS, live.CaptureURL)}} {
		code, body := get(t, page.c, page.url)
		html := string(body)
		if code != http.StatusOK || !strings.Contains(html, "QUIC and HTTP/3") || !strings.Contains(html, live.QUIC.QUICTPHash) ||
			!strings.Contains(html, "SETTINGS_MAX_FIELD_SECTION_SIZE") || !strings.Contains(html, "initial_max_data") || !strings.Contains(html, "over QUIC") {
			t.Errorf("%s: status %d, QUIC/HTTP3 card missing:\n%.2000s", page.url, code, html)
		}
	}
}

// addrPort is the port of listener name as a string.
func (s *e2eServer) addrPort(t testing.TB, name string) string {
	a := s.addr(t, name)
	return a[strings.LastIndexByte(a, ':')+1:]
}
