package main

import (
	"os"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/guanaco-fp/guanaco/inspect"
)

func TestVersionCommand(t *testing.T) {
	code, stdout, stderr := runMain(t, "", "version")
	if code != 0 || !strings.HasPrefix(stdout, "fpserver ") || !strings.Contains(stdout, runtime.Version()) ||
		!strings.Contains(stdout, "commit ") {
		t.Errorf("version: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if code, _, _ := runMain(t, "", "version", "extra"); code != exitUsage {
		t.Errorf("version extra: exit %d, want %d", code, exitUsage)
	}
	if _, stdout, _ := runMain(t, "", "-h"); !strings.Contains(stdout, "version") {
		t.Errorf("-h does not list the version command: %q", stdout)
	}
}

// TestReadmeInspectFields checks that the README's list of `fpserver inspect`
// fields is the set of JSON fields inspect.Record writes.
func TestReadmeInspectFields(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "\nFields: `source`")
	if !ok {
		t.Fatal("README has no inspect field list starting \"Fields: `source`\"")
	}
	para, _, _ := strings.Cut("`source`"+after, "\n\n")
	para, _, _ = strings.Cut(para, "See `docs")
	var documented []string
	for _, m := range regexp.MustCompile("`([a-z0-9_]+)`").FindAllStringSubmatch(para, -1) {
		if m[1] != "tcp" && m[1] != "quic" && !slices.Contains(documented, m[1]) {
			documented = append(documented, m[1])
		}
	}
	var fields []string
	rt := reflect.TypeFor[inspect.Record]()
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			fields = append(fields, name)
		}
	}
	slices.Sort(documented)
	slices.Sort(fields)
	if !slices.Equal(documented, fields) {
		t.Errorf("README inspect fields %v, inspect.Record writes %v", documented, fields)
	}
}
