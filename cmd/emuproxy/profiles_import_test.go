package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	ramaSource = "../../third_party/profile-sources/rama/embed_profiles.json"
	curlSource = "../../third_party/profile-sources/curl-impersonate/signatures"
)

func TestProfilesImportFrom(t *testing.T) {
	if _, err := os.Stat(ramaSource); err != nil {
		t.Fatalf("profile sources: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "profiles")
	env := map[string]string{"EMUPROXY_PROFILES_DIR": dir}
	// The published records are built in (make catalogue-import): importing
	// them again says so and stores nothing.
	code, out, errOut := runMain(t, env, "", "profiles", "import", "-from", "rama", ramaSource)
	if code != exitOK || !strings.Contains(out, "built in: chrome-151-windows") || !strings.Contains(out, "0 imported, 43 built in") {
		t.Fatalf("import -from rama: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "refused [1]") {
		t.Errorf("the duplicate rama record is not reported:\n%s", errOut)
	}
	code, out, errOut = runMain(t, env, "", "profiles", "import", "-from", "curl-impersonate", curlSource)
	if code != exitOK || !strings.Contains(out, "built in: tor-14-macos") || !strings.Contains(errOut, "refused chrome_98.0.4758.102_win10.yaml") {
		t.Fatalf("import -from curl-impersonate: exit %d\n%s%s", code, out, errOut)
	}
	// A record of another origin under a built-in name is stored with the
	// source's suffix, its missing lists derived from the built-in profiles.
	other := filepath.Join(t.TempDir(), "tor_14.5_macOS-recaptured.yaml")
	sig, err := os.ReadFile(filepath.Join(curlSource, "tor_14.5_macOS.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other, sig, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runMain(t, env, "", "profiles", "import", "-from", "curl-impersonate", other)
	if code != exitOK || !strings.Contains(out, "imported tor-14-macos-curlimp") {
		t.Fatalf("import of a record under a built-in name: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runMain(t, env, "", "profiles", "show", "tor-14-macos-curlimp")
	if code != exitOK || !strings.Contains(out, "derived (lists from firefox-") || !strings.Contains(out, `"Host"`) {
		t.Fatalf("show of the imported record: exit %d\n%.600s%s", code, out, errOut)
	}
	code, out, errOut = runMain(t, env, "", "profiles", "list")
	if code != exitOK || !strings.Contains(out, "safari-26-ios") || !strings.Contains(out, "edge-151-windows") || !strings.Contains(out, "tor-14-macos-curlimp") {
		t.Fatalf("list after import: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runMain(t, env, "", "profiles", "show", "tor-14-macos")
	if code != exitOK || !strings.Contains(out, `"project": "github.com/lexiforest/curl-impersonate"`) {
		t.Fatalf("show: exit %d, provenance missing:\n%s", code, out)
	}
	code, out, _ = runMain(t, env, "", "profiles", "show", "--format", "rama", "chrome-151-windows")
	if code != exitOK || !strings.Contains(out, `"uastr"`) || !strings.Contains(out, `"SupportedVersions"`) {
		t.Fatalf("show --format rama: exit %d:\n%.400s", code, out)
	}
	if code, _, errOut = runMain(t, env, "", "profiles", "import", "-from", "nosuch", ramaSource); code == exitOK || !strings.Contains(errOut, "nosuch") {
		t.Errorf("unknown format: exit %d %s", code, errOut)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`[{"uastr": "x"`), 0o600)
	if code, _, errOut = runMain(t, env, "", "profiles", "import", "-from", "rama", bad); code != exitFail {
		t.Errorf("truncated rama file: exit %d %s", code, errOut)
	}
}
