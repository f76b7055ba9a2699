package web

import (
	"encoding/binary"
	"encoding/json"
	"slices"
	"testing"

	"github.com/guanaco-fp/guanaco/fingerprint"
)

// rawHello builds a TLS record holding a ClientHello with n cipher suites, an
// ALPN extension of alpn protocols and a supported_groups extension of
// groups entries.
func rawHello(t *testing.T, n, alpn, groups int) []byte {
	t.Helper()
	u16 := func(b []byte, v int) []byte { return binary.BigEndian.AppendUint16(b, uint16(v)) }
	var body []byte
	body = u16(body, 0x0303)
	body = append(body, make([]byte, 32)...) // random
	body = append(body, 0)                   // session id
	body = u16(body, 2*n)
	for i := 0; i < n; i++ {
		body = u16(body, 0x1301+i%0x100)
	}
	body = append(body, 1, 0) // compression: null
	var exts []byte
	var list []byte
	for i := 0; i < alpn; i++ {
		list = append(list, 2, 'h', byte('0'+i%10))
	}
	exts = u16(exts, 16)
	exts = u16(exts, len(list)+2)
	exts = u16(exts, len(list))
	exts = append(exts, list...)
	exts = u16(exts, 10)
	exts = u16(exts, 2*groups+2)
	exts = u16(exts, 2*groups)
	for i := 0; i < groups; i++ {
		exts = u16(exts, 0x1d+i%0x100)
	}
	body = u16(body, len(exts))
	body = append(body, exts...)
	hs := append([]byte{1, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
	var rec []byte
	for len(hs) > 0 { // split into records of at most 16 KiB
		k := min(len(hs), 1<<14)
		rec = append(rec, 0x16, 3, 1)
		rec = u16(rec, k)
		rec = append(rec, hs[:k]...)
		hs = hs[k:]
	}
	return rec
}

// TestSummaryListsCapped checks that the stored TLS summary cuts each list
// above maxSummaryList entries and names the cut lists, and that a
// client's normal lists are stored whole without the flag.
func TestSummaryListsCapped(t *testing.T) {
	for _, tc := range []struct {
		name               string
		ciphers, alpn, grp int
		want               []string
	}{
		{"normal", 16, 2, 4, nil},
		{"at the bound", maxSummaryList, maxSummaryList, maxSummaryList, nil},
		{"long cipher list", 30000, 2, 4, []string{"cipher_suites"}},
		{"long alpn and groups", 16, 1000, 5000, []string{"alpn", "supported_groups"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := rawHello(t, tc.ciphers, tc.alpn, tc.grp)
			ch, err := fingerprint.ParseClientHello(raw)
			if err != nil {
				t.Fatal(err)
			}
			tr := &tlsReport{ClientHello: ch, Raw: raw, SNI: ch.ServerName(), ALPN: ch.ALPN()}
			b, err := tr.summaryJSON(nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			var s tlsSummary
			if err := json.Unmarshal(b, &s); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.Truncated, tc.want) {
				t.Errorf("truncated = %v, want %v", s.Truncated, tc.want)
			}
			for name, got := range map[string]int{"cipher_suites": len(s.CipherSuites), "alpn": len(s.ALPN), "supported_groups": len(s.SupportedGroups)} {
				full := map[string]int{"cipher_suites": tc.ciphers, "alpn": tc.alpn, "supported_groups": tc.grp}[name]
				if want := min(full, maxSummaryList); got != want {
					t.Errorf("%s: %d entries stored, want %d", name, got, want)
				}
			}
			if len(b) > 16<<10 {
				t.Errorf("summary of %d bytes", len(b))
			}
		})
	}
}

// TestEncodeReport checks that the spliced encoding of a report equals
// encoding/json's, for live reports with and without a TLS object.
func TestEncodeReport(t *testing.T) {
	raw := rawHello(t, 16, 2, 4)
	ch, err := fingerprint.ParseClientHello(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, rep := range []*report{
		{CaptureID: "a", UserAgent: `x "tls":null y`, TLS: &tlsReport{ClientHello: ch, Raw: raw, SNI: ch.ServerName(), ALPN: ch.ALPN()}},
		{CaptureID: "b", UserAgent: "no tls"},
	} {
		want, err := encodeJSONIndent(rep, false)
		if err != nil {
			t.Fatal(err)
		}
		got, err := encodeReport(rep)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("encodeReport differs from encoding/json:\n got %s\nwant %s", got, want)
		}
		if !json.Valid(got) {
			t.Error("invalid JSON")
		}
	}
}
