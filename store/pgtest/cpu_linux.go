//go:build linux

package pgtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat CPU times (100 on Linux).
const clockTicks = 100

// ServerCPU returns the user+system CPU time consumed so far by the running
// server: the postmaster and its live children (backends, WAL writer,
// checkpointer, ...). Benchmarks take the difference of two readings to state
// server CPU per operation, which unlike wall time does not depend on what else
// the machine runs. Children that already exited are not counted.
func (c *Cluster) ServerCPU() (time.Duration, error) {
	b, err := os.ReadFile(filepath.Join(c.dataDir, "postmaster.pid"))
	if err != nil {
		return 0, fmt.Errorf("pgtest: reading postmaster.pid: %w", err)
	}
	pm, _, _ := strings.Cut(string(b), "\n")
	pm = strings.TrimSpace(pm)
	procs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return 0, fmt.Errorf("pgtest: listing /proc: %w", err)
	}
	var ticks int64
	for _, p := range procs {
		stat, err := os.ReadFile(filepath.Join(p, "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || i+2 > len(s) {
			continue
		}
		// Fields after "pid (comm) ": state ppid ... utime(12th) stime(13th).
		f := strings.Fields(s[i+2:])
		if len(f) < 13 || (filepath.Base(p) != pm && f[1] != pm) {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + st
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}
