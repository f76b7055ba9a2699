// Package buildinfo describes the running binary from the build
// information the Go toolchain embeds (runtime/debug.ReadBuildInfo): the
// module version, the VCS commit and time, whether the tree was
// modified, and the Go version.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Info is what a `version` command prints.
type Info struct {
	// Module is the main module's path; Version its version ("(devel)"
	// for a build from a source tree, a tag or pseudo-version for `go
	// install MODULE@VERSION`).
	Module, Version string
	// Commit and CommitTime come from the VCS stamp (go build in a
	// checkout); empty when the build has none (-buildvcs=false, go run,
	// tests).
	Commit, CommitTime string
	// Modified reports uncommitted changes at build time.
	Modified bool
	// GoVersion is the toolchain that built the binary; Platform is
	// GOOS/GOARCH.
	GoVersion, Platform string
}

// Read returns the running binary's Info; fields the binary carries no
// information for are empty ("unknown" for the version).
func Read() Info {
	in := Info{Version: "unknown", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return in
	}
	in.Module = bi.Main.Path
	if bi.Main.Version != "" {
		in.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		in.GoVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Commit = s.Value
		case "vcs.time":
			in.CommitTime = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	return in
}

// String formats in for program as three lines: program and module
// version, commit (with its time and a "modified" mark), Go version and
// platform.
func (in Info) String(program string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", program, in.Version)
	if in.Module != "" {
		fmt.Fprintf(&b, " (%s)", in.Module)
	}
	b.WriteString("\ncommit ")
	if in.Commit == "" {
		b.WriteString("unknown (built without VCS information)")
	} else {
		b.WriteString(in.Commit)
		if in.CommitTime != "" {
			fmt.Fprintf(&b, " %s", in.CommitTime)
		}
		if in.Modified {
			b.WriteString(" (modified)")
		}
	}
	fmt.Fprintf(&b, "\n%s %s\n", in.GoVersion, in.Platform)
	return b.String()
}
