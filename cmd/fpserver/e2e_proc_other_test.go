//go:build !unix

package main

import (
	"os/exec"
	"time"
)

// ownProcessGroup is a no-op where process groups do not exist.
func ownProcessGroup(*exec.Cmd) {}

// killProcessTree kills the process cmd started.
func killProcessTree(cmd *exec.Cmd) error { return cmd.Process.Kill() }

// processCPU is not measured where getrusage does not exist.
func processCPU() time.Duration { return 0 }
