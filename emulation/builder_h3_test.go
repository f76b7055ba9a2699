package emulation

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/fingerprint"
)

// quicHello is a QUIC ClientHello handshake message from crypto/tls's QUIC
// client, with transport parameters.
func quicHello(t *testing.T) []byte {
	t.Helper()
	qc := tls.QUICClient(&tls.QUICConfig{TLSConfig: &tls.Config{ServerName: "fp.example", NextProtos: []string{"h3"}, MinVersion: tls.VersionTLS13}})
	qc.SetTransportParameters([]byte{0x0f, 0x01, 0xcc, 0x04, 0x02, 0x44, 0x00, 0x01, 0x04, 0x80, 0x00, 0x75, 0x30})
	if err := qc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var hello []byte
	for e := qc.NextEvent(); e.Kind != tls.QUICNoEvent; e = qc.NextEvent() {
		if e.Kind == tls.QUICWriteData {
			hello = append(hello, e.Data...)
		}
	}
	return hello
}

// TestBuildWithHTTP3: a visit whose probes went over HTTP/3 (after Alt-Svc)
// gives a profile that carries the QUIC hello, transport parameters,
// HTTP/3 SETTINGS in order and the HTTP/3 header lists; the TCP side is
// built as before, and the document round-trips.
func TestBuildWithHTTP3(t *testing.T) {
	caps := chromiumVisit(t)
	hello := quicHello(t)
	settings := []fingerprint.H3Setting{{ID: 1, Value: 65536}, {ID: 6, Value: 262144}, {ID: 0x21 + 0x1f*9, Value: 7, GREASE: true}}
	h3fetch := VisitCapture{
		ID: "h3-fetch", CreatedAt: caps[len(caps)-1].CreatedAt.Add(time.Second), Initiator: Fetch, HTTPVersion: "3",
		ClientHello: hello, UserAgent: caps[0].UserAgent,
		Headers: h(":method", "POST", ":authority", "fp.example", ":scheme", "https", ":path", "/probe/fetch",
			"sec-ch-ua", `"Chromium";v="156"`, "user-agent", caps[0].UserAgent, "priority", "u=1, i"),
		H3: &VisitH3{QUICVersion: "0x00000001", Settings: settings, QUICTP: "1-4-15_1:30000-4:1024", QUICTPHash: "abcdef012345"},
	}
	p, err := Build("visit-h3", "", append(caps, h3fetch), time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if p.H3 == nil {
		t.Fatal("no h3 section")
	}
	if !strings.HasPrefix(p.H3.JA4, "q13d") || p.H3.QUICVersion != "0x00000001" || p.H3.QUICTPHash != "abcdef012345" {
		t.Errorf("h3 %+v", p.H3)
	}
	if len(p.H3.Settings) != 3 || p.H3.Settings[2].ID != 0x21+0x1f*9 {
		t.Errorf("settings %+v", p.H3.Settings)
	}
	if len(p.H3.TransportParameters) != 3 || p.H3.TransportParameters[0].ID != 0x0f || p.H3.TransportParameters[2].Int == nil || *p.H3.TransportParameters[2].Int != 30000 {
		t.Errorf("transport parameters %+v", p.H3.TransportParameters)
	}
	if got := strings.Join(p.H3.PseudoOrder, ","); got != ":method,:authority,:scheme,:path" {
		t.Errorf("pseudo order %s", got)
	}
	if hs := p.H3.Headers[Fetch]; len(hs) != 3 || hs[2].Name != "priority" {
		t.Errorf("fetch headers %v", hs)
	}
	if p.H2 == nil || !strings.HasPrefix(p.Expected.JA4, "t13") {
		t.Errorf("the TCP side changed: ja4 %s", p.Expected.JA4)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if back.H3 == nil || string(back.H3.ClientHello) != string(hello) || len(back.H3.Settings) != 3 || back.H3.QUICTP != p.H3.QUICTP {
		t.Errorf("round trip: %+v", back.H3)
	}
	back.H3.PseudoOrder = []string{":path"}
	if err := back.Validate(); err == nil {
		t.Error("a bad h3 pseudo order validated")
	}
}
