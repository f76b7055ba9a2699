package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{
		GoVersion: "go1.26.0",
		Main:      debug.Module{Path: "example.org/m", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "abc123"},
			{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	got := fromBuildInfo(bi)
	want := Info{Version: "v1.2.3", Commit: "abc123-dirty", CommitAt: "2026-01-02T03:04:05Z", GoVersion: "go1.26.0"}
	if got != want {
		t.Fatalf("fromBuildInfo = %+v, want %+v", got, want)
	}
	s := got.String("fpserver")
	for _, part := range []string{"fpserver v1.2.3", "commit abc123-dirty", "go1.26.0"} {
		if !strings.Contains(s, part) {
			t.Errorf("String() = %q, missing %q", s, part)
		}
	}
}

func TestFromBuildInfoWithoutVCS(t *testing.T) {
	got := fromBuildInfo(&debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}})
	if got.Commit != "unknown" || got.CommitAt != "unknown" || got.Version != "(devel)" {
		t.Fatalf("fromBuildInfo without vcs settings = %+v", got)
	}
}

func TestRead(t *testing.T) {
	if got := Read(); got.GoVersion == "" || got.Version == "" {
		t.Fatalf("Read() = %+v: empty fields", got)
	}
}
