package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/guanaco-fp/guanaco/store"
	"github.com/guanaco-fp/guanaco/web"
)

// errLowDisk is the drop reason of captures refused while free disk is under
// -min-free-disk.
type errLowDisk struct{}

func (errLowDisk) Error() string {
	return "fpserver: capture not stored: free disk under -min-free-disk"
}
func (errLowDisk) DropReason() string { return "low_disk" }

// diskGuard stops storing captures (fpserver keeps serving) while the free
// space of the data directory's file system is under minFree (a fraction,
// 0 disables it). It wraps the capture writer as the web layer's sink.
type diskGuard struct {
	next    web.CaptureQueuer
	path    string
	minFree float64
	free    func(path string) (float64, error)
	log     *slog.Logger

	mu      sync.Mutex
	current float64 // last measured free fraction; 1 before the first check
	low     bool

	gauge prometheus.GaugeFunc
	drops prometheus.Counter
}

func newDiskGuard(next web.CaptureQueuer, path string, minFree float64, free func(string) (float64, error), log *slog.Logger) *diskGuard {
	d := &diskGuard{next: next, path: path, minFree: minFree, free: free, log: log, current: 1}
	d.gauge = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fpserver_data_disk_free_ratio",
		Help: "Free fraction of the data directory's file system at the last check (captures are not stored under -min-free-disk)."},
		func() float64 {
			d.mu.Lock()
			defer d.mu.Unlock()
			return d.current
		})
	d.drops = prometheus.NewCounter(prometheus.CounterOpts{Name: "fpserver_captures_dropped_low_disk_total",
		Help: "Captures not stored because free disk was under -min-free-disk."})
	return d
}

// Offer implements web.CaptureSink.
func (d *diskGuard) Offer(c store.Capture) bool { return d.Queue(&c) == nil }

// Queue implements web.CaptureQueuer: errLowDisk while free disk is low, else
// the wrapped writer's answer.
func (d *diskGuard) Queue(c *store.Capture) error {
	d.mu.Lock()
	low := d.low
	d.mu.Unlock()
	if low {
		d.drops.Inc()
		return errLowDisk{}
	}
	return d.next.Queue(c)
}

// check measures free space once and updates the low mark.
func (d *diskGuard) check() error {
	if d.minFree <= 0 {
		return nil
	}
	f, err := d.free(d.path)
	if err != nil {
		return fmt.Errorf("fpserver: free disk of %s: %w", d.path, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.current = f
	if low := f < d.minFree; low != d.low {
		d.low = low
		if low {
			d.log.Error("free disk under -min-free-disk: captures are not stored", "free", f, "min", d.minFree)
		} else {
			d.log.Info("free disk back over -min-free-disk: storing captures again", "free", f, "min", d.minFree)
		}
	}
	return nil
}

// run checks every interval until ctx ends.
func (d *diskGuard) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := d.check(); err != nil {
			d.log.Warn("checking free disk failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Healthy returns an error while captures are not stored for lack of disk.
func (d *diskGuard) Healthy() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.low {
		return fmt.Errorf("fpserver: %w: %.1f%% free, -min-free-disk %.1f%%", errDiskLow, d.current*100, d.minFree*100)
	}
	return nil
}

var errDiskLow = errors.New("free disk low, captures not stored")
