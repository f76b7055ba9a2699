package static

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

func TestAssets(t *testing.T) {
	for _, name := range []string{"app.css", "app.js", "favicon.svg"} {
		b, err := fs.ReadFile(FS(), name)
		if err != nil || len(b) == 0 {
			t.Errorf("asset %s: %v (%d bytes)", name, err, len(b))
		}
	}
	if _, err := FS().Open("../static.go"); err == nil {
		t.Error("FS opens a path outside the asset root")
	}
	if _, err := FS().Open("assets/app.js"); err == nil {
		t.Error("FS exposes the embed directory name")
	}
}

func TestVersion(t *testing.T) {
	v1, err := Version()
	if err != nil {
		t.Fatal(err)
	}
	v2, _ := Version()
	if v1 != v2 || !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(v1) {
		t.Errorf("Version = %q then %q", v1, v2)
	}
}

// TestScriptWritesTextOnly guards the page script's contract: data from
// responses reaches the DOM only through textContent and attributes, never
// as markup or code.
func TestScriptWritesTextOnly(t *testing.T) {
	b, err := fs.ReadFile(FS(), "app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, banned := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
		if strings.Contains(string(b), banned) {
			t.Errorf("app.js uses %s", banned)
		}
	}
}
