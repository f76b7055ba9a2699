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
	code, out, errOut := runMain(t, env, "", "profiles", "import", "-from", "rama", ramaSource)
	if code != exitOK || !strings.Contains(out, "imported chrome-151-windows") {
		t.Fatalf("import -from rama: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "refused [1]") {
		t.Errorf("the duplicate rama record is not reported:\n%s", errOut)
	}
	code, out, errOut = runMain(t, env, "", "profiles", "import", "-from", "curl-impersonate", curlSource)
	if code != exitOK || !strings.Contains(out, "imported tor-14-macos") || !strings.Contains(errOut, "refused chrome_98.0.4758.102_win10.yaml") {
		t.Fatalf("import -from curl-impersonate: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runMain(t, env, "", "profiles", "list")
	if code != exitOK || !strings.Contains(out, "safari-26-ios") || !strings.Contains(out, "edge-151-windows") {
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
