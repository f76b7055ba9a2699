//go:build !unix

package capture_test

import "time"

// processCPU is not measured here (no getrusage): always 0.
func processCPU() time.Duration { return 0 }
