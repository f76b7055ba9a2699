//go:build unix

package writer

import (
	"fmt"
	"os"
	"syscall"
)

// lockFile takes an exclusive, non-blocking advisory lock (flock) on f, so two
// processes never append to or replay the same spool. The lock is released by
// the returned function or when the process exits.
func lockFile(f *os.File, path string) (func() error, error) {
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return nil, fmt.Errorf("writer: locking spool %s (is another process using it?): %w", path, err)
	}
	return func() error { return syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }, nil
}
