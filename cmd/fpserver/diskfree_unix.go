//go:build unix

package main

import (
	"fmt"
	"syscall"
)

// freeFraction returns the fraction of path's file system available to
// unprivileged users.
func freeFraction(path string) (float64, error) {
	var s syscall.Statfs_t
	if err := syscall.Statfs(path, &s); err != nil {
		return 0, fmt.Errorf("statfs: %w", err)
	}
	if s.Blocks == 0 {
		return 1, nil
	}
	return float64(s.Bavail) / float64(s.Blocks), nil
}
