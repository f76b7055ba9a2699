//go:build unix

package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/store/model"
	"github.com/guanaco-fp/guanaco/store/sqlite"
	"github.com/guanaco-fp/guanaco/store/storetest"
)

// BenchmarkInsertCapturesSQLite writes realistic captures (storetest.Classic, ~3.3 KB)
// into a WAL file in batches of 1000 (the writer's default batch size) and
// reports captures/s (wall) and CPU µs per capture (all of it is in this
// process): each capture on its own connection (new_connection) and 100
// requests a connection (keepalive, the connection's data stored once).
func BenchmarkInsertCapturesSQLite(b *testing.B) {
	for _, mode := range []string{"new_connection", "keepalive"} {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			const batchSize = 1000
			g := storetest.NewGenerator(1, time.Now(), time.Millisecond)
			next := func() []model.Capture {
				if mode == "new_connection" {
					return g.Batch(batchSize)
				}
				var cs []model.Capture
				for len(cs) < batchSize {
					cs = append(cs, storetest.KeepAlive(g.Next(), 100, time.Microsecond)...)
				}
				return cs
			}
			pool := next()
			var bytes int
			for i := range pool {
				bytes += pool[i].ApproxSize()
			}
			b.ReportMetric(float64(bytes)/batchSize, "bytes/capture")
			b.ResetTimer()
			var elapsed, cpu time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				batch := next()
				b.StartTimer()
				t0, c0 := time.Now(), storetest.ProcessCPU()
				if _, err := db.InsertCaptures(ctx, batch); err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(t0)
				cpu += storetest.ProcessCPU() - c0
			}
			n := float64(b.N * batchSize)
			b.ReportMetric(n/elapsed.Seconds(), "captures/s")
			b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/capture")
		})
	}
}
