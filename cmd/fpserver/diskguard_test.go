package main

import (
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/guanaco-fp/guanaco/store"
)

type countingQueuer struct{ n atomic.Int64 }

func (q *countingQueuer) Queue(*store.Capture) error { q.n.Add(1); return nil }

// TestDiskGuard: under -min-free-disk captures are refused with reason
// low_disk (and counted) and readiness fails; over it they go to the writer.
func TestDiskGuard(t *testing.T) {
	free := 0.50
	next := &countingQueuer{}
	g := newDiskGuard(next, "data", 0.05, func(string) (float64, error) { return free, nil }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := g.check(); err != nil {
		t.Fatal(err)
	}
	if err := g.Queue(&store.Capture{}); err != nil || next.n.Load() != 1 || g.Healthy() != nil {
		t.Fatalf("plenty of disk: queue %v, healthy %v", err, g.Healthy())
	}
	free = 0.01
	if err := g.check(); err != nil {
		t.Fatal(err)
	}
	err := g.Queue(&store.Capture{})
	var dr interface{ DropReason() string }
	if !errors.As(err, &dr) || dr.DropReason() != "low_disk" || next.n.Load() != 1 {
		t.Fatalf("low disk: queue %v, writer got %d", err, next.n.Load())
	}
	if !errors.Is(g.Healthy(), errDiskLow) || g.Offer(store.Capture{}) {
		t.Fatalf("low disk: healthy %v", g.Healthy())
	}
	free = 0.2
	if err := g.check(); err != nil {
		t.Fatal(err)
	}
	if err := g.Queue(&store.Capture{}); err != nil || g.Healthy() != nil {
		t.Fatalf("disk freed: queue %v, healthy %v", err, g.Healthy())
	}
	if v := counterOf(t, g); v != 2 {
		t.Fatalf("low-disk drops = %v, want 2", v)
	}
	if f, err := freeFraction(t.TempDir()); err != nil || f <= 0 || f > 1 {
		t.Fatalf("freeFraction = %v, %v", f, err)
	}
}

func counterOf(t *testing.T, g *diskGuard) float64 {
	t.Helper()
	return testutil.ToFloat64(g.drops)
}
