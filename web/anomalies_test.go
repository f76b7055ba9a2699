package web

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/guanaco-fp/guanaco/capture"
	"github.com/guanaco-fp/guanaco/fingerprint"
)

// anomalousHello is a TLS 1.2 ClientHello record whose ALPN list holds an
// empty protocol name before "h2" and whose ec_point_formats list is empty.
func anomalousHello() []byte {
	ext := func(typ uint16, data ...byte) []byte {
		return append([]byte{byte(typ >> 8), byte(typ), byte(len(data) >> 8), byte(len(data))}, data...)
	}
	var exts []byte
	exts = append(exts, ext(0, 0, 13, 0, 0, 10, 'f', 'p', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e')...)
	exts = append(exts, ext(16, 0, 4, 0, 2, 'h', '2')...)
	exts = append(exts, ext(11, 0)...)
	body := append([]byte{3, 3}, make([]byte, 32)...)
	body = append(body, 0, 0, 2, 0xc0, 0x2f, 1, 0, byte(len(exts)>>8), byte(len(exts)))
	body = append(body, exts...)
	msg := append([]byte{1, 0, byte(len(body) >> 8), byte(len(body))}, body...)
	return append([]byte{0x16, 3, 1, byte(len(msg) >> 8), byte(len(msg))}, msg...)
}

// TestAnomaliesShown checks that the anomalies of a malformed but
// fingerprinted hello appear in /api/fingerprint and on the capture page.
func TestAnomaliesShown(t *testing.T) {
	raw := anomalousHello()
	ch, err := fingerprint.ParseClientHello(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Anomalies) != 2 {
		t.Fatalf("anomalies %+v", ch.Anomalies)
	}
	base := curlH1Capture(t, true)
	e := newEnv(t, func(d *Deps) {
		d.CaptureOf = func(r *http.Request) (*capture.Request, bool) {
			c, ok := base(r)
			c.TLS = &capture.TLSInfo{Raw: raw, Hello: ch, Fingerprints: ch.Fingerprints(),
				State: tls.ConnectionState{Version: tls.VersionTLS12, CipherSuite: 0xc02f, NegotiatedProtocol: "http/1.1", ServerName: "fp.example"}}
			return c, ok
		}
	})
	w := e.do("GET", "https://fp.example/api/fingerprint", nil, nil)
	if w.Code != 200 {
		t.Fatalf("GET /api/fingerprint = %d: %s", w.Code, w.Body)
	}
	var got struct {
		TLS struct {
			Anomalies []fingerprint.Anomaly `json:"anomalies"`
		} `json:"tls"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if a := got.TLS.Anomalies; len(a) != 2 || a[0].Extension != 16 || a[0].Kind != fingerprint.AnomalyEmpty ||
		a[1].Extension != 11 || a[1].Kind != fingerprint.AnomalyEmpty || a[0].Offset != ch.Anomalies[0].Offset {
		t.Errorf("API anomalies %+v", a)
	}
	w = e.do("GET", "https://fp.example/", nil, func(r *http.Request) { r.Header.Set("Accept", "text/html") })
	body := w.Body.String()
	if w.Code != 200 || !strings.Contains(body, `id="anomalies"`) || !strings.Contains(body, "ec_point_formats") ||
		!strings.Contains(body, "protocol_name: length 0 is below the minimum 1") {
		t.Errorf("capture page (%d) lacks the anomalies block", w.Code)
	}
	// A well-formed hello shows no block.
	plain := newEnv(t, func(d *Deps) { d.CaptureOf = curlH1Capture(t, false) })
	if w := plain.do("GET", "https://fp.example/", nil, nil); strings.Contains(w.Body.String(), `id="anomalies"`) {
		t.Errorf("anomalies block on a well-formed hello")
	}
}
