//go:build !unix

package testenv

import "testing"

// StartXvfb skips the test: Xvfb and the headed-browser tests need a Unix
// system.
func StartXvfb(t *testing.T) string {
	t.Helper()
	t.Skip("Xvfb needs a Unix system")
	return ""
}
