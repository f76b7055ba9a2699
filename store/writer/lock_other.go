//go:build !unix

package writer

import (
	"fmt"
	"os"
)

// lockFile marks the spool as in use with a sidecar file created exclusively
// (PATH.lock), so two processes never append to or replay the same spool. The
// returned function removes it. A process that dies without unlocking leaves the
// sidecar behind; remove it by hand after checking no process uses the spool.
func lockFile(_ *os.File, path string) (func() error, error) {
	lock := path + ".lock"
	lf, err := os.OpenFile(lock, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("writer: locking spool %s (is another process using it?): %w", path, err)
	}
	lf.Close()
	return func() error { return os.Remove(lock) }, nil
}
