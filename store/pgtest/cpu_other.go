//go:build unix && !linux

package pgtest

import (
	"errors"
	"fmt"
	"time"
)

// ServerCPU needs Linux's /proc; elsewhere it returns an error wrapping
// errors.ErrUnsupported and benchmarks omit the server CPU figure.
func (c *Cluster) ServerCPU() (time.Duration, error) {
	return 0, fmt.Errorf("pgtest: server CPU time: %w (needs /proc)", errors.ErrUnsupported)
}
