//go:build unix

package testenv

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// StartXvfb starts an Xvfb server on a free display (Xvfb picks it and
// reports it through -displayfd) and returns the DISPLAY value, e.g. ":99".
// Xvfb runs in its own process group, terminated when the test ends.
func StartXvfb(t *testing.T) string {
	t.Helper()
	xvfb := RequireTool(t, "Xvfb")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := &SyncBuffer{}
	cmd := exec.Command(xvfb, "-displayfd", "3", "-screen", "0", "1280x1024x24", "-nolisten", "tcp")
	cmd.ExtraFiles = []*os.File{w} // fd 3 in the child
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting Xvfb: %v", err)
	}
	w.Close()
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		got <- strings.TrimSpace(line)
	}()
	select {
	case n := <-got:
		if n == "" {
			t.Fatalf("Xvfb reported no display:\n%s", out.String())
		}
		return ":" + n
	case <-exited:
		t.Fatalf("Xvfb exited:\n%s", out.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("Xvfb did not report its display within 20s:\n%s", out.String())
	}
	return ""
}
