package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestProfilesImportFrom(t *testing.T) {
	const rama = "../../third_party/profile-sources/rama/embed_profiles.json"
	const curl = "../../third_party/profile-sources/curl-impersonate/signatures"
	if _, err := os.Stat(rama); err != nil {
		t.Fatalf("profile sources: %v", err)
	}
	db := filepath.Join(t.TempDir(), "fp.db")
	code, out, errOut := runMain(t, "", "profiles", "-db", db, "import", "-from", "rama", rama)
	if code != exitOK || !strings.Contains(out, "imported chrome-151-windows") || !strings.Contains(errOut, "refused [1]") {
		t.Fatalf("import -from rama: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runMain(t, "", "profiles", "-db", db, "import", "-from", "curl-impersonate", curl)
	if code != exitOK || !strings.Contains(out, "imported safari-26-ios") || !strings.Contains(errOut, "pre_shared_key") {
		t.Fatalf("import -from curl-impersonate: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runMain(t, "", "profiles", "-db", db, "list")
	if code != exitOK || !strings.Contains(out, "tor-14-macos") || !strings.Contains(out, "imported") {
		t.Fatalf("list: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runMain(t, "", "profiles", "-db", db, "show", "edge-151-windows")
	if code != exitOK || !strings.Contains(out, "github.com/plabayo/rama") {
		t.Fatalf("show: exit %d\n%s", code, out)
	}
	if code, _, _ = runMain(t, "", "profiles", "-db", db, "import", "-from", "nosuch", rama); code == exitOK {
		t.Errorf("unknown format accepted")
	}
}
