package buildinfo

import (
	"runtime"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	in := Info{Module: "example.org/m", Version: "v1.2.3", Commit: "abc123", CommitTime: "2026-01-02T03:04:05Z", Modified: true, GoVersion: "go1.26.8", Platform: "linux/amd64"}
	want := "prog v1.2.3 (example.org/m)\ncommit abc123 2026-01-02T03:04:05Z (modified)\ngo1.26.8 linux/amd64\n"
	if got := in.String("prog"); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if got := (Info{Version: "unknown", GoVersion: "go1", Platform: "x/y"}).String("p"); !strings.Contains(got, "commit unknown") {
		t.Errorf("without VCS: %q", got)
	}
}

func TestRead(t *testing.T) {
	in := Read()
	if in.GoVersion != runtime.Version() || in.Module == "" {
		t.Errorf("Read() = %+v", in)
	}
}
