//go:build !unix

package main

import "os/exec"

// ownProcessGroup is a no-op where process groups do not exist.
func ownProcessGroup(*exec.Cmd) {}

// killProcessTree kills the process cmd started.
func killProcessTree(cmd *exec.Cmd) error { return cmd.Process.Kill() }
