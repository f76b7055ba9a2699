package importer

import (
	"os"
	"strings"
	"testing"

	"github.com/guanaco-fp/guanaco/emulation"
)

const ramaFile = "../../third_party/profile-sources/rama/embed_profiles.json"

func TestImportRamaData(t *testing.T) {
	b, err := os.ReadFile(ramaFile)
	if err != nil {
		t.Fatalf("rama data: %v", err)
	}
	res, err := FromRama(b, RamaOrigin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Problems {
		t.Logf("refused %s", p)
	}
	t.Logf("%d profiles, %d refused", len(res.Profiles), len(res.Problems))
	if len(res.Profiles)+len(res.Problems) < 52 {
		t.Errorf("%d converted + %d refused < 52 records", len(res.Profiles), len(res.Problems))
	}
	for _, p := range res.Profiles {
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		q, err := emulation.Unmarshal(b)
		if err != nil {
			t.Errorf("%s: %v", p.Name, err)
			continue
		}
		if q.Source.Origin == nil || q.Source.Origin.Project != RamaOrigin.Project {
			t.Errorf("%s: origin lost: %+v", p.Name, q.Source.Origin)
		}
		if testing.Verbose() {
			t.Logf("%-40s %s %s", p.Name, p.Expected.JA4, p.Expected.Akamai)
		}
	}
}

func TestImportRamaBadInput(t *testing.T) {
	b, err := os.ReadFile(ramaFile)
	if err != nil {
		t.Fatalf("rama data: %v", err)
	}
	if _, err := FromRama(b[:len(b)/2], RamaOrigin); err == nil {
		t.Error("truncated JSON accepted")
	}
	cases := map[string]string{
		"missing hello":   `[{"uastr":"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0","h1_headers_navigate":[["Host","x"]]}]`,
		"unknown ext":     `[{"uastr":"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0","tls_client_hello":{"protocol_version":771,"cipher_suites":[4865],"compression_algorithms":[0],"extensions":[{"Frobnicate":[1]}]}}]`,
		"bad record type": `[42]`,
	}
	for name, in := range cases {
		res, err := FromRama([]byte(in), RamaOrigin)
		if err != nil {
			t.Errorf("%s: whole run failed: %v", name, err)
			continue
		}
		if len(res.Profiles) != 0 || len(res.Problems) != 1 {
			t.Errorf("%s: %d profiles, problems %v", name, len(res.Profiles), res.Problems)
			continue
		}
		t.Logf("%s: %s", name, res.Problems[0])
		if name == "unknown ext" && !strings.Contains(res.Problems[0].Err.Error(), "Frobnicate") {
			t.Errorf("unknown ext problem does not name the kind: %v", res.Problems[0])
		}
	}
}
