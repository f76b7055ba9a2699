package fingerprint_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/guanaco-fp/guanaco/fingerprint"
)

// TestAnomalyGoldens parses the hellos of testdata/anomalies, which our
// parser used to reject, and compares SNI, ALPN and JA3 with tshark's
// dissection of the same bytes (tshark.json) and the anomalies with
// anomalies.json.
func TestAnomalyGoldens(t *testing.T) {
	dir := "testdata/anomalies"
	var tshark map[string]struct {
		SNI, ALPN, JA3 string
		JA3Hash        string `json:"ja3_hash"`
	}
	var anomalies map[string][]string
	for name, v := range map[string]any{"tshark.json": &tshark, "anomalies.json": &anomalies} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if len(tshark) != 6 || len(anomalies) != len(tshark) {
		t.Fatalf("%d tshark values, %d anomaly lists", len(tshark), len(anomalies))
	}
	for name, want := range tshark {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, name+".hello"))
			if err != nil {
				t.Fatal(err)
			}
			ch, err := fingerprint.ParseClientHello(raw)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			fp := ch.Fingerprints()
			if ch.ServerName() != want.SNI || strings.Join(ch.ALPN(), ",") != want.ALPN || fp.JA3 != want.JA3 || fp.JA3Hash != want.JA3Hash {
				t.Errorf("ours: sni %q alpn %q ja3 %s %s\ntshark: sni %q alpn %q ja3 %s %s",
					ch.ServerName(), strings.Join(ch.ALPN(), ","), fp.JA3, fp.JA3Hash, want.SNI, want.ALPN, want.JA3, want.JA3Hash)
			}
			var got []string
			for _, a := range ch.Anomalies {
				got = append(got, strconv.Itoa(int(a.Extension))+":"+string(a.Kind))
				if a.Offset <= 0 || a.Offset >= len(raw) {
					t.Errorf("anomaly offset %d outside the %d-byte record", a.Offset, len(raw))
				}
			}
			if strings.Join(got, " ") != strings.Join(anomalies[name], " ") {
				t.Errorf("anomalies %v, want %v", got, anomalies[name])
			}
			if strings.HasPrefix(name, "only_sni") {
				py := fingerprint.JA4OPython(fp.JA4O, ch.ExtensionTypes())
				if !strings.HasSuffix(py, "_000000000000") || strings.HasSuffix(fp.JA4O, "_000000000000") {
					t.Errorf("JA4_o %s, Python variant %s", fp.JA4O, py)
				}
			}
		})
	}
}
