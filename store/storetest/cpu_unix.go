//go:build unix

package storetest

import (
	"syscall"
	"time"
)

// ProcessCPU returns the user+system CPU time this process has consumed.
// Benchmarks report CPU per capture from two readings, a figure that, unlike
// wall-clock throughput, does not depend on what else the machine is running.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
