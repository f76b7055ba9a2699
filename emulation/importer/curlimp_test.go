package importer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guanaco-fp/guanaco/emulation"
)

const curlDir = "../../third_party/profile-sources/curl-impersonate/signatures"

func TestImportCurlImpersonateData(t *testing.T) {
	if _, err := os.Stat(curlDir); err != nil {
		t.Fatalf("curl-impersonate data: %v", err)
	}
	res, err := FromCurlImpersonate(curlDir, CurlImpersonateOrigin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Problems {
		t.Logf("refused %s", p)
	}
	t.Logf("%d profiles, %d refused", len(res.Profiles), len(res.Problems))
	if len(res.Profiles)+len(res.Problems) < 43 {
		t.Errorf("%d converted + %d refused < 43 records", len(res.Profiles), len(res.Problems))
	}
	for _, p := range res.Profiles {
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := emulation.Unmarshal(b); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
		if testing.Verbose() {
			t.Logf("%-28s %s %s shuffle=%v %s", p.Name, p.Expected.JA4, p.Expected.Akamai, p.ShuffleExtensions, p.Source.Origin.Record)
		}
	}
}

func TestImportCurlImpersonateBadInput(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(curlDir, "firefox_144.0.0_linux.yaml"))
	if err != nil {
		t.Fatalf("curl-impersonate data: %v", err)
	}
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a_good.yaml", string(good))
	write("b_dup.yaml", string(good))
	write("c_truncated.yaml", string(good[:len(good)/2])+"\n  - [unclosed")
	write("d_unknown.yaml", strings.Replace(string(good), "type: extended_master_secret", "type: frobnicate", 1))
	write("e_nohello.yaml", "browser:\n  name: firefox\nsignature:\n  http2: {}\n")
	res, err := FromCurlImpersonate(dir, CurlImpersonateOrigin)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Profiles) != 1 {
		t.Errorf("%d profiles, want 1", len(res.Profiles))
	}
	want := map[string]string{
		"b_dup.yaml":       "duplicate profile name",
		"c_truncated.yaml": "YAML",
		"d_unknown.yaml":   "frobnicate",
		"e_nohello.yaml":   "tls_client_hello",
	}
	got := map[string]string{}
	for _, p := range res.Problems {
		got[p.Record] = p.Err.Error()
		t.Logf("%s", p)
	}
	for rec, sub := range want {
		if !strings.Contains(got[rec], sub) {
			t.Errorf("%s: problem %q, want one containing %q", rec, got[rec], sub)
		}
	}
}
