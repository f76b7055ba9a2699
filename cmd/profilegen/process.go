//go:build unix

package main

import (
	"os/exec"
	"syscall"
	"time"
)

// group is a started command running in a process group of its own, so
// that stopping it also stops its children (xvfb-run starts Xvfb and the
// browser, browsers start helper processes).
type group struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// startGroup starts cmd as the leader of a new process group.
func startGroup(cmd *exec.Cmd) (*group, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	g := &group{cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(g.exited)
	}()
	return g, nil
}

// stop sends SIGTERM to the group, and SIGKILL when the leader has not
// exited within grace.
func (g *group) stop(grace time.Duration) {
	pgid := g.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-g.exited:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-g.exited
	}
	// Children that outlived the leader.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}
