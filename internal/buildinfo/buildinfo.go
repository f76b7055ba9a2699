// Package buildinfo describes the running binary for the programs' version
// subcommands: the main module's version, the VCS commit it was built from
// and the Go toolchain, as recorded by the Go linker (runtime/debug).
package buildinfo

import (
	"fmt"
	"runtime/debug"
)

// Info is what the binary knows about its own build. Fields the build did
// not record are "unknown" (Version is "(devel)" for builds from a source
// tree, as the go command records them).
type Info struct {
	Version   string // main module version, e.g. v1.2.3 or (devel)
	Commit    string // vcs.revision, with "-dirty" when vcs.modified is true
	CommitAt  string // vcs.time (RFC 3339), or "unknown"
	GoVersion string // toolchain that built the binary, e.g. go1.26.0
}

// Read returns the Info of the running binary.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "unknown", Commit: "unknown", CommitAt: "unknown", GoVersion: "unknown"}
	}
	return fromBuildInfo(bi)
}

// fromBuildInfo extracts the Info from bi.
func fromBuildInfo(bi *debug.BuildInfo) Info {
	in := Info{Version: bi.Main.Version, Commit: "unknown", CommitAt: "unknown", GoVersion: bi.GoVersion}
	if in.Version == "" {
		in.Version = "unknown"
	}
	if in.GoVersion == "" {
		in.GoVersion = "unknown"
	}
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Commit = s.Value
		case "vcs.time":
			in.CommitAt = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if modified && in.Commit != "unknown" {
		in.Commit += "-dirty"
	}
	return in
}

// String formats the Info for a version subcommand: one line per field,
// led by the program name.
func (in Info) String(program string) string {
	return fmt.Sprintf("%s %s\ncommit %s (%s)\n%s\n", program, in.Version, in.Commit, in.CommitAt, in.GoVersion)
}
